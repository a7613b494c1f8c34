"""The model worker: one thread that owns the engine, fed by a priority queue.

llama.cpp objects must not be used from two threads, and a 6.7B model can only do one
generation at a time anyway, so every model call goes through this single thread. The
queue puts the user's most recent request first (what they look at now), and background
work (predicted diagnostics) after every interactive request. A job whose CancelToken is
set before it starts is dropped without touching the engine; a running job sees the token
between tokens (the engine checks it), so `$/cancelRequest` stops generation promptly.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from semcoder_inference.engine import CancelToken, GenerationParams, GenerationStats
from semcoder_inference.errors import CancelledError, SemcoderError

log = logging.getLogger(__name__)

INTERACTIVE = 0  # hover, semcoder/trace, repair: the user waits for it
BACKGROUND = 1  # predicted diagnostics, prefetch


@dataclass(order=True)
class _Job:
    sort_key: tuple
    run: Callable[[], Any] = field(compare=False)
    future: "asyncio.Future[Any]" = field(compare=False)
    loop: asyncio.AbstractEventLoop = field(compare=False)
    cancel: CancelToken = field(compare=False)


class ModelWorker:
    """Runs model calls one at a time on its own thread, most recent interactive first."""

    def __init__(self) -> None:
        self._queue: "queue.PriorityQueue[_Job]" = queue.PriorityQueue()
        self._seq = itertools.count()
        self._thread = threading.Thread(target=self._loop, name="semcoder-model-worker", daemon=True)
        self._stopped = False
        self._thread.start()
        self.jobs_started = 0
        self.jobs_skipped = 0  # cancelled before they started

    def submit(
        self,
        fn: Callable[[], Any],
        *,
        priority: int = INTERACTIVE,
        cancel: CancelToken | None = None,
    ) -> "asyncio.Future[Any]":
        """Schedule `fn()` on the worker thread; returns a future on the running event loop.
        Cancelling the future (or the task awaiting it) sets `cancel`."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        # Negative sequence: the newest job of a priority class runs first.
        job = _Job((priority, -next(self._seq)), fn, future, loop, cancel or CancelToken())

        def stop_if_abandoned(done: "asyncio.Future[Any]") -> None:
            # Cancelling the awaiting task (a cancelled LSP request) cancels this future:
            # the model must stop too, not generate for nobody.
            if done.cancelled():
                job.cancel.cancel()

        future.add_done_callback(stop_if_abandoned)
        self._queue.put(job)
        return future

    def stream(
        self,
        engine: Any,
        prompt: str,
        params: GenerationParams,
        cancel: CancelToken,
        on_delta: Callable[[str], None],
        *,
        priority: int = INTERACTIVE,
    ) -> "asyncio.Future[tuple[str, GenerationStats]]":
        """Generate on the worker; `on_delta` is called on the event loop for each delta."""
        loop = asyncio.get_running_loop()

        def run() -> tuple[str, GenerationStats]:
            parts: list[str] = []
            for delta in engine.stream(prompt, params, cancel=cancel):
                parts.append(delta)
                loop.call_soon_threadsafe(on_delta, delta)
            return "".join(parts), engine.last_stats

        return self.submit(run, priority=priority, cancel=cancel)

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job.run is None:  # shutdown marker
                return
            if job.cancel.cancelled:
                self.jobs_skipped += 1
                self._settle(job, exc=CancelledError("Cancelled before it started."))
                continue
            self.jobs_started += 1
            started = time.perf_counter()
            try:
                result = job.run()
            except SemcoderError as exc:
                self._settle(job, exc=exc)
            except Exception as exc:  # an engine bug must not kill the worker
                log.exception("model job failed")
                self._settle(job, exc=SemcoderError(f"The model failed: {type(exc).__name__}: {exc}"))
            else:
                self._settle(job, result=result)
            log.debug("model job took %.3f s", time.perf_counter() - started)

    @staticmethod
    def _settle(job: _Job, *, result: Any = None, exc: BaseException | None = None) -> None:
        def settle() -> None:
            if job.future.done():
                return
            if exc is not None:
                job.future.set_exception(exc)
            else:
                job.future.set_result(result)

        try:
            job.loop.call_soon_threadsafe(settle)
        except RuntimeError:  # the loop is closed: the server is shutting down
            pass

    def close(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._queue.put(_Job((-1, 0), None, None, None, CancelToken()))  # type: ignore[arg-type]
        self._thread.join(timeout=5)
