"""Diagnostics: failing calls from real runs (errors) and predicted failures (hints).

Per document, work is debounced after edits and cancelled when the document changes
again. A real run of an assert, a doctest or a `# semcoder:` call that raises (or stops
at a limit), or of an assert or doctest whose value fails it (an assert as Python decides
it: `==` evaluated in the sandbox; a doctest by the printed text), gives an Error at the
failing line; a predicted failure gives a Hint marked "predicted:". A diagnostic belongs
to a function's source hash, so it disappears as soon as that function changes. A change
on disk to another Python file of the workspace (a save, the client's file watcher) runs
the other documents' checks again: their runs may import it.

Errors are published as the checks give them, not only once all have run (one check that
waits out its time limit would hold back the others): every PUBLISH_INTERVAL_S while
checks run, what is known so far, where it changed. A diagnostic of before whose check
has not run again yet stays meanwhile (no flicker), as long as its function and call
stand where they stood; the last publication is exactly what this pass found. Checks
that were slow (SLOW_CHECK_S) run after the others, and their diagnostics keep file order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

from lsprotocol import types

from semcoder_inference.errors import SemcoderError

from .calls import CallSite, ModuleInfo, utf16_col
from .results import DoctestWant, condition_of, expectation_failure, judge_doctest, same_literal, shorten
from .tracing import Target
from .worker import BACKGROUND

log = logging.getLogger(__name__)

DEBOUNCE_S = 0.3
MAX_CHECKED_CALLS = 20
MAX_PREDICTED_CALLS = 5
MAX_PREEMPTIONS = 20
LARGE_FILE_LINES = 5000
PREEMPTED_RETRY_S = 1.0
PUBLISH_INTERVAL_S = 0.5
SLOW_CHECK_S = 0.5

_tasks: dict[str, asyncio.Task] = {}
# Per document: the checks (see _check_key) that took SLOW_CHECK_S or more, run last.
_slow_checks: dict[str, set[tuple]] = {}


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
        hashes = {fn.source_hash for fn in info.functions.values()} | {
            imported.function.source_hash for imported in info.imported.values() if imported.function is not None}
    except SemcoderError:
        hashes = set()
    # (the note on the checks not run, UNCHECKED, stays until the next pass places it again)
    kept = [d for d in current if (d.data or {}).get("sourceHash") in hashes or d.code == UNCHECKED]
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
    _slow_checks.pop(uri, None)


def _distinct(diagnostics: list[types.Diagnostic]) -> list[types.Diagnostic]:
    """One diagnostic per range and message, the first (its data is what the quick fix
    uses): two asserts of one call that raises inside the function mark the same line with
    the same error."""
    seen: set[tuple] = set()
    kept = []
    for d in diagnostics:
        key = (d.range.start.line, d.range.start.character, d.range.end.line, d.range.end.character, d.message)
        if key not in seen:
            seen.add(key)
            kept.append(d)
    return kept


def _publish(ls, uri: str, diagnostics: list[types.Diagnostic]) -> None:
    diagnostics = _distinct(diagnostics)
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


def _site_range(info: ModuleInfo, site: CallSite, line: int) -> types.Range:
    """Where a check's diagnostic goes: on `line`, or, where that is a parametrized test's
    case line, the case alone (a line may hold several cases, each with its own verdict)."""
    if not (site.case and line == site.line and 0 <= line < len(info.lines) and site.start_col < site.end_col):
        return _line_range(info, line)
    text = info.lines[line]
    return types.Range(start=types.Position(line=line, character=utf16_col(text, site.start_col)),
                       end=types.Position(line=line, character=utf16_col(text, site.end_col)))


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
        checks = [c for c in info.calls if c.origin in ("assert", "doctest", "comment")]
        sites = checks[:MAX_CHECKED_CALLS]
        if ls.settings.execution.enabled:
            await _actual(ls, uri, info, sites, _unchecked_note(info, checks))
        elif ls.models.engine is not None:
            _publish(ls, uri, [])
            # (A call whose arguments are no literals is for a real run only: see CallSite.literal.)
            # (A condition around the call, results.CONDITION, is evaluated only in the sandbox.)
            # (An imported function is predicted in its own file, where its code is.)
            predictable = [site for site in sites if site.expected is not None and site.literal
                           and condition_of(site.expected) is None and site.function in info.functions]
            await _predicted(ls, uri, info, predictable[:MAX_PREDICTED_CALLS])
        else:
            _publish(ls, uri, [])
    except asyncio.CancelledError:
        pass
    except Exception:
        log.exception("diagnostics failed for %s", uri)


UNCHECKED = "unchecked-checks"


def _unchecked_note(info: ModuleInfo, checks: list[CallSite]) -> types.Diagnostic | None:
    """An Information on the first check past MAX_CHECKED_CALLS (in file order), saying that
    it and the later ones are not run for diagnostics, but when hovered; None where the file
    has no more checks than that. One note, not one per check: a file of 200 asserts would
    otherwise show 180 of them, each saying the same. It has no data: no quick fix is
    offered on it (code_actions takes a diagnostic with its check's data)."""
    if len(checks) <= MAX_CHECKED_CALLS:
        return None
    first, later = checks[MAX_CHECKED_CALLS], len(checks) - MAX_CHECKED_CALLS - 1
    rest = f"this check and the {later} after it are" if later else "this check is"
    return types.Diagnostic(
        range=_site_range(info, first, first.line),
        message=(f"SemCoder runs the first {MAX_CHECKED_CALLS} checks of a file (asserts, doctests, "
                 f"`# semcoder:` calls) for diagnostics: {rest} not run, but checked when hovered."),
        source="semcoder", severity=types.DiagnosticSeverity.Information, code=UNCHECKED)


async def _actual(ls, uri: str, info: ModuleInfo, sites: list[CallSite],
                  note: types.Diagnostic | None = None) -> None:
    """Run each check for real and publish the Errors: what is known every
    PUBLISH_INTERVAL_S while checks run (_publish_while_running), then exactly what this
    pass found, in the checks' order; and `note` (_unchecked_note), where there is one."""
    found: dict[int, types.Diagnostic | None] = {}  # a check's index -> its Error (None: it passes)
    before = _still_valid(uri, info, sites)

    def known() -> list[types.Diagnostic]:
        # Each check's new verdict where it has one, else its diagnostic of before.
        return [d for index in range(len(sites))
                for d in ([found[index]] if index in found else before.get(index, [])) if d is not None
                ] + ([note] if note is not None else [])

    slow = _slow_checks.setdefault(uri, set())
    keys = [_check_key(info, site) for site in sites]
    slow &= set(keys)  # (of checks that are gone: forgotten)
    ticker = asyncio.get_running_loop().create_task(_publish_while_running(ls, uri, known))
    try:
        for index in sorted(range(len(sites)), key=lambda i: keys[i] in slow):
            started = time.monotonic()
            found[index] = await _check(ls, uri, info, sites[index])
            if time.monotonic() - started >= SLOW_CHECK_S:
                slow.add(keys[index])
    finally:
        ticker.cancel()
    _publish(ls, uri, known())


async def _publish_while_running(ls, uri: str, known) -> None:
    """Every PUBLISH_INTERVAL_S, what `known()` gives, where it differs from what is shown."""
    while True:
        await asyncio.sleep(PUBLISH_INTERVAL_S)
        now = _distinct(known())
        if now != _published.get(uri, []):
            _publish(ls, uri, now)


async def _check(ls, uri: str, info: ModuleInfo, site: CallSite) -> types.Diagnostic | None:
    """One check's real run, judged: its Error, or None when it passes."""
    fn = info.function_named(site.function)
    trace = await ls.tracing.actual_trace(Target(uri, info, fn, site))
    problem = expectation_failure(trace, site.expected, doctest=site.origin == "doctest")
    if problem is None:
        return None
    imported = info.imported.get(site.function) if site.function not in info.functions else None
    # (an imported function's lines are its module's: the assert's line is marked)
    line = site.line if imported is not None else failing_line(trace, site, fn.start, fn.end)
    data = {"uri": uri, "function": site.function, "call": site.call, "expected": site.expected,
            "origin": site.origin, "kind": "actual", "sourceHash": fn.source_hash,
            "callLine": site.line, "functionStart": fn.start}
    if imported is not None:
        data["importedFrom"] = imported.path
    return types.Diagnostic(
        range=_site_range(info, site, line), message=problem, source="semcoder",
        severity=types.DiagnosticSeverity.Error, code="failing-call", data=data,
    )


def _check_key(info: ModuleInfo, site: CallSite) -> tuple:
    """A check, as long as neither its function's code nor the check changes (wherever it
    moves: a line added above keeps it slow)."""
    return (info.function_named(site.function).source_hash, site.origin, site.call, site.expected)


def _still_valid(uri: str, info: ModuleInfo, sites: list[CallSite]) -> dict[int, list[types.Diagnostic]]:
    """The Errors published for `uri` that this pass's checks would give again if nothing
    else changed, by the index of their check: the same function's code where it stood, the
    same call, expectation and line (shown until that check has run again)."""
    by_check = {(site.function, site.call, site.expected, site.origin, site.line): index
                for index, site in enumerate(sites)}
    kept: dict[int, list[types.Diagnostic]] = {}
    for diagnostic in _published.get(uri, []):
        data = diagnostic.data if isinstance(diagnostic.data, dict) else {}
        index = by_check.get((data.get("function"), data.get("call"), data.get("expected"), data.get("origin"),
                              data.get("callLine")))
        fn = info.function_named(data.get("function")) if index is not None else None
        if (data.get("kind") == "actual" and fn is not None and fn.source_hash == data.get("sourceHash")
                and fn.start == data.get("functionStart")):
            kept.setdefault(index, []).append(diagnostic)
    return kept


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
            range=_site_range(info, site, site.line),
            message=f"predicted: {shorten(site.call)} returns {shorten(run.output)}, expected {shorten(site.expected)}",
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
