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
asserts are checks" below).

Line numbers in this module are 0-based document lines (LSP), columns are str indices.
"""

from __future__ import annotations

import ast
import builtins
import collections
import copy
import doctest
import functools
import hashlib
import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

from semcoder_inference.context import bound_locally, scope_bindings
from semcoder_inference.errors import SemcoderError

from .execution import (
    MUTATORS,
    changed_in_place,
    changed_roots,
    is_definition,
    module_reads,
    remember_module,
    root_name,
)
from .results import CALLED, CONDITION, FALSY, TRUTHY, DoctestWant

# Where a `# semcoder: CALL` comment's call begins; the call is the rest of the line,
# stripped (comment_call). (A pattern that also matched the call, `(?P<call>.+?)\s*$`, took
# time quadratic in a run of spaces inside it: seconds for one long line, every keystroke.)
COMMENT_CALL = re.compile(r"#\s*semcoder:")
# The line breaks of Python source (and of LSP): str.splitlines also breaks at a form feed,
# U+2028 and others, which would shift every later line against the ast's numbers.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# A def line's name: one pattern for all functions (a pattern per name would be compiled
# anew for each function of a big file).
_DEF_NAME = re.compile(r"\bdef\s+(\w+)")


class SourceError(SemcoderError):
    """The document cannot be analysed (syntax error, not text)."""


# What a FunctionInfo is: a top-level function, or a method of a top-level class.
FUNCTION, METHOD, STATIC_METHOD, CLASS_METHOD, PROPERTY = "function", "method", "staticmethod", "classmethod", "property"
_PROPERTY_DECORATORS = ("property", "cached_property")


@dataclass(frozen=True)
class FunctionInfo:
    name: str  # `f`, or `Class.method`
    start: int  # first line (decorators included), 0-based
    def_line: int  # the `def` line
    end: int  # last line, inclusive
    name_col: int  # column of the name on def_line
    source: str  # the function's text, dedented to column 0 (a method's too)
    docstring: str
    kind: str = FUNCTION
    indent: str = ""  # the leading whitespace of its lines in the file (a method's class body)
    takes_no_arguments: bool = False  # every parameter has a default (or there is none)

    @property
    def is_method(self) -> bool:
        return self.kind != FUNCTION

    @property
    def source_hash(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CallSite:
    function: str
    call: str  # e.g. "f(1, 2)"
    origin: str  # "cursor" | "assert" | "doctest" | "comment" | "main" | "asserts" | "tests" | "explicit" | "no-arguments"
    line: int  # where it appears (0-based)
    # expected value, source text; an assert without `==` expects TRUTHY (FALSY with `not`);
    # a doctest's is a DoctestWant, its output as text
    expected: str | None = None
    start_col: int = 0
    end_col: int = 0
    # A call seen while running the file whose values are not literals: it is traced where
    # it happens, by running `entry` (None: the `__main__` block) again (Tracer.watch_call).
    watched: bool = False
    entry: str | None = None
    # False for a module-level assert's call whose arguments are not literals but what the
    # replayed module evaluates (`ident(LIMIT)`, `f(len("ab"))`: see _replayable_arguments):
    # judged by a real run like a literal call, but the model's input states only literals.
    literal: bool = True
    # A `@pytest.mark.parametrize` case's check: `line`, `start_col` and `end_col` are where
    # the case is written (its first line), and its diagnostic marks that alone.
    case: bool = False


@dataclass
class ModuleInfo:
    text: str
    lines: list[str]
    functions: dict[str, FunctionInfo]
    calls: list[CallSite] = field(default_factory=list)  # file calls (not cursor)
    tree: ast.Module | None = None
    # The lines (0-based) of asserts whose call, replayed alone, may not see what Python's
    # sees there (an earlier call's state, a later definition: see _assert_site): a cursor
    # on such a call is traced where the file makes it (call_at).
    order_dependent: set[int] = field(default_factory=set)
    # Why pytest may set up this file's tests from outside it (a conftest.py's autouse
    # fixture or hook, see pytest_setup), in words; None if nothing does. Its tests' asserts
    # then get no verdict, as where the file itself has an autouse fixture.
    tests_set_up: str | None = None
    # The functions it imports from the workspace's own modules, by the name it binds
    # (imported.ImportedFunction; see imported.py), whether or not their asserts are judged.
    imported: dict[str, Any] = field(default_factory=dict)
    # The functions an assert's call may name: the file's own, and the imported ones whose
    # asserts are judged (set by the analysis).
    callables: dict[str, FunctionInfo] = field(default_factory=dict)

    def function_named(self, name: str) -> FunctionInfo | None:
        """The file's function or method `name`, else the imported function it binds."""
        fn = self.functions.get(name)
        if fn is None and name in self.imported:
            fn = self.imported[name].function
        return fn

    def function_at(self, line: int) -> FunctionInfo | None:
        for fn in self.functions.values():
            if fn.start <= line <= fn.end:
                return fn
        return None

    def calls_for(self, function: str) -> list[CallSite]:
        return [c for c in self.calls if c.function == function]

    @functools.cached_property
    def line_offsets(self) -> list[int]:
        """Where each line starts in `text` (str indices), found once: source segments are
        cut from it (see segment) rather than by splitting the whole text again per node."""
        return [0, *(m.end() for m in _LINE_BREAK.finditer(self.text))]

    def segment(self, node: ast.AST) -> str:
        """The source text of `node`, exactly as ast.get_source_segment gives it (original
        line ends included), in time proportional to the segment, not to the file."""
        try:
            first, last = node.lineno - 1, node.end_lineno - 1
            start_col, end_col = node.col_offset, node.end_col_offset
        except AttributeError:
            return ""
        if last is None or end_col is None or not 0 <= first <= last < len(self.line_offsets):
            return ""
        return self.text[self._offset(first, start_col) : self._offset(last, end_col)]

    def _offset(self, line: int, byte_column: int) -> int:
        """The str index of a UTF-8 byte column (an ast offset) on a 0-based line."""
        start = self.line_offsets[line]
        text = self.lines[line] if line < len(self.lines) else ""
        if text.isascii():
            return start + min(byte_column, len(text))
        return start + len(text.encode()[:byte_column].decode(errors="ignore"))

    @functools.cached_property
    def entry_hash(self) -> str:
        """A hash of the code that calls the file's functions when it runs: its top-level
        `if ... "__main__" ...` blocks, asserts and `test*` functions (see
        tracing.Tracing._record_calls)."""
        parts = []
        for node in (self.tree.body if self.tree is not None else ()):
            first = self.lines[node.lineno - 1] if node.lineno <= len(self.lines) else ""
            entry = (isinstance(node, ast.If) and "__main__" in first) or isinstance(node, ast.Assert) or \
                (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"))
            if entry:
                parts.append("\n".join(self.lines[node.lineno - 1 : node.end_lineno]))
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


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
                      imported=dict(imported or {}))
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


def _method_kind(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    for decorator in node.decorator_list:
        name = decorator.attr if isinstance(decorator, ast.Attribute) else getattr(decorator, "id", None)
        if name in (STATIC_METHOD, CLASS_METHOD):
            return name
        if name in _PROPERTY_DECORATORS:
            return PROPERTY
    return METHOD


def _is_accessor(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """`@x.setter` / `@x.deleter`."""
    return any(isinstance(d, ast.Attribute) and d.attr in ("setter", "deleter") for d in node.decorator_list)


def called(expr: ast.AST, functions: dict[str, FunctionInfo]) -> tuple[str, list[ast.Call]] | None:
    """Which function or method of the file `expr` runs, and the calls in it that pass
    arguments: `f(1)` -> ("f", [f(1)]); `Class(1)` -> ("Class.__init__", [Class(1)]);
    `Class(1).method(2)` -> ("Class.method", [that call, Class(1)]); `Class.method(2)` of a
    static or class method -> ("Class.method", [that call]); `Class(1).prop` of a property
    -> ("Class.prop", [Class(1)])."""
    if isinstance(expr, ast.Call):
        named = _callee(expr.func, functions)
        return (named[0], [expr, *named[1]]) if named else None
    owner = expr.value if isinstance(expr, ast.Attribute) else None
    if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name):
        fn = functions.get(f"{owner.func.id}.{expr.attr}")
        return (fn.name, [owner]) if fn is not None and fn.kind == PROPERTY else None
    return None


def _callee(func: ast.AST, functions: dict[str, FunctionInfo]) -> tuple[str, list[ast.Call]] | None:
    """What a call's `func` names (see called), and the constructor call it goes through."""
    if isinstance(func, ast.Name):
        fn = functions.get(func.id)
        if fn is not None and not fn.is_method:
            return func.id, []
        init = functions.get(f"{func.id}.__init__")
        return (init.name, []) if init is not None else None
    if not isinstance(func, ast.Attribute):
        return None
    owner = func.value
    if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name):
        fn = functions.get(f"{owner.func.id}.{func.attr}")
        return (fn.name, [owner]) if fn is not None and fn.kind != PROPERTY else None
    if isinstance(owner, ast.Name):
        fn = functions.get(f"{owner.id}.{func.attr}")
        return (fn.name, []) if fn is not None and fn.kind in (STATIC_METHOD, CLASS_METHOD) else None
    return None


def literal_call(node: ast.AST, functions: dict[str, FunctionInfo]) -> str | None:
    """The function's name if `node` runs a function or method of the file (see called)
    with literal arguments only (the constructor's too)."""
    named = called(node, functions)
    if named is None:
        return None
    name, calls = named
    for arg in [a for call in calls for a in [*call.args, *(k.value for k in call.keywords)]]:
        if not _is_literal(arg.value if isinstance(arg, ast.Starred) else arg):
            return None
    return name


def _segment(info: ModuleInfo, node: ast.AST) -> str:
    return info.segment(node)


def _file_calls(tree: ast.Module, info: ModuleInfo) -> list[CallSite]:
    module = _module_of(info)
    # An imported function's asserts are judged where its module shows it keeps no state
    # (imported.py), and the file binds its name once, by the import, and defines no function
    # of that name.
    info.callables = {**{name: imported.function for name, imported in info.imported.items()
                         if imported.why_not is None and imported.function is not None
                         and name not in info.functions and len(module.changers.get(name, ())) == 1},
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


def keeps_state(fn: FunctionInfo, info: ModuleInfo | None = None) -> bool:
    """Whether a function may keep state from one call to the next: a mutable default
    (`stack=[]`, `cache={}`, `seen=set()`), a `global`/`nonlocal` statement, or a change of
    an object of the module's (`COUNT[0] += 1`, `CACHE.update(...)`, `setattr(Config, "debug",
    True)`), also through a local that holds it (`cache = _CACHE; cache[k] = v`; `plugins =
    registry(); plugins[k] = v`, where `registry` returns a global), through its class
    (`cls.items.append(x)`, `type(self).count += 1`, a mutable class attribute changed through
    `self`), or by passing it to a function that changes its argument. `self.items.append` is
    the instance's: not counted. With `info`, what the file's other functions return and
    change is known (alone, a call of another function is taken to make a new object). An
    approximation that errs on the side of state (_Scope)."""
    if info is not None and info.tree is not None:
        module = _module_of(info)
        found = module.function_node(fn.name)
        if found is not None:
            return module.keeps_state(*found)
    try:
        node = ast.parse(fn.source).body[0]
    except (SyntaxError, ValueError, MemoryError, RecursionError, IndexError):
        return True
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return True
    return _Module(ast.Module([node], [])).keeps_state(node, None, method=fn.is_method)


# -- What a function or a statement changes ------------------------------------------------
#
# An origin of a value is a module name whose object the value may be, or be a part of (an
# item, an attribute); or `arg:x`, the object the caller passed as the parameter x (no
# module name has a colon). A change through a name (`cache[k] = v`) changes its origins.
_ARG = "arg:"
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_MUTABLE_DEFAULTS = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp, ast.Call)
# Builtins whose value is (a part of) the object passed first: `getattr(Config, "items")`,
# `next(iter(QUEUES))`, a loop over `enumerate(GRID)`.
_PART_OF_ARGUMENT = frozenset(("getattr", "vars", "next", "iter", "max", "min", "enumerate", "zip", "reversed",
                               "filter"))
