"""What earlier code may have left that a replayed call does not see: which functions keep
state from one call to the next (keeps_state), what a function or a statement changes
(_Scope, _Module), and whether an assert's call may see what earlier statements changed or
wrote to files (_may_see_earlier_state, _bound_after). Such a call is no check: replayed
alone, it could give another value than Python's call gives there.
"""

from __future__ import annotations

import ast
import builtins
import doctest
import functools
import re

from semcoder_inference.context import bound_locally, scope_bindings

from .analysis_types import CLASS_METHOD, STATIC_METHOD, FunctionInfo, ModuleInfo, _method_kind
from .callees import _is_literal
from .execution import (
    MUTATORS,
    changed_in_place,
    changed_roots,
    is_definition,
    module_reads,
    root_name,
)
from .pytest_rules import _DEFINITIONS, _dotted, _is_main_block, _last_name, _Place


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
            # (a dataclass's `items: list = field(default_factory=list)`: each instance's own)
            dataclass = any(_last_name(d.func if isinstance(d, ast.Call) else d) == "dataclass"
                            for d in cls.decorator_list)
            bound = {name for node in cls.body if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None
                     and not (_is_literal(node.value) and not any(isinstance(n, (ast.List, ast.Dict, ast.Set))
                                                                   for n in ast.walk(node.value)))
                     and not (dataclass and isinstance(node, ast.AnnAssign) and isinstance(node.value, ast.Call)
                              and _last_name(node.value.func) == "field")
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


# What code may read that a sandboxed run does not share with the user's shell or pytest's
# process (a run has its own environment variables, home, temporary and working folders,
# command line and hash seed), each with what it is, in words. Those marked as calls count
# only where called (`Path.home()`, `p.resolve()`: a method of the file's own named `home`
# or `resolve` and given arguments is no such read).
_ENVIRONMENT = {
    **dict.fromkeys(("environ", "environb", "getenv", "getenvb", "expandvars", "getuser", "getlogin"),
                    "an environment variable"),
    **dict.fromkeys(("getcwd", "getcwdb", "abspath", "realpath", "relpath"), "the working folder"),
    **dict.fromkeys(("expanduser",), "the home folder"),
    **dict.fromkeys(("gettempdir", "gettempdirb"), "the temporary folder"),
    **dict.fromkeys(("argv", "orig_argv"), "the command line"),
    "hash": "`hash()`, whose value for a string changes from process to process",
    **dict.fromkeys(("getpid", "getppid", "getuid", "geteuid", "gethostname"), "the process or the machine"),
    "urandom": "random bytes",
    "executable": "the interpreter's path",
    **dict.fromkeys(("globals", "modules"), "the module's globals or `sys.modules`"),
}
_ENVIRONMENT_CALLS = {"home": "the home folder", "cwd": "the working folder", "resolve": "the working folder",
                      "absolute": "the working folder"}


def environment_use(nodes, aliases: dict[str, str] | None = None) -> tuple[str, str] | None:
    """The first read in `nodes`' code of what a sandboxed run does not share with the
    user's process (_ENVIRONMENT): (what it is, in words; the code that reads it), or None.
    `aliases`: names bound to such a thing (`from os import getenv as ge`: ge -> getenv).
    A path made from `__file__` (`Path(__file__).resolve()`, `os.path.abspath(__file__)`) is
    the same in any working folder: not counted."""
    aliases = aliases or {}
    for root in nodes:
        for node in ast.walk(root):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and not node.args \
                    and node.func.attr in _ENVIRONMENT_CALLS and not _from_file(node.func.value):
                return _ENVIRONMENT_CALLS[node.func.attr], _shown(node)
            name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
            name = aliases.get(name, name) if isinstance(node, ast.Name) else name
            if name in _ENVIRONMENT and not _file_argument(node, root):
                return _ENVIRONMENT[name], _shown(node)
    return None


def _from_file(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "__file__" for n in ast.walk(node))


def _file_argument(node: ast.AST, root: ast.AST) -> bool:
    """`abspath(__file__)`, `os.path.realpath(os.path.dirname(__file__))`: a path function
    called on a path made from `__file__`."""
    if (node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)) not in (
            "abspath", "realpath", "relpath"):
        return False
    return any(isinstance(call, ast.Call) and call.func is node and call.args and _from_file(call.args[0])
               for call in ast.walk(root))


def _shown(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 40 else text[:39] + "…"


def environment_reason(module: "_Module", reached: set[str], expressions=()) -> str | None:
    """Why a call that reaches `reached` of the file's names (and whose check evaluates
    `expressions` beside it: an expected value, a condition) may give another value in a
    sandboxed run than in pytest's or the user's shell, in words: it reads the environment,
    the home, temporary or working folder, the command line or a hash (_ENVIRONMENT), by the
    code of a function or class it reaches, a module-level statement that binds what it
    reaches (`MODE = os.environ.get(...)`), or the expressions themselves; None if not."""
    cache = module.__dict__.setdefault("_environment", {})
    aliases = cache.get(None)
    if aliases is None:  # (`from os import getenv as env`: env is getenv, wherever it is read)
        aliases = cache[None] = {alias.asname or alias.name: alias.name for statement in module.tree.body
                                 if isinstance(statement, ast.ImportFrom) for alias in statement.names
                                 if alias.name in _ENVIRONMENT or alias.name in _ENVIRONMENT_CALLS}
    found = environment_use(expressions, aliases)
    for name in sorted(reached):
        if found is not None:
            break
        if name not in cache:
            bodies = list(module.functions_named(name))
            binders = module.changers.get(name, ())
            if not any(isinstance(statement, (ast.Import, ast.ImportFrom)) for statement in binders):
                # (a module's name is "changed" by any method called on it, `os.environ.get(...)`:
                # what is read through it is its reader's)
                bodies += [statement for statement in binders if not isinstance(statement, _DEFINITIONS)]
            cache[name] = environment_use(bodies, aliases)
        found = cache[name]
    if found is None:
        return None
    what, code = found
    return (f"it reads {what} (`{code}`), and a sandboxed run has an environment, home, temporary and "
            "working folder of its own, so its value there may not be the one pytest or your shell sees")


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


_BUILTIN_NAMES = frozenset(dir(builtins))


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
