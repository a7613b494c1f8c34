"""Real execution through the sandboxed tracer, off the event loop.

The tracer runs code in a separate, resource-limited process; this adapter runs its calls
on one dedicated thread (so the event loop never blocks and the model worker is never
used for it), keeps one Tracer per interpreter and limits, and converts the tracer's
1-based lines to the 0-based document lines LSP uses.

A replayed call runs the file's definitions only (definitions_only): the top-level work of
the script (asserts, prints, loops, `main()`, the `__main__` block) is blanked, keeping line
numbers, so tracing `f(2)` does not also run the file's failing asserts; what its functions
and classes need stays (imports, constants, `WORD = re.compile(...)` read by a function,
`try: import x / except ImportError:`), see kept_statements.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import copy
import logging
import re
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from semcoder_inference.context import bound_locally, scope_bindings
from semcoder_inference.errors import SemcoderError

from .settings import ExecutionSettings

log = logging.getLogger(__name__)

# What a replayed call's run keeps of the file's top level (see definitions_only).
_ALWAYS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom, ast.Pass)
_ASSIGNMENTS = (ast.Assign, ast.AnnAssign, ast.AugAssign) + ((ast.TypeAlias,) if hasattr(ast, "TypeAlias") else ())
_TRIES = (ast.Try,) + ((ast.TryStar,) if hasattr(ast, "TryStar") else ())
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
# How a top-level statement is kept: always (a definition, an import); when it is harmless
# (an assignment, or a block of definitions, that calls nothing): unless it reads a name
# only skipped statements bind; when needed (one that calls something): only when what it
# binds is read by what is kept; never (the script's own work).
ALWAYS, HARMLESS, WHEN_NEEDED, NEVER = "always", "harmless", "when needed", "never"
# An attribute calls.analyse sets on each top-level statement: a weak reference to its
# module, so that is_definition(node) can judge it in its module.
MODULE_ATTRIBUTE = "_semcoder_module"
_BUILTINS = frozenset(dir(builtins))  # (a name a skipped loop rebinds, `for id in ...`, is still bound)


def remember_module(tree: ast.Module) -> None:
    """Let each top-level statement of `tree` find its module (see is_definition)."""
    ref = weakref.ref(tree)
    for node in tree.body:
        setattr(node, MODULE_ATTRIBUTE, ref)


def is_definition(node: ast.stmt, tree: ast.Module | None = None, needs: frozenset[str] | None = None) -> bool:
    """Whether a top-level statement is one definitions_only keeps (for a call that reads
    `needs`, see kept_statements), in its module: `tree`, else the one calls.analyse
    parsed it in (remember_module). A statement of no known module is judged alone: what
    is kept whatever else the module holds."""
    if tree is None:
        ref = getattr(node, MODULE_ATTRIBUTE, None)
        tree = ref() if ref is not None else None
    if tree is None:
        return statement_kind(node) in (ALWAYS, HARMLESS)
    return id(node) in kept_statements(tree, needs)


def call_needs(call: str) -> frozenset[str] | None:
    """The names a call expression reads, for kept_statements; None (keep what any call
    could need) when it does not parse. An assert's expected value adds nothing: a global
    only it reads (`R = main()`, `ITEMS.append(3)`) is the script's work, and the expected
    value is then not evaluated where the call runs (tracing.sandbox_expectation)."""
    try:
        node = ast.parse(call.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    return frozenset(module_reads(node))


def kept_statements(tree: ast.Module, needs: frozenset[str] | None = None) -> frozenset[int]:
    """The ids of the top-level statements of `tree` that a replayed call runs (cached on
    the tree). Definitions and imports; the assignments and blocks of definitions
    (`try: import x / except ImportError:`, `if TYPE_CHECKING:`, `if sys.version_info ...`)
    that bind a name that the call needs, whatever they call (`WORD = re.compile(...)`
    read by the function called, `log = logging.getLogger(__name__)`, `app = Flask(__name__)`
    read by a decorator), and those that call nothing (constants), unless they read a name
    only a skipped statement binds. What a call needs: what `needs` names (the names the
    call expression reads: see call_needs), what the functions and
    classes they name read in turn, and what every definition reads as the module runs
    (decorators, defaults, class bodies); None: what any function of the module reads. So a
    global that another function needs, built by a call (`LINES = open("data.txt")...`,
    `DATA = load()`), does not run, fail or print for a call that does not need it. Not the
    script's own work: bare calls (`main()`, `print(...)`), asserts, loops, `with`, the
    `if __name__ == "__main__":` block, and assignments with a call that nothing needed
    reads (`R = main()` compared only by asserts); except where the script fills a
    container the module made and the call needs (`CACHE.update(load())`, a loop adding to
    `WORDS = set()`: _filled; `register(...)` of a function that fills one), sets up the
    state of a module the call reads a name of (`random.seed(7)`, `getcontext().prec = 3`:
    _sets_up_module), changes the recursion limit, or changes where a later import looks
    (`sys.path.insert`)."""
    cache = getattr(tree, "_semcoder_kept", None)
    if cache is None:
        cache = {}
        tree._semcoder_kept = cache  # type: ignore[attr-defined]
    cached = cache.get(needs)
    if cached is not None:
        return cached
    body = tree.body
    kinds = [statement_kind(node) for node in body]
    binds = [_binds(node) for node in body]
    reads: dict[int, set[str]] = {}

    def read_by(index: int) -> set[str]:
        found = reads.get(index)
        if found is None:
            found = reads[index] = module_reads(body[index])
        return found

    kept = {i for i, kind in enumerate(kinds) if kind == ALWAYS}
    # What a later import may need: `sys.path.insert(0, ...)`, `sys.modules[...] = ...`.
    last_import = max((i for i, node in enumerate(body) if _imports(node)), default=-1)
    kept.update(i for i in range(last_import) if kinds[i] == NEVER and _changes_import_state(body[i]))
    # The statements that bind a name, or change what it holds (`CONFIG["path"] = ...`);
    # and the script's statements that fill a container the module made (`CACHE.update(
    # load())`, a loop adding to `WORDS = set()`): the module's functions read it filled.
    containers = {name for i, kind in enumerate(kinds) if kind in (HARMLESS, WHEN_NEEDED)
                  for name in _containers_made(body[i])}
    # A call of the file's own function that fills such a container (`register("upper",
    # str.upper)` doing `CODECS[name] = codec`), and a statement that sets up the state of
    # an imported module (`random.seed(7)`, `getcontext().prec = 3`, `os.environ.setdefault
    # (...)`): kept for a call that reads the container, or any name from that module.
    fills = _functions_filling(body, containers) if containers else {}
    origins = _module_origins(body)
    from_module: dict[str, set[str]] = {}
    for name, module in origins.items():
        from_module.setdefault(module, set()).add(name)
    binders: dict[str, list[int]] = {}
    defines: dict[str, list[int]] = {}  # the definitions and imports that bind a name
    for i, kind in enumerate(kinds):
        if kind in (HARMLESS, WHEN_NEEDED):
            for name in binds[i] | _changes(body[i]):
                binders.setdefault(name, []).append(i)
        elif kind == ALWAYS and needs is not None:
            for name in binds[i]:
                defines.setdefault(name, []).append(i)
        if kind == NEVER and containers and _may_fill(body[i]):
            for name in changed_in_place(body[i], any_method=True) & containers:
                binders.setdefault(name, []).append(i)
        if kind == NEVER and fills and _calls_own_function(body[i], fills):
            for name in fills[body[i].value.func.id]:  # type: ignore[attr-defined]
                binders.setdefault(name, []).append(i)
        if kind in (NEVER, WHEN_NEEDED, HARMLESS) and origins:
            module = _sets_up_module(body[i], origins)
            if module == "sys" and _changes_interpreter_limits(body[i]):
                kept.add(i)  # (the recursion limit: every call may need it)
            elif module is not None:
                for name in from_module.get(module, ()):
                    binders.setdefault(name, []).append(i)
    # What is kept reads names: the statements that bind them are kept too, and so on.
    demanded: set[str] = set()
    if needs is None:
        pending = [name for i in kept for name in read_by(i)]
    else:
        # The call's names, and what the definitions read as the module runs; a function
        # or class the call needs brings what its code reads (its body may run).
        pending = list(needs) + [name for i in kept for name in module_reads(body[i], when_run=True)]
    while pending:
        name = pending.pop()
        if name in demanded:
            continue
        demanded.add(name)
        for i in binders.get(name, ()):
            if i not in kept:
                kept.add(i)
                pending.extend(read_by(i))
        for i in defines.get(name, ()):
            pending.extend(read_by(i))
    # Harmless statements nothing needs are kept as they always were (a constant an assert
    # compares with, `EXPECTED = 6`). But no statement but a definition is kept that reads,
    # as it runs, what only a skipped statement binds (`S = R` after `R = main()`, `X =
    # f(i)` after `for i in ...`): it would stop the module with a NameError, and every
    # call of the file with it, not only the calls that need it.
    ran = kept | {i for i, kind in enumerate(kinds) if kind == HARMLESS}
    runtime_reads: dict[int, set[str]] = {}
    while True:
        available = set().union(*(binds[i] for i in ran))
        missing = set().union(*(binds[i] for i in range(len(body)) if i not in ran)) - available - _BUILTINS
        if not missing:
            break
        dropped = set()
        for i in ran:
            if kinds[i] != ALWAYS:
                if i not in runtime_reads:
                    runtime_reads[i] = module_reads(body[i], when_run=True)
                if runtime_reads[i] & missing:
                    dropped.add(i)
        if not dropped:
            break
        ran -= dropped
    found = frozenset(id(body[i]) for i in ran)
    cache[needs] = found
    return found


def _binds(node: ast.stmt) -> set[str]:
    """The module-level names a top-level statement binds (scope_bindings, quicker for a
    definition, whose body it need not walk)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    return scope_bindings([node])[0]


