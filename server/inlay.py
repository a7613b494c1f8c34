"""textDocument/inlayHint: per-line values from the latest trace of each function.

Actual values are shown plainly; predicted ones are marked with "≈" and a tooltip. Hints
only appear while what the run depended on is unchanged: the function's own source, and the
file's definitions (helpers, classes, constants, imports: what the sandbox ran before the
call, the same notion that keys the real-trace memo, see tracing.Tracing.actual_trace), read
without their positions. A function that only moved (lines inserted or deleted above it)
keeps its hints, moved by as many lines as it moved. Real values are only shown while
execution is enabled, and are forgotten when the execution settings change.

Where the trace was cut before the run ended (its events limit: a long loop), a line's
values end in "… (trace cut)", as in the hover's table, kept when the hint is shortened, and
every hint's tooltip says so: the last value shown is not where the run ended.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import re

from lsprotocol import types

from semcoder_inference.errors import SemcoderError

from .calls import ModuleInfo, utf16_col
from .execution import definitions_only, without_top_level_asserts
from .results import TRACE_CUT, trace_cut

MAX_HINT_CHARS = 80
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # as Python counts the ast's lines


def run_fingerprint(info: ModuleInfo, watched: bool = False) -> str:
    """What a run of a call in this version of the file depends on, without line numbers:
    the text of each top-level statement the run executes, in order. For a replayed call
    that is the file's definitions (definitions_only, as the sandbox runs them); for a call
    traced where the file makes it (watched), the whole file but its top-level asserts.
    Blank lines and comments between statements do not count, so inserting or deleting
    them above a function keeps its fingerprint. Cached on the (per-version) analysis."""
    cache = vars(info).setdefault("_run_fingerprints", {})
    found = cache.get(watched)
    if found is not None:
        return found
    tree = info.tree
    if tree is None:
        tree = info.tree = ast.parse(info.text)
    ran = _LINE_BREAK.split((without_top_level_asserts if watched else definitions_only)(info.text, tree))
    digest = hashlib.sha256()
    for node in tree.body:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", ())])
        text = "\n".join(ran[first - 1 : node.end_lineno or node.lineno])
        if text.strip():  # blanked: not run
            digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    cache[watched] = found = digest.hexdigest()[:16]
    return found


def forget_actual(ls) -> None:
    """Drop the real-run part of every remembered trace (the execution settings changed:
    execution turned off, or another interpreter or limits), keep the predictions, and ask
    the client to fetch its hints again."""
    for key, job in list(ls.latest.items()):
        if job.actual is not None:
            ls.latest[key] = dataclasses.replace(job, actual=None)
    ls.request_inlay_refresh()


def register(server) -> None:
    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT)
    def on_inlay_hint(ls, params: types.InlayHintParams) -> list[types.InlayHint]:
        uri = params.text_document.uri
        try:
            info = ls.documents.analysis(uri)
        except SemcoderError:
            return []
        first, last = params.range.start.line, params.range.end.line
        show_actual = ls.settings.execution.enabled
        hints: list[types.InlayHint] = []
        for fn in info.functions.values():
            if fn.end < first or fn.start > last:
                continue
            job = ls.latest.get((uri, fn.name))
            if job is None:
                continue
            traced = job.target.function
            if traced.source_hash != fn.source_hash:
                continue  # the function changed
            watched = job.target.call.watched
            if job.target.info is not info and run_fingerprint(job.target.info, watched) != run_fingerprint(info, watched):
                continue  # something the run depended on changed (a helper, a global, an import)
            # Lines are where the function was when it was traced; it may have moved since.
            shift = fn.start - traced.start
            if job.actual is not None and not show_actual:
                job = dataclasses.replace(job, actual=None)  # (a run that ended as execution was turned off)
            cut = ""
            if trace_cut(job.actual):
                why = "stopped early" if job.actual.get("trace_stopped") else "was cut at its events limit"
                cut = f" (the trace {why}: later values are not shown)"
            for state in job.result()["lineStates"]:  # the rows the hover shows
                if not traced.start <= state["line"] <= traced.end:
                    continue  # (a predicted step on another function's line)
                line = state["line"] + shift
                if not (first <= line <= last) or line >= len(info.lines):
                    continue
                text = ", ".join(f"{k} = {v}" for k, v in state["values"].items())
                if len(text) > MAX_HINT_CHARS:
                    # (a line whose values the trace cut keeps saying so at its end)
                    end = " " + TRACE_CUT if state.get("cut") else "…"
                    text = text[: MAX_HINT_CHARS - len(end)] + end
                predicted_state = state["source"] == "predicted"
                hints.append(types.InlayHint(
                    position=types.Position(line=line, character=utf16_col(info.lines[line], len(info.lines[line].encode()))),
                    label=("≈ " if predicted_state else "") + text,
                    padding_left=True,
                    tooltip=(f"{'predicted by SemCoder' if predicted_state else 'actual run' + cut}: "
                             f"{job.target.call.call}"),
                ))
        return hints
