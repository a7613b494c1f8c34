"""Results cache: in memory and on disk, surviving restarts.

Keys are built by the caller from everything a result depends on (function source hash,
the call, the model id, the settings that change the answer). Values are JSON objects.
Disk files live under $XDG_CACHE_HOME/semcoder-lsp (or ~/.cache/semcoder-lsp), one small
JSON file per key, written atomically so a crash never leaves a half-written entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CACHE_VERSION = "1"


def user_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "semcoder-lsp"


def files_state(files: list[Path]) -> tuple:
    """What changes when one of `files` changes on disk (a key for what was read from
    them): each one's path, modification time and size (None where it cannot be read)."""
    state = []
    for file in files:
        try:
            st = file.stat()
            state.append((str(file), st.st_mtime_ns, st.st_size))
        except OSError:
            state.append((str(file), None, None))
    return tuple(state)


def make_key(*parts: Any) -> str:
    text = json.dumps([CACHE_VERSION, *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class ResultCache:
    def __init__(self, directory: Path | None = None, *, memory_items: int = 2000) -> None:
        self.directory = directory or user_cache_dir()
        self._memory: OrderedDict[str, Any] = OrderedDict()
        self._memory_items = memory_items
        self.hits = self.misses = 0

    def _path(self, kind: str, key: str) -> Path:
        return self.directory / kind / key[:2] / f"{key}.json"

    def get(self, kind: str, key: str) -> Any | None:
        mem_key = f"{kind}:{key}"
        if mem_key in self._memory:
            self._memory.move_to_end(mem_key)
            self.hits += 1
            return self._memory[mem_key]
        path = self._path(kind, key)
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self.misses += 1
            return None
        except (OSError, ValueError) as exc:  # a damaged entry is a miss, not a failure
            log.warning("ignoring unreadable cache entry %s: %s", path, exc)
            self.misses += 1
            return None
        self._remember(mem_key, value)
        self.hits += 1
        return value

    def put(self, kind: str, key: str, value: Any, *, disk: bool = True) -> None:
        self._remember(f"{kind}:{key}", value)
        if not disk:
            return
        path = self._path(kind, key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(value, fh)
            os.replace(tmp, path)
        except OSError as exc:  # a read-only cache dir must not break the editor
            log.warning("cannot write cache entry %s: %s", path, exc)

    def _remember(self, mem_key: str, value: Any) -> None:
        self._memory[mem_key] = value
        self._memory.move_to_end(mem_key)
        while len(self._memory) > self._memory_items:
            self._memory.popitem(last=False)

    def clear(self) -> None:
        import shutil

        self._memory.clear()
        shutil.rmtree(self.directory, ignore_errors=True)
