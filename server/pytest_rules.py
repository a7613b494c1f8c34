"""Which tests and asserts run as written: the asserts that run whenever the module, its
`__main__` block or a test pytest collects runs (not skipped, set up from outside the text,
nor given fixtures: _functions_run, _judged_asserts), and each case of a
`@pytest.mark.parametrize` test as a check of its own (_parametrize_cases, _with_case). An
assert that may not run as written gets no verdict: its failure would not mean what it says.
"""

from __future__ import annotations

import ast
import collections
import copy
from dataclasses import dataclass

from .analysis_types import ModuleInfo


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
    checks = _unittest_self(function) if function is not None else None
    for node in body:
        check = _unittest_check(node, checks) if checks else None
        if isinstance(node, ast.Assert) or check is not None:
            found.append((check or node, _Place(ran, len(ran), function)))
        elif function is None and _is_main_block(node):
            _unconditional(node.body, ran, function, found)
        elif isinstance(node, ast.Try) and not node.handlers:
            _unconditional(node.body, ran, function, found)
        if _may_end_early(node):
            return
        ran.append(node)


# unittest's checks that are an assert of a comparison or a truth value: `self.assertEqual(
# f(2), 4)` checks what `assert f(2) == 4` does.
_UNITTEST_CHECKS = {"assertEqual": 2, "assertTrue": 1, "assertFalse": 1}


def _unittest_self(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """The name of a unittest TestCase method's `self`, where its `self.assertEqual(…)`
    and the like are checks (_unittest_check); None elsewhere. Set by _judged_asserts."""
    return getattr(function, "semcoder_unittest_self", None)


def _unittest_check(node: ast.stmt, self_name: str) -> ast.Assert | None:
    """The assert a statement `self.assertEqual(a, b)` (`assertTrue(x)`, `assertFalse(x)`)
    checks as (`assert a == b`, `assert x`, `assert not x`), placed where the call is; its
    message, if any, a literal (it is evaluated first). None for any other statement."""
    call = node.value if isinstance(node, ast.Expr) else None
    func = call.func if isinstance(call, ast.Call) else None
    if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == self_name
            and func.attr in _UNITTEST_CHECKS):
        return None
    wanted = _UNITTEST_CHECKS[func.attr]
    args, extra = call.args[:wanted], [*call.args[wanted:], *(k.value for k in call.keywords if k.arg == "msg")]
    if len(args) != wanted or any(isinstance(a, ast.Starred) for a in args) or len(extra) > 1 \
            or any(k.arg != "msg" for k in call.keywords) or not all(isinstance(m, ast.Constant) for m in extra):
        return None
    if func.attr == "assertEqual":
        test: ast.expr = ast.copy_location(ast.Compare(left=args[0], ops=[ast.Eq()], comparators=[args[1]]), call)
    elif func.attr == "assertFalse":
        test = ast.copy_location(ast.UnaryOp(op=ast.Not(), operand=args[0]), call)
    else:
        test = args[0]
    check = ast.Assert(test=test, msg=None)
    check.semcoder_statement = node  # (the statement it stands for: see _judged_asserts)
    return ast.copy_location(check, node)


def _is_test_class(node: ast.ClassDef) -> bool:
    """A class whose `test*` methods pytest or unittest collects: `Test*`, a `*TestCase`."""
    return node.name.startswith("Test") or _is_unittest_class(node)


def run_order(tree: ast.Module) -> dict[str, int]:
    """The file's tests by name (`test_f`, `TestX.test_m`: the module's `test*` functions
    and the `test*` methods of its test classes), each with how many of them pytest runs
    before it: in the file's order, a unittest TestCase's by name."""
    order: dict[str, int] = {}
    for node in tree.body:
        names: list[str] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            names = [node.name]
        elif isinstance(node, ast.ClassDef) and _is_test_class(node):
            methods = [item.name for item in node.body
                       if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test")]
            names = [f"{node.name}.{name}" for name in (sorted(methods) if _is_unittest_class(node) else methods)]
        for name in names:
            order.setdefault(name, len(order))  # (a name defined again keeps its first place, as in a dict)
    return order


def _is_unittest_class(node: ast.ClassDef) -> bool:
    """A `unittest.TestCase` (by its base's name): its tests run in the order of their names."""
    return any(_last_name(base).endswith("TestCase") for base in node.bases)


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
    if any(isinstance(node, (ast.Assign, ast.AnnAssign))
           and any(isinstance(t, ast.Name) and t.id == "pytest_plugins"
                   for t in (node.targets if isinstance(node, ast.Assign) else [node.target])) for node in body):
        return []  # (a plugin's autouse fixtures and hooks set its tests up)
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
            if _is_unittest_class(node):
                # unittest's loader, which pytest uses for these, runs them by name, not as written.
                methods.sort(key=lambda item: item.name)
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
    _mark_unittest_methods(tree)
    _unconditional(tree.body, [], None, found)
    # A function runs after the whole module has; a test, after the tests before it too.
    module = [node for node in tree.body if not isinstance(node, _DEFINITIONS)]
    earlier: list[ast.stmt] = []
    for fn, test in functions:
        _unconditional(fn.body, module + earlier if test else module, fn, found)
        if test:
            earlier.extend(fn.body)
    order = {id(node): index for index, node in enumerate(ast.walk(tree)) if isinstance(node, (ast.Assert, ast.Expr))}
    return sorted(found, key=lambda item: order[id(getattr(item[0], "semcoder_statement", item[0]))])


def _mark_unittest_methods(tree: ast.Module) -> None:
    """Mark each method of a unittest TestCase with the name of its `self`, where the file
    defines no `assert*` method of its own anywhere (which would not be unittest's)."""
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    if any(isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("assert")
           for node in classes for item in node.body):
        return
    for node in classes:
        if _is_unittest_class(node):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.args.args and not item.decorator_list:
                    item.semcoder_unittest_self = item.args.args[0].arg


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
