"""Diagnostics: failing calls from real runs (errors) and predicted failures (hints).

Per document, work is debounced after edits and cancelled when the document changes
again. A real run of an assert, a doctest or a `# semcoder:` call that raises (or stops
at a limit), or of an assert or doctest whose value fails it (an assert as Python decides
it: `==` evaluated in the sandbox; a doctest by the printed text), gives an Error at the
failing line; a predicted failure gives a Hint marked "predicted:". A diagnostic belongs
to a function's source hash, so it disappears as soon as that function changes. A change
on disk to another Python file of the workspace (a save, the client's file watcher) runs
the other documents' checks again: their runs may import it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from lsprotocol import types

from semcoder_inference.errors import SemcoderError

from .calls import CallSite, ModuleInfo, utf16_col
from .results import DoctestWant, expectation_failure, judge_doctest, same_literal
from .tracing import Target
from .worker import BACKGROUND

log = logging.getLogger(__name__)

DEBOUNCE_S = 0.3
MAX_CHECKED_CALLS = 20
MAX_PREDICTED_CALLS = 5
MAX_PREEMPTIONS = 20
LARGE_FILE_LINES = 5000
PREEMPTED_RETRY_S = 1.0

_tasks: dict[str, asyncio.Task] = {}


def cancel_all() -> None:
    """At shutdown: checks still waiting or running stop (their runs would find the
    executor closed)."""
    for task in _tasks.values():
        task.cancel()
    _tasks.clear()
_published: dict[str, list[types.Diagnostic]] = {}


def schedule(ls, uri: str, *, delay: float = DEBOUNCE_S) -> None:
    """(Re)start the diagnostics of `uri` after `delay` seconds of quiet. Runs on each
    didOpen, didChange and didSave: a document whose file changed on disk (saved) makes
    what the other documents' runs gave stale, as they may import it (_others_changed)."""
    if ls.tracing.notice_disk_state(uri):
        _others_changed(ls, {ls.documents.path(uri)})
    _schedule(ls, uri, delay)


def _schedule(ls, uri: str, delay: float) -> None:
    old = _tasks.pop(uri, None)
    if old is not None:
        old.cancel()
    _tasks[uri] = asyncio.get_event_loop().create_task(_run(ls, uri, delay))


def on_document_changed(ls, uri: str) -> None:
    """Cancel model work and drop diagnostics of functions whose source changed.

    Runs on every keystroke, so it avoids parsing: a run is stale when its function's text
    no longer occurs in the document. Diagnostics need the functions' hashes, which needs a
    parse; for very large files that waits for the debounced pass."""
    try:
        text = ls.documents.text(uri)
    except SemcoderError:
        text = ""
    ls.predictor.cancel_where(
        lambda run: run.uri == uri and (run.function_source is None or run.function_source not in text))
    current = _published.get(uri)
    if not current or text.count("\n") > LARGE_FILE_LINES:
        return
    try:
        info = ls.documents.analysis(uri)
        hashes = {fn.source_hash for fn in info.functions.values()}
    except SemcoderError:
        hashes = set()
    kept = [d for d in current if (d.data or {}).get("sourceHash") in hashes]
    if len(kept) != len(current):
        _publish(ls, uri, kept)


def _others_changed(ls, changed: set[str]) -> None:
    """Files (paths) changed on disk: check the other open documents again, and drop the
    real values the inlay hints of other files show (a hover traces them again)."""
    for other in list(ls.workspace.text_documents):
        if changed - {ls.documents.path(other)}:
            _schedule(ls, other, DEBOUNCE_S)
    dropped = False
    for key, job in list(ls.latest.items()):
        if job.actual is not None and changed - {ls.documents.path(key[0])}:
            ls.latest[key] = dataclasses.replace(job, actual=None)
            dropped = True
    if dropped:
        ls.request_inlay_refresh()


def on_document_closed(ls, uri: str) -> None:
    if ls.tracing.notice_disk_state(uri):
        _others_changed(ls, {ls.documents.path(uri)})
    task = _tasks.pop(uri, None)
    if task is not None:
        task.cancel()
    ls.predictor.cancel_where(lambda run: run.uri == uri)
    _publish(ls, uri, [])
    _published.pop(uri, None)


def _publish(ls, uri: str, diagnostics: list[types.Diagnostic]) -> None:
    _published[uri] = diagnostics
    ls.text_document_publish_diagnostics(
        types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=ls.documents.version(uri))
    )


def _line_range(info: ModuleInfo, line: int) -> types.Range:
    """The line without its indentation, in UTF-16 code units (LSP's positions)."""
    line = max(0, min(line, len(info.lines) - 1)) if info.lines else 0
    text = info.lines[line] if info.lines else ""
    indent = len(text) - len(text.lstrip())
    return types.Range(start=types.Position(line=line, character=utf16_col(text, len(text[:indent].encode()))),
                       end=types.Position(line=line, character=utf16_col(text, len(text.encode()))))