def _changes(node: ast.stmt) -> set[str]:
    """The names whose value an assignment changes in place: `CONFIG["path"] = ...`,
    `Point.__doc__ = ...`, `TABLE[0] += 1` change CONFIG, Point, TABLE."""
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    found = set()
    for target in targets:
        for part in ast.walk(target) if isinstance(target, (ast.Tuple, ast.List)) else [target]:
            while isinstance(part, (ast.Attribute, ast.Subscript)):
                part = part.value
                if isinstance(part, ast.Name):
                    found.add(part.id)
    return found


# Calls that make an empty (or filled) container a script may go on to fill.
_CONTAINER_CALLS = frozenset({"dict", "list", "set", "bytearray", "defaultdict", "OrderedDict", "Counter", "deque",
                              "ChainMap"})
_CONTAINER_DISPLAYS = (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)


def _containers_made(node: ast.stmt) -> set[str]:
    """The names an assignment binds to a new container: `CACHE = {}`, `WORDS = set()`,
    `BY_KEY = collections.defaultdict(list)`."""
    if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
        return set()
    value = node.value
    if isinstance(value, ast.Call):
        func = value.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if name not in _CONTAINER_CALLS:
            return set()
    elif not isinstance(value, _CONTAINER_DISPLAYS):
        return set()
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return {t.id for t in targets if isinstance(t, ast.Name)}


