"""Dependency slicing: the code a function needs, cut out of its module and its workspace.

SemCoder predicts a run from the text in its prompt, so the prompt should hold the function
and what it calls or reads (helper functions, classes, module constants, imports), and nothing
else. `slice_function` collects those transitively from the same file and, where an import
names a module inside the workspace (`from pkg.mod import helper`, or a relative import),
from that module too. With a token budget, the nearest dependencies are kept first.

A module-level statement is one part, shown once and in file order, however many of the names
it binds are used (`A, B = 1, 2`). Names follow Python's scopes: a function's own names
(parameters, assignments, imports, nested definitions) shadow the module's, except those it
declares `global`; `nonlocal` names are the enclosing function's; class-body names are not seen
by method bodies. A name bound only inside a module-level `if` or `try` (a platform switch, an
optional import) brings the whole statement; a name bound nowhere in the module brings its
star imports (or, for a star import of a workspace module, the definition there).

The snippet comes with a line map (snippet line -> (file path, file line)) so that lines the
model names in its monologue can be shown on the real lines of the real files.
"""

from __future__ import annotations

import ast
import builtins
import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import SemcoderError

SOURCE_PATH = "<source>"  # the path used when the caller gives none


class FunctionNotFoundError(SemcoderError):
    """The requested function or method is not defined at the top level of the module."""


class SourceSyntaxError(SemcoderError):
    """The module does not parse, so its functions cannot be cut out."""


@dataclass(frozen=True)
class SlicePart:
    """One piece of the snippet: the target, a helper, a class, a constant or an import."""

    name: str
    kind: str  # "target" | "function" | "class" | "constant" | "import"
    path: str
    depth: int  # 0 for the target, 1 for what it references directly, ...
    lines: tuple[tuple[int, str], ...]  # (1-based file line or 0 for an added blank, text)
    parent: str | None = None  # the part that referenced it (key), None for the target

    @property
    def key(self) -> str:
        return f"{self.path}::{self.kind}::{self.name}"


@dataclass(frozen=True)
class CodeSlice:
    """The snippet for one function, and where each of its lines came from."""

    text: str
    line_map: dict[int, tuple[str, int]]  # 1-based snippet line -> (file path, 1-based file line)
    function: str
    path: str
    parts: tuple[SlicePart, ...] = ()
    dropped: tuple[str, ...] = ()  # dependencies left out to fit the budget (names)
    tokens: int | None = None  # count_tokens(text) when a counter was given

    def file_line(self, snippet_line: int) -> tuple[str, int] | None:
        return self.line_map.get(snippet_line)

    def lines_in(self, path: str, snippet_lines: list[int]) -> list[int]:
        """The file lines of `path` that the given snippet lines come from."""
        out: list[int] = []
        for snippet_line in snippet_lines:
            where = self.line_map.get(snippet_line)
            if where and where[0] == path and where[1] not in out:
                out.append(where[1])
        return out


# ---------------------------------------------------------------------------------------------
# One module, indexed