# Methods whose value is a part of the object they are called on: `INDEX.get(k)`,
# `INDEX.setdefault(k, [])`, a loop over `INDEX.values()`.
_PART_OF_OBJECT = frozenset(("get", "setdefault", "pop", "popitem", "popleft", "values", "items", "__getitem__",
                             "__enter__"))
# Functions that change the object passed first: `random.shuffle(deck)`, `heapq.heappush(heap,
# x)`, `setattr(Config, "debug", True)`.
_ARGUMENT_MUTATORS = frozenset(("shuffle", "heappush", "heappop", "heapify", "heapreplace", "heappushpop",
                                "insort", "insort_left", "insort_right", "setattr", "delattr"))
# State a module keeps for the whole process, that a call of its function sets
# (`random.seed(7)`, `decimal.setcontext(ctx)`) or that is changed through what its function
# returns (`decimal.getcontext().prec = 3`): such a change counts as one of every name the
# file binds of the module (`Decimal`, `randint`, `decimal`: _Module.module_names).
_PROCESS_STATE_SETTERS = {"random": frozenset(("seed", "setstate")), "decimal": frozenset(("setcontext",))}
_PROCESS_STATE_GETTERS = {"decimal": frozenset(("getcontext",))}


def _walk(body: list[ast.stmt], nested: bool = True):
    """The nodes of `body`'s statements; with `nested` False, not inside the functions,
    lambdas and classes they define."""
    pending: list[ast.AST] = list(reversed(body))
    while pending:
        node = pending.pop()
        yield node
        if nested or not isinstance(node, (*_SCOPES, ast.ClassDef)):
            pending.extend(reversed(list(ast.iter_child_nodes(node))))


def _names_this_module(call: ast.Call) -> bool:
    """Whether a call's first argument is `__name__` (`importlib.import_module(__name__)`)."""
    return bool(call.args) and isinstance(call.args[0], ast.Name) and call.args[0].id == "__name__"


