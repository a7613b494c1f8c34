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
import re
import sys
from pathlib import Path

from .calls import is_autouse
from .imported import loads_quietly, module_file

# Hooks that only report or add command-line options: they change no test's run.
_QUIET_HOOKS = frozenset({"pytest_addoption", "pytest_report_header", "pytest_terminal_summary",
                          "pytest_report_teststatus", "pytest_make_parametrize_id"})
# Files that mark a project's root (where pytest's rootdir search stops).
_PROJECT_MARKERS = ("pyproject.toml", "pytest.ini", "setup.cfg", "tox.ini", "setup.py", ".git")
# pytest's configuration files; and in them, options that set up or load code for every
# test (`usefixtures = db`, `addopts = -p myplugin`).
_CONFIGURATION = ("pytest.ini", "pyproject.toml", "setup.cfg", "tox.ini")
_OPTIONS = (
    # (option, what it does, in words): each changes what every test runs in or with
    (re.compile(r"^\s*usefixtures\s*=", re.M), "sets `usefixtures`"),
    (re.compile(r"^\s*filterwarnings\s*=", re.M), "sets `filterwarnings` (a warning may fail a test)"),
    (re.compile(r"^\s*pythonpath\s*=", re.M), "sets `pythonpath` (where tests import from)"),
    (re.compile(r"^\s*required_plugins\s*=", re.M), "requires plugins"),
)
# In `addopts` (over lines, or a TOML list): a plugin (`-p x`, `-px`, `"-p", "x"`), warnings
# made errors (`-W error`), another import mode.
_ADDOPTS = re.compile(r"^\s*addopts\s*=", re.M)
_ADDOPTS_SETTING = ((re.compile(r"(?<![\w-])-p(?:\s|[\"',])*[\w.]"), "loads a plugin (`addopts = -p …`)"),
                    (re.compile(r"(?<![\w-])-W|--pythonwarnings"), "makes warnings errors (`addopts = -W …`)"),
                    (re.compile(r"--import-mode|--rootdir|--confcutdir"), "changes how tests are imported (`addopts`)"))
# Modules a conftest.py may import without setting anything up: the standard library's and pytest's.
_QUIET_MODULES = frozenset(getattr(sys, "stdlib_module_names", ())) | {"pytest", "_pytest", "__future__"}
# How far up a file outside every workspace root is looked at, at most.
_MAX_LEVELS = 8
# A conftest.py larger than this is not parsed: it is taken to set tests up.
_MAX_BYTES = 1 << 20


def conftest_files(path: str, roots: list[Path]) -> list[Path]:
    """The conftest.py files pytest would load for the file at `path`, nearest first, and
    the configuration files in the same folders (pytest.ini, pyproject.toml, setup.cfg,
    tox.ini: an option there such as `usefixtures` sets every test up)."""
    folder = Path(path).parent
    root = next((r for r in roots if _is_within(folder, r)), None)
    found = []
    for level, current in enumerate([folder, *folder.parents]):
        for name in ("conftest.py", *_CONFIGURATION):
            candidate = current / name
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


def setting_up(files: list[Path], near: Path, roots: list[Path] = (), read: list[Path] | None = None) -> str | None:
    """The first of `files` (conftest_files) that may set up the tests below it, in words
    for a hover ("`../conftest.py` has the autouse fixture `db`", its path from the folder
    `near`); None if none does. `roots`: the workspace roots (where a conftest's imports
    are found, after its own folder); `read`: where to add the modules of the workspace
    read on the way (the answer holds while they and `files` are unchanged)."""
    for file in files:
        why = _sets_up(file, [file.parent, *roots], read=read) if file.name == "conftest.py" else _configures(file)
        if why is not None:
            return f"`{os.path.relpath(file, near)}` {why}"
    return None


def _configures(file: Path) -> str | None:
    """Why a configuration file sets every test up (`usefixtures`, a plugin loaded by
    `addopts = -p …`), in words; None if it does not."""
    try:
        text = file.read_text(errors="replace")[:_MAX_BYTES]
    except OSError:
        return None
    for option, words in _OPTIONS:
        if option.search(text):
            return words
    start = _ADDOPTS.search(text)
    if start is not None:
        rest = text[start.end():]  # (the options may go on over the next lines: all of them count)
        for option, words in _ADDOPTS_SETTING:
            if option.search(rest):
                return words
    return None


def _sets_up(file: Path, roots: list[Path], depth: int = 0, read: list[Path] | None = None) -> str | None:
    """Why a conftest.py (at `depth` 1: a module of the workspace it imports) may set tests
    up, in words; None if it does not."""
    try:
        if file.stat().st_size > _MAX_BYTES:
            return "is too large to read"
        tree = ast.parse(file.read_bytes(), str(file))
    except (OSError, SyntaxError, ValueError, MemoryError, RecursionError):
        return "cannot be read or parsed (pytest would stop at it)"
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            why = _import_sets_up(node, roots, depth, read)
            if why is not None:
                return why
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if is_autouse(node):
                return f"has the autouse fixture `{node.name}`"
            if node.name.startswith("pytest_") and node.name not in _QUIET_HOOKS \
                    and not _only_registers_markers(node):
                return f"has the hook `{node.name}`"
        elif _plugins(node):
            return "loads plugins (`pytest_plugins`)"
        elif not loads_quietly(node):
            return f"runs code at line {node.lineno} as pytest loads it"
    return None


def _import_sets_up(node: ast.Import | ast.ImportFrom, roots: list[Path], depth: int,
                    read: list[Path] | None = None) -> str | None:
    """Why an import of a conftest.py may set tests up: pytest takes the fixtures and hooks
    a conftest imports (`from myfixtures import db`), and a module's code runs as it loads
    (`import patch_app`). The standard library's and pytest's modules set nothing up; a
    module of the workspace does where it would as a conftest (one level deep); `from X
    import *` of any other module does."""
    if isinstance(node, ast.ImportFrom):
        if node.level:
            return f"imports from `{'.' * node.level}{node.module or ''}` (not looked into)"
        names = [node.module or ""]
    else:
        names = [alias.name for alias in node.names]
    for name in names:
        if name.partition(".")[0] in _QUIET_MODULES:
            continue
        file = module_file(name, roots)
        if file is None:
            if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
                return f"imports everything from `{name}`, fixtures and hooks too"
            continue  # (an installed package: it sets nothing up by being imported)
        if depth:
            return f"imports `{name}` (not looked into)"
        if read is not None:
            read.append(file)
        why = _sets_up(file, [file.parent, *roots], depth + 1)
        if why is not None:
            return f"imports `{name}`, which {why}"
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


