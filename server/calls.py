"""Finding what to trace: the functions of a file and the calls to trace them with.

Traceable are the file's top-level functions and the methods of its top-level classes,
named `Class.method`. A method is called on a fresh instance, `Class(1).method(2)`, or on
the class itself when it is a static or class method, `Class.method(2)`; a property is
read on a fresh instance, `Class(1).prop`; `Class(1)` is a call of `Class.__init__`.

Calls come from (in order of preference for a function): a call the user supplied
(`semcoder.setCall`), a `# semcoder: f(...)` comment, `assert f(...) == ...` lines, doctests,
and calls the tracer recorded from the `__main__` block or from the file's `test_*` functions
(only those whose arguments read back as literals). The call under the cursor wins
over all of them when the user hovers a call. A call is only used when its arguments are
literals: the model needs to see the values, and literal calls are safe to replay; except
a module-level assert's whose arguments the replayed module computes (`ident(LIMIT)`:
CallSite.literal), judged by a real run only. Only asserts that are checks give calls: those
that run as written, and whose call replayed alone sees what Python's sees (see "Which
asserts are checks" in pytest_rules.py).

This module analyses a file and turns its asserts, comments and imported functions into
calls; the rules it applies live beside it, one job each: analysis_types (what the analysis
makes), callees (what a call names), pytest_rules (which asserts run as written),
state_rules (what earlier code may have left), doctest_examples, cursor (the call under the
cursor). It re-exports their public names: other modules import them from here.

Line numbers in this module are 0-based document lines (LSP), columns are str indices.
"""

from __future__ import annotations

import ast
import builtins
import re
import textwrap
from typing import Any

from semcoder_inference.context import scope_bindings

from .analysis_types import (
    _LINE_BREAK,
    CLASS_METHOD,
    FUNCTION,
    METHOD,
    PROPERTY,
    STATIC_METHOD,
    CallSite,
    FunctionInfo,
    ModuleInfo,
    SourceError,
    _method_kind,
)
from .callees import _is_literal, called, literal_call
from .cursor import byte_col, call_at, function_called_at, utf16_col
from .doctest_examples import _doctest_calls, doctest_example_at
from .execution import changed_in_place, module_reads, remember_module
from .pytest_rules import (
    _DEFINITIONS,
    _Case,
    _functions_run,
    _judged_asserts,
    _last_name,
    _parametrize_cases,
    _Place,
    _with_case,
    is_autouse,
    run_order,
)
from .results import CALLED, CONDITION, FALSY, TRUTHY
from .state_rules import (
    _bound_after,
    _changed_names,
    _file_use,
    _may_see_earlier_state,
    _Module,
    _module_of,
    _replayable_arguments,
    environment_reason,
    keeps_state,
)

# Other modules (and the tests) import these from here; they live in the modules above.
__all__ = [
    "CLASS_METHOD", "COMMENT_CALL", "FUNCTION", "METHOD", "PROPERTY", "STATIC_METHOD", "CallSite", "FunctionInfo",
    "ModuleInfo", "SourceError", "analyse", "asserts_in", "byte_col", "call_at", "called", "comment_call",
    "doctest_example_at", "function_called_at", "is_autouse", "is_test", "keeps_state", "literal_call",
    "pure_function_reason", "split_lines", "top_level_function", "utf16_col",
]

# Where a `# semcoder: CALL` comment's call begins; the call is the rest of the line,
# stripped (comment_call). (A pattern that also matched the call, `(?P<call>.+?)\s*$`, took
# time quadratic in a run of spaces inside it: seconds for one long line, every keystroke.)
COMMENT_CALL = re.compile(r"#\s*semcoder:")


# A def line's name: one pattern for all functions (a pattern per name would be compiled
# anew for each function of a big file).
_DEF_NAME = re.compile(r"\bdef\s+(\w+)")


def analyse(text: str, tests_set_up: str | None = None, imported: dict[str, Any] | None = None) -> ModuleInfo:
    """Parse a document. Raises SourceError with a sentence the hover can show.
    `tests_set_up`: why pytest sets up its tests from outside the file; `imported`: the
    functions it imports from the workspace's modules (see ModuleInfo)."""
    if "\x00" in text:
        raise SourceError("This file contains binary data (NUL bytes), so SemCoder cannot analyse it.")
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise SourceError(
            f"SemCoder cannot analyse this file: syntax error at line {exc.lineno}: {exc.msg}. "
            "Traces appear again once the file parses."
        ) from None
    except (ValueError, MemoryError, RecursionError) as exc:
        raise SourceError(f"SemCoder cannot analyse this file: {exc}.") from None
    lines = split_lines(text)
    functions: dict[str, FunctionInfo] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions[node.name] = _function_info(node, node.name, FUNCTION, lines)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                # A property's setter and deleter share its name; the getter is what is read.
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not _is_accessor(item):
                    name = f"{node.name}.{item.name}"
                    functions[name] = _function_info(item, name, _method_kind(item), lines)
    remember_module(tree)  # (so that is_definition judges its statements in it)
    info = ModuleInfo(text=text, lines=lines, functions=functions, tree=tree, tests_set_up=tests_set_up,
                      imported=dict(imported or {}), test_order=run_order(tree))
    info.calls = _file_calls(tree, info)
    return info