def _may_fill(node: ast.stmt) -> bool:
    """Whether a statement the script runs may be kept to fill a container: a call
    statement, or a `for`, `with`, `if` (not the `__main__` block) or `try` block. Not a
    `while` (it may wait for input), an assert, or a bare call (`main()`), which fills
    nothing by its own text."""
    if isinstance(node, ast.Expr):
        return isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute)
    if isinstance(node, ast.If):
        return not any(isinstance(n, ast.Name) and n.id == "__name__" for n in ast.walk(node.test))
    return isinstance(node, (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith, *_TRIES))


# Methods that change the object they are called on (state_rules.keeps_state, changed_in_place).
MUTATORS = frozenset(("append", "extend", "insert", "update", "add", "pop", "popitem", "clear", "setdefault",
                      "remove", "discard", "sort", "reverse", "appendleft", "popleft", "write", "extendleft",
                      "rotate", "move_to_end", "difference_update", "intersection_update",
                      "symmetric_difference_update", "subtract", "__setitem__", "__delitem__", "__iadd__"))
# Builtins that set or delete an attribute of the object passed first (`setattr(Config, "debug", True)`).
_ATTRIBUTE_SETTERS = frozenset(("setattr", "delattr"))


def changed_roots(node: ast.AST, any_method: bool = False) -> list[str]:
    """The names whose object `node` itself changes: the roots of the attributes or items
    it assigns or deletes (`TABLE[i] = ...`, `obj.n += 1`, `del D[k]`), of the object
    whose method it calls, a mutator (`ITEMS.append(x)`) or, with `any_method`, any, and
    of the object whose attribute `setattr`/`delattr` sets (`setattr(Config, "debug", True)`),
    and of the object whose mutator it names without calling it (`map(ITEMS.append, xs)`: it
    is called elsewhere)."""
    targets = (node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
               if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
    roots = [root_name(t) for t in targets if isinstance(t, (ast.Attribute, ast.Subscript))]
    if isinstance(node, ast.Attribute) and node.attr in MUTATORS and isinstance(node.ctx, ast.Load):
        roots.append(root_name(node.value))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (any_method or node.func.attr in MUTATORS):
        roots.append(root_name(node.func.value))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _ATTRIBUTE_SETTERS \
            and node.args:
        roots.append(root_name(node.args[0]))
    return [root for root in roots if root]


def changed_in_place(node: ast.stmt, any_method: bool = False) -> set[str]:
    """The names whose object a statement changes by its own text (changed_roots of its
    parts), outside the functions and classes it defines: a container it fills
    (`WORDS.add(w)`, `BY_KEY[k].append(v)`, `TABLE[i] = ...`), an object it changes
    (`setattr(Config, "debug", True)`)."""
    found: set[str] = set()
    pending: list[ast.AST] = [node]
    while pending:
        part = pending.pop()
        if isinstance(part, (*_FUNCTIONS, ast.ClassDef)):
            continue
        found.update(changed_roots(part, any_method))
        pending.extend(ast.iter_child_nodes(part))
    return found


def root_name(node: ast.AST) -> str | None:
    """The name an attribute, item or call chain starts from: `CACHE` of `CACHE[k].append`,
    `np` of `np.random.seed`; None where it starts from something else."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


# What a statement calls on an imported module (or on what one of its functions returns) to
# set up its state, as opposed to running something: `random.seed(7)`, `np.random.seed(0)`,
# `os.environ.setdefault(...)`, `logging.basicConfig(...)`, `warnings.filterwarnings(...)`.
_SET_UP_CALLS = frozenset({
    "seed", "manual_seed", "setrecursionlimit", "set_int_max_str_digits", "setdefault", "update", "putenv",
    "setlocale", "basicConfig", "filterwarnings", "simplefilter", "set_printoptions", "setLevel", "addHandler",
    "register", "use", "setcontext", "set_start_method", "setswitchinterval"})


def _module_origins(body: list[ast.stmt]) -> dict[str, str]:
    """The names top-level imports bind, each with the top-level module it comes from
    (`from decimal import getcontext`: getcontext -> decimal; `import numpy as np`: np ->
    numpy)."""
    origins: dict[str, str] = {}
    for node in body:
        for part in ast.walk(node) if isinstance(node, (ast.If, *_TRIES)) else [node]:
            if isinstance(part, ast.Import):
                for alias in part.names:
                    origins[alias.asname or alias.name.split(".")[0]] = alias.name.split(".")[0]
            elif isinstance(part, ast.ImportFrom) and part.module and not part.level:
                for alias in part.names:
                    origins[alias.asname or alias.name] = part.module.split(".")[0]
    return origins


def _root(node: ast.AST) -> ast.AST:
    """The start of an attribute, item or call chain: `np` of `np.random.seed`, the call
    `getcontext()` of `getcontext().prec`."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node


def _sets_up_module(node: ast.stmt, origins: dict[str, str]) -> str | None:
    """The module whose state a statement sets up: a set-up call on it (`random.seed(7)`,
    `os.environ.setdefault("A", "1")`), or an assignment into it or into what one of its
    functions returns (`getcontext().prec = 3`, `np.random.seed`); None otherwise."""
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        func = node.value.func
        if not isinstance(func, ast.Attribute) or func.attr not in _SET_UP_CALLS:
            return None
        root = _root(func.value)
    elif isinstance(node, (ast.Assign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if len(targets) != 1 or not isinstance(targets[0], (ast.Attribute, ast.Subscript)):
            return None
        root = _root(targets[0])
    else:
        return None
    if isinstance(root, ast.Call) and not root.args and not root.keywords:
        root = _root(root.func)  # `getcontext()`, `decimal.getcontext()`
    return origins.get(root.id) if isinstance(root, ast.Name) else None


def _changes_interpreter_limits(node: ast.stmt) -> bool:
    """`sys.setrecursionlimit(...)`, `sys.set_int_max_str_digits(...)`."""
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute)
            and node.value.func.attr in ("setrecursionlimit", "set_int_max_str_digits"))


def _functions_filling(body: list[ast.stmt], containers: set[str]) -> dict[str, set[str]]:
    """The file's functions that fill one of the module's containers by their own text
    (`def register(name, codec): CODECS[name] = codec`), each with those containers."""
    found: dict[str, set[str]] = {}
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            own, declared_global = bound_locally(node)
            filled = set().union(*(changed_in_place(statement, any_method=True) for statement in node.body)) & containers
            filled -= own - declared_global
            if filled:
                found[node.name] = filled
    return found


def _calls_own_function(node: ast.stmt, fills: dict[str, set[str]]) -> bool:
    """Whether a statement is a call of one of the file's functions that fill a container
    (`register("upper", str.upper)`)."""
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name) and node.value.func.id in fills)


