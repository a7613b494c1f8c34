"""textDocument/hover: the actual and predicted trace of the function or call under the cursor.

The hover never waits for a whole generation: it starts (or joins) the prediction, waits
briefly, and shows what is ready with "in progress"; the next hover shows more. Problems
(syntax errors, unreadable files, no model) are shown as the hover text itself.
"""

from __future__ import annotations

import ast
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


def _docstring_example(info, line: int) -> str | None:
    """Why a doctest example of a class's or the module's docstring (its `>>>` line, a
    `...` line, its output) is not traced, in words; None off such an example."""
    tree = info.tree or ast.parse(info.text)
    owners = [(tree, "the module's docstring")] + [
        (node, f"the docstring of the class `{node.name}`") for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    for owner, what in owners:
        body = getattr(owner, "body", None)
        first = body[0] if body else None
        if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)):
            continue
        start, end = first.lineno - 1, (first.end_lineno or first.lineno) - 1
        if not start <= line <= end or ">>>" not in first.value.value:
            continue
        # (the example the line belongs to: a `>>>` line at it or above, within the docstring)
        if not any(info.lines[at].lstrip().startswith(">>>") for at in range(line, start - 1, -1)
                   if at < len(info.lines)):
            return None
        return (f"This doctest example is in {what}: SemCoder traces and judges the examples of functions' and "
                "methods' docstrings, not those of a class's or the module's (doctest still runs them: `python -m "
                "doctest`, or pytest's `--doctest-modules`). Hover a method it calls, or move the example into "
                "that method's docstring, to see its trace.")
    return None


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
                    note = _docstring_example(info, pos.line)
                    return _markdown(f"**SemCoder** · {note}") if note else None
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
