"""Functions a file imports from the workspace's own modules, for its asserts.

A test file usually imports what it tests (`from app import scale`) and asserts on it
(`assert scale(3) == 6`). The replay of such an assert runs the file's imports and the
call, as pytest does; what it cannot see is state: the imported function's module may
keep some (a cache, a registry, a counter), which earlier tests or statements left behind
under pytest and the replay would not have. So an imported function's asserts are judged
only where its own module shows it keeps none: read from disk (what Python imports), the
function (a plain top-level `def`, undecorated) reaches nothing in its module that keeps
state or that any of the module's functions change, nor another module of the workspace
(whose state is not looked into). Which names count, and what the file's earlier
statements may change of that module, is for calls._assert_site.

Only `from M import name [as alias]` and `import M [as alias]` (then `M.name(…)`) at the
file's top level, with M found as Python finds it in a run: a `.py` file (or a package's
`__init__.py`) in the file's folder, then the workspace root.
"""

from __future__ import annotations

import ast
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .cache import files_state
from .callees import _is_literal
from semcoder_inference.sources import SourceUnreadable, decode_python

from .calls import (FunctionInfo, class_state_reason, pure_function_reason, split_lines, top_level_class,
                    top_level_function)
from .state_rules import _changed_names

# A module larger than this is not read (its functions' asserts get no verdict).
_MAX_BYTES = 1 << 20


@dataclass(frozen=True)
class ImportedFunction:
    """A function the file imports from one of the workspace's modules."""

    name: str  # the name the file calls it by (`alias` of `from M import f as alias`; `M.f` of `import M`)
    module: str  # M, as written
    path: str  # M's file
    function: FunctionInfo | None  # its definition (lines of M's file); None if M has no such def
    why_not: str | None  # why its asserts get no verdict, in words; None when they do
    real_name: str = ""  # its name in M (`f`)
    source: str = ""  # M's text, as read (its asserts' calls are traced in it: see Tracing.actual_trace)
    lines: tuple[str, ...] = ()  # M's lines (the hover's table shows them)
    module_names: frozenset[str] = frozenset()  # the names M binds at its top level
    # The names the file binds to M's classes that keep no state (calls.class_state_reason):
    # `Point` of `from M import Point`, `M.Point` of `import M`. Using one (making an instance,
    # calling its methods) before the assert changes nothing of M (calls._changes_imported_module).
    harmless: frozenset[str] = frozenset()

    def call_in_module(self, call: str) -> str:
        """An assert's call as M would write it: `alias(1, 2)` -> `f(1, 2)`."""
        return self.real_name + call[len(self.name):] if call.startswith(self.name) else call