def split_lines(text: str) -> list[str]:
    """The text's lines as Python and LSP count them (breaks: \\r\\n, \\r, \\n), without their
    ends; like str.splitlines, a final line break starts no further line."""
    lines = _LINE_BREAK.split(text)
    if lines[-1] == "":
        lines.pop()
    return lines


def _function_info(node: ast.FunctionDef | ast.AsyncFunctionDef, name: str, kind: str,
                   lines: list[str]) -> FunctionInfo:
    start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
    end = (node.end_lineno or node.lineno) - 1
    def_text = lines[node.lineno - 1]
    m = _DEF_NAME.search(def_text)
    if m is None or m.group(1) != node.name:  # (a name the parser normalised, say)
        m = re.search(r"\bdef\s+(" + re.escape(node.name) + r")\b", def_text)
    text = "\n".join(lines[start : end + 1]) + "\n"
    return FunctionInfo(
        name=name,
        start=start,
        def_line=node.lineno - 1,
        end=end,
        name_col=m.start(1) if m else 0,
        source=textwrap.dedent(text) if kind != FUNCTION else text,
        docstring=ast.get_docstring(node) or "",
        kind=kind,
        indent=def_text[: len(def_text) - len(def_text.lstrip())],
        takes_no_arguments=_takes_no_arguments(node.args),
    )


def _takes_no_arguments(args: ast.arguments) -> bool:
    """Whether a call with no arguments binds every parameter (each one has a default, or
    gathers the rest: `*args`, `**kwargs`)."""
    positional = args.posonlyargs + args.args
    return len(args.defaults) == len(positional) and all(d is not None for d in args.kw_defaults)


