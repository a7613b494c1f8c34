"""ReplayEngine: an engine that replays scripted text.

For testing the layers above the engine (server, streaming, parsing) with deterministic
content. It honours the same contract as the real engines: text deltas, stop strings,
max_tokens, cancellation between "tokens", and GenerationStats. The real engines are
tested end to end on real GGUF files elsewhere.
"""

from __future__ import annotations

import re
import time
from typing import Callable, Iterator

from .engine import CancelToken, GenerationParams, GenerationStats, ProgressCallback
from .errors import GenerationError, PromptTooLongError

Script = str | Callable[[str], str]

_TOKEN = re.compile(r"\s*\S+|\s+")


class ReplayEngine:
    """Replays `script` (a string, or a function of the prompt) a word-sized token at a time."""

    def __init__(
        self,
        script: Script,
        *,
        token_delay_s: float = 0.0,
        n_ctx: int = 16384,
        model_id: str = "replay",
        fail_after_tokens: int | None = None,
        load_delay_s: float = 0.0,
    ) -> None:
        self._script = script
        self.token_delay_s = token_delay_s
        self.n_ctx = n_ctx
        self.model_id = model_id
        self.fail_after_tokens = fail_after_tokens  # simulate a model failing mid-stream
        self.load_delay_s = load_delay_s
        self.loaded = False
        self.prompts: list[str] = []  # every prompt seen, for assertions in tests
        self._stats = GenerationStats()

    def load(self, progress: ProgressCallback | None = None) -> None:
        if self.loaded:
            return
        steps = 4
        for i in range(steps):
            if self.load_delay_s:
                time.sleep(self.load_delay_s / steps)
            if progress:
                progress((i + 1) / steps, "loading replay model")
        self.loaded = True

    def count_tokens(self, text: str) -> int:
        return len(_TOKEN.findall(text)) + 1  # + BOS

    @property
    def last_stats(self) -> GenerationStats:
        return self._stats

    def stream(
        self,
        prompt: str,
        params: GenerationParams = GenerationParams(),
        cancel: CancelToken | None = None,
    ) -> Iterator[str]:
        self.load()
        n_prompt = self.count_tokens(prompt)
        if n_prompt >= self.n_ctx:
            raise PromptTooLongError(
                f"The prompt needs {n_prompt} tokens but the model's context holds {self.n_ctx}."
            )
        self.prompts.append(prompt)
        text = self._script(prompt) if callable(self._script) else self._script
        # Apply stop strings the way llama.cpp does: the stop text itself is not returned.
        cut = min((text.find(s) for s in params.stop if s and s in text), default=-1)
        if cut >= 0:
            text = text[:cut]
        stats = GenerationStats(prompt_tokens=n_prompt, evaluated_tokens=n_prompt)
        self._stats = stats
        start = time.perf_counter()
        finish = "stop"
        for i, token in enumerate(_TOKEN.findall(text)):
            if cancel is not None and cancel.cancelled:
                finish = "cancelled"
                stats.cancelled = True
                if cancel.cancelled_at is not None:
                    stats.cancel_latency_s = time.perf_counter() - cancel.cancelled_at
                break
            if i >= params.max_tokens:
                finish = "length"
                break
            if self.fail_after_tokens is not None and i >= self.fail_after_tokens:
                stats.finish_reason = "error"
                raise GenerationError("The model stopped unexpectedly while generating (simulated failure).")
            if self.token_delay_s:
                time.sleep(self.token_delay_s)
            if stats.time_to_first_token_s is None:
                stats.time_to_first_token_s = time.perf_counter() - start
            stats.generated_tokens += 1
            stats.generation_s = time.perf_counter() - start
            yield token
        stats.finish_reason = finish

    def close(self) -> None:
        self.loaded = False