class _Module:
    def __init__(self, source: str, path: str) -> None:
        self.path = path
        self.source = source
        self.lines = source.replace("\r\n", "\n").split("\n")
        self.syntax_error: SourceSyntaxError | None = None
        try:
            self.tree = ast.parse(source)
        except SyntaxError as exc:
            where = os.path.basename(path) if path != SOURCE_PATH else "The module"
            self.syntax_error = SourceSyntaxError(
                f"{where} has a syntax error at line {exc.lineno}: {exc.msg}. "
                "A prediction needs the function and what it uses to parse; fix the error and try again."
            )
            # A file being edited is often broken somewhere else: keep the top-level blocks
            # that still parse, so the functions there can still be predicted.
            self.tree = _salvage(self.lines)
        self.definitions: dict[str, ast.stmt] = {}
        self.imports: dict[str, tuple[ast.Import | ast.ImportFrom, ast.alias]] = {}
        # Names bound only inside a module-level `if` or `try` (an optional import, a
        # platform switch): the whole statement, each one that binds the name, in file order.
        self.blocks: dict[str, list[ast.stmt]] = {}
        self.star_imports: list[ast.ImportFrom] = []
        for node in self.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.definitions[node.name] = node
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for name in ast.walk(target):
                        if isinstance(name, ast.Name):
                            self.definitions[name.id] = node
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    if alias.name == "*":
                        self.star_imports.append(node)  # type: ignore[arg-type]
                        continue
                    bound = alias.asname or alias.name.split(".")[0]
                    self.imports[bound] = (node, alias)
            elif isinstance(node, _BLOCKS):
                for name in sorted(scope_bindings([node])[0]):
                    self.blocks.setdefault(name, []).append(node)
        for name in list(self.blocks):
            if name in self.definitions or name in self.imports:
                del self.blocks[name]  # bound plainly too: the plain binding is the one used
        # Every name a module-level statement binds, however (a `for` target, a `with` name...).
        self.bound = scope_bindings(self.tree.body)[0]

    def text_lines(self, first: int, last: int) -> list[tuple[int, str]]:
        return [(number, self.lines[number - 1]) for number in range(first, last + 1)]

    def node_lines(self, node: ast.stmt) -> list[tuple[int, str]]:
        decorators = getattr(node, "decorator_list", [])
        first = min([node.lineno] + [d.lineno for d in decorators])
        return self.text_lines(first, node.end_lineno or node.lineno)

    def callables(self) -> list[str]:
        names: list[str] = []
        for node in self.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names.append(node.name)
            elif isinstance(node, ast.ClassDef):
                names.extend(
                    f"{node.name}.{item.name}"
                    for item in node.body
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                )
        return names


_CONTINUES_BLOCK = ("@", ")", "]", "}", "else", "elif", "except", "finally", "#")


def _salvage(lines: list[str]) -> ast.Module:
    """The module's top-level blocks that parse on their own, at their original lines.

    A block starts at each line that begins in column 0 (decorators, closing brackets,
    `else:`/`except:` and comments continue the block before). Blocks that do not parse are
    replaced by blank lines, so every kept node keeps its real line numbers.
    """
    starts = [
        number
        for number, line in enumerate(lines)
        if line[:1] not in ("", " ", "\t") and not line.startswith(_CONTINUES_BLOCK)
        and not (number > 0 and lines[number - 1].startswith("@"))
    ]
    kept = [""] * len(lines)
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(lines)
        block = lines[start:end]
        try:
            ast.parse("\n".join(block))
        except SyntaxError:
            continue
        kept[start:end] = block
    try:
        return ast.parse("\n".join(kept))
    except SyntaxError:  # blocks that parse alone but not together: give up on salvaging
        return ast.parse("")


def _kind(node: ast.stmt) -> str:
    if isinstance(node, ast.ClassDef):
        return "class"
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return "function"
    return "constant"


_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_BLOCKS = (ast.If, ast.Try) + ((ast.TryStar,) if hasattr(ast, "TryStar") else ())
# Names every module has without binding them: a use of one needs no definition (and no star
# import) in the snippet.
_ALWAYS_BOUND = frozenset(dir(builtins)) | {"__file__", "__builtins__", "__annotations__", "__path__"}


def scope_bindings(body: list[ast.AST]) -> tuple[set[str], set[str]]:
    """The names one scope's own statements bind (assignments, loop and `with` targets,
    imports, nested `def`/`class` names, `except ... as`, `del`, match captures, `:=` inside
    comprehensions), and the names it declares `global`.

    Nested functions, lambdas and classes are scopes of their own: what they bind is theirs,
    and comprehension targets are the comprehension's. Names declared `global` or `nonlocal`
    are not the scope's own, whether or not it assigns them.
    """
    bound: set[str] = set()
    declared_global: set[str] = set()
    declared_nonlocal: set[str] = set()

    def visit(node: ast.AST, in_comprehension: bool) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
            return  # decorators, defaults and bases bind nothing worth following
        if isinstance(node, ast.Lambda):
            return
        if isinstance(node, ast.Global):
            declared_global.update(node.names)
        elif isinstance(node, ast.Nonlocal):
            declared_nonlocal.update(node.names)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name != "*":
                    bound.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
            bound.add(node.target.id)  # `:=` binds in the enclosing scope, even in a comprehension
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            if not in_comprehension:
                bound.add(node.id)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            bound.add(node.rest)
        inside = in_comprehension or isinstance(node, _COMPREHENSIONS)
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    for node in body:
        visit(node, False)
    return bound - declared_global - declared_nonlocal, declared_global