def _is_accessor(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """`@x.setter` / `@x.deleter`."""
    return any(isinstance(d, ast.Attribute) and d.attr in ("setter", "deleter") for d in node.decorator_list)


def _file_calls(tree: ast.Module, info: ModuleInfo) -> list[CallSite]:
    module = _module_of(info)
    # An imported function's asserts are judged where its module shows it keeps no state
    # (imported.py), and the file binds its name once, by the import, and defines no function
    # of that name.
    # (`app.scale` of `import app`: the file binds `app` once, and defines no function `app`.)
    info.callables = {**{name: imported.function for name, imported in info.imported.items()
                         if imported.why_not is None and imported.function is not None
                         and (owner := name.partition(".")[0]) not in info.functions
                         and len(module.changers.get(owner, ())) == 1},
                      **info.functions}
    calls = []
    cases: dict[int, list[_Case] | None] = {}
    functions = [] if info.tests_set_up else _functions_run(tree)
    tests = {id(fn) for fn, test in functions if test}  # (what pytest collects)
    for node, place in _judged_asserts(tree, functions):
        fn = place.function
        if fn is not None and fn.decorator_list:
            known = cases.get(id(fn), ())
            if known == ():
                known = cases[id(fn)] = _parametrize_cases(fn, info) if id(fn) in tests else None
            if known is not None:  # each case a check of its own, on its line
                # A case after the first runs after the whole test has run for the ones
                # before it: what they left is earlier state (_may_see_earlier_state).
                later = _Place([*place.run[: place.count], *fn.body], place.count + len(fn.body), fn)
                calls.extend(site for index, case in enumerate(known) if (site := _assert_site(
                    node, later if index else place, module, info, info.order_dependent, case)))
                continue
        site = _assert_site(node, place, module, info, info.order_dependent)
        if site is not None:
            calls.append(site)
    for fn in info.functions.values():
        calls.extend(_doctest_calls(fn, info))
    for index, line in enumerate(info.lines):
        found = comment_call(line) if "semcoder:" in line else None
        if found is None:
            continue
        call_text, start, end = found
        try:
            expr = ast.parse(call_text, mode="eval").body
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            continue
        name = literal_call(expr, info.functions)
        if name:
            calls.append(CallSite(name, call_text, "comment", index, None, start, end))
    return calls + _constructor_calls(calls, info.functions)


def comment_call(line: str) -> tuple[str, int, int] | None:
    """The call of a `# semcoder: CALL` comment on `line`, and where it starts and ends (str
    indices), in time linear in the line's length."""
    m = COMMENT_CALL.search(line)
    if m is None:
        return None
    rest = line[m.end():]
    call = rest.strip()
    if not call:
        return None
    start = m.end() + (len(rest) - len(rest.lstrip()))
    return call, start, start + len(call)


def _constructor_calls(calls: list[CallSite], functions: dict[str, FunctionInfo]) -> list[CallSite]:
    """`Class(1)` out of each `Class(1).method(2)`: known calls of `Class.__init__` (with no
    expectation: the assert or doctest is about the method)."""
    found: list[CallSite] = []
    seen = {(c.function, c.call) for c in calls}
    for site in calls:
        # Only a method's call builds an instance; the rest need no second parse.
        if "." not in site.function or site.function.endswith(".__init__"):
            continue
        try:
            expr = ast.parse(site.call, mode="eval").body
        except SyntaxError:
            continue
        named = called(expr, functions)
        owner = named[1][-1] if named else None  # the constructor call, for an instance method
        if not isinstance(owner, ast.Call) or not isinstance(owner.func, ast.Name):
            continue
        init = f"{owner.func.id}.__init__"
        text = ast.get_source_segment(site.call, owner) or ""
        if init in functions and text and (init, text) not in seen:
            seen.add((init, text))
            found.append(CallSite(init, text, site.origin, site.line))
    return found


def _assert_site(node: ast.Assert, place: _Place, module: _Module, info: ModuleInfo,
                 order_dependent: set[int], case: _Case | None = None) -> CallSite | None:
    """The check an assert that runs unconditionally makes of one of the file's functions,
    if its verdict can be Python's: its call names the file's function (not a test's local
    of the same name), and, replayed alone on the file's definitions, sees what Python's
    call sees there (_bound_after, _may_see_earlier_state; where it may not, its lines go
    into `order_dependent`). With a `case` of a parametrized test, the assert with that
    case's arguments, placed on the case's line."""
    test = node.test
    if case is not None:
        test = _with_case(test, case, info)
        if test is None:
            return None
    callables = info.callables or info.functions
    # `assert f(1)` and `assert not f(1)` expect a true or a false value (TRUTHY, FALSY).
    expected = TRUTHY
    target = test
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
        left, right = test.left, test.comparators[0]
        target, expected = left, _text_of(info, right)
        # The call is the side that is a literal call, else the side that calls the file's function.
        if literal_call(left, callables) is None and (literal_call(right, callables) or (
                called(left, callables) is None and called(right, callables))):
            target, expected = right, _text_of(info, left)
            if any(isinstance(n, (ast.Name, ast.Call)) for n in ast.walk(left)):
                # Python evaluates `EXPECTED == f(1)` left first, and asks EXPECTED's `__eq__`
                # first (`ANY == make(1)`): the condition keeps that order (below).
                target = test
    elif isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        target, expected = test.operand, FALSY
    if called(target, callables) is None:
        if hasattr(node, "semcoder_statement"):
            return None  # (`self.assertEqual(WANT, f(3))`: no condition of Python's text to check)
        # A condition that does more with the call (`len(f(3)) == 3`, `f(3) is None`,
        # `0 < f(3) < 9`): the whole condition is checked with the call's value (CONDITION).
        inner = _condition_call(test, info, module)
        if inner is None:
            return None
        target, expected = inner, CONDITION + _text_of(info, test, (inner, CALLED))
        reads = module_reads(test)
    else:
        reads = module_reads(target)
    name = literal_call(target, callables)
    needs = frozenset(reads)  # (call_needs of its text: what its replay keeps, definitions_only)
    if name is None and place.function is None and called(target, callables) is not None \
            and _replayable_arguments(target, node, needs, module):
        name = called(target, callables)[0]  # type: ignore[index]
        literal = False
    else:
        literal = True
    if not name:
        return None
    if name not in info.functions and "." in name:
        # `app.scale(2)` of `import app` reads `app` for a function of no state: the
        # module's own state is for _changes_imported_module (below), not the file's.
        reads -= _read_for_pure_functions_only(test, {name.partition(".")[0]}, _pure_imported(info))
        needs = frozenset(reads)
    if name not in info.functions and (not literal or not _means_the_same_in(info.imported[name], expected, test, target, info)
                                       or _changes_imported_module(info.imported[name], place, module, info)):
        return None  # (an imported function's call is traced in its module: see Tracing.actual_trace)
    if place.function is not None and reads & module.locals(place.function):
        return None  # (`div = lambda a, b: a // b` in the test: not the file's div)
    reached = module.reach(reads)
    if "__name__" in reached:
        return None  # (a replayed call's module is not `__main__`, nor the test module's name)
    why = environment_reason(module, reached, [test])
    if why is not None:
        # (`Path.home()`, `os.environ`, `os.getcwd()`: the sandbox's are not the user's)
        info.unjudged[case.line if case is not None else node.lineno - 1] = why
        return None
    if (place.function is None and _bound_after(reached, node, needs, module)) \
            or _may_see_earlier_state(reached, place, module, needs):
        order_dependent.update(range(node.lineno - 1, node.end_lineno or node.lineno))
        return None
    if case is not None:
        return CallSite(name, _text_of(info, target), "assert", case.line, expected or None,
                        case.start_col, case.end_col, literal=literal, case=True)
    return CallSite(name, _text_of(info, target), "assert", node.lineno - 1, expected or None,
                    target.col_offset, target.end_col_offset or 0, literal=literal)


def _means_the_same_in(imported: Any, expected: str | None, test: ast.expr, call: ast.expr, info: ModuleInfo) -> bool:
    """Whether an assert's expectation of an imported function's call means, in that
    function's module (where it is checked: Tracing.actual_trace), what it means in the
    file: a literal value, the truth of the value, or a condition around the call whose
    names are builtins that neither file binds (`len(split("a b")) == 2`)."""
    if not (expected or "").startswith(CONDITION):
        return _literal_text(expected)
    inside = {id(node) for node in ast.walk(call)}
    names = {node.id for node in ast.walk(test) if isinstance(node, ast.Name) and id(node) not in inside}
    bound = set().union(*(_changed_names(node) for node in info.tree.body)) | imported.module_names
    return all(name in _BUILTIN_NAMES and name not in bound for name in names)


_BUILTIN_NAMES = frozenset(dir(builtins))


def _literal_text(expected: str | None) -> bool:
    """Whether an assert's expected value means the same in any module: a literal, or the
    truth of the value (TRUTHY, FALSY)."""
    if expected in (TRUTHY, FALSY):
        return True
    try:  # (arithmetic of numbers too: `5 * 1024 ** 3`, as _is_literal takes it)
        return _is_literal(ast.parse(f"(\n{(expected or '').strip()}\n)", mode="eval").body)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False


def _changes_imported_module(imported: Any, place: _Place, module: _Module, info: ModuleInfo) -> bool:
    """Whether a statement that runs before an imported function's assert (the module's
    statements, the test's, earlier tests') may change the state of that function's module
    M: it changes what the file binds of M in place or by attribute (`app.CONFIG["k"] = 2`,
    `setattr(app, "SCALE", 3)`), reads anything the file binds of M but M's functions of no
    state, itself or through the file's own functions (`s = SETTINGS`, `add_item(ITEMS, 1)`,
    `registry.register("x")`, a helper setting `Settings.factor`), or reaches sys.modules,
    `reload` or `globals()`. (M's own functions that change it are not judged, and another
    module of the workspace that imports M makes none of M's judged: imported.py.)"""
    names = _bound_to(module.tree, imported.module)
    # What the file binds of M that may hold state: all but M's functions of no state, and
    # M's classes of no state (imported.harmless: `Point(1, 2)`, `Cart().add(item)`), where
    # the file binds such a class's name once, by that import.
    pure = {name for name in _pure_imported(info) if info.imported[name].module == imported.module}
    classes = {name for name in getattr(imported, "harmless", ())
               if len(module.changers.get(name.partition(".")[0], ())) == 1}
    pure |= classes
    holders = names - pure
    for statement in place.run[: place.count]:
        harmless = _read_for_pure_functions_only(statement, names, pure)  # (`app.scale(2)`)
        if changed_in_place(statement) & names - harmless:
            return True
        reads = module_reads(statement) - harmless
        reached = module.reach(reads)
        # (through the file's own functions too; and any reach into sys.modules, reload, globals())
        if reached & holders or _reaches_modules(statement):
            return True
        if classes and _may_change_classes(statement, reached, classes, module):
            return True
    return False


def _may_change_classes(statement: ast.stmt, reached: set[str], classes: set[str], module: _Module) -> bool:
    """Whether a statement may change one of M's classes of no state (`classes`, as the
    file binds them) by another way than its text (_changes_imported_module sees `Point.x =
    1` and `setattr(Point, ...)`): through one of the file's own functions it reaches
    (a helper setting `Point.scale`), or through an instance's class (`type(p).x = 1`,
    `p.__class__.x = 1`, `vars(...)`, `__dict__`), by its code or that of the file's
    functions it reaches."""
    roots = {name.partition(".")[0] for name in classes}
    if any((module.state(name) or set()) & roots for name in reached if name in module.definitions):
        return True
    bodies = [statement, *(node for name in reached for node in module.functions_named(name))]
    return any(isinstance(n, ast.Attribute) and n.attr in ("__class__", "__dict__", "__setattr__")
               or isinstance(n, ast.Name) and n.id in ("type", "vars", "setattr", "delattr", "object")
               for body in bodies for n in ast.walk(body))


def _pure_imported(info: ModuleInfo) -> set[str]:
    """The names (`scale`, `app.scale`) the file calls imported functions of no state by."""
    return {name for name, imported in info.imported.items() if imported.why_not is None}


def _read_for_pure_functions_only(statement: ast.stmt, names: set[str], pure: set[str]) -> set[str]:
    """The names of `names` (modules the file imports: `import app`) that `statement`
    uses only to call the module's functions of no state (`app.scale(2)`) or to use its
    classes of no state (`app.Point(1, 2)`): such a read reaches nothing that keeps state.
    Not where the use goes on to an attribute or item of what it names (`app.Point.scale =
    4`, `app.scale.cache_clear()`) or hands it to `setattr`/`delattr`: that may change it."""
    uses: dict[str, bool] = {}  # name -> whether every use so far is `name.<function of no state>`
    attribute_owners = set()
    further = {id(node.value) for node in ast.walk(statement) if isinstance(node, (ast.Attribute, ast.Subscript))}
    further |= {id(arg) for node in ast.walk(statement) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("setattr", "delattr", "vars") for arg in node.args}
    for node in ast.walk(statement):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in names:
            attribute_owners.add(id(node.value))
            owner = node.value.id
            uses[owner] = uses.get(owner, True) and isinstance(node.ctx, ast.Load) and f"{owner}.{node.attr}" in pure \
                and id(node) not in further
    for node in ast.walk(statement):
        if isinstance(node, ast.Name) and node.id in uses and id(node) not in attribute_owners:
            uses[node.id] = False  # (the module itself, passed or bound: anything may be reached)
    return {name for name, only_pure in uses.items() if only_pure}


def _reaches_modules(statement: ast.stmt) -> bool:
    """Whether a statement may reach a module's state by another way than its names:
    `sys.modules[...]`, `importlib.reload(...)`, `globals()`."""
    return any(isinstance(n, ast.Attribute) and n.attr in ("modules", "reload")
               or isinstance(n, ast.Name) and n.id in ("reload", "globals", "importlib")
               for n in ast.walk(statement))


def _bound_to(tree: ast.Module, module: str) -> set[str]:
    """The names the file binds to `module` or to what it imports from it (`from pkg import
    core` binds `core` to the module `pkg.core`)."""
    names = set()
    package, _, last = module.rpartition(".")
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == module:
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and package and node.module == package:
            names.update(alias.asname or alias.name for alias in node.names if alias.name == last)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == module or alias.name.startswith(module + "."):
                    names.add(alias.asname or alias.name.split(".")[0])
    return names


def top_level_function(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    """The module's top-level `def name`, where that is the last top-level statement that
    binds the name (not a class, nor a name bound again after it)."""
    binders = [node for node in tree.body if name in _changed_names(node)]
    last = binders[-1] if binders else None
    return last if isinstance(last, ast.FunctionDef) and last.name == name else None


def pure_function_reason(tree: ast.Module, lines: list[str], node: ast.FunctionDef,
                         is_workspace_module: Any) -> tuple[FunctionInfo, str | None]:
    """The FunctionInfo of a module's top-level function (its lines those of the module's
    file) and why a call of it, replayed after another file's statements, may not see what
    Python's sees, in words; None where its module shows it keeps no state: it is not
    decorated, reads no `__name__`, and what it reaches in its module keeps no state, is
    changed by none of the module's functions, and is not imported from another module of
    the workspace (`is_workspace_module(dotted name)`)."""
    info = _function_info(node, node.name, FUNCTION, lines)
    if node.decorator_list:
        return info, "it is decorated (a decorator may keep its results or change what it does)"
    module = _Module(tree)
    return info, _reaches_state(module, module.reach({node.name}), is_workspace_module)


def _reaches_state(module: _Module, reached: set[str], is_workspace_module: Any, values_only: bool = False
                   ) -> str | None:
    """Why what a definition of the module reaches (`reached`) may hold state, in words
    (see pure_function_reason); None where it holds none. `values_only`: a module-level
    value it reads must be one no one can change either (no list, dict or set: an instance
    that holds it would hand it on)."""
    if "__name__" in reached:
        return "it reads `__name__`"
    stateful = sorted(name for name in reached if name in module.definitions and module.state(name) is not None)
    if stateful:
        return f"`{stateful[0]}` keeps state from one call to the next"
    changed = set().union(*(module.state(name) or set() for name in module.stateful_definitions))
    if changed & reached:
        return f"`{sorted(changed & reached)[0]}` is changed by its module's functions"
    for name in sorted(reached):
        for statement in module.changers.get(name, ()):
            if isinstance(statement, ast.ImportFrom) and (statement.level or is_workspace_module(statement.module or "")) \
                    or isinstance(statement, ast.Import) and any(
                        is_workspace_module(alias.name) for alias in statement.names
                        if (alias.asname or alias.name.split(".")[0]) == name):
                return f"it uses `{name}`, from another module of the workspace"
            if not isinstance(statement, (*_DEFINITIONS, ast.Import, ast.ImportFrom)) and not _made_plainly(statement):
                # (`_inc = _make_counter()`, `registry = Registry()`, `N = int(os.environ[...])`)
                return f"it reads `{name}`, made as its module loads (it may keep state, or differ in a run)"
            if values_only and not isinstance(statement, (*_DEFINITIONS, ast.Import, ast.ImportFrom)) and any(
                    isinstance(n, (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp))
                    for n in ast.walk(statement)):
                return f"it reads `{name}`, a list, dict or set of its module's, which an instance may hand on"
    bodies = [node for name in reached for node in module.definitions.get(name, ())]
    why = environment_reason(module, reached)
    if why is not None:
        return why
    if any(_file_use(body)[0] for body in bodies):
        # (files found from the working folder: pytest's is where it was started, a run's is
        # its own, with the module's folder and the workspace's in it)
        return "it reads or writes files, which a run finds from another working folder than pytest's"
    return None


def top_level_class(tree: ast.Module, name: str) -> ast.ClassDef | None:
    """The module's top-level `class name`, where that is the last top-level statement that
    binds the name (what the module's own statements do with it as it loads, `assert
    Account("x").deposit(5) == 10`, is the same in every run)."""
    binders = [node for node in tree.body if name in _bound_names_of(node)]
    last = binders[-1] if binders else None
    return last if isinstance(last, ast.ClassDef) and last.name == name else None


def _bound_names_of(node: ast.stmt) -> set[str]:
    if isinstance(node, _DEFINITIONS):
        return {node.name}
    return set(scope_bindings([node])[0])


def class_state_reason(tree: ast.Module, node: ast.ClassDef, is_workspace_module: Any) -> str | None:
    """Why using a module's class (making an instance, calling its methods, reading its
    attributes) may change what that module's functions see later, in words; None where its
    definition shows it keeps no state, as pure_function_reason shows of a function: the
    class and every class it reaches has a plain shape (_class_shape_reason: no metaclass,
    a harmless decorator, no list, dict or set of the class's own), its methods keep no
    state (they change `self` alone: _Module.state), and what it reaches in its module keeps
    none, is changed by none of the module's functions, holds no list, dict or set, reads no
    environment or files, and is not imported from another module of the workspace."""
    module = _Module(tree)
    reached = module.reach({node.name})
    for name in sorted(reached):
        for cls in module.definitions.get(name, ()):
            if isinstance(cls, ast.ClassDef):
                why = _class_shape_reason(cls, module)
                if why is not None:
                    return why if cls is node else f"it uses `{name}`, and {why}"
    return _reaches_state(module, reached, is_workspace_module, values_only=True)


# What may decorate a class that keeps no state (the module it comes from, as the module
# imports it), and what may decorate its methods.
_CLASS_DECORATORS = {"dataclass": "dataclasses", "total_ordering": "functools"}
_METHOD_DECORATORS = {"staticmethod": "builtins", "classmethod": "builtins", "property": "builtins",
                      "cached_property": "functools", "abstractmethod": "abc"}
# Builtins a dataclass field may be made by (`field(default_factory=list)`).
_FIELD_FACTORIES = frozenset(("list", "dict", "set", "tuple", "frozenset", "str", "int", "float", "bool"))
# Methods that change how the class itself, or its subclasses, are made.
_CLASS_HOOKS = frozenset(("__init_subclass__", "__class_getitem__", "__set_name__", "__new__", "__getattr__",
                          "__getattribute__", "__setattr__", "__delattr__", "__del__"))


def _class_shape_reason(cls: ast.ClassDef, module: _Module) -> str | None:
    """Why a class's definition is no plain one, in words: a metaclass or class argument,
    a base other than `object`, a builtin exception or another class of the module, a
    decorator other than `dataclass` (literal arguments) or `total_ordering`, a method
    decorated otherwise than as a property, static, class or abstract method, a hook that
    changes how classes or attributes are made, or a class attribute that is not an
    immutable literal (a dataclass field made by `field(...)` of literals and builtins
    aside). None for a plain one."""
    if cls.keywords:
        return f"`{cls.name}` has a metaclass or class arguments"
    for base in cls.bases:
        name = base.id if isinstance(base, ast.Name) else None
        if name in module.classes and module.classes[name] is not cls:
            continue  # (its shape and state are looked at in turn: it is reached)
        if name is None or name in module.changers or not (
                name == "object" or isinstance(getattr(builtins, name, None), type)
                and issubclass(getattr(builtins, name), BaseException)):
            return f"`{cls.name}` has a base class that may keep state (`{ast.unparse(base)}`)"
    for decorator in cls.decorator_list:
        call = decorator if isinstance(decorator, ast.Call) else None
        named = _imported_name(call.func if call else decorator, module)
        if named is None or _CLASS_DECORATORS.get(named[1]) != named[0] or (call is not None and (
                named[1] != "dataclass" or call.args or not all(_is_literal(k.value) for k in call.keywords))):
            return f"`{cls.name}` is decorated by `{ast.unparse(decorator)}`, which may change what it does"
    for item in cls.body:
        if isinstance(item, ast.Pass) or (isinstance(item, ast.Expr) and isinstance(item.value, ast.Constant)):
            continue
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if item.name in _CLASS_HOOKS:
                return f"`{cls.name}` defines `{item.name}`"
            for decorator in item.decorator_list:
                named = _imported_name(decorator, module)
                if not (isinstance(decorator, ast.Attribute) and decorator.attr in ("setter", "deleter")
                        and isinstance(decorator.value, ast.Name)) and (
                        named is None or _METHOD_DECORATORS.get(named[1]) != named[0]):
                    return f"`{cls.name}.{item.name}` is decorated by `{ast.unparse(decorator)}`, which may keep state"
            continue
        value = item.value if isinstance(item, (ast.Assign, ast.AnnAssign)) else None
        targets = item.targets if isinstance(item, ast.Assign) else [item.target] if isinstance(item, ast.AnnAssign) else []
        if targets and all(isinstance(t, ast.Name) for t in targets) and (
                value is None and isinstance(item, ast.AnnAssign) or value is not None and (
                    _immutable_literal(value) or _plain_field(value, module))):
            continue
        return f"`{cls.name}` has a class attribute or statement that may hold state (line {item.lineno})"
    return None


def _immutable_literal(node: ast.AST) -> bool:
    return _is_literal(node) and not any(isinstance(n, (ast.List, ast.Dict, ast.Set)) for n in ast.walk(node))


def _plain_field(node: ast.AST, module: _Module) -> bool:
    """`field(default=0)`, `dataclasses.field(default_factory=list)`: a dataclass field each
    instance gets its own value of."""
    if not isinstance(node, ast.Call) or _imported_name(node.func, module) != ("dataclasses", "field") or node.args:
        return False
    return all(_immutable_literal(k.value) or (
        k.arg == "default_factory" and isinstance(k.value, ast.Name) and k.value.id in _FIELD_FACTORIES
        and k.value.id not in module.changers) for k in node.keywords)


def _imported_name(node: ast.AST, module: _Module) -> tuple[str, str] | None:
    """(module, name) of what `node` names, where the module binds it only by an import
    from a module outside the workspace's (`dataclass` of `from dataclasses import
    dataclass`, `functools.total_ordering` of `import functools`), or a builtin it does not
    bind: ("builtins", name). None otherwise."""
    if isinstance(node, ast.Name):
        binders = module.changers.get(node.id, ())
        if not binders:
            return ("builtins", node.id) if hasattr(builtins, node.id) else None
        found = set()
        for binder in binders:
            if not isinstance(binder, ast.ImportFrom) or binder.level:
                return None
            found.update((binder.module, alias.name) for alias in binder.names if (alias.asname or alias.name) == node.id)
        return found.pop() if len(found) == 1 else None
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        binders = module.changers.get(node.value.id, ())
        modules = {alias.name for binder in binders if isinstance(binder, ast.Import) for alias in binder.names
                   if (alias.asname or alias.name) == node.value.id}
        if binders and len(modules) == 1 and all(isinstance(binder, ast.Import) for binder in binders):
            return modules.pop(), node.attr
    return None


# Calls a module may bind a name to as it loads that make a value, not an object with state.
_PLAIN_MAKERS = frozenset(("compile", "frozenset", "tuple", "namedtuple", "maketrans", "TypeVar", "NewType",
                           "Decimal", "Fraction", "escape"))


def _made_plainly(statement: ast.stmt) -> bool:
    """Whether a module-level statement binds a plain value: a literal (a container of
    literals, changed by none of the module's functions: see pure_function_reason), or a
    value one of _PLAIN_MAKERS makes of literals (`re.compile(r"\\d+")`)."""
    value = getattr(statement, "value", None)
    if not isinstance(statement, (ast.Assign, ast.AnnAssign)) or value is None:
        return False
    if _is_literal(value):
        return True
    return (isinstance(value, ast.Call) and _last_name(value.func) in _PLAIN_MAKERS
            and all(_is_literal(arg) for arg in [*value.args, *(k.value for k in value.keywords)]))


def _condition_call(test: ast.expr, info: ModuleInfo, module: _Module) -> ast.expr | None:
    """The one call of the file's functions in an assert's condition, where the condition
    makes it once: not in a lambda or a comprehension (which may make it any number of
    times, with other arguments), and no other call of the file's functions beside it,
    whose value the check would take as given. And where the check (which makes the call,
    then evaluates the condition with its value) evaluates what Python's assert does, in
    its order: the call is made whatever comes before it (not in a later operand of
    `and`/`or`, a branch of `x if c else y`, a later link of a chained comparison), after
    nothing that calls (`len(calls) < record(1)`). None otherwise, and for a condition
    with `yield` or `await` (the check is a plain function), `__name__` (a replayed call's
    module is not `__main__`), `is` with a literal such as `"a b"` or 123456789 (constants
    of a check compiled apart are objects of their own), or CALLED in its text."""
    found: list[ast.expr] = []

    callables = info.callables or info.functions

    def visit(node: ast.AST, once: bool) -> bool:
        if called(node, callables) is not None:
            found.append(node)
            return once  # (its own arguments are literals, or replayed: see _assert_site)
        inner_once = once and not isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
                                                   ast.GeneratorExp))
        return all(visit(child, inner_once) for child in ast.iter_child_nodes(node))

    if not visit(test, True) or len(found) != 1 or CALLED in info.segment(test):
        return None
    call = found[0]
    parents = {}
    for node in ast.walk(test):
        if isinstance(node, (ast.Yield, ast.YieldFrom, ast.Await)) or (
                isinstance(node, ast.Name) and node.id == "__name__") or _is_literal_identity(node):
            return None
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    child, ancestors = call, set()
    while child is not test:
        parent = parents[child]
        ancestors.add(parent)
        if (isinstance(parent, ast.BoolOp) and child is not parent.values[0]) or (
                isinstance(parent, ast.IfExp) and child is not parent.test) or (
                isinstance(parent, ast.Compare) and child is not parent.left and child is not parent.comparators[0]):
            return None
        child = parent
    made_at = (call.lineno, call.col_offset)
    callees = {id(n) for a in ancestors if isinstance(a, ast.Call) for n in ast.walk(a.func)}
    for node in ast.walk(test):
        if node in ancestors or node is call or id(node) in callees or not hasattr(node, "lineno") \
                or (node.lineno, node.col_offset) >= made_at:
            continue
        # Evaluated before the call: nothing that calls, nor reads what may change (`COUNT <
        # bump()`), only what imports, definitions and builtins bind.
        if isinstance(node, ast.Call) or (isinstance(node, ast.Name) and not all(
                isinstance(binder, (*_DEFINITIONS, ast.Import, ast.ImportFrom))
                for binder in module.changers.get(node.id, ()))):
            return None
    return call