def _imports(node: ast.stmt) -> bool:
    """Whether a top-level statement imports (itself, or in a block of definitions)."""
    return any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(node))


def _changes_import_state(node: ast.stmt) -> bool:
    """Whether a statement the script runs changes where later imports look:
    `sys.path.insert(0, ...)`, `sys.path.append(...)`, `sys.modules["x"] = ...`."""
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        target = node.value.func.value if isinstance(node.value.func, ast.Attribute) else None
    elif isinstance(node, (ast.Assign, ast.AugAssign)):
        target = node.targets[0] if isinstance(node, ast.Assign) else node.target
        while isinstance(target, ast.Subscript):
            target = target.value
    else:
        return False
    return (isinstance(target, ast.Attribute) and target.attr in ("path", "meta_path", "modules")
            and isinstance(target.value, ast.Name) and target.value.id == "sys")


def statement_kind(node: ast.stmt) -> str:
    """How definitions_only keeps a top-level statement (ALWAYS, HARMLESS, WHEN_NEEDED,
    NEVER): see kept_statements."""
    if isinstance(node, _ALWAYS):
        return ALWAYS
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return ALWAYS  # the module docstring
    if isinstance(node, _ASSIGNMENTS) or (isinstance(node, (ast.If, *_TRIES)) and _definitions_block(node)):
        return WHEN_NEEDED if _calls(node) else HARMLESS
    return NEVER