def bound_locally(node: ast.AST) -> tuple[set[str], set[str]]:
    """Names a function binds itself (parameters, assignments, loop variables, imports, nested
    definitions): a module-level name spelled the same is shadowed there, not referenced. And
    the names it declares `global`: those are the module's, even if an enclosing function has
    its own."""
    bound: set[str] = set()
    if isinstance(node, _FUNCTIONS):
        args = node.args
        for arg in args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg]:
            if arg is not None:
                bound.add(arg.arg)
    body = node.body if isinstance(node.body, list) else [node.body]  # type: ignore[attr-defined]
    own, declared_global = scope_bindings(body)
    return (bound | own) - declared_global, declared_global


def _comprehension_free_names(node: ast.AST, bound: frozenset[str], out: list[str]) -> None:
    """A comprehension is a scope: its targets are its own; its first iterable is evaluated
    outside it."""
    inner = bound
    for index, generator in enumerate(node.generators):  # type: ignore[attr-defined]
        _free_names(generator.iter, bound if index == 0 else inner, out)
        targets = {n.id for n in ast.walk(generator.target) if isinstance(n, ast.Name)}
        inner = inner | targets
        for condition in generator.ifs:
            _free_names(condition, inner, out)
    results = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]  # type: ignore[attr-defined]
    for result in results:
        _free_names(result, inner, out)


def _free_names(node: ast.AST, bound: frozenset[str], out: list[str], class_scope: frozenset[str] | None = None) -> None:
    """Append the names `node` reads that no enclosing function binds, in first-use order.

    `class_scope` is given for the members of a class body: what the class body binds is seen
    by its own statements and by its methods' decorators and defaults, not by method bodies.
    """
    if isinstance(node, _FUNCTIONS):
        # Decorators, defaults and annotations run in the enclosing scope; the body in its own.
        outer_scope = bound if class_scope is None else class_scope
        args = node.args
        outer: list[ast.AST] = list(args.defaults) + [d for d in args.kw_defaults if d is not None]
        if not isinstance(node, ast.Lambda):
            outer += list(node.decorator_list) + ([node.returns] if node.returns else [])
            every_arg = args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg]
            outer += [a.annotation for a in every_arg if a is not None and a.annotation is not None]
        for child in outer:
            _free_names(child, outer_scope, out)
        own, declared_global = bound_locally(node)
        inner = (bound | own) - declared_global
        for child in node.body if isinstance(node.body, list) else [node.body]:
            _free_names(child, inner, out)
        return
    if isinstance(node, ast.ClassDef):
        outer_scope = bound if class_scope is None else class_scope
        for child in list(node.decorator_list) + list(node.bases) + list(node.keywords):
            _free_names(child, outer_scope, out)
        own, declared_global = scope_bindings(node.body)
        members = (bound | own) - declared_global
        for child in node.body:
            _free_names(child, bound - declared_global, out, class_scope=members)
        return
    if class_scope is not None:  # a statement of a class body (not a method): the class scope
        bound = class_scope
    if isinstance(node, _COMPREHENSIONS):
        _comprehension_free_names(node, bound, out)
        return
    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
        read = node.target.id  # `COUNT += 1` reads COUNT before it writes it
        if read not in bound and read not in out:
            _free_names(node.value, bound, out)
            if read not in out:
                out.append(read)
            return
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        if node.id not in bound and node.id not in out:
            out.append(node.id)
    for child in ast.iter_child_nodes(node):
        _free_names(child, bound, out)


def _references(nodes: list[ast.AST]) -> list[str]:
    """Free names read by `nodes`, in first-use order."""
    seen: list[str] = []
    for node in nodes:
        _free_names(node, frozenset(), seen)
    return seen


def _self_calls(method: ast.AST) -> set[str]:
    """Attribute names used on `self`/`cls` inside a method (which methods it relies on)."""
    return {
        child.attr
        for child in ast.walk(method)
        if isinstance(child, ast.Attribute) and isinstance(child.value, ast.Name) and child.value.id in ("self", "cls")
    }


