"""Python files read as the interpreter reads them: a UTF-8 byte order mark (dropped), or
a coding declaration in the first two lines (`# -*- coding: latin-1 -*-`), else UTF-8.
The CLI and the language server read files on disk through here; the sandbox then runs
the text (for a file on disk it reads the same bytes as Python would)."""

from __future__ import annotations

import codecs
import io
import tokenize
from pathlib import Path

from .errors import SemcoderError


class SourceUnreadable(SemcoderError):
    """A file that is not Python source text in the encoding it declares (or UTF-8)."""


def decode_python(data: bytes, name: str) -> str:
    """`data`, the bytes of the Python file `name`, as text (line ends as they are).
    Raises SourceUnreadable, naming the file and what is wrong with it."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        message = str(exc)
        if message.startswith("unknown encoding"):
            raise SourceUnreadable(f"{name} declares an encoding Python does not know ({message}), "
                                   "so SemCoder cannot read it.") from None
        if message.startswith("encoding problem"):  # Python refuses such a file too
            raise SourceUnreadable(f"{name} starts with a UTF-8 byte order mark but declares another encoding, "
                                   "so SemCoder cannot read it.") from None
        if not message.startswith("invalid or missing encoding declaration"):
            raise SourceUnreadable(f"{name} cannot be decoded as Python source ({message}), "
                                   "so SemCoder cannot read it.") from None
        encoding = "utf-8"  # bytes that are not UTF-8 in the first lines: said below
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        label = "UTF-8" if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig") else encoding
        raise SourceUnreadable(
            f"{name} is not {label} text (invalid byte at offset {exc.start}), so SemCoder cannot read it."
        ) from None


def read_python(path: str | Path) -> str:
    """The text of the Python file at `path` (see decode_python). Raises SemcoderError for
    a file that is missing or unreadable, in words."""
    path = Path(path).expanduser()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SemcoderError(f"There is no file {path}.", hint="Give the path of a Python module.") from None
    except IsADirectoryError:
        raise SemcoderError(f"{path} is a folder, not a Python file.") from None
    except OSError as exc:
        raise SemcoderError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    return decode_python(data, str(path))