def _definitions_block(node: ast.stmt, handler: bool = False) -> bool:
    """Whether `node` is a statement of a block of definitions: an import, a definition, an
    assignment, or an `if` (not on `__name__`) or `try` made of them; an `except` handler
    may also warn or print (`except ImportError: print("no yaml")`) and raise."""
    if isinstance(node, (*_ALWAYS, *_ASSIGNMENTS, ast.Raise)):
        return True
    if isinstance(node, ast.Expr):
        return isinstance(node.value, ast.Constant) or (handler and isinstance(node.value, ast.Call))
    if isinstance(node, ast.If):
        if any(isinstance(n, ast.Name) and n.id == "__name__" for n in ast.walk(node.test)):
            return False  # the `__main__` block
        return all(_definitions_block(n) for n in node.body + node.orelse)
    if isinstance(node, _TRIES):
        return (all(_definitions_block(n) for n in node.body + node.orelse + node.finalbody)
                and all(_definitions_block(n, handler=True) for h in node.handlers for n in h.body))
    return False


def _calls(node: ast.AST) -> bool:
    """Whether running `node` calls anything (or awaits): not in the bodies of the
    functions and lambdas it defines, which run only when they are called."""
    if isinstance(node, (ast.Call, ast.Await)):
        return True
    if isinstance(node, _FUNCTIONS):
        args = node.args
        outer = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
        if not isinstance(node, ast.Lambda):
            outer += node.decorator_list
        return any(_calls(n) for n in outer)
    return any(_calls(child) for child in ast.iter_child_nodes(node))


def module_reads(node: ast.AST, when_run: bool = False) -> set[str]:
    """The module-level names a top-level statement reads, when it runs or when what it
    defines runs (its functions' and methods' bodies, decorators, defaults, class bodies;
    `when_run`: not the bodies of its functions and lambdas): the names no enclosing
    function binds itself (`bound_locally`), comprehension targets aside. `COUNT += 1`
    reads COUNT."""
    out: set[str] = set()
    _reads(node, frozenset(), out, None, when_run)
    return out


def _reads(node: ast.AST, bound: frozenset[str], out: set[str], class_scope: frozenset[str] | None = None,
           when_run: bool = False) -> None:
    if isinstance(node, _FUNCTIONS):
        # Decorators, defaults and annotations run in the enclosing scope; the body in its own.
        outer_scope = bound if class_scope is None else class_scope
        args = node.args
        outer: list[ast.AST] = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
        if not isinstance(node, ast.Lambda):
            outer += [*node.decorator_list, *([node.returns] if node.returns else [])]
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
            outer += [a.annotation for a in every if a is not None and a.annotation is not None]
        for child in outer:
            _reads(child, outer_scope, out, when_run=when_run)
        if when_run:
            return  # (its body runs when it is called)
        own, declared_global = bound_locally(node)
        inner = frozenset((bound | own) - declared_global)
        for child in node.body if isinstance(node.body, list) else [node.body]:
            _reads(child, inner, out, when_run=when_run)
        return
    if isinstance(node, ast.ClassDef):
        outer_scope = bound if class_scope is None else class_scope
        for child in [*node.decorator_list, *node.bases, *node.keywords]:
            _reads(child, outer_scope, out, when_run=when_run)
        own, declared_global = scope_bindings(node.body)
        members = frozenset((bound | own) - declared_global)
        for child in node.body:  # its statements see the class's names; its methods' bodies do not
            _reads(child, frozenset(bound - declared_global), out, members, when_run)
        return
    if class_scope is not None:
        bound = class_scope
    if isinstance(node, _COMPREHENSIONS):
        inner = bound
        for index, generator in enumerate(node.generators):
            _reads(generator.iter, bound if index == 0 else inner, out, when_run=when_run)
            inner = inner | {n.id for n in ast.walk(generator.target) if isinstance(n, ast.Name)}
            for condition in generator.ifs:
                _reads(condition, inner, out, when_run=when_run)
        for result in ([node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]):
            _reads(result, inner, out, when_run=when_run)
        return
    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and node.target.id not in bound:
        out.add(node.target.id)  # `COUNT += 1` reads COUNT first
    elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in bound:
        out.add(node.id)
    for child in ast.iter_child_nodes(node):
        _reads(child, bound, out, when_run=when_run)