def _target_names(target: ast.AST) -> list[str]:
    """The names an assignment's target binds (`a`, `a, *b`), not an attribute's or item's."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _target_names(element)]
    return []


def _alias_sources(body: list[ast.stmt]):
    """Each binding of names in `body` to a value: (names, value expression)."""
    for node in _walk(body):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                yield _target_names(target), node.value
        elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
            yield _target_names(node.target), node.value
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            yield _target_names(node.target), node.iter
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            yield _target_names(node.optional_vars), node.context_expr


def _passed(fn: ast.FunctionDef | ast.AsyncFunctionDef, call: ast.Call, skip: int):
    """What a call passes to the parameters of `fn` whose first `skip` it binds itself (an
    instance method's `self`: the object it is called on, when named): (parameter, value),
    the parameter None where it is not known (after a `*args`)."""
    args = fn.args
    positional = [a.arg for a in [*args.posonlyargs, *args.args]]
    if skip and positional and isinstance(call.func, ast.Attribute):
        yield positional[0], call.func.value
    rest = positional[skip:]
    known = True
    for index, value in enumerate(call.args):
        if isinstance(value, ast.Starred):
            known = False
            yield None, value.value
        elif known and index < len(rest):
            yield rest[index], value
        else:
            yield (args.vararg.arg if args.vararg and known else None), value
    names = set(positional) | {a.arg for a in args.kwonlyargs}
    for keyword in call.keywords:
        yield (keyword.arg if keyword.arg in names else args.kwarg.arg if args.kwarg else None), keyword.value


class _Scope:
    """What the names of one function (or of statements the module runs: a module-level
    scope, whose own names are the module's) may hold of the module's objects, so that a
    change through one of them is known to change what it holds (see the origins above).
    Errs on the side of holding: a name bound to several values holds what each may."""

    def __init__(self, module: _Module, body: list[ast.stmt], fn: ast.FunctionDef | ast.AsyncFunctionDef | None = None,
                 cls: ast.ClassDef | None = None, method: bool = False) -> None:
        self.module = module
        self.cls = cls
        self.module_level = fn is None
        self.params: set[str] = set()
        self.defaults: dict[str, ast.expr] = {}
        self.self_param: str | None = None
        self.cls_param: str | None = None
        if fn is not None:
            own, self.declared = bound_locally(fn)
            args = fn.args
            positional = [*args.posonlyargs, *args.args]
            self.params = {a.arg for a in [*positional, *args.kwonlyargs, args.vararg, args.kwarg] if a}
            # (a parameter whose default is a module's object holds it when not passed)
            for param, default in [*zip(positional[len(positional) - len(args.defaults):], args.defaults),
                                   *zip(args.kwonlyargs, args.kw_defaults)]:
                if default is not None and not _is_literal(default):
                    self.defaults[param.arg] = default
            if (cls is not None or method) and positional:
                kind = _method_kind(fn)
                if kind == CLASS_METHOD:
                    self.cls_param = positional[0].arg
                elif kind != STATIC_METHOD:
                    self.self_param = positional[0].arg
        else:
            own, self.declared = scope_bindings(body)
        # What nested functions, lambdas and comprehensions bind is theirs, not the module's.
        for node in _walk(body):
            if isinstance(node, _SCOPES):
                own |= bound_locally(node)[0]
            elif isinstance(node, ast.comprehension):
                own |= set(_target_names(node.target))
        self.own = own - self.params - self.declared
        self.aliases: dict[str, set[str]] = {}
        self._body = body

    def settle(self) -> None:
        """Find what each own name may hold (kept apart from __init__: a function's scope is
        known to the module, half done, while its names are followed into other functions)."""
        sources = list(_alias_sources(self._body))
        changed = True
        while changed:
            changed = False
            for names, value in sources:
                found = self.objects(value)
                for name in names:
                    if name in self.own and not found <= self.aliases.get(name, set()):
                        self.aliases.setdefault(name, set()).update(found)
                        changed = True

    def local(self, name: str) -> bool:
        return not self.module_level and (name in self.own or name in self.params)

    def objects(self, node: ast.AST | None, depth: int = 0) -> set[str]:
        """The origins of `node`'s value: none for a new object (a display, a call of a
        builtin, of something imported or of the file's class) or a constant."""
        if node is None or depth > 40:
            return set()
        if self.module.refers_to(node, "sys", ("modules",)):
            return set(self.module.all_names)  # (`sys.modules[__name__]`: the module itself)
        if isinstance(node, ast.Name):
            return self._name(node.id, depth)
        if isinstance(node, ast.Attribute):
            if node.attr == "__class__":
                return self._class_of(node.value, depth)
            found = self.objects(node.value, depth + 1)
            if self.cls is not None and isinstance(node.value, ast.Name) and node.value.id == self.self_param \
                    and node.attr in self.module.class_state(self.cls):
                found = found | {self.cls.name}  # (`self.items`, a list of the class's)
            return found
        if isinstance(node, (ast.Subscript, ast.Starred, ast.NamedExpr, ast.Await)):
            return self.objects(node.value, depth + 1)
        if isinstance(node, ast.IfExp):
            return self.objects(node.body, depth + 1) | self.objects(node.orelse, depth + 1)
        if isinstance(node, ast.BoolOp):
            return set().union(*(self.objects(value, depth + 1) for value in node.values))
        if isinstance(node, ast.Call):
            return self._call(node, depth)
        return set()

    def _name(self, name: str, depth: int) -> set[str]:
        if name == self.cls_param:
            return {self.cls.name if self.cls is not None else name}
        if name in self.params:
            return {_ARG + name} | self.objects(self.defaults.get(name), depth + 1)
        if name in self.own:
            found = set(self.aliases.get(name, ()))
            return found | {name} if self.module_level else found
        return {name}

    def _class_of(self, node: ast.AST, depth: int) -> set[str]:
        """The origins of `type(x)`, `x.__class__`: a class, the module's."""
        if isinstance(node, ast.Name) and node.id in (self.self_param, self.cls_param) and self.cls is not None:
            return {self.cls.name}
        return self.objects(node, depth + 1) | set(self.module.classes) | {"type"}

    def _call(self, node: ast.Call, depth: int) -> set[str]:
        func = node.func
        if isinstance(func, ast.Name) and not self.local(func.id) and func.id not in self.module.definitions and (
                func.id == "globals" or func.id == "__import__" and _names_this_module(node)):
            return set(self.module.all_names)  # (`globals()["FACTOR"] = f`: any of the module's names)
        if _last_name(func) == "import_module" and _names_this_module(node):
            return set(self.module.all_names)
        for name, getters in _PROCESS_STATE_GETTERS.items():
            if self.module.refers_to(func, name, getters):
                return set(self.module.module_names(name))  # (`decimal.getcontext()`: the process's context)
        if isinstance(func, ast.Name) and not self.local(func.id) and func.id not in self.module.definitions:
            if func.id == "type" and len(node.args) == 1 and not node.keywords:
                return self._class_of(node.args[0], depth)
            if func.id in _PART_OF_ARGUMENT and node.args:
                return self.objects(node.args[0], depth + 1)
        found: set[str] = set()
        for target, cls, skip in self.module.resolve(node, self):
            returned = self.module.returned(target, cls)
            found |= {origin for origin in returned if not origin.startswith(_ARG)}
            wanted = {origin[len(_ARG):] for origin in returned if origin.startswith(_ARG)}
            for param, value in _passed(target, node, skip) if wanted else ():
                if param is None or param in wanted:
                    found |= self.objects(value, depth + 1)
        if isinstance(func, ast.Attribute) and (func.attr in _PART_OF_OBJECT or func.attr in self.module.method_names):
            found |= self.objects(func.value, depth + 1)
        return found

    def changes(self, body: list[ast.stmt]) -> set[str]:
        """The origins of what `body` changes in place: the objects whose attributes or items
        it assigns or deletes, those it calls a mutator of (`plugins[name] = fn`,
        `cls.items.append(x)`), those it passes to `setattr`, `random.shuffle` and the like,
        or to a function or method of the file that changes that argument (`append_one(ITEMS)`,
        an immutable constant aside); a name it augments (`xs += [1]`)."""
        found: set[str] = set()
        called: set[int] = set()
        for node in _walk(body):
            if isinstance(node, ast.Attribute) and node.attr in MUTATORS and isinstance(node.ctx, ast.Load) \
                    and id(node) not in called:
                found |= self.objects(node.value)  # (a mutator passed, not called: `map(ITEMS.append, xs)`)
            targets = (node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
                       if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
            for target in targets:
                if isinstance(target, (ast.Attribute, ast.Subscript)):
                    found |= self.objects(target.value)
                elif isinstance(node, ast.AugAssign) and isinstance(target, ast.Name):
                    found |= self.objects(target)
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called.add(id(func))
            if isinstance(func, ast.Attribute) and func.attr in MUTATORS:
                found |= self.objects(func.value)
            for module, setters in _PROCESS_STATE_SETTERS.items():
                if self.module.refers_to(func, module, setters):
                    found |= self.module.module_names(module)
            name = _last_name(func)
            if name in _ARGUMENT_MUTATORS and node.args and not (isinstance(func, ast.Name) and self.local(name)):
                found |= self.objects(node.args[0])
            for target, cls, skip in self.module.resolve(node, self):
                mutated = {origin[len(_ARG):] for origin in self.module.changes(target, cls)
                           if origin.startswith(_ARG)}
                for param, value in _passed(target, node, skip) if mutated else ():
                    if param is None or param in mutated:
                        found |= self.module.changeable(self.objects(value))
        return found


# -- Which asserts are checks --------------------------------------------------------------
#
# An assert is judged (it gives a diagnostic; a repair is verified against it) only where
# its failure would mean what the diagnostic says: where it runs unconditionally as written
# (_judged_asserts), and where its call, replayed alone on the file's definitions, sees what
# Python's call sees there (_assert_site). The others are no checks: no verdict, rather than
# a false one.

# Decorators and marks under which a test's failure is no failure: it does not run, or is
# expected to fail.
_SKIPPING = frozenset(("skip", "skipif", "skipIf", "skipUnless", "xfail", "expectedFailure"))
# Calls that may end the module's run or a test's before the statements after them.
_ENDING_CALLS = frozenset(("skip", "xfail", "fail", "skipTest", "exit", "_exit", "quit", "importorskip"))
# Set-up pytest or unittest runs around a module's or a class's tests: it may change what
# their calls do (patch, seed, fill a cache).
_MODULE_SET_UP = frozenset(("setup_module", "setup_function", "setUpModule"))
_CLASS_SET_UP = frozenset(("setUp", "setUpClass", "asyncSetUp", "setup_method", "setup_class"))
_PLAIN_DECORATORS = frozenset(("staticmethod", "classmethod", "property"))
# pytest marks that change what a test's calls see, or what fails it (_runs_as_written).
_SETTING_UP = frozenset(("usefixtures", "filterwarnings"))
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_BUILTIN_NAMES = frozenset(dir(builtins))


@dataclass(frozen=True)
class _Place:
    """Where an assert that runs whenever its body does stands: the statements that run
    before it, in order, are the first `count` of `run` (a list shared by the asserts of one
    body: see _may_see_earlier_state); and the function it is in (None: the module level,
    its top level or its `__main__` block)."""

    run: list[ast.stmt]
    count: int
    function: ast.FunctionDef | ast.AsyncFunctionDef | None = None


def _dotted(node: ast.AST) -> list[str]:
    """`pytest.mark.skipif(...)` -> ["pytest", "mark", "skipif"]."""
    if isinstance(node, ast.Call):
        node = node.func
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return parts[::-1]


def _last_name(node: ast.AST) -> str:
    parts = _dotted(node)
    return parts[-1] if parts else ""


def _runs_as_written(decorators: list[ast.expr]) -> bool:
    """Whether a function (or its class) with these decorators runs as its text says: each is
    a pytest mark (`@pytest.mark.parametrize`, `@mark.slow`) other than skip, skipif and
    xfail, usefixtures (a fixture may set up what its calls see) and filterwarnings (which
    may turn a warning into the test's failure), or makes a method static, a class method
    or a property. Any other (`@unittest.skip`, `@patch(...)`, a wrapper of the project's
    own) may skip it, expect it to fail, or change what its calls do."""
    return all(("mark" in _dotted(d)[:-1] and _last_name(d) not in _SKIPPING and _last_name(d) not in _SETTING_UP)
               or (isinstance(d, ast.Name) and d.id in _PLAIN_DECORATORS) for d in decorators)


def _marks_skip(body: list[ast.stmt]) -> bool:
    """A module's or class's `pytestmark = ...` that skips or xfails its tests, or sets up
    what they run in (usefixtures, filterwarnings, parametrize); or `__test__ = False`,
    which keeps pytest from collecting them."""
    def assigned(node: ast.stmt, name: str) -> bool:
        return isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)

    return any((assigned(node, "pytestmark")
                and any(_last_name(n) in _SKIPPING | _SETTING_UP | {"parametrize"} for n in ast.walk(node.value)
                        if isinstance(n, (ast.Attribute, ast.Name))))
               or (assigned(node, "__test__") and not (isinstance(node.value, ast.Constant) and node.value.value))
               for node in body)


def _may_end_early(node: ast.stmt) -> bool:
    """Whether a statement may end its run before the next one: a `return`, or a call of
    skip, xfail, fail, skipTest or exit, anywhere in it (even under an `if`), not in the
    functions and classes it defines. (Kept on the node: asked of a top-level statement
    more than once.)"""
    known = getattr(node, "_semcoder_ends", None)
    if known is None:
        known = _ends_early(node)
        node._semcoder_ends = known  # type: ignore[attr-defined]
    return known


def _ends_early(node: ast.stmt) -> bool:
    pending: list[ast.AST] = [node]
    while pending:
        part = pending.pop()
        if isinstance(part, (*_DEFINITIONS, ast.Lambda)):
            continue
        if isinstance(part, ast.Return) or (isinstance(part, ast.Call) and _last_name(part) in _ENDING_CALLS):
            return True
        if isinstance(part, ast.Raise) and part.exc is not None and "Skip" in _last_name(part.exc):
            return True  # (`raise unittest.SkipTest(...)`, `raise pytest.skip.Exception`)
        pending.extend(ast.iter_child_nodes(part))
    return False


def _is_main_block(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and any(isinstance(n, ast.Name) and n.id == "__name__" for n in ast.walk(node.test))


def _unconditional(body: list[ast.stmt], before: list[ast.stmt],
                   function: ast.FunctionDef | ast.AsyncFunctionDef | None,
                   found: list[tuple[ast.Assert, _Place]]) -> None:
    """The asserts of `body` that run whenever it does, into `found`: its own statements,
    and the body of a try/finally without `except`. Not those under an `if`, a loop or a
    `match`; in a `with` block (pytest.raises, assertRaises, warns, suppress, patch: the
    block may expect the failure, or change what the call does); or anywhere in a `try`
    with an `except` (a handler may catch the AssertionError or what the call raises, and
    which the call raises is not known before it runs). At the module's top level, the
    `__main__` block's count (the file run as a script). None after a statement that may
    end the run (_may_end_early)."""
    ran = list(before)
    for node in body:
        if isinstance(node, ast.Assert):
            found.append((node, _Place(ran, len(ran), function)))
        elif function is None and _is_main_block(node):
            _unconditional(node.body, ran, function, found)
        elif isinstance(node, ast.Try) and not node.handlers:
            _unconditional(node.body, ran, function, found)
        if _may_end_early(node):
            return
        ran.append(node)


def _is_test_class(node: ast.ClassDef) -> bool:
    """A class whose `test*` methods pytest or unittest collects: `Test*`, a `*TestCase`."""
    return node.name.startswith("Test") or any(_last_name(base).endswith("TestCase") for base in node.bases)


def _sets_up(node: ast.ClassDef, classes: dict[str, ast.ClassDef]) -> bool:
    """Whether a test class may set up what its tests run in, or is not run as written: a
    set-up method or an autouse fixture of its own or of a base class in the file, a base
    from elsewhere other than unittest's TestCase (whose set-up is not seen here), a
    skipping or set-up `pytestmark`, `__test__ = False`, or an `__init__` (pytest does not
    collect such a class)."""
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                item.name in _CLASS_SET_UP or item.name == "__init__" or is_autouse(item)):
            return True
    if _marks_skip(node.body) or not _runs_as_written(node.decorator_list):
        return True
    for base in node.bases:
        name = _last_name(base)
        if name in classes and classes[name] is not node:
            if _sets_up(classes[name], classes):
                return True
        elif name not in ("TestCase", "IsolatedAsyncioTestCase", "object"):
            return True
    return False


def is_autouse(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    # (`**options` may hold autouse=True)
    return any("fixture" in _dotted(d) and any(k.arg in ("autouse", None) for k in getattr(d, "keywords", ()))
               for d in fn.decorator_list)


def _functions_run(tree: ast.Module) -> list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, bool]]:
    """The functions whose own asserts are checks, each with whether it is a test, in the
    order pytest runs the tests: the module's `test*` functions and the `test*` methods of
    its test classes, and its other functions and methods (helpers, whose asserts are
    judged as they run whenever they are called). Not a skipped or xfailed test, one whose
    decorators may change what it does (_runs_as_written), an `async def` test (it runs
    only with a plugin), nor the tests of a class with set-up methods. None where the module
    may skip its tests (a skipping `pytestmark`, a module-level skip or exit) or sets up
    what they run in (setup_module, setup_function, an autouse fixture)."""
    body = tree.body
    if _marks_skip(body) or any(_may_end_early(node) for node in body if not _is_main_block(node)):
        return []
    classes = {node.name: node for node in body if isinstance(node, ast.ClassDef)}
    owned: list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, bool, ast.ClassDef | None]] = []
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name in _MODULE_SET_UP or is_autouse(node):
                return []
            owned.append((node, node.name.startswith("test"), None))
        elif isinstance(node, ast.ClassDef):
            methods = [item for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))]
            tests = _is_test_class(node)
            if tests and _sets_up(node, classes):
                continue
            owned.extend((m, tests and m.name.startswith("test"), node) for m in methods)
    # A test runs as written where it takes no fixture (its arguments: only a parametrize
    # mark's, see _parametrize_cases; a fixture may set up what its calls see) and where no
    # later definition of its name hides it (pytest collects the last one).
    last = {(id(owner), fn.name): fn for fn, _, owner in owned}
    return [(fn, test) for fn, test, owner in owned if _runs_as_written(fn.decorator_list)
            and not (test and isinstance(fn, ast.AsyncFunctionDef))
            and not (test and last[(id(owner), fn.name)] is not fn)
            and not (test and _takes_fixtures(fn))]


