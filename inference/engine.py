"""The engine interface every model backend implements.

An engine turns a prompt into a stream of text deltas. It owns its model object on one
worker thread (llama.cpp objects are not thread-safe), can be cancelled between tokens
through a CancelToken, and reports what the last generation cost in GenerationStats.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol, runtime_checkable


@dataclass(frozen=True)
class GenerationParams:
    """Sampling settings for one generation. Defaults follow SemCoder's own evaluation."""

    max_tokens: int = 768
    temperature: float = 0.2
    top_p: float = 0.95
    seed: int | None = None
    stop: tuple[str, ...] = ()


class CancelToken:
    """A stop flag shared between the caller and the engine's token loop.

    Besides polling `cancelled`, a waiter can register a callback that runs once on cancel,
    so a consumer blocked on a queue is woken at once instead of polling on a timer (timer
    wake-ups steal CPU from llama.cpp's compute threads on small machines)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self.cancelled_at: float | None = None

    def cancel(self) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self.cancelled_at = time.perf_counter()
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Run `callback` when cancelled (now, if already). Returns a function that
        unregisters it."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)

                def remove() -> None:
                    with self._lock:
                        if callback in self._callbacks:
                            self._callbacks.remove(callback)

                return remove
        callback()
        return lambda: None


@dataclass
class GenerationStats:
    """What the last generation did. Times are seconds (time.perf_counter based)."""

    prompt_tokens: int = 0
    reused_tokens: int = 0  # prompt tokens served from the KV cache
    evaluated_tokens: int = 0  # prompt tokens actually evaluated
    generated_tokens: int = 0
    time_to_first_token_s: float | None = None
    generation_s: float = 0.0
    cancelled: bool = False
    cancel_latency_s: float | None = None  # from CancelToken.cancel() to the stream ending
    finish_reason: str = ""  # "stop", "length", "cancelled", "error"
    extra: dict = field(default_factory=dict)

    @property
    def tokens_per_s(self) -> float:
        return self.generated_tokens / self.generation_s if self.generation_s > 0 else 0.0


ProgressCallback = Callable[[float, str], None]  # (fraction 0..1, message)


@runtime_checkable
class Engine(Protocol):
    """A model backend. Implementations: LlamaCppEngine, RemoteEngine, ReplayEngine."""

    model_id: str  # stable id used in cache keys (path + size + mtime, or URL + model name)
    n_ctx: int

    def load(self, progress: ProgressCallback | None = None) -> None:
        """Load the model (idempotent). Raises ModelError with a readable message."""

    def count_tokens(self, text: str) -> int:
        """Tokens the prompt will take, BOS included."""

    def stream(
        self,
        prompt: str,
        params: GenerationParams = GenerationParams(),
        cancel: CancelToken | None = None,
    ) -> Iterator[str]:
        """Yield text deltas. Stops at a stop string (not included), max_tokens, EOS, or when
        `cancel` is set (checked between tokens). Afterwards `last_stats` describes the run.
        Raises PromptTooLongError before generating if the prompt does not fit."""

    @property
    def last_stats(self) -> GenerationStats:
        ...

    def close(self) -> None:
        ...
