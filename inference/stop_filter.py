"""Stop strings applied to streamed text.

A stop string can arrive split over several tokens ("[/ANS" then "WER]"), so text that
could be the start of a stop string is held back until the next delta settles it. The
stop string itself is never returned.
"""

from __future__ import annotations

from typing import Iterable


class StopFilter:
    def __init__(self, stops: Iterable[str]):
        self.stops = tuple(s for s in stops if s)
        self._pending = ""
        self.stopped = False
        self.matched: str | None = None

    def feed(self, text: str) -> str:
        """Add generated text; return what is now safe to show (possibly "")."""
        if self.stopped:
            return ""
        self._pending += text
        if not self.stops:
            out, self._pending = self._pending, ""
            return out
        # The earliest complete stop string ends the stream.
        cut = -1
        for stop in self.stops:
            at = self._pending.find(stop)
            if at >= 0 and (cut < 0 or at < cut):
                cut, self.matched = at, stop
        if cut >= 0:
            self.stopped = True
            out, self._pending = self._pending[:cut], ""
            return out
        hold = self._held_back_length()
        out = self._pending[: len(self._pending) - hold]
        self._pending = self._pending[len(self._pending) - hold :]
        return out

    def flush(self) -> str:
        """The generation ended without a stop string: release what was held back."""
        out, self._pending = ("" if self.stopped else self._pending), ""
        return out

    def _held_back_length(self) -> int:
        """Length of the longest tail of the pending text that begins some stop string."""
        best = 0
        for stop in self.stops:
            for n in range(min(len(stop) - 1, len(self._pending)), best, -1):
                if self._pending.endswith(stop[:n]):
                    best = n
                    break
        return best