# ---------------------------------------------------------------------------------------------
# The slicer


class _Slicer:
    def __init__(self, module: _Module, workspace_root: str | None) -> None:
        self.main = module
        self.workspace_root = Path(workspace_root).resolve() if workspace_root else None
        self.modules: dict[str, _Module] = {module.path: module}
        self.parts: dict[str, SlicePart] = {}
        self.order: list[str] = []  # discovery order of part keys
        # The statements already taken: one statement is one part, however many of the names
        # it binds are used (`A, B = 1, 2`).
        self.statements: set[tuple[str, int, int]] = set()

    # --- workspace modules -------------------------------------------------------------------

    def _resolve_module(self, importer: _Module, node: ast.ImportFrom) -> _Module | None:
        parts = (node.module or "").split(".") if node.module else []
        if node.level:
            if importer.path == SOURCE_PATH:
                return None
            base = Path(importer.path).resolve().parent
            for _ in range(node.level - 1):
                base = base.parent
        elif self.workspace_root is not None:
            base = self.workspace_root
        else:
            return None
        target = base.joinpath(*parts) if parts else base
        for candidate in (target.with_suffix(".py") if parts else None, target / "__init__.py"):
            if candidate is None or not candidate.is_file():
                continue
            if self.workspace_root is not None and not node.level:
                try:
                    candidate.resolve().relative_to(self.workspace_root)
                except ValueError:
                    continue
            key = str(candidate.resolve())
            if key not in self.modules:
                try:
                    source = candidate.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    return None  # an unreadable neighbour only costs context, not the prediction
                self.modules[key] = _Module(source, key)
            return self.modules[key]
        return None

    # --- parts ---------------------------------------------------------------------------------

    def _add(self, part: SlicePart) -> bool:
        if part.key in self.parts:
            return False
        self.parts[part.key] = part
        self.order.append(part.key)
        return True

    def target(self, function: str) -> tuple[SlicePart, list[ast.AST]]:
        module = self.main
        names = function.split(".")
        if len(names) == 1:
            node = module.definitions.get(names[0])
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                part = SlicePart(function, "target", module.path, 0, tuple(module.node_lines(node)))
                return part, [node]
        elif len(names) == 2:
            cls = module.definitions.get(names[0])
            if isinstance(cls, ast.ClassDef):
                found = self._method_part(cls, names[1], function)
                if found is not None:
                    return found
        if module.syntax_error is not None:
            raise module.syntax_error  # the function is probably in the part that is broken
        known = ", ".join(module.callables()) or "none"
        where = os.path.basename(module.path) if module.path != SOURCE_PATH else "the module"
        raise FunctionNotFoundError(
            f"There is no function `{function}` at the top level of {where}. "
            f"Functions there: {known}. Name a top-level function, or a method as `Class.method`."
        )

    def _method_part(self, cls: ast.ClassDef, method: str, function: str) -> tuple[SlicePart, list[ast.AST]] | None:
        methods = {
            item.name: item for item in cls.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
        }
        if method not in methods:
            return None
        # The class header, its class-level attributes, __init__, the method, and the methods
        # it calls through self/cls (transitively): enough to run it, not the whole class.
        wanted = {method}
        if "__init__" in methods:
            wanted.add("__init__")
        frontier = list(wanted)
        while frontier:
            for name in _self_calls(methods[frontier.pop()]):
                if name in methods and name not in wanted:
                    wanted.add(name)
                    frontier.append(name)
        module = self.main
        header_first = min([cls.lineno] + [d.lineno for d in cls.decorator_list])
        first_body = cls.body[0]
        body_first = min([first_body.lineno] + [d.lineno for d in getattr(first_body, "decorator_list", [])])
        if body_first <= cls.lineno:  # `class A: ...` all on one line: take it whole
            part = SlicePart(function, "target", module.path, 0, tuple(module.node_lines(cls)))
            return part, [cls]
        lines = module.text_lines(header_first, body_first - 1)
        nodes: list[ast.AST] = []
        nodes_in_body = 0
        for index, item in enumerate(cls.body):
            is_docstring = index == 0 and isinstance(item, ast.Expr) and isinstance(item.value, ast.Constant)
            if is_docstring:
                continue
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if item.name not in wanted:
                    continue
            elif isinstance(item, ast.ClassDef):
                continue
            if nodes_in_body:
                lines.append((0, ""))  # a blank line between members, as in the file
            lines.extend(module.node_lines(item))
            nodes.append(item)
            nodes_in_body += 1
        part = SlicePart(function, "target", module.path, 0, tuple(lines))
        # The kept members read as one class, so that what the class body binds (`b = a + 1`
        # after `a = 1`) is not taken for the module's.
        kept = copy.copy(cls)
        kept.body = nodes  # type: ignore[assignment]
        return part, [kept]

    def collect(self, function: str) -> None:
        target, nodes = self.target(function)
        self._add(target)
        queue: list[tuple[_Module, SlicePart, list[ast.AST]]] = [(self.main, target, nodes)]
        skip = {function.split(".")[0]}
        while queue:
            module, parent, nodes = queue.pop(0)
            for name in _references(nodes):
                if module is self.main and name in skip:
                    continue
                queue.extend(self._resolve_name(module, name, parent))

    def _statement(
        self, module: _Module, node: ast.stmt, name: str, kind: str, parent: SlicePart
    ) -> list[tuple[_Module, SlicePart, list[ast.AST]]]:
        """Add a module-level statement as a part (once, however many of its names are used);
        return it for its own references to be followed, or nothing if it was already in."""
        where = (module.path, node.lineno, node.col_offset)
        if where in self.statements:
            return []
        part = SlicePart(name, kind, module.path, parent.depth + 1, tuple(module.node_lines(node)), parent.key)
        if not self._add(part):
            return []
        self.statements.add(where)
        return [(module, part, [node])]

    def _resolve_name(
        self, module: _Module, name: str, parent: SlicePart
    ) -> list[tuple[_Module, SlicePart, list[ast.AST]]]:
        """Add the parts that bind `name` in `module`; return those whose own references need
        following."""
        node = module.definitions.get(name)
        if node is not None:
            return self._statement(module, node, name, _kind(node), parent)
        if name in module.imports:
            return self._import(module, name, parent)
        if name in module.blocks:
            # Bound only inside module-level `if`/`try` statements: each of them, whole.
            found: list[tuple[_Module, SlicePart, list[ast.AST]]] = []
            for block in module.blocks[name]:
                found.extend(self._statement(module, block, name, "constant", parent))
            return found
        if name in module.bound or name in _ALWAYS_BOUND:
            return []  # a builtin, or a name the module binds some other way (a `for` target)
        # Otherwise unbound: it can only come from a star import.
        return self._star(module, name, parent)

    def _import(
        self, module: _Module, name: str, parent: SlicePart
    ) -> list[tuple[_Module, SlicePart, list[ast.AST]]]:
        node, alias = module.imports[name]
        if isinstance(node, ast.ImportFrom):
            neighbour = self._resolve_module(module, node)
            if neighbour is not None and neighbour is not module and _provides(neighbour, alias.name):
                return self._resolve_name(neighbour, alias.name, parent)
        # Not in the workspace: the snippet needs the import itself.
        if isinstance(node, ast.ImportFrom):
            text = f"from {'.' * node.level}{node.module or ''} import {alias.name}"
        else:
            text = f"import {alias.name}"
        if alias.asname:
            text += f" as {alias.asname}"
        self._import_part(module, node, text, parent)
        return []

    def _star(
        self, module: _Module, name: str, parent: SlicePart
    ) -> list[tuple[_Module, SlicePart, list[ast.AST]]]:
        """`name` from `module`'s star imports: the definition where a star import names a
        workspace module that binds it (following that module's own star imports); else every
        star import of a module outside the workspace that it may come through (which of them
        binds it cannot be told without running them)."""
        reached: list[_Module] = []
        found = self._star_from_workspace(module, name, parent, reached)
        if found is not None:
            return found
        for where in reached:
            for node in where.star_imports:
                if self._resolve_module(where, node) is None:
                    text = f"from {'.' * node.level}{node.module or ''} import *"
                    self._import_part(where, node, text, parent)
        return []

    def _star_from_workspace(
        self, module: _Module, name: str, parent: SlicePart, reached: list[_Module]
    ) -> list[tuple[_Module, SlicePart, list[ast.AST]]] | None:
        """The parts for `name` from the workspace modules `module` star-imports, or None if
        none of them binds it; `reached` collects the modules whose star imports it may come
        through."""
        reached.append(module)
        for node in module.star_imports:
            neighbour = self._resolve_module(module, node)
            if neighbour is None or neighbour in reached:
                continue
            if _provides(neighbour, name):
                return self._resolve_name(neighbour, name, parent)
            if name not in neighbour.bound and neighbour.star_imports:
                found = self._star_from_workspace(neighbour, name, parent, reached)
                if found is not None:
                    return found
        return None

    def _import_part(self, module: _Module, node: ast.stmt, text: str, parent: SlicePart) -> None:
        part = SlicePart(text, "import", module.path, parent.depth + 1, ((node.lineno, text),), parent.key)
        self._add(part)


