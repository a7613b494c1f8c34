"""Which Python runs the user's code: theirs, so their imports resolve."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ..errors import SettingsError

_VENV_NAMES = (".venv", "venv", "env")
_INTERPRETERS = (Path("bin") / "python", Path("Scripts") / "python.exe")


def _runnable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def is_command_name(configured: str) -> bool:
    """Whether a configured interpreter is a bare command name (`python3`, `python3.12`),
    looked up on PATH, rather than a path: it has no path separator and no `~`."""
    separators = {os.sep, os.altsep or os.sep, "/"}
    return not any(sep in configured for sep in separators) and not configured.startswith("~") \
        and configured not in (".", "..")


def which_python(name: str) -> str | None:
    """`name` looked up on PATH as a shell does (shutil.which), in PATH's absolute folders
    only: an empty or relative entry (`.`) would find a file of whatever folder the server
    runs in (an editor starts it in the workspace)."""
    folders = [folder for folder in os.environ.get("PATH", os.defpath).split(os.pathsep)
               if folder and os.path.isabs(folder)]
    found = shutil.which(name, path=os.pathsep.join(folders)) if folders else None
    return os.path.abspath(found) if found else None


def find_python(workspace_root: str | os.PathLike | None = None, configured: str | None = None) -> str:
    """The configured interpreter, else the workspace's virtual environment (`.venv`,
    `venv`, `env`), else the Python running this code.

    A configured interpreter is either a command name with no path separator (`python3`,
    `python3.12`), looked up on PATH as a shell would (never in the workspace: a file named
    `python3` there is not what the name means), or a path: absolute, `~/…`, or relative to
    the workspace root (`.venv/bin/python`)."""
    if configured:
        if is_command_name(configured):
            found = which_python(configured)
            if found is None:
                raise SettingsError(
                    f"The configured Python interpreter {configured!r} was not found on PATH.",
                    hint="Set the full path of a python executable (or a name on PATH, such as python3), "
                         "or leave the setting empty to use the workspace's virtual environment.",
                )
            return found
        path = Path(configured).expanduser()
        if not path.is_absolute() and workspace_root is not None:
            path = Path(workspace_root) / path
        if not _runnable(path):
            raise SettingsError(
                f"The configured Python interpreter {configured!r} does not exist or is not executable.",
                hint="Set the path of a python executable, or leave the setting empty to use the workspace's virtual environment.",
            )
        return str(path)
    if workspace_root is not None:
        root = Path(workspace_root)
        for name in _VENV_NAMES:
            for relative in _INTERPRETERS:
                candidate = root / name / relative
                if _runnable(candidate):
                    return str(candidate)
    return sys.executable


def package_folders(python: str | os.PathLike) -> list[str]:
    """The folders where the packages of the interpreter `python` are installed, found from
    its path alone, without starting it (its start-up runs code of its own): for a virtual
    environment (a `pyvenv.cfg` beside its `bin` folder) its `lib/pythonX.Y/site-packages`
    (`Lib/site-packages` on Windows), and its base interpreter's too where
    `include-system-site-packages` is true; for another interpreter, its prefix's
    `lib/pythonX.Y/site-packages` and `dist-packages` (and `/usr/local`'s, for `/usr`). Those
    that exist, each once. Not the user's own site-packages: the sandbox runs the
    interpreter with `-I` or `-s`, which leave it out. Installing, upgrading or removing a
    package adds or removes entries of one of these folders, which changes its modification
    time (the server's memo of real traces keys on it)."""
    exe = Path(python)
    prefix = exe.parent.parent
    found: list[Path] = []
    config = prefix / "pyvenv.cfg"
    if config.is_file():
        found += _site_folders(prefix)
        values = _read_config(config)
        home = values.get("home")
        if values.get("include-system-site-packages", "").lower() == "true" and home:
            found += _site_folders(Path(home).parent)
    else:
        base = Path(os.path.realpath(exe)).parent.parent
        found += _site_folders(base)
        if base == Path("/usr"):
            found += _site_folders(Path("/usr/local"))
    unique: dict[str, None] = {}
    for folder in found:
        unique.setdefault(os.path.realpath(folder), None)
    return list(unique)


def _site_folders(prefix: Path) -> list[Path]:
    folders: list[Path] = []
    for lib in ("lib", "lib64"):
        folders += sorted(prefix.glob(f"{lib}/python3*/site-packages"))
        folders += sorted(prefix.glob(f"{lib}/python3*/dist-packages"))
    windows = prefix / "Lib" / "site-packages"
    if windows.is_dir():
        folders.append(windows)
    return [folder for folder in folders if folder.is_dir()]


def _read_config(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return values
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip().lower()] = value.strip()
    return values
