"""Whether pytest sets up a file's tests from outside it: a `conftest.py` in the file's
folder or a folder above it (up to the workspace root) whose autouse fixture, hook or
plugin may change what a test's calls see.

The analysis of a file (calls.analyse) reads that one file; its rules leave a test without
a verdict where the file itself sets the test up (an autouse fixture, setup_module, ...).
A conftest.py does the same from outside, for every test below its folder: an autouse
fixture that fills a cache, patches a function or sets an environment variable runs
before each test under pytest, and never in the replay of a single assert. So its tests
get no verdict either (their asserts are still traced when hovered).

Which conftest.py files count: those pytest loads for the file, from its own folder up to
the workspace root that holds it (or, outside every workspace root, up to the first folder
with a project marker such as pyproject.toml or .git). A conftest above the workspace root
is not looked for.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

from .calls import is_autouse

# Hooks that only report or add command-line options: they change no test's run.
_QUIET_HOOKS = frozenset({"pytest_addoption", "pytest_report_header", "pytest_terminal_summary",
                          "pytest_report_teststatus", "pytest_make_parametrize_id"})
# Files that mark a project's root (where pytest's rootdir search stops).
_PROJECT_MARKERS = ("pyproject.toml", "pytest.ini", "setup.cfg", "tox.ini", "setup.py", ".git")
# How far up a file outside every workspace root is looked at, at most.
_MAX_LEVELS = 8
# A conftest.py larger than this is not parsed: it is taken to set tests up.
_MAX_BYTES = 1 << 20


def conftest_files(path: str, roots: list[Path]) -> list[Path]:
    """The conftest.py files pytest would load for the file at `path`, nearest first."""
    folder = Path(path).parent
    root = next((r for r in roots if _is_within(folder, r)), None)
    found = []
    for level, current in enumerate([folder, *folder.parents]):
        candidate = current / "conftest.py"
        if candidate.is_file():
            found.append(candidate)
        if root is not None:
            if current == root:
                break
        elif level + 1 >= _MAX_LEVELS or any((current / marker).exists() for marker in _PROJECT_MARKERS):
            break
    return found


def _is_within(folder: Path, root: Path) -> bool:
    try:
        folder.relative_to(root)
        return True
    except ValueError:
        return False


def setting_up(files: list[Path], near: Path) -> str | None:
    """The first of `files` that may set up the tests below it, in words for a hover
    ("`../conftest.py` has the autouse fixture `db`", its path from the folder `near`);
    None if none does."""
    for file in files:
        why = _sets_up(file)
        if why is not None:
            return f"`{os.path.relpath(file, near)}` {why}"
    return None


def _sets_up(file: Path) -> str | None:
    try:
        if file.stat().st_size > _MAX_BYTES:
            return "is too large to read"
        tree = ast.parse(file.read_bytes(), str(file))
    except (OSError, SyntaxError, ValueError, MemoryError, RecursionError):
        return "cannot be read or parsed (pytest would stop at it)"
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if is_autouse(node):
                return f"has the autouse fixture `{node.name}`"
            if node.name.startswith("pytest_") and node.name not in _QUIET_HOOKS \
                    and not _only_registers_markers(node):
                return f"has the hook `{node.name}`"
        elif _plugins(node):
            return "loads plugins (`pytest_plugins`)"
        elif not _quiet_statement(node):
            return f"runs code at line {node.lineno} as pytest loads it"
    return None


def _only_registers_markers(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """`def pytest_configure(config): config.addinivalue_line("markers", ...)`: a common
    hook that changes no test's run."""
    if fn.name != "pytest_configure":
        return False
    for statement in fn.body:
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # (a docstring)
        call = statement.value if isinstance(statement, ast.Expr) else None
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                and call.func.attr == "addinivalue_line" and call.args
                and isinstance(call.args[0], ast.Constant) and call.args[0].value == "markers"):
            return False
    return True


def _plugins(node: ast.stmt) -> bool:
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    return any(isinstance(t, ast.Name) and t.id == "pytest_plugins" for t in targets)


def _quiet_statement(node: ast.stmt) -> bool:
    """A statement that loads nothing and changes nothing a test sees: an import, a
    docstring, `pass`, a class (pytest takes no fixtures from a conftest's classes), a name
    bound to a literal (`collect_ignore = ["setup.py"]`)."""
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.Pass, ast.ClassDef)):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return True
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if not all(isinstance(t, ast.Name) for t in targets):
            return False
        try:
            ast.literal_eval(node.value)
            return True
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return False
    return False