def _takes_fixtures(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether a test takes arguments other than `self`/`cls` that no parametrize mark gives."""
    args = fn.args
    names = [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]
    if names[:1] in (["self"], ["cls"]):
        names = names[1:]
    if not names and not args.vararg and not args.kwarg:
        return False
    given: set[str] = set()
    for mark in fn.decorator_list:
        if _last_name(mark) == "parametrize" and isinstance(mark, ast.Call) and mark.args:
            try:
                written = ast.literal_eval(mark.args[0])
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                return True
            given.update(written.replace(",", " ").split() if isinstance(written, str) else written)
    return bool(set(names) - given) or bool(args.vararg or args.kwarg)


def _judged_asserts(tree: ast.Module, functions: list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, bool]]
                    ) -> list[tuple[ast.Assert, _Place]]:
    """Each assert that runs unconditionally, with its place, in the order ast.walk meets
    them (the order checks have always had); `functions`: _functions_run of the tree."""
    found: list[tuple[ast.Assert, _Place]] = []
    _unconditional(tree.body, [], None, found)
    # A function runs after the whole module has; a test, after the tests before it too.
    module = [node for node in tree.body if not isinstance(node, _DEFINITIONS)]
    earlier: list[ast.stmt] = []
    for fn, test in functions:
        _unconditional(fn.body, module + earlier if test else module, fn, found)
        if test:
            earlier.extend(fn.body)
    order = {id(node): index for index, node in enumerate(ast.walk(tree)) if isinstance(node, ast.Assert)}
    return sorted(found, key=lambda item: order[id(item[0])])


class _Module:
    """What the rules on an assert's call need of the module, found once per analysis."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.definitions: dict[str, list[ast.AST]] = {}  # a def's or class's name -> its definitions
        for node in tree.body:
            if isinstance(node, _DEFINITIONS):
                self.definitions.setdefault(node.name, []).append(node)
        self.classes = {name: nodes[-1] for name, nodes in self.definitions.items()
                        if isinstance(nodes[-1], ast.ClassDef)}
        self.function_names = {name for name, nodes in self.definitions.items()
                               if all(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in nodes)}
        self.method_names = {item.name for cls in self.classes.values() for item in cls.body
                             if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))}
        # A module name bound to a lambda (`set_debug = lambda: CONFIG.update(debug=True)`) is a
        # function too: each such lambda as a def returning its body, kept apart from the
        # definitions (the name is a variable's as well).
        self.lambdas: dict[str, list[ast.FunctionDef]] = {}
        for node in tree.body:
            value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
            if isinstance(value, ast.Lambda):
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    if isinstance(target, ast.Name):
                        fn = ast.FunctionDef(name=target.id, args=value.args, body=[ast.Return(value.body)],
                                             decorator_list=[], returns=None, type_comment=None)
                        self.lambdas.setdefault(target.id, []).append(ast.copy_location(fn, value))
        self._imports: dict[str, tuple[set[str], dict[str, set[str]]]] = {}
        self._module_names: dict[str, frozenset[str]] = {}
        self.top_level = {id(node) for node in tree.body}
        self._reads: dict[str, set[str]] = {}  # a def's or class's name -> what its code reads
        self._state: dict[str, set[str] | None] = {}
        self._locals: dict[int, set[str]] = {}
        # The top-level statements that bind or change each name, in order: those a replay
        # may run (not an assert, nor the `__main__` block: definitions_only never keeps them).
        self.changers: dict[str, list[ast.stmt]] = {}
        for node in tree.body:
            if not isinstance(node, ast.Assert) and not _is_main_block(node):
                for name in _changed_names(node):
                    self.changers.setdefault(name, []).append(node)
        self._reached: dict[int, set[str]] = {}
        # (keyed by a run's id, each with the run: a list made for one parametrized case
        # must not leave its answer to another that takes its id)
        self._first_reaching: dict[tuple[int, frozenset[str]], tuple[list[ast.stmt], int]] = {}
        self._first_writing: dict[int, tuple[list[ast.stmt], int]] = {}
        # The statements in the file's functions (tests, helpers, methods), each with its function.
        self.owner: dict[int, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        self._functions: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
        for node in tree.body:
            members = node.body if isinstance(node, ast.ClassDef) else [node]
            for fn in members:
                if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    self._functions.append(fn)
                    for statement in _walk(fn.body):
                        if isinstance(statement, ast.stmt):
                            self.owner.setdefault(id(statement), fn)
        self._scopes: dict[int, _Scope] = {}
        self._returned: dict[int, set[str]] = {}
        self._changes: dict[int, set[str]] = {}
        self._class_state: dict[int, set[str]] = {}
        self._statement_changes: dict[int, set[str]] = {}
        self._file_use: dict[int, tuple[bool, bool]] = {}
        self._run_scope: _Scope | None = None
        self._doctest_runs: dict[str, list[ast.stmt]] = {}
        self._changed_by: dict[str, list[ast.stmt]] | None = None
        self._writes_files = any(_file_use(node)[1] for node in tree.body)  # (or a doctest example: doctest_run)

    def reach(self, names: set[str]) -> set[str]:
        """`names`, and what the file's functions and classes among them read, in turn."""
        found: set[str] = set()
        pending = list(names)
        while pending:
            name = pending.pop()
            if name not in found:
                found.add(name)
                pending.extend(self._read_by_definitions(name))
        return found

    def _read_by_definitions(self, name: str) -> set[str]:
        found = self._reads.get(name)
        if found is None:
            found = self._reads[name] = set().union(*(module_reads(n) for n in self.functions_named(name)))
        return found

    def functions_named(self, name: str) -> list[ast.AST]:
        """The file's definitions of `name` (def, class) and the lambdas a top-level
        statement binds it to."""
        return [*self.definitions.get(name, ()), *self.lambdas.get(name, ())]

    def state(self, name: str) -> set[str] | None:
        """Where the file's function or class `name` (or a lambda of the module's: lambdas)
        keeps state, its name and what it changes (_state_changed); else None."""
        if name not in self._state:
            nodes = self.functions_named(name)
            changed = [self._state_changed(node) for node in nodes]
            found = [c for c in changed if c is not None]
            used = set().union(*(self._objects_used(node) for node in nodes))
            self._state[name] = set().union(*found) | used | {name} if found or used else None
        return self._state[name]

    @functools.cached_property
    def stateful_definitions(self) -> list[str]:
        """The names of the file's functions, classes and lambdas that keep state (state)."""
        return [name for name in {**self.definitions, **self.lambdas} if self.state(name) is not None]

    @functools.cached_property
    def all_names(self) -> frozenset[str]:
        """Every name the module may hold: what changes `globals()` or `sys.modules[__name__]`
        may change (errs on the side of all of them)."""
        return frozenset({n.id for n in ast.walk(self.tree) if isinstance(n, ast.Name)}
                         | self.definitions.keys() | self.changers.keys() | self.lambdas.keys())

    def _imported(self, module: str) -> tuple[set[str], dict[str, set[str]]]:
        """The names the file binds (anywhere) to the module (`import decimal as d`), and to
        each of its attributes (`from decimal import getcontext`)."""
        found = self._imports.get(module)
        if found is None:
            aliases: set[str] = set()
            attributes: dict[str, set[str]] = {}
            for node in ast.walk(self.tree):
                if isinstance(node, ast.Import):
                    aliases.update(alias.asname or alias.name.split(".")[0] for alias in node.names
                                   if alias.name == module or alias.name.startswith(module + ".") and not alias.asname)
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module == module:
                    for alias in node.names:
                        if alias.name == "*":  # (the modules named here are the standard library's)
                            import importlib
                            try:
                                public = getattr(importlib.import_module(module), "__all__", ())
                            except ImportError:
                                public = ()
                            for name in public:
                                attributes.setdefault(name, set()).add(name)
                        else:
                            attributes.setdefault(alias.name, set()).add(alias.asname or alias.name)
            found = self._imports[module] = (aliases, attributes)
        return found

    def refers_to(self, node: ast.AST, module: str, attributes: tuple[str, ...] | frozenset[str]) -> bool:
        """Whether `node` is one of the module's attributes, `module.attr` or what the file
        imports of it (`sys.modules`, `from sys import modules`; `decimal.getcontext`)."""
        if isinstance(node, ast.Attribute):
            return node.attr in attributes and isinstance(node.value, ast.Name) \
                and node.value.id in self._imported(module)[0]
        if isinstance(node, ast.Name):
            imported = self._imported(module)[1]
            return any(node.id in imported.get(attribute, ()) for attribute in attributes)
        return False

    def module_names(self, module: str) -> frozenset[str]:
        """The names the file binds of a module of the process's state (_PROCESS_STATE_SETTERS),
        and the file's definitions that import it themselves: what a change of that state
        changes."""
        found = self._module_names.get(module)
        if found is None:
            aliases, attributes = self._imported(module)
            found = set(aliases).union(*attributes.values())
            for node in self.tree.body:
                if isinstance(node, _DEFINITIONS) and any(
                        isinstance(sub, ast.Import) and any(a.name.split(".")[0] == module for a in sub.names)
                        or isinstance(sub, ast.ImportFrom) and not sub.level and (sub.module or "").split(".")[0] == module
                        for sub in ast.walk(node)):
                    found.add(node.name)
            found = self._module_names[module] = frozenset(found)
        return found

    def _state_changed(self, node: ast.AST) -> set[str] | None:
        """The module names a function (a class: its methods) changes from one call to the
        next, where it keeps state (keeps_state); None where it keeps none. A mutable
        default is the function's own state: its name (in state) stands for it."""
        if isinstance(node, ast.ClassDef):
            functions = [(item, node) for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions = [(node, None)]
        else:
            return None
        stateful = [(fn, cls) for fn, cls in functions if self.keeps_state(fn, cls)]
        if not stateful:
            return None
        changed: set[str] = set()
        for fn, cls in stateful:
            changed |= bound_locally(fn)[1]
            changed.update(name for sub in ast.walk(fn) if isinstance(sub, ast.Nonlocal) for name in sub.names)
            changed.update(origin for origin in self.changes(fn, cls) if not origin.startswith(_ARG))
        return changed

    def keeps_state(self, fn: ast.FunctionDef | ast.AsyncFunctionDef, cls: ast.ClassDef | None,
                    method: bool = False) -> bool:
        """keeps_state of a function's (a method's: with its class) node."""
        args = fn.args
        if any(isinstance(default, _MUTABLE_DEFAULTS)
               for default in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]):
            return True
        if any(isinstance(sub, (ast.Nonlocal, ast.Global)) for sub in ast.walk(fn)):
            return True
        return any(not origin.startswith(_ARG) for origin in self.changes(fn, cls, method))

    def function_node(self, name: str) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef, ast.ClassDef | None] | None:
        """The node of the file's function `f` or method `Class.m` (the last definition), with its class."""
        owner, _, member = name.rpartition(".")
        if owner:
            cls = self.classes.get(owner)
            found = self.method(cls, member) if cls is not None else None
            return (found, cls) if found is not None else None
        nodes = [n for n in self.definitions.get(name, ()) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        return (nodes[-1], None) if nodes else None

    def method(self, cls: ast.ClassDef, name: str, depth: int = 0) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        """The class's method `name`, its own or a base's of the file."""
        for item in reversed(cls.body):
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == name:
                return item
        for base in cls.bases if depth < 20 else ():
            if isinstance(base, ast.Name) and base.id in self.classes and self.classes[base.id] is not cls:
                found = self.method(self.classes[base.id], name, depth + 1)
                if found is not None:
                    return found
        return None

    def resolve(self, call: ast.Call, scope: _Scope | None = None
                ) -> list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, ast.ClassDef | None, int]]:
        """The file's functions and methods a call may run, each with its class and how many
        of its first parameters the call binds itself (an instance method's `self`, a class
        method's `cls`, a constructor's `self`). A method called on some other object: each
        method of that name."""
        func = call.func
        local = scope.local if scope is not None else (lambda name: False)
        found = []
        if isinstance(func, ast.Name):
            if local(func.id):
                return []
            for node in self.functions_named(func.id):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    found.append((node, None, 0))
                elif isinstance(node, ast.ClassDef) and (init := self.method(node, "__init__")) is not None:
                    found.append((init, node, 1))
            return found
        if not isinstance(func, ast.Attribute) or func.attr not in self.method_names:
            return []
        owner = func.value
        if isinstance(owner, ast.Name) and owner.id in self.classes and not local(owner.id):
            cls = self.classes[owner.id]
            method = self.method(cls, func.attr)
            return [(method, cls, 1 if _method_kind(method) == CLASS_METHOD else 0)] if method is not None else []
        if isinstance(owner, ast.Name) and scope is not None and scope.cls is not None \
                and owner.id in (scope.self_param, scope.cls_param):
            classes = [scope.cls]
        elif isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id in self.classes \
                and not local(owner.func.id):
            classes = [self.classes[owner.func.id]]
        else:
            classes = list(self.classes.values())
        for cls in classes:
            method = self.method(cls, func.attr)
            if method is not None:
                found.append((method, cls, 0 if _method_kind(method) == STATIC_METHOD else 1))
        return found

    def scope(self, fn: ast.FunctionDef | ast.AsyncFunctionDef, cls: ast.ClassDef | None,
              method: bool = False) -> _Scope:
        found = self._scopes.get(id(fn))
        if found is None:
            found = self._scopes[id(fn)] = _Scope(self, fn.body, fn, cls, method)
            found.settle()
        return found

    def returned(self, fn: ast.FunctionDef | ast.AsyncFunctionDef, cls: ast.ClassDef | None) -> set[str]:
        """The origins of what the function may return (`return _PLUGINS`: `_PLUGINS`;
        `return xs`: its argument's, `arg:xs`)."""
        found = self._returned.get(id(fn))
        if found is None:
            self._returned[id(fn)] = set()  # (a recursive call: nothing more)
            scope = self.scope(fn, cls)
            found = self._returned[id(fn)] = set().union(*(
                scope.objects(node.value) for node in _walk(fn.body, nested=False)
                if isinstance(node, ast.Return) and node.value is not None))
        return found

    def changes(self, fn: ast.FunctionDef | ast.AsyncFunctionDef, cls: ast.ClassDef | None,
                method: bool = False) -> set[str]:
        """The origins of what the function changes in place (_Scope.changes)."""
        found = self._changes.get(id(fn))
        if found is None:
            self._changes[id(fn)] = set()  # (a recursive call: nothing more)
            found = self._changes[id(fn)] = self.scope(fn, cls, method).changes(fn.body)
        return found

    def class_state(self, cls: ast.ClassDef) -> set[str]:
        """The class's attributes that hold a mutable object of the class, shared by its
        instances (`items = []` in its body), that no method binds on an instance (`self.items
        = ...`): a change through `self.items` changes the class's."""
        found = self._class_state.get(id(cls))
        if found is None:
            bound = {name for node in cls.body if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None
                     and not (_is_literal(node.value) and not any(isinstance(n, (ast.List, ast.Dict, ast.Set))
                                                                   for n in ast.walk(node.value)))
                     for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                     for name in _target_names(target)}
            on_instances = set()
            for item in cls.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.args.args:
                    this = item.args.args[0].arg
                    on_instances.update(
                        target.attr for node in ast.walk(item)
                        if isinstance(node, (ast.Assign, ast.AnnAssign))
                        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                        if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                        and target.value.id == this)
            found = self._class_state[id(cls)] = bound - on_instances
        return found

    def changeable(self, origins: set[str]) -> set[str]:
        """`origins` without the module names only ever bound to an immutable constant
        (`LIMIT = 3`: a function that augments its argument does not change it)."""
        def constant(name: str) -> bool:
            binders = self.changers.get(name)
            return bool(binders) and all(
                isinstance(b, (ast.Assign, ast.AnnAssign)) and b.value is not None and _is_literal(b.value)
                and not any(isinstance(n, (ast.List, ast.Dict, ast.Set)) for n in ast.walk(b.value)) for b in binders)

        return {origin for origin in origins if origin.startswith(_ARG) or not constant(origin)}

    @property
    def run_scope(self) -> _Scope:
        """The module-level scope of the statements the module runs: its own, its `__main__`
        block's, its tests' (their locals taken for the module's: errs on the side of holding)."""
        if self._run_scope is None:
            body = [node for node in self.tree.body if not isinstance(node, _DEFINITIONS)]
            body += [statement for fn in self._functions if fn.name.startswith("test") for statement in fn.body]
            self._run_scope = _Scope(self, body)
            self._run_scope.settle()
        return self._run_scope

    def statement_changes(self, statement: ast.stmt) -> set[str]:
        """The module names a statement the module runs changes: in place (_Scope.changes:
        `CONFIG["debug"] = True`, `cache = _CACHE; cache[k] = v`, `append_one(ITEMS)`), and
        what it binds of the module's (at the module level, its top level or `__main__`
        block: any name; in a function: a name it declares `global`)."""
        found = self._statement_changes.get(id(statement))
        if found is None:
            found = {origin for origin in self.run_scope.changes([statement]) if not origin.startswith(_ARG)}
            owner = self.owner.get(id(statement))
            if owner is None:
                found |= scope_bindings([statement])[0]
            else:
                found |= bound_locally(owner)[1] & _bound_names(statement)
            self._statement_changes[id(statement)] = found
        return found

    def _changes_index(self) -> dict[str, list[ast.stmt]]:
        """Each name with the statements that may change it (statement_changes), of all
        those a run may hold: the module's top level, its `__main__` block, its functions'
        bodies (and the doctest examples doctest_run adds). Found once, not per assert."""
        if self._changed_by is None:
            self._changed_by = {}
            for node in self.tree.body:
                if isinstance(node, ast.ClassDef):
                    bodies = [item.body for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))]
                else:
                    bodies = [node.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else [node]]
                for body in bodies:
                    for statement in _walk(body, nested=False):
                        if isinstance(statement, ast.stmt) and not isinstance(statement, _DEFINITIONS):
                            self._index_changes(statement)
        return self._changed_by

    def _index_changes(self, statement: ast.stmt) -> None:
        for name in self.statement_changes(statement):
            self._changed_by.setdefault(name, []).append(statement)  # type: ignore[union-attr]

    def changed_before(self, run: list[ast.stmt], count: int, needs: frozenset[str], reached: set[str]) -> bool:
        """Whether one of the first `count` statements of `run` changes (statement_changes)
        what `reached` names, where the replay of a call that reads `needs` does not run it:
        any but a top-level statement definitions_only keeps (that one runs in the replay as
        well)."""
        index = self._changes_index()
        candidates = {id(statement): statement for name in reached for statement in index.get(name, ())}
        for statement in candidates.values():
            try:
                where = run.index(statement)  # (ast nodes compare by identity)
            except ValueError:
                continue
            if where < count and not (id(statement) in self.top_level and is_definition(statement, self.tree, needs)):
                return True
        return False

    def file_use(self, node: ast.AST) -> tuple[bool, bool]:
        """Whether `node`'s code touches files (reads, lists, tests or writes them), and
        whether it writes or removes them (_file_use)."""
        found = self._file_use.get(id(node))
        if found is None:
            found = self._file_use[id(node)] = _file_use(node)
        return found

    def touches_files(self, reached: set[str]) -> bool:
        """Whether one of the file's functions or classes among `reached` touches files."""
        return any(self.file_use(node)[0] for name in reached for node in self.definitions.get(name, ()))

    def first_writing(self, run: list[ast.stmt]) -> int:
        """The index of the first statement of `run` that writes or removes files, by its
        own code or through a function of the file it reaches; len(run) if none."""
        if not self._writes_files:
            return len(run)  # (nothing in the file writes: its tests' runs are not searched)
        known = self._first_writing.get(id(run))
        if known is None or known[0] is not run:
            found = next((index for index, statement in enumerate(run)
                          if not isinstance(statement, (*_DEFINITIONS, ast.Import, ast.ImportFrom))
                          and (self.file_use(statement)[1] or any(
                              self.file_use(node)[1] for name in self._reached_by(statement)
                              for node in self.definitions.get(name, ())))), len(run))
            known = self._first_writing[id(run)] = (run, found)
        return known[1]

    def doctest_run(self, fn: FunctionInfo, info: ModuleInfo) -> list[ast.stmt]:
        """What may run before an example of `fn`'s docstring, as doctest runs it: the
        module's top-level statements (its `__main__` block's too: it may call
        `doctest.testmod()` after some), and the examples of the file's other docstrings
        (whichever order a runner takes them in)."""
        found = self._doctest_runs.get(fn.name)
        if found is None:
            found = [node for node in self.tree.body if not isinstance(node, _DEFINITIONS)]
            for other in info.functions.values():
                if other.name == fn.name or ">>>" not in other.docstring:
                    continue
                try:
                    examples = doctest.DocTestParser().get_examples(other.docstring)
                except ValueError:
                    continue
                for example in examples:
                    try:
                        found.extend(ast.parse(example.source).body)
                    except (SyntaxError, ValueError, MemoryError, RecursionError):
                        continue
            self._doctest_runs[fn.name] = found
            examples = found[len([node for node in self.tree.body if not isinstance(node, _DEFINITIONS)]):]
            self._changes_index()
            for example in examples:
                self._index_changes(example)
            self._writes_files = self._writes_files or any(self.file_use(example)[1] for example in examples)
        return found

    def _objects_used(self, node: ast.AST) -> set[str]:
        """The module's objects a function (a class: its methods) uses that may change as it
        does: a method called on, or `next()` of, a module name bound to what a call made
        (`REG = Registry()`, `_ids = itertools.count(1)`), and the `random` module's shared
        generator."""
        own = bound_locally(node)[0] if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else set()
        found: set[str] = set()
        for sub in ast.walk(node):
            if not isinstance(sub, ast.Call):
                continue
            drawn = isinstance(sub.func, ast.Name) and sub.func.id == "next" and bool(sub.args)
            if drawn:
                root = root_name(sub.args[0])
            elif isinstance(sub.func, ast.Attribute):
                root = root_name(sub.func.value)
            elif isinstance(sub.func, ast.Name):
                root = sub.func.id
            else:
                continue
            if root and root not in own and self._changing_object(root, drawn):
                found.add(root)
        return found

    def _changing_object(self, name: str, drawn: bool) -> bool:
        """Whether the module name is bound to an object that changes as it is used: an
        iterator made by a call (`drawn`: next() of it), an instance of the file's class
        whose methods change `self`, or the `random` module (or what is imported from it)."""
        for binder in self.changers.get(name, ()):
            if isinstance(binder, ast.Assign) and isinstance(binder.value, ast.Call):
                made_by = binder.value.func
                if drawn or (isinstance(made_by, ast.Name) and any(
                        isinstance(cls, ast.ClassDef) and _changes_self(cls)
                        for cls in self.definitions.get(made_by.id, ()))):
                    return True
            if isinstance(binder, ast.Import) and any(a.name == "random" for a in binder.names):
                return True
            if isinstance(binder, ast.ImportFrom) and binder.module == "random":
                return True
        return False

    def locals(self, function: ast.AST) -> set[str]:
        """The names `function` binds itself (bound_locally), kept per function."""
        found = self._locals.get(id(function))
        if found is None:
            found = self._locals[id(function)] = bound_locally(function)[0]
        return found

    def first_reaching(self, run: list[ast.stmt], names: frozenset[str]) -> int:
        """The index of the first statement of `run` that may reach one of `names` (see
        reach; not a definition's body, which runs when called, nor an import); len(run)
        if none. Found once per run (the asserts of one body share it)."""
        key = (id(run), names)
        known = self._first_reaching.get(key)
        if known is None or known[0] is not run:
            found = next((index for index, statement in enumerate(run)
                          if not isinstance(statement, (*_DEFINITIONS, ast.Import, ast.ImportFrom))
                          and self._reached_by(statement) & names), len(run))
            known = self._first_reaching[key] = (run, found)
        return known[1]

    def _reached_by(self, statement: ast.stmt) -> set[str]:
        found = self._reached.get(id(statement))
        if found is None:
            found = self._reached[id(statement)] = self.reach(module_reads(statement))
        return found


