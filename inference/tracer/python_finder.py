"""Which Python runs the user's code: theirs, so their imports resolve."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import SettingsError

_VENV_NAMES = (".venv", "venv", "env")
_INTERPRETERS = (Path("bin") / "python", Path("Scripts") / "python.exe")


def _runnable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_python(workspace_root: str | os.PathLike | None = None, configured: str | None = None) -> str:
    """The configured interpreter, else the workspace's virtual environment (`.venv`,
    `venv`, `env`), else the Python running this code."""
    if configured:
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
