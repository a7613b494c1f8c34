"""Setting checks shared by the engines.

llama.cpp accepts nonsense such as a negative context size and then fails deep inside C
code, or silently does something else. Each check here names the setting, the value it
got and the range it needs, as a SettingsError.
"""

from __future__ import annotations

import math

from .engine import GenerationParams
from .errors import SettingsError


def _require(ok: bool, setting: str, value, needs: str) -> None:
    if not ok:
        raise SettingsError(f"Invalid setting {setting}={value!r}: it must be {needs}.")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_engine_settings(*, n_ctx, n_threads=None, n_gpu_layers=0) -> None:
    _require(_is_int(n_ctx) and n_ctx > 0, "n_ctx", n_ctx, "a whole number of tokens above 0 (for example 4096)")
    _require(n_threads is None or (_is_int(n_threads) and n_threads > 0), "n_threads", n_threads, "a whole number above 0, or unset for automatic")
    _require(_is_int(n_gpu_layers) and n_gpu_layers >= -1, "n_gpu_layers", n_gpu_layers, "0 (CPU only), a number of layers, or -1 for all layers")


def check_generation_params(params: GenerationParams) -> None:
    _require(_is_int(params.max_tokens) and params.max_tokens > 0, "max_tokens", params.max_tokens, "a whole number above 0")
    _require(_is_number(params.temperature) and params.temperature >= 0, "temperature", params.temperature, "a number of 0 or more (0 means greedy)")
    _require(_is_number(params.top_p) and 0 < params.top_p <= 1, "top_p", params.top_p, "a number in (0, 1]")
    _require(params.seed is None or (_is_int(params.seed) and 0 <= params.seed < 2**32), "seed", params.seed, "unset, or a whole number in [0, 2**32)")
    stops = params.stop
    _require(
        isinstance(stops, (tuple, list)) and all(isinstance(s, str) and s for s in stops),
        "stop",
        stops,
        "a list of non-empty strings",
    )