def _module_of(info: ModuleInfo) -> _Module:
    """The _Module of an analysed file, made once (kept on its ModuleInfo)."""
    module = info.__dict__.get("_semcoder_module")
    if module is None or module.tree is not info.tree:
        module = info.__dict__["_semcoder_module"] = _Module(info.tree or ast.Module([], []))
    return module


# What writes or removes files (by the last name of what is called, whatever it is called
# on: `path.write_text(...)`, `shutil.rmtree(...)`, `json.dump(data, f)`, `np.save(...)`).
_FILE_WRITES = frozenset((
    "write_text", "write_bytes", "unlink", "mkdir", "makedirs", "rmdir", "removedirs", "rmtree", "touch", "rename",
    "renames", "symlink_to", "hardlink_to", "symlink", "link", "chmod", "lchmod", "chown", "truncate", "copyfile",
    "copy2", "copytree", "copymode", "copystat", "move", "dump", "save", "savez", "savez_compressed", "savetxt",
    "tofile", "to_csv", "to_json", "to_pickle", "to_parquet", "to_excel", "to_feather", "to_hdf", "mkstemp",
    "mkdtemp", "NamedTemporaryFile", "TemporaryFile", "SpooledTemporaryFile", "TemporaryDirectory", "urlretrieve",
    "utime", "mkfifo", "mknod", "extractall", "extract", "make_archive", "unpack_archive", "writestr", "connect"))