def _is_literal_identity(node: ast.AST) -> bool:
    """`x is "a b"`, `x is not (1, 2)`: identity with a literal other than None, True, False
    or `...`."""
    if not isinstance(node, ast.Compare) or not any(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops):
        return False
    def shared(value: object) -> bool:  # (the objects every `is` of them finds the same)
        return value is None or value is True or value is False or value is ... or (
            type(value) is int and -5 <= value <= 256)

    def literal(side: ast.AST) -> bool:  # (`-6`, `1 + 2j`: folded into constants by the compiler)
        return isinstance(side, (ast.UnaryOp, ast.BinOp)) and _is_literal(side)

    return any((isinstance(side, ast.Constant) and not shared(side.value)) or literal(side)
               or isinstance(side, (ast.Tuple, ast.JoinedStr)) for side in (node.left, *node.comparators))


def _text_of(info: ModuleInfo, node: ast.AST, replaced: tuple[ast.AST, str] | None = None) -> str:
    """`node`'s source text as written, with a parametrized case's values written in for
    its arguments (the nodes _with_case put in, which know their text) and, with
    `replaced`, that node's text replaced (an assert's call by CALLED, a name). A value
    that would not read back as itself where it stands (`-2` in `x ** 2`, `3` in `x.real`)
    is written in parentheses."""
    text, spliced = _spliced(info, node, replaced, parens=False)
    if spliced and _read_back(text) != _shape(node, replaced):
        text, _ = _spliced(info, node, replaced, parens=True)
    return text