# The line breaks Python counts (str.splitlines also breaks at a form feed and others).
_LINE_BREAKS = re.compile(r"(\r\n|\r|\n)")


def definitions_only(text: str, tree: ast.Module, needs: frozenset[str] | None = None) -> str:
    """The module with the top-level statements a replayed call (that reads `needs`: see
    kept_statements) does not run blanked, line numbers and line breaks kept."""
    kept = kept_statements(tree, needs)
    parts = _LINE_BREAKS.split(text)  # line, break, line, break, ..., line
    for node in tree.body:
        if id(node) not in kept:
            _blank_statement(parts, node)
    return "".join(parts)


def _blank_statement(parts: list[str], node: ast.stmt) -> None:
    """Blank one top-level statement in `parts` (lines and line breaks, alternating), and
    only it: a statement sharing a line with it (`import json; print("starting")`) stays.
    Where code follows it on its last line (`print("x"); import json`), a `pass` stands in
    its place there, so that what follows still starts a statement."""
    first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
    if 2 * last >= len(parts):
        return
    _replace_statement(parts, node, [""] * (last - first) + [_stand_in(parts, node)])


def _as_condition(parts: list[str], node: ast.Assert) -> None:
    """One top-level assert in `parts` as an expression statement of its condition, in
    parentheses, on the lines it had: `assert ident(LIMIT) == 0, "why"` runs as
    `(ident(LIMIT) == 0)`. Python evaluates an assert's message only when it fails, and a
    failing assert would end the run: the message is left out, and the value dropped. A
    statement sharing its lines stays, as in _blank_statement."""
    first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
    test = node.test
    test_first, test_last = test.lineno - 1, (test.end_lineno or test.lineno) - 1
    if 2 * last >= len(parts):
        return
    condition = [parts[2 * i] for i in range(test_first, test_last + 1)]
    condition[-1] = condition[-1][:_column(condition[-1], test.end_col_offset)]
    condition[0] = "(" + condition[0][_column(condition[0], test.col_offset):]
    condition[-1] += ")"
    lines = [""] * (test_first - first) + condition + [""] * (last - test_last)
    if last > test_last:
        lines[-1] = _stand_in(parts, node)
    _replace_statement(parts, node, lines)


def _stand_in(parts: list[str], node: ast.stmt) -> str:
    """`pass` where code follows `node` on its last line, to start that line's statement."""
    last = (node.end_lineno or node.lineno) - 1
    rest = parts[2 * last][_column(parts[2 * last], node.end_col_offset):]
    return "pass" if rest.strip() and not rest.lstrip().startswith("#") else ""


def _replace_statement(parts: list[str], node: ast.stmt, lines: list[str]) -> None:
    """Put `lines` (one per line of `node`) in place of a top-level statement: the first
    after what precedes it on its first line, the last before what follows it on its last."""
    first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
    start = _column(parts[2 * first], node.col_offset)
    rest = parts[2 * last][_column(parts[2 * last], node.end_col_offset):]
    if first == last:
        parts[2 * first] = parts[2 * first][:start] + lines[0] + rest
        return
    parts[2 * first] = parts[2 * first][:start] + lines[0]
    for offset in range(1, last - first):
        parts[2 * (first + offset)] = lines[offset]
    parts[2 * last] = lines[-1] + rest if lines[-1] else ""


def _column(line: str, offset: int | None) -> int:
    """The index in `line` of an ast column offset (which counts UTF-8 bytes)."""
    if offset is None:
        return len(line)
    if line.isascii():
        return offset
    return len(line.encode("utf-8")[:offset].decode("utf-8", "replace"))


def without_top_level_asserts(text: str, tree: ast.Module, conditions: tuple[ast.Assert, ...] = ()) -> str:
    """The module with its top-level asserts blanked (line numbers kept): a failing assert
    must not stop the `__main__` block from running when calls are recorded (the asserts
    are checked one by one, as diagnostics). Those in `conditions` run as expressions of
    their conditions instead (_as_condition)."""
    parts = _LINE_BREAKS.split(text)
    for node in tree.body:
        if isinstance(node, ast.Assert):
            (_as_condition if any(node is c for c in conditions) else _blank_statement)(parts, node)
    return "".join(parts)