def _provides(module: _Module, name: str) -> bool:
    """Whether `module` binds `name` in a way the slicer can cut out (not a star import)."""
    return name in module.definitions or name in module.imports or name in module.blocks


def _render(parts: list[SlicePart], main_path: str) -> tuple[str, dict[int, tuple[str, int]]]:
    """Imports first, then code from other workspace files, then this file's code in file
    order (so the snippet reads like the module with the unrelated parts taken out)."""
    imports = [p for p in parts if p.kind == "import"]
    imports.sort(key=lambda p: (p.path != main_path, p.path, p.lines[0][0]))
    code = [p for p in parts if p.kind != "import"]
    code.sort(key=lambda p: (p.path == main_path, p.path, p.lines[0][0]))
    text_lines: list[str] = []
    line_map: dict[int, tuple[str, int]] = {}
    seen_imports: set[str] = set()
    for part in imports:
        if part.name in seen_imports:
            continue
        seen_imports.add(part.name)
        text_lines.append(part.name)
        line_map[len(text_lines)] = (part.path, part.lines[0][0])
    for part in code:
        if text_lines:
            text_lines.append("")
        for file_line, text in part.lines:
            text_lines.append(text)
            if file_line > 0:  # 0 marks a separator line the slicer added
                line_map[len(text_lines)] = (part.path, file_line)
    return "\n".join(text_lines), line_map


