"""Bounded capture of what a traced run prints (stdlib only, Python 3.9+)."""

from __future__ import annotations

class BoundedWriter:
    """A text stream that keeps the first `limit` bytes and counts the rest."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, limit, name, truncated):
        self.limit = limit
        self.name = name
        self.parts = []
        self.size = 0
        self.truncated = truncated

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError("write() argument must be str, not %s" % type(text).__name__)
        if self.size < self.limit:
            data = text.encode("utf-8", "replace")
            room = self.limit - self.size
            if len(data) > room:
                data = data[:room]
                self.truncated[self.name] = True
            self.parts.append(data)
            self.size += len(data)
        elif text:
            self.truncated[self.name] = True
        return len(text)

    def chars(self, size):
        """How many characters of getvalue() the first `size` bytes written make (writes
        are whole characters, so `size`, the count after a write, never cuts one)."""
        return len(b"".join(self.parts)[:size].decode("utf-8", "replace")) if size else 0

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pass

    def isatty(self):
        return False

    def fileno(self):
        raise OSError("the sandbox's output is captured and has no file descriptor")

    def writable(self):
        return True

    def readable(self):
        return False

    def getvalue(self):
        return b"".join(self.parts).decode("utf-8", "replace")