def to_document_lines(trace: dict) -> dict:
    """A copy of a tracer dict with every line number made 0-based."""
    out = copy.deepcopy(trace)
    if isinstance(out.get("caller_line"), int):  # watch_call's
        out["caller_line"] -= 1
    for ev in out.get("events") or []:
        if isinstance(ev.get("line"), int):
            ev["line"] -= 1
    exc = out.get("exception")
    if isinstance(exc, dict):
        if isinstance(exc.get("line"), int):
            exc["line"] -= 1
        for frame in exc.get("traceback") or []:
            if isinstance(frame.get("line"), int):
                frame["line"] -= 1
    out["lineBase"] = 0
    return out


@dataclass
class Recording:
    """What running a file recorded of one function's calls."""

    calls: list[tuple[str, bool, int | None]]  # (call text, every argument a literal, 0-based caller line)
    stopped: str | None = None  # why the run ended early (a limit, an exception), in the tracer's words
    # False when the run ended (another function had its calls) before it could have made more
    complete: bool = True


# Calls of a function kept from running its file (its first ones).
_RECORDED_CALLS = 5


def _describe(tracer: Any) -> None:
    """Say in the log (an editor's output panel) what isolation a new tracer's runs have: a
    warning where Linux namespaces, or the PID namespace alone, are unavailable (a known gap
    of docs/sandbox.md then applies). Asking starts its first zygote, as its first run would."""
    from semcoder_inference.tracer import describe_isolation

    info = tracer.isolation_info
    complete = info.get("namespaces") and info.get("pid_namespace")
    log.log(logging.INFO if complete else logging.WARNING, "sandbox: %s", describe_isolation(info))