# ... and those only when called on `os` or `shutil` (a list's `remove`, a str's `replace`).
_OS_WRITES = frozenset(("remove", "replace", "copy", "open", "write", "ftruncate"))
# What reads, lists or tests files (any `open` too, and what writes: `open(p, "x")` and
# `os.mkdir(p)` fail where an earlier call made p).
_FILE_READS = frozenset((
    "open", "read_text", "read_bytes", "exists", "lexists", "isfile", "isdir", "islink", "ismount", "is_file",
    "is_dir", "is_symlink", "listdir", "scandir", "iterdir", "glob", "rglob", "iglob", "stat", "lstat", "getsize",
    "getmtime", "getctime", "getatime", "walk", "load", "loadtxt", "genfromtxt", "fromfile", "read_csv", "read_json",
    "read_pickle", "read_parquet", "read_excel", "read_table", "read_feather", "read_hdf", "access", "samefile",
    "readlink", "ZipFile", "TarFile", "getline", "getlines", "input", "imread", "is_zipfile", "is_tarfile", "cmp",
    "dircmp", "realpath", "resolve"))
# An `open` mode that writes (`"w"`, `"a"`, `"x"`, `"r+"`), and a string that may be one.
_MODE = re.compile(r"[rwxabtU+]{1,4}")


def _file_use(node: ast.AST) -> tuple[bool, bool]:
    """Whether `node`'s code (all of it: the bodies of the functions it defines too) touches
    files, and whether it writes or removes them: `open(p, "w")` (a mode not written as a
    string counts), `Path.write_text`, `unlink`, `mkdir`, `os.remove`, `os.rename`,
    `shutil.*`, `json.dump`, `tempfile.mkstemp`, ... Errs on the side of files."""
    touches = writes = False
    for sub in ast.walk(node):
        if not isinstance(sub, ast.Call):
            continue
        dotted = _dotted(sub.func)
        if not dotted:
            continue
        last, first = dotted[-1], dotted[0]
        if last in ("open", "ZipFile", "TarFile") and first not in ("shelve", "dbm", "os"):
            touches = True
            modes = [k.value for k in sub.keywords if k.arg == "mode"]
            written = [a.value for a in sub.args[:2] if isinstance(a, ast.Constant) and isinstance(a.value, str)
                       and _MODE.fullmatch(a.value)]
            if modes:  # (`open(p, mode=m)`: a mode not written as a string may write)
                writes = writes or any(not (isinstance(m, ast.Constant) and isinstance(m.value, str))
                                       or bool(set(m.value) & set("wax+")) for m in modes)
            elif written:  # (`open(p, "w")`, `Path(p).open("a")`)
                writes = writes or any(set(mode) & set("wax+") for mode in written)
            else:  # (`open(p, m)`: may write; `open(p)` reads)
                writes = writes or len(sub.args) >= 2
        elif last in _FILE_WRITES or (first in ("os", "shutil") and last in _OS_WRITES) or (
                first == "shutil" and last not in ("which", "disk_usage", "get_terminal_size")) or (
                first in ("shelve", "dbm") and last == "open") or (first == "os" and last == "open"):
            touches = writes = True
        elif last in _FILE_READS:
            touches = True
    return touches, writes


def _changes_self(cls: ast.ClassDef) -> bool:
    """Whether a method of the class other than `__init__` changes its instance: assigns
    to `self.x` (or an item of it) or calls a mutator on what it holds (`self.items.append`)."""
    for method in cls.body:
        if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) or method.name == "__init__" \
                or not method.args.args:
            continue
        this = method.args.args[0].arg
        if any(this in changed_roots(sub) for sub in ast.walk(method)):
            return True
    return False


def _changed_names(node: ast.stmt) -> set[str]:
    """The module names a module-level statement binds (a definition, an import, an
    assignment, a loop's target) or changes in place (`CONFIG["k"] = v`, `ITEMS.append(x)`,
    `random.seed(7)`: any method called on a name counts)."""
    if isinstance(node, _DEFINITIONS):
        return {node.name}
    return set(scope_bindings([node])[0]) | changed_in_place(node, any_method=True)


def _may_see_earlier_state(reached: set[str], place: _Place, module: _Module, needs: frozenset[str]) -> bool:
    """Whether an assert's call (reaching `reached`; its replay keeps what `needs` needs:
    definitions_only) may depend on what earlier code left, which its replay alone would not
    see: a statement that runs before it (an earlier assert, a bare call, an earlier test)
    reaches a function that keeps state (a mutable default, a `global`, a module object
    changed in place, through an alias or its class too: keeps_state), and the call reaches
    that function or what it changes (`add("b")` after `add("a")` appended to `items`;
    `size()` reading the STACK an earlier `push(1)` filled; `is_debug()` after
    `enable_debug()` set an attribute of Config); a statement before it that the replay does
    not run (one of a test, of the `__main__` block, the module's work) changes what the
    call reaches (`CONFIG["debug"] = True`, `append_one(ITEMS)` of a function that changes
    its argument, a `global` or module name bound again); or a statement before it writes or
    removes files (by its code or a function it reaches) and the call reaches code that
    touches files (`load("a.txt")` after `save("a.txt", ...)`). (Errs on the side of
    state, as keeps_state does.)"""
    # (A function's own state matters only to a call that reaches it; other functions'
    # state, to one that reaches a module variable or a class.)
    variables = reached & (module.changers.keys() - module.function_names)
    candidates = module.stateful_definitions if variables else reached & (module.definitions.keys()
                                                                           | module.lambdas.keys())
    stateful = frozenset(name for name in candidates if (changed := module.state(name)) and changed & reached)
    if stateful and module.first_reaching(place.run, stateful) < place.count:
        return True
    if module.changed_before(place.run, place.count, needs, reached):
        return True
    return module.touches_files(reached) and module.first_writing(place.run) < place.count


def _bound_names(statement: ast.stmt) -> set[str]:
    return {n.id for n in ast.walk(statement) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}


def _bound_after(reached: set[str], node: ast.Assert, needs: frozenset[str], module: _Module) -> bool:
    """Whether a top-level statement after a module-level assert, one the call's replay runs
    (definitions_only), binds or changes what the call reaches (`def version` again, `SCALE
    = 3`, `CONFIG["k"] = v`): the replay would see it, Python's call at the assert does not."""
    end = node.end_lineno or node.lineno
    return any(statement.lineno > end and is_definition(statement, module.tree, needs)
               for name in reached for statement in module.changers.get(name, ()))


def _replayable_arguments(target: ast.AST, node: ast.Assert, needs: frozenset[str], module: _Module) -> bool:
    """Whether a module-level assert's call, whose arguments are not all literals, reads only
    what its replay has: each name it reads is bound only by top-level statements before the
    assert that the replay runs (imports, constants, functions: definitions_only for this
    call), or is a builtin the module does not bind (`ident(LIMIT)`, `f(math.pi)`,
    `f(len("abc"))`, `f(g(2))`). Not what the script's own work binds (a loop's variable,
    `R = main()`, the `__main__` block's names: no binder definitions_only keeps)."""
    if any(isinstance(n, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)) for n in ast.walk(target)):
        return False
    for name in needs:
        binders = module.changers.get(name, ())
        if not binders and (name not in _BUILTIN_NAMES or _binds_elsewhere(name, module.tree)):
            return False
        if any(statement.lineno > node.lineno or not is_definition(statement, module.tree, needs)
               for statement in binders):
            return False
    return True