def _spliced(info: ModuleInfo, node: ast.AST, replaced: tuple[ast.AST, str] | None,
             parens: bool) -> tuple[str, bool]:
    spans: list[tuple[int, int, str]] = []
    spliced = False
    pending: list[ast.AST] = [node]
    while pending:
        part = pending.pop()
        text = getattr(part, "_semcoder_text", None)
        if replaced is not None and part is replaced[0]:
            text = replaced[1]
        elif text is not None:
            spliced = True
            if parens and not getattr(part, "_semcoder_atom", False):
                text = f"({text})"
        if text is not None:
            spans.append((_start(info, part), _end(info, part), text))
        else:
            pending.extend(ast.iter_child_nodes(part))
    if not spans:
        return info.segment(node), False
    start, out = _start(info, node), []
    for begin, end, text in sorted(spans):
        out.append(info.text[start:begin] + text)
        start = end
    out.append(info.text[start:_end(info, node)])
    return "".join(out), spliced


def _read_back(text: str) -> str | None:
    try:
        return ast.dump(ast.parse(f"(\n{text}\n)", mode="eval").body)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


def _shape(node: ast.AST, replaced: tuple[ast.AST, str] | None) -> str:
    """ast.dump of `node`, the `replaced` node in it read as the name it is replaced by."""
    if replaced is None:
        return ast.dump(node)
    name = ast.Name(id=replaced[1], ctx=ast.Load())
    if node is replaced[0]:
        return ast.dump(name)
    for parent in ast.walk(node):
        for attribute, value in ast.iter_fields(parent):
            if value is replaced[0]:
                setattr(parent, attribute, name)
                try:
                    return ast.dump(node)
                finally:
                    setattr(parent, attribute, value)
            if isinstance(value, list) and any(item is replaced[0] for item in value):
                index = next(k for k, item in enumerate(value) if item is replaced[0])
                value[index] = name
                try:
                    return ast.dump(node)
                finally:
                    value[index] = replaced[0]
    return ast.dump(node)


def _start(info: ModuleInfo, node: ast.AST) -> int:
    return info._offset(node.lineno - 1, node.col_offset)


def _end(info: ModuleInfo, node: ast.AST) -> int:
    return info._offset((node.end_lineno or node.lineno) - 1, node.end_col_offset or 0)


def is_test(fn: FunctionInfo, info: ModuleInfo) -> bool:
    """Whether pytest would call `fn` itself, with its fixtures or cases: a `test*` function,
    or a `test*` method of a `Test*` class or a unittest TestCase (run_order)."""
    return fn.name in info.test_order


def asserts_in(info: ModuleInfo) -> list[CallSite]:
    return [c for c in info.calls if c.origin in ("assert", "doctest") and c.expected is not None]
