"""A file's runs import the workspace's other files from disk: when one of them changes on
disk (saved in the editor, or changed by another program, as the file watcher tells), the
traces, inlay hints and diagnostics of the files that import it follow."""

from __future__ import annotations

from lsprotocol import types

from lsp_helpers import EXEC_ON, diagnostics_for, hover, open_document, replace_document, running_server, wait_for


HELPERS = "def scale(x):\n    return x * {}\n"
MAIN = (
    "from helpers import scale\n"
    "\n"
    "def total(n):\n"
    "    t = scale(n) + 1\n"
    "    return t\n"
    "\n"
    "assert total(2) == 5\n"
)


async def inlay_labels(client, uri):
    hints = await client.text_document_inlay_hint_async(types.InlayHintParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=7, character=0))))
    return [h.label for h in hints or []]


async def test_a_saved_change_to_an_imported_file_reaches_the_importing_file(tmp_path):
    helpers = tmp_path / "helpers.py"
    helpers.write_text(HELPERS.format(2))
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        main_uri = open_document(client, tmp_path / "main.py", MAIN)
        await wait_for(lambda: main_uri in client.diagnostics)
        assert diagnostics_for(client, main_uri) == []  # 2 * 2 + 1 == 5
        value = await hover(client, main_uri, 2, 5)
        assert "returned `5`" in value and "t = 5" in value, value
        assert "t = 5" in await inlay_labels(client, main_uri)

        # helpers.py is opened and edited, not saved: runs import the file on disk, as
        # Python would, so main.py's hover does not change yet.
        helpers_uri = open_document(client, helpers)
        replace_document(client, helpers_uri, HELPERS.format(3), 2)
        assert "returned `5`" in await hover(client, main_uri, 2, 5)

        # Saved: main.py's diagnostics, inlay hints and hover follow.
        helpers.write_text(HELPERS.format(3))
        client.text_document_did_save(types.DidSaveTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=helpers_uri)))
        await wait_for(lambda: [d.message for d in diagnostics_for(client, main_uri)]
                       == ["assert failed: total(2) returned 7, expected 5"])
        assert "t = 5" not in await inlay_labels(client, main_uri)  # until it is traced again
        value = await hover(client, main_uri, 2, 5)
        assert "returned `7`" in value and "t = 7" in value, value
        assert "⚠ assert failed: total(2) returned 7, expected 5" in value
        assert "t = 7" in await inlay_labels(client, main_uri)


async def test_a_change_on_disk_the_file_watcher_reports_reaches_open_files(tmp_path):
    helpers = tmp_path / "helpers.py"
    helpers.write_text(HELPERS.format(3))
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        main_uri = open_document(client, tmp_path / "main.py", MAIN)
        await wait_for(lambda: len(diagnostics_for(client, main_uri)) == 1)
        assert "returned `7`" in await hover(client, main_uri, 2, 5)

        # Another program (a `git checkout`, a formatter) writes helpers.py, never opened here.
        helpers.write_text(HELPERS.format(2))
        client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[
            types.FileEvent(uri=helpers.as_uri(), type=types.FileChangeType.Changed)]))
        await wait_for(lambda: diagnostics_for(client, main_uri) == [])
        value = await hover(client, main_uri, 2, 5)
        assert "returned `5`" in value and "✓ the assert passes: `total(2) == 5`" in value, value


async def test_the_server_asks_the_editor_to_watch_the_workspace_s_python_files(tmp_path):
    """Runs import the workspace's other files from disk: the server asks for their changes
    (a `git checkout`, a formatter), not only the saves it sees."""
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        await wait_for(lambda: client.registrations, timeout=10)
        watched = [r for r in client.registrations if r["method"] == "workspace/didChangeWatchedFiles"]
        assert [w["globPattern"] for w in watched[0]["registerOptions"]["watchers"]] == ["**/*.py"]
