"""Resource limits for one traced run."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

from ..errors import SettingsError


@dataclass(frozen=True)
class Limits:
    """What one run may use. Every limit that cuts a run short says so in the trace
    (`status`, `message`, `truncated`)."""

    timeout_s: float = 5.0          # wall clock, module import included
    cpu_s: float = 5.0              # CPU seconds from the run's start (RLIMIT_CPU: whole seconds, up to 1.25 s more)
    memory_mb: int = 512            # address space on top of the warm interpreter's
    max_output_bytes: int = 65536   # per stream (stdout, stderr)
    max_events: int = 20000         # recorded trace events
    max_depth: int = 50             # nested user calls that are traced
    recursion_limit: int = 1000     # Python recursion limit inside the run
    max_repr: int = 120             # characters per value in events
    max_return_repr: int = 10000    # characters of the return value's repr

    def validated(self, names: dict[str, str] | None = None) -> "Limits":
        """This, when every limit is a finite number in its range; else a SettingsError that
        names the limit as the caller knows it (`names`: a command's flags, say
        {"timeout_s": "--timeout"}; by default the field's own name)."""
        names = names or {}
        for name, value in self.as_request().items():
            low, high, unit = _RANGES[name]
            shown = names.get(name, name)
            whole = name not in _FRACTIONAL
            kind = "a whole number" if whole else "a number"
            if (not isinstance(value, (int, float)) or isinstance(value, bool)
                    or (whole and isinstance(value, float) and not value.is_integer())):
                raise SettingsError(f"The tracer limit {shown} must be {kind}, got {value!r}.", hint=_hint(names))
            if not math.isfinite(value) or not low <= value <= high:
                at_least = "more than 0" if low == 0 else f"at least {low:,}"
                raise SettingsError(
                    f"The tracer limit {shown} must be {kind} {at_least} and at most {high:,}{unit}, got {value!r}.",
                    hint=_hint(names))
            if low == 0 and value <= 0:
                raise SettingsError(f"The tracer limit {shown} must be positive, got {value!r}.", hint=_hint(names))
        return self

    def merged(self, **changes) -> "Limits":
        return replace(self, **{k: v for k, v in changes.items() if v is not None}).validated()

    def as_request(self) -> dict:
        # Every field is a plain number: a shallow dict is what asdict() would give, without
        # its deep copies (this runs for every traced call).
        return {f.name: getattr(self, f.name) for f in fields(self)}


# What each limit may be: (lowest, highest, unit). A limit of 0 means "more than 0". The
# highest are far past any use, and keep the values within what the sandbox can set
# (a time_t deadline, an rlimit, a recursion limit the interpreter's C stack can take).
_RANGES = {
    "timeout_s": (0, 86_400, " seconds"),
    "cpu_s": (0, 86_400, " seconds"),
    "memory_mb": (1, 1_048_576, " MB"),
    "max_output_bytes": (1, 1 << 30, " bytes"),
    "max_events": (1, 100_000_000, ""),
    "max_depth": (1, 1_000_000, ""),
    # Below about 20 the sandbox's own frames do not fit under the limit (it cannot be set).
    "recursion_limit": (20, 1_000_000, ""),
    "max_repr": (1, 100_000_000, " characters"),
    "max_return_repr": (1, 100_000_000, " characters"),
}
_FRACTIONAL = {"timeout_s", "cpu_s"}


def _hint(names: dict[str, str]) -> str:
    if names:
        return "Use values such as " + ", ".join(f"{names[k]} {v}" for k, v in (("timeout_s", 5), ("memory_mb", 512))
                                                  if k in names) + "."
    return "Use values such as timeout_s=5, memory_mb=512."