def slice_function(
    source: str,
    function: str,
    *,
    path: str | None = None,
    workspace_root: str | None = None,
    count_tokens: Callable[[str], int] | None = None,
    budget: int | None = None,
) -> CodeSlice:
    """Cut `function` (a top-level function, or `Class.method`) and its dependencies out of
    `source`.

    `path` is the module's file (used in the line map and for relative imports);
    `workspace_root` lets absolute imports resolve to workspace modules. With `count_tokens`
    and `budget`, dependencies are added nearest first (direct references before theirs) while
    `count_tokens(snippet) <= budget`; the target itself is always included, so the caller
    checks whether even that fits (`CodeSlice.tokens`).
    """
    main_path = str(Path(path).resolve()) if path else SOURCE_PATH
    slicer = _Slicer(_Module(source, main_path), workspace_root)
    slicer.collect(function)
    candidates = [slicer.parts[key] for key in slicer.order]
    # Nearest first; ties keep discovery order (first use in the code first).
    ranked = sorted(enumerate(candidates), key=lambda item: (item[1].depth, item[0]))
    chosen: list[SlicePart] = []
    chosen_keys: set[str] = set()
    dropped: list[str] = []
    tokens: int | None = None
    for _, part in ranked:
        if part.parent is not None and part.parent not in chosen_keys:
            dropped.append(part.name)  # what only a dropped part needed goes too
            continue
        trial = chosen + [part]
        if count_tokens is not None:
            text, _ = _render(trial, main_path)
            trial_tokens = count_tokens(text)
            if budget is not None and part.depth > 0 and trial_tokens > budget:
                dropped.append(part.name)
                continue
            tokens = trial_tokens
        chosen = trial
        chosen_keys.add(part.key)
    text, line_map = _render(chosen, main_path)
    return CodeSlice(
        text=text,
        line_map=line_map,
        function=function,
        path=main_path,
        parts=tuple(chosen),
        dropped=tuple(dropped),
        tokens=tokens,
    )
