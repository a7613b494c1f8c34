"""Model predictions of one call, streamed, shared and cached.

A PredictionRun is the model's forward monologue for (function source, call): it fills in
as tokens arrive (monologue text, parsed steps mapped to document lines, the answer), and
any number of listeners (a `semcoder/trace` request, the inlay-hint refresher) receive the
new parts. Hovers read its current state, so a hover during generation shows what is ready
and the next hover shows more. Finished runs go to the cache (memory and disk).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from semcoder_inference.engine import CancelToken, GenerationParams
from semcoder_inference.errors import CancelledError, SemcoderError
from semcoder_inference.formats import ANSWER_STOP
from semcoder_inference.predict import predict_output

from .cache import ResultCache, make_key
from .model import ModelManager
from .settings import Settings
from .worker import INTERACTIVE, ModelWorker

log = logging.getLogger(__name__)

Listener = Callable[[dict], None]


@dataclass
class PredictionRun:
    key: str
    function: str
    call: str
    status: str = "pending"  # pending | generating | complete | cancelled | error | unavailable
    message: str | None = None
    monologue: str = ""
    tokens: int = 0  # generated so far, as the engine counts them
    steps: list[dict] = field(default_factory=list)
    output: str | None = None
    model_id: str | None = None
    cancel: CancelToken = field(default_factory=CancelToken)
    listeners: list[Listener] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    started_at: float = field(default_factory=time.perf_counter)
    first_partial_at: float | None = None
    uri: str | None = None
    source_hash: str | None = None
    priority: int = INTERACTIVE
    function_source: str | None = None  # to tell cheaply whether an edit made it stale
    has_inlay_listener: bool = False
    engine_ttft_s: float | None = None  # the engine's own time to first token for this run
    # The function's first line when the prediction was made: its steps name document lines
    # of then, and the run is shared (and cached) by the function's code, wherever it is now.
    function_start: int | None = None
    answer_reason: str | None = None  # why the answer states no value (predict's own words)
    preempted: bool = False  # cancelled to make room for the user's request; retry later

    def to_dict(self) -> dict:
        return {
            "status": self.status, "message": self.message, "monologue": self.monologue,
            "steps": list(self.steps), "output": self.output, "modelId": self.model_id,
            "functionStart": self.function_start,
        }

    def emit(self, partial: dict) -> None:
        if self.first_partial_at is None:
            self.first_partial_at = time.perf_counter()
        for listener in list(self.listeners):
            try:
                listener(partial)
            except Exception:
                log.exception("prediction listener failed")

    @property
    def finished(self) -> bool:
        return self.done.is_set()


def _step_dict(step: Any) -> dict:
    """A PredictedStep with 0-based document lines (the module's own lines only)."""
    return {"index": step.index, "text": step.text, "lines": [n - 1 for n in step.lines],
            "mentions": [list(m) for m in step.mentions]}


def _finished_run(key: str, function: str, call: str, data: dict) -> PredictionRun:
    run = PredictionRun(key, function, call, status=data.get("status", "complete"),
                        message=data.get("message"), monologue=data.get("monologue", ""),
                        steps=list(data.get("steps", [])), output=data.get("output"),
                        model_id=data.get("modelId"), function_start=data.get("functionStart"))
    run.done.set()
    return run


class Predictor:
    """Starts, shares, cancels and caches prediction runs."""

    def __init__(self, worker: ModelWorker, models: ModelManager, cache: ResultCache) -> None:
        self.worker = worker
        self.models = models
        self.cache = cache
        self.runs: dict[str, PredictionRun] = {}  # in flight or finished this session
        self.settings = Settings()
        self.cancelled_count = 0  # runs cancelled because they went stale or were preempted

    def key_for(self, code: str, call: str) -> str:
        return make_key("forward", code, call, self.models.model_id, self.settings.prediction_key())

    def get_or_start(
        self,
        *,
        key_code: str,
        source: str,
        path: str | None,
        workspace_root: str | None,
        call: str,
        function: str,
        priority: int = INTERACTIVE,
        uri: str | None = None,
        source_hash: str | None = None,
        function_source: str | None = None,
        function_start: int | None = None,
    ) -> PredictionRun:
        """The run for (code, call): finished from the cache, in flight, or newly started.

        `key_code` is the function with its dependencies (what the answer depends on);
        `source` is the whole module, from which predict_output cuts the prompt's slice."""
        if self.models.engine is None or self.models.state == "error":
            run = PredictionRun("", function, call, status="unavailable", message=self.models.message)
            run.done.set()
            return run
        key = self.key_for(key_code, call)
        if priority == INTERACTIVE:
            self._preempt_background(keep=key)
        run = self.runs.get(key)
        if run is not None and run.status not in ("cancelled", "error", "unavailable"):
            if not (priority < run.priority and run.status == "pending"):
                return run
            self._preempt(run)  # still queued as background: requeue it for the user
        cached = self.cache.get("forward", key)
        if cached is not None:
            run = _finished_run(key, function, call, cached)
            self.runs[key] = run
            return run
        run = PredictionRun(key, function, call, model_id=self.models.model_id, uri=uri,
                            source_hash=source_hash, priority=priority, function_source=function_source,
                            function_start=function_start)
        self._prune()
        self.runs[key] = run
        asyncio.get_running_loop().create_task(
            self._generate(run, source, path, workspace_root, function, call, priority))
        return run

    async def _generate(self, run: PredictionRun, source: str, path: str | None, workspace_root: str | None,
                        function: str, call: str, priority: int) -> None:
        try:
            if self.models.state in ("configured", "loading"):
                run.message = "Loading the model (once per session)…"
            try:
                engine = await self.models.ensure_loaded()
            except SemcoderError as exc:
                run.status, run.message = "unavailable", str(exc)
                run.emit({"status": "done"})
                return
            if run.cancel.cancelled:
                run.status = "cancelled"
                return
            run.message = None
            loop = asyncio.get_running_loop()
            s = self.settings.model
            params = GenerationParams(max_tokens=s.maxTokens, temperature=s.temperature, stop=(ANSWER_STOP,))

            def on_event(event: Any) -> None:  # on the event loop
                if run.status == "pending":
                    run.status = "generating"
                if event.kind == "delta":
                    run.monologue += event.text
                    # Tokens generated so far (the engine's own count), for a client's tokens/s.
                    run.tokens = engine.last_stats.generated_tokens
                    run.emit({"monologueDelta": event.text, "status": "generating", "tokens": run.tokens})
                elif event.kind == "step":
                    step = _step_dict(event.step)
                    run.steps.append(step)
                    run.emit({"steps": [step], "status": "generating"})
                elif event.kind == "answer":
                    run.output = event.value
                    run.answer_reason = event.reason  # why there is no value, in words

            def work() -> None:  # on the model worker thread
                for event in predict_output(engine, source, function, call, params, run.cancel,
                                            path=path, workspace_root=workspace_root):
                    loop.call_soon_threadsafe(on_event, event)
                run.engine_ttft_s = engine.last_stats.time_to_first_token_s

            run.emit({"status": "generating"})
            try:
                await self.worker.submit(work, priority=priority, cancel=run.cancel)
            except CancelledError:
                run.status = "cancelled"
                return
            except SemcoderError as exc:
                run.status, run.message = "error", f"The model failed while generating: {exc}"
                run.emit({"status": "done"})
                return
            await asyncio.sleep(0)  # let the events posted by the worker run first
            if run.cancel.cancelled:
                run.status = "cancelled"
                return
            run.status = "complete"
            if run.output is None:
                # (cut off by the token limit, no [/ANSWER], or an answer that states no value)
                reason = run.answer_reason
                run.message = f"The model gave no answer: {reason}." if reason else "The model gave no [ANSWER]."
            self.cache.put("forward", run.key, run.to_dict())
            final: dict[str, Any] = {"status": "done"}
            if run.output is not None:
                final["output"] = run.output
            run.emit(final)
        finally:
            run.done.set()

    def _prune(self, keep: int = 500) -> None:
        """Forget finished runs beyond `keep` (they live on in the cache)."""
        if len(self.runs) <= keep:
            return
        for key in [k for k, r in self.runs.items() if r.finished][: len(self.runs) - keep]:
            del self.runs[key]

    def _preempt(self, run: PredictionRun) -> None:
        self.cancelled_count += 1
        run.preempted = True
        run.cancel.cancel()
        run.status = "cancelled"
        if self.runs.get(run.key) is run:
            del self.runs[run.key]

    def _preempt_background(self, keep: str) -> None:
        """The user is waiting: stop background generations (they are retried later)."""
        for run in list(self.runs.values()):
            if run.priority != INTERACTIVE and not run.finished and run.key != keep:
                self._preempt(run)

    def cancel_where(self, predicate: Callable[[PredictionRun], bool]) -> int:
        """Cancel unfinished runs matching `predicate` (stale document versions)."""
        count = 0
        for key, run in list(self.runs.items()):
            if not run.finished and predicate(run):
                self.cancelled_count += 1
                run.cancel.cancel()
                run.status = "cancelled"
                self.runs.pop(key, None)
                count += 1
        return count
