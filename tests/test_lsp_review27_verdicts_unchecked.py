"""A file's checks after the first 20 (diagnostics.MAX_CHECKED_CALLS) are not run for
diagnostics, but checked when hovered: that was silent, so a failing 21st assert looked as
good as a passing one. One Information diagnostic (source semcoder) now marks the first of
them and says so; no quick fix is offered on it. One note rather than one per check: a file
of 200 asserts would show 180 notes each saying the same."""

from __future__ import annotations

import asyncio

from lsprotocol import types

from lsp_helpers import (EXEC_ON, diagnostics_for, hover, line_of, open_document, replace_document, running_server,
                         wait_for)

MANY = "def double(x):\n    return 2 * x\n\n\n" + "".join(
    f"assert double({i}) == {2 * i + (1 if i in (0, 21) else 0)}\n" for i in range(23))


async def test_the_first_unchecked_check_says_it_is_not_run(tmp_path):
    path = tmp_path / "many.py"
    path.write_text(MANY)
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        await wait_for(lambda: len(diagnostics_for(client, uri)) == 2, timeout=60)
        await asyncio.sleep(1)
        found = diagnostics_for(client, uri)
        assert [(d.range.start.line, d.severity, d.source) for d in found] == [
            (line_of(MANY, "double(0) =="), types.DiagnosticSeverity.Error, "semcoder"),
            (line_of(MANY, "double(20) =="), types.DiagnosticSeverity.Information, "semcoder")]
        note = found[1]
        assert note.message == ("SemCoder runs the first 20 checks of a file (asserts, doctests, `# semcoder:` calls) "
                                "for diagnostics: this check and the 2 after it are not run, but checked when hovered.")
        # (the failing 22nd assert has no Error: it is not run; a hover checks it)
        line = line_of(MANY, "double(21) ==")
        text = await hover(client, uri, line, 8)
        assert "⚠ assert failed: double(21) returned 42, expected 43" in text, text

        line = note.range.start.line
        actions = await client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=line, character=0), end=types.Position(line=line, character=5)),
            context=types.CodeActionContext(diagnostics=[note])))
        assert not actions

        # An edit elsewhere in the file keeps the note until the next pass places it again.
        replace_document(client, uri, MANY.replace("return 2 * x", "return x + x"), 2)
        await asyncio.sleep(0.1)
        assert any(d.code == "unchecked-checks" for d in diagnostics_for(client, uri))
        await wait_for(lambda: len(diagnostics_for(client, uri)) == 2, timeout=60)


async def test_no_note_where_every_check_is_run(tmp_path):
    path = tmp_path / "few.py"
    text = "def double(x):\n    return 2 * x\n\n\n" + "".join(f"assert double({i}) == {2 * i}\n" for i in range(19)) + \
        "assert double(1) == 3\n"
    path.write_text(text)
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        await wait_for(lambda: len(diagnostics_for(client, uri)) == 1, timeout=60)
        await asyncio.sleep(1)
        assert [d.severity for d in diagnostics_for(client, uri)] == [types.DiagnosticSeverity.Error]