def failing_line(trace: dict, site: CallSite, fn_start: int, fn_end: int) -> int:
    """The line to mark: where the exception was raised inside the function, else the call."""
    exc = trace.get("exception") or {}
    frames = [f.get("line") for f in exc.get("traceback") or [] if isinstance(f.get("line"), int)]
    for line in reversed(frames + [exc.get("line")]):
        if isinstance(line, int) and fn_start <= line <= fn_end:
            return line
    return site.line


async def _run(ls, uri: str, delay: float) -> None:
    try:
        if delay:
            await asyncio.sleep(delay)
        try:
            info = ls.documents.analysis(uri)
        except SemcoderError:
            _publish(ls, uri, [])  # the hover explains syntax errors; nothing stale stays
            return
        # Asserts and doctests fail on a wrong value or an exception; a `# semcoder:` call
        # (no expected value) on an exception or a limit.
        sites = [c for c in info.calls if c.origin in ("assert", "doctest", "comment")][:MAX_CHECKED_CALLS]
        diagnostics: list[types.Diagnostic] = []
        if ls.settings.execution.enabled:
            for site in sites:
                fn = info.functions[site.function]
                target = Target(uri, info, fn, site)
                trace = await ls.tracing.actual_trace(target)
                problem = expectation_failure(trace, site.expected, doctest=site.origin == "doctest")
                if problem is None:
                    continue
                line = failing_line(trace, site, fn.start, fn.end)
                diagnostics.append(types.Diagnostic(
                    range=_line_range(info, line), message=problem, source="semcoder",
                    severity=types.DiagnosticSeverity.Error, code="failing-call",
                    data={"uri": uri, "function": fn.name, "call": site.call, "expected": site.expected,
                          "origin": site.origin, "kind": "actual", "sourceHash": fn.source_hash,
                          "callLine": site.line},
                ))
            _publish(ls, uri, diagnostics)
        elif ls.models.engine is not None:
            _publish(ls, uri, [])
            await _predicted(ls, uri, info, [s for s in sites if s.expected is not None][:MAX_PREDICTED_CALLS])
        else:
            _publish(ls, uri, [])
    except asyncio.CancelledError:
        pass
    except Exception:
        log.exception("diagnostics failed for %s", uri)


async def _predicted(ls, uri: str, info: ModuleInfo, sites: list[CallSite]) -> None:
    """Hints for asserts the model predicts to fail (background priority)."""
    diagnostics: list[types.Diagnostic] = []
    for site in sites:
        fn = info.functions[site.function]
        target = Target(uri, info, fn, site)
        # One at a time, so a user request preempts at most one; preempted runs are retried
        # after a pause (the user's request has gone first by then).
        for _ in range(MAX_PREEMPTIONS):
            run = ls.tracing.start_prediction(target, priority=BACKGROUND)
            await run.done.wait()
            if not run.preempted:
                break
            await asyncio.sleep(PREEMPTED_RETRY_S)
        if run.status != "complete" or run.output is None:
            continue
        # As expectation_failure decides it without a run: a doctest as doctest would judge
        # the predicted value's repr (its flags too), where one line is expected (more may be
        # printed text, which the model does not predict) and no exception; an assert's
        # literals with `==` (`2.0 == 2`); an expected expression says nothing.
        if site.origin == "doctest":
            want = DoctestWant.of(site.expected)
            one_value = want.exc_msg is None and want.want.count("\n") <= 1
            predicted = {"status": "ok", "stdout": "", "return": {"repr": run.output, "literal": True}}
            fails = one_value and judge_doctest(predicted, site.expected)[0] is False
        else:
            fails = same_literal(run.output, site.expected) is False
        if not fails:
            continue
        diagnostics.append(types.Diagnostic(
            range=_line_range(info, site.line),
            message=f"predicted: {site.call} returns {run.output}, expected {site.expected}",
            source="semcoder", severity=types.DiagnosticSeverity.Hint, code="predicted-failure",
            data={"uri": uri, "function": fn.name, "call": site.call, "expected": site.expected,
                  "origin": site.origin, "kind": "predicted", "sourceHash": fn.source_hash,
                  "callLine": site.line},
        ))
        _publish(ls, uri, list(diagnostics))


def register(server) -> None:
    """Diagnostics are pushed (publishDiagnostics). A Python file that changed on disk
    (workspace/didChangeWatchedFiles) makes the other documents' checks run again."""

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def on_watched_files(ls, params: types.DidChangeWatchedFilesParams) -> None:
        changed = [c.uri for c in params.changes if ls.documents.path(c.uri).endswith(".py")]
        for uri in changed:
            ls.tracing.workspace_file_changed(uri)
        if changed:
            _others_changed(ls, {ls.documents.path(uri) for uri in changed})
