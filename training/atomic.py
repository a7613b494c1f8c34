"""Atomic file creation: write under a temporary name in the target folder, then rename.

A reader (or a crash) never sees a half-written model under its final name: `os.replace`
within one folder is atomic, and on any failure the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from semcoder_inference.errors import SemcoderError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `final`; on success it is synced and renamed to `final`."""
    final = Path(final)
    if final.is_dir():
        raise SemcoderError(f"{final} is a folder; give the path of the file to write.")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent)
    except OSError as exc:
        raise SemcoderError(f"Cannot create {final}: {exc.strerror or exc}.",
                            hint="Check that the folder is writable and the disk is not full.") from exc
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file normal permissions
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