def _binds_elsewhere(name: str, tree: ast.Module) -> bool:
    """Whether the `__main__` block binds `name` (a builtin's name there is the script's)."""
    return any(name in scope_bindings(node.body)[0] for node in tree.body if _is_main_block(node))


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
    if name not in info.functions and (not literal or not _literal_text(expected)
                                       or _changes_imported_module(info.imported[name], place, module, info)):
        return None  # (an imported function's call is traced in its module: see Tracing.actual_trace)
    if place.function is not None and reads & module.locals(place.function):
        return None  # (`div = lambda a, b: a // b` in the test: not the file's div)
    reached = module.reach(reads)
    if "__name__" in reached:
        return None  # (a replayed call's module is not `__main__`, nor the test module's name)
    if (place.function is None and _bound_after(reached, node, needs, module)) \
            or _may_see_earlier_state(reached, place, module, needs):
        order_dependent.update(range(node.lineno - 1, node.end_lineno or node.lineno))
        return None
    if case is not None:
        return CallSite(name, _text_of(info, target), "assert", case.line, expected or None,
                        case.start_col, case.end_col, literal=literal, case=True)
    return CallSite(name, _text_of(info, target), "assert", node.lineno - 1, expected or None,
                    target.col_offset, target.end_col_offset or 0, literal=literal)


def _literal_text(expected: str | None) -> bool:
    """Whether an assert's expected value means the same in any module: a literal, or the
    truth of the value (TRUTHY, FALSY)."""
    if expected in (TRUTHY, FALSY):
        return True
    try:
        ast.literal_eval((expected or "").strip())
        return True
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
    # What the file binds of M that may hold state: all but M's functions of no state.
    pure = {name for name, other in info.imported.items() if other.module == imported.module and other.why_not is None}
    holders = names - pure
    for statement in place.run[: place.count]:
        if changed_in_place(statement) & names:
            return True
        reads = module_reads(statement)
        # (through the file's own functions too; and any reach into sys.modules, reload, globals())
        if module.reach(reads) & holders or _reaches_modules(statement):
            return True
    return False


def _reaches_modules(statement: ast.stmt) -> bool:
    """Whether a statement may reach a module's state by another way than its names:
    `sys.modules[...]`, `importlib.reload(...)`, `globals()`."""
    return any(isinstance(n, ast.Attribute) and n.attr in ("modules", "reload")
               or isinstance(n, ast.Name) and n.id in ("reload", "globals", "importlib")
               for n in ast.walk(statement))


def _bound_to(tree: ast.Module, module: str) -> set[str]:
    """The names the file binds to `module` or to what it imports from it."""
    names = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == module:
            names.update(alias.asname or alias.name for alias in node.names)
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
    reached = module.reach({node.name})
    if "__name__" in reached:
        return info, "it reads `__name__`"
    stateful = sorted(name for name in reached if name in module.definitions and module.state(name) is not None)
    if stateful:
        return info, f"`{stateful[0]}` keeps state from one call to the next"
    changed = set().union(*(module.state(name) or set() for name in module.stateful_definitions))
    if changed & reached:
        return info, f"`{sorted(changed & reached)[0]}` is changed by its module's functions"
    for name in sorted(reached):
        for statement in module.changers.get(name, ()):
            if isinstance(statement, ast.ImportFrom) and (statement.level or is_workspace_module(statement.module or "")) \
                    or isinstance(statement, ast.Import) and any(
                        is_workspace_module(alias.name) for alias in statement.names
                        if (alias.asname or alias.name.split(".")[0]) == name):
                return info, f"it uses `{name}`, from another module of the workspace"
            if not isinstance(statement, (*_DEFINITIONS, ast.Import, ast.ImportFrom)) and not _made_plainly(statement):
                # (`_inc = _make_counter()`, `registry = Registry()`, `N = int(os.environ[...])`)
                return info, f"it reads `{name}`, made as its module loads (it may keep state, or differ in a run)"
    bodies = [node for name in reached for node in module.definitions.get(name, ())]
    if any(isinstance(n, ast.Attribute) and n.attr in _ENVIRONMENT or isinstance(n, ast.Name) and n.id in _ENVIRONMENT
           for body in bodies for n in ast.walk(body)):
        return info, "it reads the environment or the working folder, which a sandboxed run does not share"
    return info, None


# What a function may read that a sandboxed run does not share with the user's process.
_ENVIRONMENT = frozenset(("environ", "getenv", "environb", "getenvb", "getcwd", "getcwdb", "globals", "modules"))
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


def _is_literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


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

    def visit(node: ast.AST, once: bool) -> bool:
        if called(node, info.functions) is not None:
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


@dataclass
class _Case:
    """One case of a `@pytest.mark.parametrize` test: where it is written (its line, 0-based,
    and its columns) and its value of each argument (literal nodes of the decorator)."""

    line: int
    start_col: int
    end_col: int
    values: dict[str, ast.expr]


def _parametrize_cases(fn: ast.FunctionDef | ast.AsyncFunctionDef, info: ModuleInfo) -> list[_Case] | None:
    """The cases of a test whose one parametrize mark gives all its arguments, each a
    literal (`@pytest.mark.parametrize("x, want", [(1, 2), (3, 6)])` on `def test_f(x,
    want)`), its cases that a mark may skip left out (`pytest.param(..., marks=...)`); None
    for any other test, or one that binds an argument again in its body, or reads one whose
    value a call may change (a list, a dict, a set) more than once (its asserts are then
    judged as written: with the names, no verdict)."""
    marks = [d for d in fn.decorator_list if _last_name(d) == "parametrize" and "mark" in _dotted(d)]
    if len(marks) != 1 or not isinstance(marks[0], ast.Call):
        return None
    mark = marks[0]
    if len(mark.args) != 2 or any(k.arg not in ("ids",) for k in mark.keywords):
        return None
    names_node, values_node = mark.args
    try:
        names = ast.literal_eval(names_node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    # pytest unpacks each case into the names, except for one name given as a string: then
    # the case is the value. ("x," is read either way by different pytest versions.)
    unpacked = not isinstance(names, str)
    if isinstance(names, str):
        if names.rstrip().endswith(",") and names.count(",") == 1:
            return None
        names = [name.strip() for name in names.split(",") if name.strip()]
        unpacked = len(names) > 1
    args = fn.args
    if (not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names)
            or args.vararg or args.kwarg or args.posonlyargs or args.kwonlyargs
            or [a.arg for a in args.args] not in (list(names), ["self", *names])
            or not isinstance(values_node, (ast.List, ast.Tuple))):
        return None
    rebound = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    if rebound & set(names):
        return None
    reads = collections.Counter(n.id for node in fn.body for n in ast.walk(node)
                                if isinstance(n, ast.Name) and n.id in names)
    cases = []
    for element in values_node.elts:
        values = element
        if isinstance(element, ast.Call) and _last_name(element) == "param" and "pytest" in _dotted(element):
            if any(k.arg != "id" for k in element.keywords):
                continue  # (marks: it may be skipped or expected to fail)
            values = element.args if unpacked else (element.args[0] if len(element.args) == 1 else None)
        elif unpacked:
            values = element.elts if isinstance(element, (ast.Tuple, ast.List)) else None
        if values is None:
            continue
        values = list(values) if unpacked else [values]
        if len(values) != len(names) or any(isinstance(v, ast.Starred) for v in values):
            continue
        try:
            literals = [ast.literal_eval(value) for value in values]
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        # A value a call may change in place, read twice (`f(items)` then `items` again, in
        # one assert or two): the second read sees what the first call left.
        if any(reads[name] > 1 and _mutable(value) for name, value in zip(names, literals)):
            continue
        # (a case written over several lines: its first line, from where it starts)
        end = ((element.end_col_offset or 0) if element.end_lineno == element.lineno
               else len(info.lines[element.lineno - 1].encode()))
        cases.append(_Case(element.lineno - 1, element.col_offset, end, dict(zip(names, values))))
    return cases


def _mutable(value: object) -> bool:
    if isinstance(value, (list, dict, set, bytearray)):
        return True
    return isinstance(value, tuple) and any(_mutable(item) for item in value)


# A case's value that needs no parentheses wherever it is written (see _text_of): a
# bracketed display, or a constant that is no number (`-2 ** 2` is -4; `3.real` does not parse).
_ATOMS = (ast.List, ast.Dict, ast.Set, ast.Tuple)


def _with_case(test: ast.expr, case: _Case, info: ModuleInfo) -> ast.expr | None:
    """A copy of an assert's condition with the case's values for the test's arguments, each
    knowing its text (for _text_of: in parentheses where it is no atom), at the place of the
    name it replaces; None where an argument is read in a lambda or comprehension (which may
    bind the name again) or an f-string (whose quotes the value's may close)."""

    class Substitute(ast.NodeTransformer):
        def __init__(self) -> None:
            self.nested = 0
            self.refused = False

        def visit_Name(self, node: ast.Name) -> ast.AST:
            value = case.values.get(node.id)
            if value is None:
                return node
            if self.nested:
                self.refused = True
                return node
            new = copy.deepcopy(value)
            for part in ast.walk(new):  # (a literal: its own parts have no place in the file)
                ast.copy_location(part, node)
            text = info.segment(value)
            new._semcoder_text = text  # type: ignore[attr-defined]
            new._semcoder_atom = (isinstance(value, _ATOMS) and text[:1] in "([{") or (  # type: ignore[attr-defined]
                isinstance(value, ast.Constant) and not isinstance(value.value, (int, float, complex)))
            return new

        def generic_visit(self, node: ast.AST) -> ast.AST:
            scope = isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
                                      ast.JoinedStr))
            self.nested += scope
            try:
                return super().generic_visit(node)
            finally:
                self.nested -= scope

    substitute = Substitute()
    copied = substitute.visit(copy.deepcopy(test))
    return None if substitute.refused else copied


def _doctest_calls(fn: FunctionInfo, info: ModuleInfo) -> list[CallSite]:
    return [site for _, site, _ in _doctest_examples(fn, info) if site is not None]


def _doctest_examples(fn: FunctionInfo, info: ModuleInfo):
    """`fn`'s docstring examples in order (doctest.Example), each with its check (a
    CallSite, or None) and the earlier example after which it may not see what doctest's run
    sees (None: no earlier example may have changed it)."""
    if ">>>" not in fn.docstring:
        return
    try:
        examples = doctest.DocTestParser().get_examples(fn.docstring)
    except ValueError:
        return
    # doctest runs a docstring's examples one after another, in one namespace: an example
    # after one that may have changed some state (a statement, `c = Counter()`; a call of
    # something else; the same call again; any call of a function that keeps state between
    # calls, `counter()` giving 1 then 2, `push(1)` then `push(2)` on a default list) is not
    # taken: run alone, it could fail where doctest passes it.
    changed = None  # the first example after which state may differ
    stateful = keeps_state(fn, info)
    seen: dict[str, doctest.Example] = {}
    for ex in examples:
        before = changed
        if ex.options.get(doctest.SKIP):
            yield ex, None, before  # doctest does not run it
            continue
        source = ex.source.strip()
        try:
            expr = ast.parse(source, mode="eval").body
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            changed = changed or ex
            yield ex, None, before
            continue
        name = literal_call(expr, info.functions)
        if not name:
            changed = changed or ex
            yield ex, None, before
            continue
        # The call without what follows it on its line: a `# doctest: +ELLIPSIS` directive.
        call = ast.get_source_segment(source, expr) or source
        if before is not None or call in seen:
            changed = changed or ex
            yield ex, None, before or seen[call]
            continue
        leaves_state = stateful or _call_keeps_state(name, info)
        if _example_may_see_earlier_state(expr, fn, info):
            changed = changed or (ex if leaves_state else None)
            yield ex, None, None
            continue
        seen[call] = ex
        changed = ex if leaves_state else None
        first = call.split("\n", 1)[0]
        line = fn.def_line
        for i in range(fn.def_line, fn.end + 1):
            if ">>>" in info.lines[i] and first in info.lines[i]:
                line = i
                break
        want = DoctestWant.of_example(ex) if ex.want.strip() else None
        yield ex, CallSite(name, call, "doctest", line, want), None