def imports_of(tree: ast.Module) -> list[tuple[str, str, str]]:
    """(module, name, bound name) of each top-level `from M import name [as bound]`
    (absolute), and of each `M.name` the file uses after a top-level `import M` (or `import
    a.b as M`): bound as `M.name`, the way the file calls it."""
    found = []
    modules: dict[str, str] = {}  # the name `import` binds -> the module it binds it to
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.extend((node.module, alias.name, alias.asname or alias.name)
                         for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                # (`import a.b` binds `a`, the package: `a.b.f()` is not followed)
                if alias.asname or "." not in alias.name:
                    modules[alias.asname or alias.name] = alias.name
    if modules:
        used = sorted({(node.value.id, node.attr) for node in ast.walk(tree) if isinstance(node, ast.Attribute)
                       and isinstance(node.value, ast.Name) and node.value.id in modules})
        found.extend((modules[bound], name, f"{bound}.{name}") for bound, name in used)
    return found


def modules_imported(tree: ast.Module, package: str = "") -> set[str]:
    """Every module the file imports, anywhere in it; a relative import resolved from
    `package` (the file's package), and `from pkg import core` counted as `pkg.core` too
    (it may name a module)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".") if package else []
                anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                base = ".".join([*anchor, *([base] if base else [])])
            if base:
                found.add(base)
            found.update(f"{base}.{alias.name}" if base else alias.name for alias in node.names if alias.name != "*")
    return found


def loads_quietly(node: ast.stmt) -> bool:
    """A module-level statement that changes nothing as it loads (a package's `__init__.py`,
    a conftest.py): an import (what it loads is looked at apart), a definition, a docstring,
    `pass`, a name bound to a literal (`__all__ = [...]`, `collect_ignore = ["setup.py"]`),
    an `if TYPE_CHECKING:` block of imports (it never runs)."""
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Pass)):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return True
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if not all(isinstance(t, ast.Name) for t in targets):
            return False
        return _is_literal(node.value)  # (`SIZE = 1024 ** 2` too)
    test = node.test if isinstance(node, ast.If) else None
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"
             or isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING") and not node.orelse
            and all(isinstance(item, (ast.Import, ast.ImportFrom)) for item in node.body))


# How many of the workspace's modules one check walks through, at most (then it stops looking).
_MAX_MODULES_WALKED = 200


def module_file(module: str, folders: list[Path]) -> Path | None:
    """M's file as Python's import finds it: in the first of `folders` that has it, the
    package `a/b/__init__.py` before the module `a/b.py` (a package wins where both are).
    None for a module named as one of the standard library (Python has imported that
    one already, and pytest with it)."""
    if module.partition(".")[0] in _STANDARD:
        return None
    parts = module.split(".")
    for folder in folders:
        base = folder.joinpath(*parts)
        for candidate in (base / "__init__.py", base.with_name(base.name + ".py")):
            if candidate.is_file():
                return candidate
    return None


_STANDARD = frozenset(getattr(sys, "stdlib_module_names", ()))


def search_folders(path: str, roots: list[Path]) -> list[Path]:
    """Where the tests of the file at `path` import from: as pytest puts it first on
    sys.path, the first folder up from the file's that is not a package (no `__init__.py`),
    then the workspace root."""
    folder = Path(path).parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        folder = folder.parent
    folders = [folder]
    if roots and roots[0] not in folders:
        folders.append(roots[0])
    return folders


class ImportReader:
    """Reads the modules the workspace's files import from, each once per change on disk."""

    def __init__(self) -> None:
        self._modules: dict[str, tuple[tuple, ast.Module | None, str, list[str]]] = {}  # path -> (state, tree, text, lines)
        # The files the last `functions` read (its answer holds while none of them changes).
        self.consulted: set[Path] = set()

    def resolve(self, imports: list[tuple[str, str, str]], path: str, roots: list[Path]
                ) -> list[tuple[str, str, str, Path]]:
        """The imports whose module is a file of the workspace, with that file."""
        folders = search_folders(path, roots)
        resolved = []
        for module, name, bound in imports:
            file = module_file(module, folders)
            if file is not None and str(file) != path:
                resolved.append((module, name, bound, file))
        return resolved

    def functions(self, resolved: list[tuple[str, str, str, Path]], folders: list[Path],
                  imported: set[str] = frozenset()) -> dict[str, ImportedFunction]:
        """Each resolved import that names a function of its module, by the name it binds.
        `imported`: every module the file imports (modules_imported): another module of the
        workspace that itself imports M, or reaches into sys.modules, may change M's state
        (as it loads, or through its functions), and M's functions then get no verdict.
        Every file read to answer goes into `consulted`."""
        self.consulted = set()
        found = {}
        elsewhere: dict[str, str | None] = {}  # a module -> _changed_elsewhere's answer (once per module)
        harmless: dict[str, set[str]] = {}  # a module -> the names the file binds to its classes of no state
        for module, name, bound, file in resolved:
            tree, text, lines = self._read(file)
            if tree is None:
                continue
            cls = top_level_class(tree, name)
            if cls is not None and class_state_reason(tree, cls, lambda other: _is_workspace_module(other, folders)) is None:
                harmless.setdefault(module, set()).add(bound)
        for module, name, bound, file in resolved:
            tree, text, lines = self._read(file)
            if tree is None:
                continue
            node = top_level_function(tree, name)
            if node is None:
                continue  # (a class, a constant, a name the module imports itself)
            function, why = pure_function_reason(tree, lines, node, lambda other: _is_workspace_module(other, folders))
            if why is None:
                if module not in elsewhere:
                    elsewhere[module] = self._changed_elsewhere(module, file, imported, folders)
                why = elsewhere[module]
            found[bound] = ImportedFunction(bound, module, str(file), function, why, name, text, tuple(lines),
                                            frozenset().union(*(_changed_names(node) for node in tree.body)),
                                            frozenset(harmless.get(module, ())))
        return found

    def _changed_elsewhere(self, module: str, file: Path, imported: set[str], folders: list[Path]) -> str | None:
        """Why code that runs with M's import, or with the file's, may change M (`module`):
        M's packages' `__init__.py` (importing `a.b.m` runs `a` and `a.b` first), which must
        do nothing but import, define and bind literals; and every other module of the
        workspace that the file, or those packages, import, and the workspace modules
        those import in turn (relative imports too), none of which may import M itself, or
        one of its names, or reach into sys.modules."""
        pending = list(imported)
        parts = module.split(".")
        for depth in range(1, len(parts)):
            package = ".".join(parts[:depth])
            init = module_file(package, folders)
            if init is None:
                continue
            tree, _, _ = self._read(init)
            if tree is None or not all(loads_quietly(node) for node in tree.body):
                return f"its package's `{package}/__init__.py` runs code as it loads, which may change it"
            pending.extend(modules_imported(tree, package))
        seen: set[str] = set()
        while pending:
            other = pending.pop()
            if other in seen:
                continue
            if len(seen) >= _MAX_MODULES_WALKED:
                return f"the file imports more of the workspace's modules than are looked through ({_MAX_MODULES_WALKED})"
            seen.add(other)
            other_file = module_file(other, folders)
            if other_file is None or other_file == file or module.startswith(other + "."):
                continue  # (not the workspace's; M itself; a package M lies in, looked at above)
            tree, _, _ = self._read(other_file)
            if tree is None:
                return f"the file imports `{other}`, which could not be read"
            package = other if other_file.name == "__init__.py" else other.rpartition(".")[0]
            others = modules_imported(tree, package)
            if any(name == module or name.startswith(module + ".") for name in others) \
                    or any(isinstance(n, ast.Attribute) and n.attr == "modules" for n in ast.walk(tree)):
                return f"the file imports `{other}`, which may change `{module}`"
            pending.extend(others)
        return None

    def _read(self, file: Path) -> tuple[ast.Module | None, str, list[str]]:
        self.consulted.add(file)
        key = files_state([file])
        known = self._modules.get(str(file))
        if known is not None and known[0] == key:
            return known[1], known[2], known[3]
        tree, text, lines = None, "", []
        try:
            if file.stat().st_size <= _MAX_BYTES:
                text = decode_python(file.read_bytes(), file.name)
                tree = ast.parse(text, str(file))
                lines = split_lines(text)
        except (OSError, SyntaxError, ValueError, MemoryError, RecursionError, SourceUnreadable):
            tree = None
        self._modules[str(file)] = (key, tree, text, lines)
        return tree, text, lines


def _is_workspace_module(module: str, folders: list[Path]) -> bool:
    return module_file(module, folders) is not None


def relative(path: str, near: str) -> str:
    """`path` from the folder of the file `near` (for messages)."""
    try:
        return os.path.relpath(path, os.path.dirname(near))
    except ValueError:
        return path
