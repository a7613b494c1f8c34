"""textDocument/inlayHint: per-line values from the latest trace of each function.

Actual values are shown plainly; predicted ones are marked with "≈" and a tooltip. Hints
only appear while the function's source is the one that was traced.
"""

from __future__ import annotations

from lsprotocol import types

from semcoder_inference.errors import SemcoderError

from .calls import utf16_col

MAX_HINT_CHARS = 80


def register(server) -> None:
    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT)
    def on_inlay_hint(ls, params: types.InlayHintParams) -> list[types.InlayHint]:
        uri = params.text_document.uri
        try:
            info = ls.documents.analysis(uri)
        except SemcoderError:
            return []
        first, last = params.range.start.line, params.range.end.line
        hints: list[types.InlayHint] = []
        for fn in info.functions.values():
            if fn.end < first or fn.start > last:
                continue
            job = ls.latest.get((uri, fn.name))
            if job is None or job.target.function.source_hash != fn.source_hash:
                continue
            for state in job.result()["lineStates"]:
                line = state["line"]
                if not (first <= line <= last) or line >= len(info.lines):
                    continue
                text = ", ".join(f"{k} = {v}" for k, v in state["values"].items())
                if len(text) > MAX_HINT_CHARS:
                    text = text[: MAX_HINT_CHARS - 1] + "…"
                predicted = state["source"] == "predicted"
                hints.append(types.InlayHint(
                    position=types.Position(line=line, character=utf16_col(info.lines[line], len(info.lines[line].encode()))),
                    label=("≈ " if predicted else "") + text,
                    padding_left=True,
                    tooltip=f"{'predicted by SemCoder' if predicted else 'actual run'}: {job.target.call.call}",
                ))
        return hints