def _call_keeps_state(name: str, info: ModuleInfo) -> bool:
    """Whether an example's call of the file's function or method `name` may leave state
    that a later example sees (its function or class keeps state: _Module.state)."""
    return _module_of(info).state(name.split(".", 1)[0]) is not None


def _example_may_see_earlier_state(expr: ast.expr, fn: FunctionInfo, info: ModuleInfo) -> bool:
    """Whether a doctest example's call may see state that code run before the docstring
    left (the module's statements as it is imported, the file's other docstrings' examples:
    _Module.doctest_run), by the rules of an assert's call (_may_see_earlier_state)."""
    module = _module_of(info)
    reads = module_reads(expr)
    run = module.doctest_run(fn, info)
    return _may_see_earlier_state(module.reach(reads), _Place(run, len(run)), module, frozenset(reads))


_QUOTES_OPENING = re.compile(r"""^\s*[rRuUbBfF]*(\"\"\"|\'\'\'|\"|\')""")
_PROMPT = re.compile(r"\s*>>>")


def doctest_example_at(info: ModuleInfo, line: int, col: int) -> CallSite | str | None:
    """What to trace on a line of a function's doctest example (its `>>>` line, a `...`
    line, its expected output), at byte column `col`: the example's check; else, for an
    example that is no check (`print(f(1))`, `sorted(f([2, 1]))`) and that no earlier
    example may have changed what it sees, the literal call of a file function under the
    cursor, or its first of the function, replayed with no verdict; else why there is nothing
    to trace, in words. None off an example, and where the function's own call stands for
    it (an example with nothing to replay in a docstring with no check of its own)."""
    fn = info.function_at(line)
    if fn is None or ">>>" not in fn.docstring or info.tree is None:
        return None
    prompts, last = _example_prompts(fn, info)
    if not prompts or not prompts[0] <= line <= last:
        return None
    found = list(_doctest_examples(fn, info))
    if len(prompts) != len(found):
        return None  # (escapes in the docstring: its lines are not the file's)
    for prompt, (ex, site, before) in zip(prompts, found):
        source_lines = ex.source.count("\n") or 1
        if not prompt <= line < prompt + source_lines + ex.want.count("\n"):
            continue
        if site is not None:
            return site
        if ex.options.get(doctest.SKIP):
            return "This doctest example is skipped (`+SKIP`): doctest does not run it."
        if before is not None:
            shown = " ".join(before.source.split())
            shown = shown if len(shown) <= 60 else shown[:59] + "…"
            where = next(p for p, (earlier, _, _) in zip(prompts, found) if earlier is before) + 1
            return (f"This doctest example runs after `{shown}` (line {where}), which may have changed "
                    "what it sees: run alone, it could give another value than in doctest's run, so it is not traced.")
        try:
            tree = ast.parse(ex.source)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            tree = None
        calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
                 and literal_call(node, info.functions)] if tree is not None else []
        # The call under the cursor (its `>>>` or a `...` line), else the first of `fn`.
        at = line - prompt
        covering = []
        if at < source_lines:
            source_col = col - _source_start(info.lines[line], at)
            covering = [node for node in calls if _covers(node, at, source_col)]
        node = min(covering, key=_size) if covering else next(
            (node for node in calls if literal_call(node, info.functions) == fn.name), None)
        if node is None:
            if not any(site for _, site, _ in found):
                return None  # (the function's own call, as on its other lines: no other example's)
            return (f"This doctest example has no call of `{fn.name}` with literal arguments to run alone, "
                    "so it is not traced and gets no verdict.")
        first = prompt + node.lineno - 1
        start = _source_start(info.lines[first], node.lineno - 1)
        return CallSite(literal_call(node, info.functions), ast.get_source_segment(ex.source, node) or "", "cursor",
                        first, None, start + node.col_offset,
                        start + (node.end_col_offset or 0) if node.end_lineno == node.lineno else 0)
    return None


def _source_start(text: str, index: int) -> int:
    """The byte column where an example's source line `index` starts on its line of the
    file: after its `>>> ` (the first) or `... ` prompt."""
    return len(text[: max(text.find(">>>" if index == 0 else "..."), 0)].encode()) + 4


def _example_prompts(fn: FunctionInfo, info: ModuleInfo) -> tuple[list[int], int]:
    """The lines of the `>>>` prompts of `fn`'s docstring, in order, and its last line
    (none, -1 where it has no docstring node)."""
    node = next((n for top in info.tree.body for n in ([top] + (top.body if isinstance(top, ast.ClassDef) else []))
                 if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.lineno - 1 == fn.def_line), None)
    if node is None or not node.body or not isinstance(node.body[0], ast.Expr):
        return [], -1
    doc = node.body[0]
    first, last = doc.lineno - 1, (doc.end_lineno or doc.lineno) - 1
    prompts = []
    for i in range(first, min(last + 1, len(info.lines))):
        text = info.lines[i]
        if i == first:
            text = _QUOTES_OPENING.sub("", text[len(text.encode()[: doc.col_offset].decode(errors="ignore")):], count=1)
        if _PROMPT.match(text):
            prompts.append(i)
    return prompts, last


def call_at(info: ModuleInfo, line: int, col: int) -> CallSite | None:
    """The innermost literal call of a file function that covers (line, col). None on an
    assert whose call replayed alone may differ from the file's (ModuleInfo.order_dependent:
    `add("b")` after `add("a")`), and for a name a function binds itself (`div = lambda ...`
    in a test): neither is the replay of a call of the file's function."""
    if line in info.order_dependent:
        return None
    best: CallSite | None = None
    best_size = None
    tree_nodes = _calls_on_line(info, line)
    for node in tree_nodes:
        name = literal_call(node, info.functions)
        if not name or _shadowed(info, node):
            continue
        if not _covers(node, line, col):
            continue
        size = _size(node)
        if best_size is None or size < best_size:
            best = CallSite(name, _segment(info, node), "cursor", line, None, node.col_offset, node.end_col_offset or 0)
            best_size = size
    if best is not None:
        # A cursor on an asserted call keeps the assert's expectation.
        for c in info.calls:
            if c.origin == "assert" and c.line == line and c.call == best.call:
                return CallSite(best.function, best.call, "cursor", line, c.expected, best.start_col, best.end_col)
    return best


def function_called_at(info: ModuleInfo, line: int, col: int) -> CallSite | None:
    """The innermost call of a file function or method that covers (line, col), whatever
    its arguments: what `called` recognises, and `x.method(...)` on any object when only
    one class of the file has a method of that name. The site is `watched` (see CallSite):
    the call is traced where it runs, not replayed."""
    best: CallSite | None = None
    best_size = None
    for node in _calls_on_line(info, line):
        if not _covers(node, line, col) or _shadowed(info, node):
            continue
        named = called(node, info.functions)
        name = named[0] if named else _unique_method(node, info.functions)
        size = _size(node)
        if name and (best_size is None or size < best_size):
            # Its line is where the call starts: the line its caller's frame reports.
            best = CallSite(name, _segment(info, node), "cursor", node.lineno - 1, None, node.col_offset,
                            node.end_col_offset or 0, watched=True)
            best_size = size
    return best


def _shadowed(info: ModuleInfo, node: ast.AST) -> bool:
    """Whether the name a call starts from (`div` of `div(7, 2)`, `Box` of `Box(1).area()`)
    is bound by a function around it (a parameter, an assignment, an import, a def): then it
    is not the module's function."""
    root = root_name(node)
    if root is None:
        return False
    first, last = node.lineno, node.end_lineno or node.lineno
    return any(isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
               and scope.lineno <= first and last <= (scope.end_lineno or scope.lineno)
               and root in bound_locally(scope)[0]
               for scope in ast.walk(info.tree or ast.parse(info.text)))


def _unique_method(node: ast.AST, functions: dict[str, FunctionInfo]) -> str | None:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return None
    suffix = "." + node.func.attr
    found = [name for name, fn in functions.items() if fn.is_method and name.endswith(suffix)]
    return found[0] if len(found) == 1 else None


def _calls_on_line(info: ModuleInfo, line: int) -> list[ast.Call]:
    # Parse only the statement around the line would be faster; whole-tree walks are
    # fine up to tens of thousands of lines and keep the code simple.
    tree = info.tree or ast.parse(info.text)
    return [  # calls, and attributes (a property read on a fresh instance)
        n for n in ast.walk(tree)
        if isinstance(n, (ast.Call, ast.Attribute)) and n.lineno - 1 <= line <= (n.end_lineno or n.lineno) - 1
    ]


def _covers(node: ast.AST, line: int, col_chars: int) -> bool:
    start = (node.lineno - 1, node.col_offset)
    end = ((node.end_lineno or node.lineno) - 1, node.end_col_offset or 0)
    # ast offsets are UTF-8 byte offsets; callers pass byte columns (see byte_col).
    return start <= (line, col_chars) <= end


def _size(node: ast.AST) -> tuple[int, int]:
    return ((node.end_lineno or 0) - node.lineno, (node.end_col_offset or 0) - node.col_offset)


def byte_col(line_text: str, utf16_col: int) -> int:
    """Convert an LSP (UTF-16) column to the UTF-8 byte column the ast module uses."""
    units = 0
    for index, ch in enumerate(line_text):
        if units >= utf16_col:
            return len(line_text[:index].encode())
        units += 2 if ord(ch) > 0xFFFF else 1
    return len(line_text.encode())


def utf16_col(line_text: str, byte_column: int) -> int:
    """Convert a UTF-8 byte column to an LSP (UTF-16) column."""
    prefix = line_text.encode()[:byte_column].decode(errors="ignore")
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in prefix)


def is_test(fn: FunctionInfo) -> bool:
    """Whether pytest would call `fn` itself, with its fixtures or cases: a `test*` function,
    or a `test*` method of a `Test*` class or a `*TestCase`."""
    owner, _, name = fn.name.rpartition(".")
    return name.startswith("test") and (not owner or owner.startswith("Test") or owner.endswith("TestCase"))


def asserts_in(info: ModuleInfo) -> list[CallSite]:
    return [c for c in info.calls if c.origin in ("assert", "doctest") and c.expected is not None]
