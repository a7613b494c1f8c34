"""Typed, validated settings of the server.

The client sends the same nested keys in `initializationOptions` and in the
`workspace/configuration` section `semcoder`. A bad value never stops the server: it is
replaced by the default and reported once, naming the setting, so the user can fix it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable


@dataclass(frozen=True)
class ModelSettings:
    path: str = ""
    remoteUrl: str = ""
    # How long a remote server may take to its first token (it reads the whole prompt first);
    # RemoteEngine's first_token_timeout_s.
    remoteTimeoutSeconds: float = 300.0
    gpuLayers: int = 0
    threads: int = 0
    contextSize: int = 4096
    maxTokens: int = 768
    temperature: float = 0.2


@dataclass(frozen=True)
class ExecutionSettings:
    enabled: bool = False
    python: str = ""
    timeoutSeconds: float = 5.0
    memoryMB: int = 512
    preload: tuple[str, ...] = ()  # modules the sandbox imports once, before any run


@dataclass(frozen=True)
class Settings:
    model: ModelSettings = field(default_factory=ModelSettings)
    execution: ExecutionSettings = field(default_factory=ExecutionSettings)

    def model_spec(self) -> str:
        """The model to load: the setting, else $SEMCODER_MODEL (the README's way to set it)."""
        return self.model.path or os.environ.get("SEMCODER_MODEL", "")

    def prediction_key(self) -> tuple:
        """The settings that change a prediction (part of the cache key)."""
        return (self.model.maxTokens, self.model.temperature, self.model.contextSize)

    def engine_key(self) -> tuple:
        """The settings that need a different engine object when they change."""
        m = self.model
        return (self.model_spec(), m.remoteUrl, m.remoteTimeoutSeconds, m.gpuLayers, m.threads, m.contextSize)


def _int_in(lo: int, hi: int) -> Callable[[Any], int | None]:
    def check(v: Any) -> int | None:
        if isinstance(v, bool):
            return None
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        return v if isinstance(v, int) and lo <= v <= hi else None

    check.__doc__ = f"an integer between {lo} and {hi}"
    return check


def _float_in(lo: float, hi: float) -> Callable[[Any], float | None]:
    def check(v: Any) -> float | None:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return None
        return float(v) if lo <= v <= hi else None

    check.__doc__ = f"a number between {lo:g} and {hi:g}"
    return check


def _string(v: Any) -> str | None:
    """a string"""
    return v if isinstance(v, str) else None


def _boolean(v: Any) -> bool | None:
    """true or false"""
    return v if isinstance(v, bool) else None


def _module_names(v: Any) -> tuple[str, ...] | None:
    """a list of at most 32 module names, such as ["numpy", "pandas"]"""
    from semcoder_inference.errors import SettingsError
    from semcoder_inference.tracer.pool import check_module_names

    if not isinstance(v, list):
        return None
    try:
        return check_module_names(v)
    except SettingsError:
        return None


_CHECKS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "model": {
        "path": _string,
        "remoteUrl": _string,
        "remoteTimeoutSeconds": _float_in(1.0, 3600.0),
        "gpuLayers": _int_in(0, 100000),
        "threads": _int_in(0, 1024),
        "contextSize": _int_in(512, 131072),
        "maxTokens": _int_in(1, 8192),
        "temperature": _float_in(0.0, 2.0),
    },
    "execution": {
        "enabled": _boolean,
        "python": _string,
        "timeoutSeconds": _float_in(0.1, 300.0),
        "memoryMB": _int_in(32, 65536),
        "preload": _module_names,
    },
}


def parse_settings(raw: Any) -> tuple[Settings, list[str]]:
    """Settings from a client's JSON object, and one message per rejected value.

    Accepts the section itself or an object wrapping it as {"semcoder": {...}}. Dotted keys
    ("model.path": ...) are accepted too, because VS Code users type them that way."""
    problems: list[str] = []
    if raw is None:
        return Settings(), problems
    if not isinstance(raw, dict):
        return Settings(), [f'SemCoder: settings must be an object (got {_show(raw)}); using the defaults.']
    if isinstance(raw.get("semcoder"), dict):
        raw = raw["semcoder"]
    nested: dict[str, dict[str, Any]] = {"model": {}, "execution": {}}
    for key, value in raw.items():
        if "." in key:
            group, _, name = key.partition(".")
            if group in nested:
                nested[group][name] = value
        elif key in nested and isinstance(value, dict):
            nested[key].update(value)
    groups = {"model": ModelSettings(), "execution": ExecutionSettings()}
    for group, values in nested.items():
        defaults = groups[group]
        changes = {}
        for name, value in values.items():
            check = _CHECKS[group].get(name)
            if check is None:
                continue  # unknown keys are ignored: newer clients may send more
            if value is None:
                continue
            ok = check(value)
            if ok is None:
                default = getattr(defaults, name)
                problems.append(
                    f'SemCoder: setting "{group}.{name}" must be {check.__doc__} '
                    f"(got {_show(value)}); using {_show(default)}."
                )
            else:
                changes[name] = ok
        groups[group] = replace(defaults, **changes)
    return Settings(model=groups["model"], execution=groups["execution"]), problems


def _show(value: Any) -> str:
    import json

    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def settings_to_dict(settings: Settings) -> dict:
    return {
        "model": {f.name: getattr(settings.model, f.name) for f in fields(ModelSettings)},
        "execution": {f.name: getattr(settings.execution, f.name) for f in fields(ExecutionSettings)},
    }
