"""Resource limits for one traced run."""

from __future__ import annotations

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

    def validated(self) -> "Limits":
        for name, value in self.as_request().items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise SettingsError(
                    f"The tracer limit {name} must be a positive number, got {value!r}.",
                    hint="Use values such as timeout_s=5, memory_mb=512.",
                )
        return self

    def merged(self, **changes) -> "Limits":
        return replace(self, **{k: v for k, v in changes.items() if v is not None}).validated()

    def as_request(self) -> dict:
        # Every field is a plain number: a shallow dict is what asdict() would give, without
        # its deep copies (this runs for every traced call).
        return {f.name: getattr(self, f.name) for f in fields(self)}
