"""textDocument/hover: the actual and predicted trace of the function or call under the cursor.

The hover never waits for a whole generation: it starts (or joins) the prediction, waits
briefly, and shows what is ready with "in progress"; the next hover shows more. Problems
(syntax errors, unreadable files, no model) are shown as the hover text itself.
"""

from __future__ import annotations

import asyncio
import logging

from lsprotocol import types

from semcoder_inference.errors import SemcoderError

from .calls import byte_col, function_called_at
from .tracing import NothingToTrace

log = logging.getLogger(__name__)

HOVER_PREDICTION_WAIT_S = 0.8


def _markdown(text: str) -> types.Hover:
    return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text))


def _on_a_call(info, pos: types.Position) -> bool:
    if not 0 <= pos.line < len(info.lines):
        return False
    return function_called_at(info, pos.line, byte_col(info.lines[pos.line], pos.character)) is not None


def register(server) -> None:
    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def on_hover(ls, params: types.HoverParams) -> types.Hover | None:
        uri, pos = params.text_document.uri, params.position
        try:
            target = await ls.tracing.find_target(uri, line=pos.line, character=pos.character)
        except NothingToTrace as exc:
            # Only say something when the cursor is on a function or a call of one (not on
            # every word).
            try:
                info = ls.documents.analysis(uri)
                if info.function_at(pos.line) is None and not _on_a_call(info, pos):
                    return None
            except SemcoderError:
                return None
            return _markdown(f"**SemCoder** · {exc}")
        except SemcoderError as exc:
            return _markdown(f"**SemCoder** · {exc}")
        try:
            job = await ls.tracing.run(target)
        except SemcoderError as exc:
            return _markdown(f"**SemCoder** · {exc}")
        if not job.run.finished:
            try:
                await asyncio.wait_for(asyncio.shield(job.run.done.wait()), HOVER_PREDICTION_WAIT_S)
            except asyncio.TimeoutError:
                pass
        return _markdown(job.result()["markdown"])
