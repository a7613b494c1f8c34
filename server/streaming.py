"""Custom streaming requests: semcoder/trace, semcoder/repair, semcoder/predictInput.

Each takes a client-chosen `partialResultToken`; new parts go out as `$/progress`
notifications on it while the model generates, and the final response carries the whole
result. `$/cancelRequest` cancels the handler's task; the handler then sets the engine's
stop flag, so generation stops between two tokens. Payloads: docs/lsp-protocol.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from semcoder_inference.errors import SemcoderError

from .convert import plain

log = logging.getLogger(__name__)

TRACE = "semcoder/trace"
REPAIR = "semcoder/repair"
PREDICT_INPUT = "semcoder/predictInput"


class Reporter:
    """Sends partial results and work-done progress for one request."""

    def __init__(self, ls, params: dict, title: str) -> None:
        self.ls = ls
        self.partial_token = params.get("partialResultToken")
        self.work_token = params.get("workDoneToken")
        self.title = title
        self.sent = 0
        self.started = time.perf_counter()
        self.first_text_at: float | None = None

    def partial(self, value: dict) -> None:
        if self.partial_token is None:
            return
        if self.first_text_at is None and value.get("monologueDelta"):
            self.first_text_at = time.perf_counter()
        self.sent += 1
        self.ls.progress(types.ProgressParams(token=self.partial_token, value=value))

    def begin(self) -> None:
        if self.work_token is not None:
            self.ls.work_done_progress.begin(self.work_token, types.WorkDoneProgressBegin(title=self.title, cancellable=True))

    def report(self, message: str) -> None:
        if self.work_token is not None:
            self.ls.work_done_progress.report(self.work_token, types.WorkDoneProgressReport(message=message))

    def end(self, message: str) -> None:
        if self.work_token is not None:
            self.ls.work_done_progress.end(self.work_token, types.WorkDoneProgressEnd(message=message))


def _params(raw: Any) -> dict:
    params = plain(raw)
    if not isinstance(params, dict):
        raise JsonRpcInvalidParams.of(ValueError("params must be an object"))
    doc = params.get("textDocument")
    if not isinstance(doc, dict) or not isinstance(doc.get("uri"), str):
        raise JsonRpcInvalidParams.of(ValueError("params.textDocument.uri is required"))
    return params


def _invalid(message: str) -> JsonRpcInvalidParams:
    from pygls.exceptions import JsonRpcInvalidParams as E

    return E(message)


async def _follow(run, reporter: Reporter) -> None:
    """Forward a prediction run's parts to the client until it ends; cancel it if the
    request is cancelled."""
    if run.finished:
        return  # a cached or finished run: the response carries everything
    if run.monologue or run.steps:
        # Joining a run already under way: send what it has so far in one partial.
        reporter.partial({"monologueDelta": run.monologue, "steps": list(run.steps), "status": "generating"})
    queue: asyncio.Queue = asyncio.Queue()
    run.listeners.append(queue.put_nowait)
    try:
        while not run.finished or not queue.empty():
            getter = asyncio.ensure_future(queue.get())
            waiter = asyncio.ensure_future(run.done.wait())
            done, _ = await asyncio.wait({getter, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if getter in done:
                part = getter.result()
                value = dict(part)
                if part.get("steps"):
                    from .results import predicted_line_states

                    value["lineStates"] = predicted_line_states(part["steps"])
                reporter.partial(value)
                if part.get("steps"):
                    reporter.report(f"{len(run.steps)} steps")
            else:
                getter.cancel()
    except asyncio.CancelledError:
        run.cancel.cancel()  # the stop flag reaches the engine's token loop
        raise
    finally:
        if queue.put_nowait in run.listeners:
            run.listeners.remove(queue.put_nowait)


def register(server) -> None:
    @server.feature(TRACE)
    async def trace(ls, raw) -> dict:
        params = _params(raw)
        uri = params["textDocument"]["uri"]
        pos = params.get("position") or {}
        reporter = Reporter(ls, params, "SemCoder: tracing")
        try:
            target = await ls.tracing.find_target(
                uri, line=pos.get("line"), character=pos.get("character"),
                function=params.get("function"), call=params.get("call"),
            )
        except SemcoderError as exc:
            raise _invalid(str(exc)) from None
        reporter.begin()
        run = ls.tracing.start_prediction(target, predict=params.get("predict", True) is not False)
        follower = asyncio.ensure_future(_follow(run, reporter))
        try:
            job = await ls.tracing.run(target, execute=params.get("execute", True) is not False,
                                       predict=params.get("predict", True) is not False)
            if job.actual is not None:
                reporter.partial({"actual": job.actual})
            await follower
        except asyncio.CancelledError:
            run.cancel.cancel()
            follower.cancel()
            reporter.end("cancelled")
            raise
        reporter.end(job.run.status)
        result = job.result()
        # Where the time went, for clients and bench/lsp.py: request received -> first model
        # text sent, against the engine's own time to first token of the same generation.
        result["timing"] = {
            "requestToFirstPartialS": (reporter.first_text_at - reporter.started) if reporter.first_text_at else None,
            "engineTtftS": job.run.engine_ttft_s,
        }
        return result

    @server.feature(REPAIR)
    async def repair(ls, raw) -> dict:
        from .code_actions import repair_function

        params = _params(raw)
        uri = params["textDocument"]["uri"]
        pos = params.get("position") or {}
        reporter = Reporter(ls, params, "SemCoder: repairing")
        reporter.begin()
        try:
            result = await repair_function(
                ls, uri, line=pos.get("line"), character=pos.get("character"), function=params.get("function"),
                call=params.get("call"),
                expected=params.get("expected"), candidates=int(params.get("candidates") or 1),
                on_text=lambda d: reporter.partial({"textDelta": d}),
                on_candidate=lambda c: reporter.partial({"candidate": c}),
            )
        except SemcoderError as exc:
            reporter.end("failed")
            raise _invalid(str(exc)) from None
        reporter.end(f"{len(result['candidates'])} candidates")
        return result

    @server.feature(PREDICT_INPUT)
    async def predict_input(ls, raw) -> dict:
        from .code_lens import predict_input as run_backward

        params = _params(raw)
        reporter = Reporter(ls, params, "SemCoder: proposing an input")
        function, output = params.get("function"), params.get("output")
        if not isinstance(function, str) or not isinstance(output, str):
            raise _invalid("semcoder/predictInput needs `function` and `output` (strings).")
        reporter.begin()
        try:
            result = await run_backward(ls, params["textDocument"]["uri"], function, output,
                                        on_text=lambda d: reporter.partial({"monologueDelta": d}))
        except SemcoderError as exc:
            reporter.end("failed")
            raise _invalid(str(exc)) from None
        reporter.end("done")
        return result