class Executor:
    def __init__(self, workspace_root: Callable[[], str | None] = lambda: None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="semcoder-exec")
        # The sandbox for the current settings: (their key, its Tracer). One at a time: the
        # server has one set of settings, and a sandbox for old ones would only hold memory.
        self._sandbox: tuple[tuple, Any] | None = None
        self._workspace_root = workspace_root
        self._warm_for: ExecutionSettings | None = None  # the settings last given to warm()

    def _tracer(self, settings: ExecutionSettings) -> Any:
        from semcoder_inference.tracer import Limits, Tracer, find_python

        # The user's own interpreter, so their imports resolve: the configured one, else the
        # workspace's virtual environment, else the server's Python.
        root = self._workspace_root()
        python = find_python(root, settings.python or None)
        key = (python, root, settings.timeoutSeconds, settings.memoryMB, settings.preload)
        if self._sandbox is not None and self._sandbox[0] == key:
            tracer = self._sandbox[1]
        else:
            self._drop_sandbox()  # made for settings that changed
            limits = Limits(
                timeout_s=settings.timeoutSeconds,
                cpu_s=settings.timeoutSeconds,
                memory_mb=settings.memoryMB,
            )
            tracer = Tracer(python=python, limits=limits, workspace_root=root, preload=settings.preload)
            self._sandbox = (key, tracer)
            _describe(tracer)
        return tracer

    def _drop_sandbox(self) -> None:
        """Close the sandbox, on the execution thread (so no run is using it): one made for
        old settings, or one that failed, would only hold its processes."""
        stale, self._sandbox = self._sandbox, None
        if stale is not None:
            try:
                stale[1].close()
            except Exception:
                log.exception("closing a sandbox failed")

    def warm(self, settings: ExecutionSettings) -> None:
        """Start the sandbox for `settings` in the background, so that the first trace does
        not wait for its interpreter to start (a few hundred milliseconds, seconds with
        modules to preload). Nothing while execution is off: starting the workspace's
        interpreter runs the workspace's code."""
        self._warm_for = settings
        if not settings.enabled:
            return

        def start() -> None:
            if self._warm_for is not settings:  # changed again meanwhile: start only the last
                return
            try:
                self._tracer(settings)
            except Exception as exc:  # the first run will say why, in the editor
                log.info("the sandbox could not start ahead of the first run: %s", exc)

        try:
            self._pool.submit(start)
        except RuntimeError:  # closed: the server is shutting down
            pass

    async def trace_call(self, settings: ExecutionSettings, source: str, call: str, filename: str,
                         expect: str | None = None, check: str | None = None) -> dict:
        """The real trace of `call` (0-based lines). Never raises for the code's own failures:
        those are in the dict's status; a broken sandbox gives status "crashed". With
        `expect` (an assert's expected value, an expression), `assertion` says whether
        `call == expect` in the sandbox, as the assert would decide; with `check` (a function
        of the call's value: an assert's condition around the call), whether it is true
        (docs/trace-schema.md)."""
        return await self._traced(settings, call, lambda tracer: tracer.trace_call(
            source, call, filename=filename, expect=expect, check=check))

    async def watch_call(self, settings: ExecutionSettings, source: str, target: str, filename: str,
                         entry: str | None = None, target_line: int | None = None,
                         from_line: int | None = None) -> dict:
        """The real trace of the first call of `target` made while the module's __main__
        block (or, with `entry`, the module then `entry`) runs, traced where it happens
        (0-based lines, `caller_line` included). Never raises, as trace_call."""
        return await self._traced(settings, target, lambda tracer: tracer.watch_call(
            source, target=target, filename=filename, entry=entry, target_line=target_line, from_line=from_line))

    async def _traced(self, settings: ExecutionSettings, what: str, run_with: Callable[[Any], dict]) -> dict:
        """`run_with(tracer)` on the execution thread, its trace in 0-based lines; a sandbox
        that failed is reported in the dict (and replaced on the next run), never raised."""

        def run() -> dict:
            started = time.perf_counter()
            try:
                raw = run_with(self._tracer(settings))
                log.info("traced %s: %s in %.2f s", what, raw.get("status"), time.perf_counter() - started)
            except SemcoderError as exc:
                from semcoder_inference.tracer import TracerError

                if isinstance(exc, TracerError):  # the sandbox process itself failed
                    self._drop_sandbox()
                    return _failed("crashed", f"The sandbox crashed: {exc}", what)
                return _failed("invalid", str(exc), what)
            except Exception as exc:  # the sandbox itself broke: report it, keep serving
                log.exception("tracer failed")
                self._drop_sandbox()
                return _failed("crashed", f"The sandbox failed: {type(exc).__name__}: {exc}", what)
            return to_document_lines(raw)

        return await asyncio.get_running_loop().run_in_executor(self._pool, run)

    async def record_calls(self, settings: ExecutionSettings, source: str, target: str, filename: str,
                           entry: str | None = None, target_line: int | None = None,
                           also: list[tuple[str, int | None]] = ()) -> dict[str, Recording] | None:
        """Calls of `target`, and on the way of the functions in `also` ([(name, first
        line)]), seen when the module's __main__ block runs, or, with `entry`, when the
        module is imported and `entry` runs: name -> Recording, `target` always among them.
        The run ends when `target` has its calls: another function's Recording is then
        `complete` only when it has as many. None when the sandbox itself failed, so the
        caller can try again later; a run that stopped at a limit or raised gives the calls
        made before, with the reason."""

        def run() -> dict[str, Recording] | None:
            try:
                tracer = self._tracer(settings)
                # Only the file's own functions: a function elsewhere of the same name (the
                # standard library's `normalize`, which argparse reaches) is not `target`.
                calls = tracer.record_calls(source, target=target, max_calls=_RECORDED_CALLS, filename=filename,
                                            entry=entry, target_filename=filename, target_line=target_line,
                                            also=also)
                result = getattr(tracer, "last_record_result", None) or {}
            except Exception as exc:
                log.warning("recording calls of %s failed: %s", target, exc)
                return None
            if result.get("status") == "crashed":
                log.warning("recording calls of %s: %s", target, result.get("message"))
                return None
            # A script that exits with an error code (argparse without its arguments) ends
            # "ok", with `exited` saying how.
            stopped = str(result.get("message") or result.get("status"))
            if result.get("status") == "ok":
                stopped = f"it exited with {result['exited']}" if result.get("exited") else None
            seen: dict[str, list[tuple[str, bool, int | None]]] = {name: [] for name, _ in [(target, None), *also]}
            for c in calls or []:
                if isinstance(c, dict) and isinstance(c.get("call"), str) and c.get("target") in seen:
                    seen[c["target"]].append((c["call"], bool(c.get("literal")),
                                              c["caller_line"] - 1 if isinstance(c.get("caller_line"), int) else None))
            # The run went on to its end (or limit) unless `target` got all its calls first.
            ran_out = len(seen[target]) < _RECORDED_CALLS
            return {name: Recording(found, stopped, complete=ran_out or len(found) >= _RECORDED_CALLS)
                    for name, found in seen.items()}

        return await asyncio.get_running_loop().run_in_executor(self._pool, run)

    def close(self) -> None:
        """Stop without waiting: a run in progress must not hold up the server's exit."""
        stale, self._sandbox = self._sandbox, None
        self._pool.shutdown(wait=False, cancel_futures=True)
        if stale is None:
            return

        def close_all() -> None:
            try:
                stale[1].close()
            except Exception:
                pass

        import threading

        threading.Thread(target=close_all, name="semcoder-tracer-close", daemon=True).start()


def _failed(status: str, message: str, call: str) -> dict:
    return {
        "status": status, "message": message, "call": call, "events": [], "return": None,
        "exception": None, "stdout": "", "stderr": "", "truncated": {}, "lineBase": 0,
    }
