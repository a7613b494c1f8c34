"""Inlay hints stay true to the document: they move with their function, go when what the
run depended on changes, and go when execution is turned off."""

from __future__ import annotations

from lsprotocol import types

from lsp_helpers import EXEC_ON, diagnostics_for, hover, open_document, replace_document, running_server, wait_for


async def inlay_hints(client, uri: str) -> dict[int, str]:
    """The hints of the whole document, as {line: label}."""
    hints = await client.text_document_inlay_hint_async(types.InlayHintParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=200, character=0))))
    labels: dict[int, str] = {}
    for hint in hints or []:
        assert hint.position.line not in labels, hints
        labels[hint.position.line] = hint.label
    return labels


SHAPES = (
    "def area(w, h):\n"
    "    a = w * h\n"
    "    return a\n"
    "\n"
    "\n"
    "def perimeter(w, h):\n"
    "    p = 2 * (w + h)\n"
    "    return p\n"
    "\n"
    "assert area(3, 4) == 12\n"
    "assert perimeter(3, 4) == 14\n"
)


async def test_hints_move_with_their_function_when_lines_are_inserted_or_deleted_above(tmp_path):
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "shapes.py", SHAPES)
        assert "returned `12`" in await hover(client, uri, 0, 5)
        assert "returned `14`" in await hover(client, uri, 5, 5)
        assert await inlay_hints(client, uri) == {
            0: "w = 3, h = 4", 1: "a = 12", 5: "w = 3, h = 4", 6: "p = 14"}

        # A comment and blank lines above both functions: nothing that runs changed, so the
        # hints stay, three lines further down, on the lines they belong to.
        text = "# Shapes.\n\n\n" + SHAPES
        replace_document(client, uri, text, 2)
        assert await inlay_hints(client, uri) == {
            3: "w = 3, h = 4", 4: "a = 12", 8: "w = 3, h = 4", 9: "p = 14"}

        # Delete the comment and a blank line between the two functions: each moves by its own amount.
        text = SHAPES.replace("\n\n\ndef perimeter", "\n\ndef perimeter")
        replace_document(client, uri, text, 3)
        assert await inlay_hints(client, uri) == {
            0: "w = 3, h = 4", 1: "a = 12", 4: "w = 3, h = 4", 5: "p = 14"}

        # An import above them is a change to what the run executes: no hint is kept from
        # the old runs (and none lands on `import os` or on a blank line) ...
        text = "import os\n\n\n" + text
        replace_document(client, uri, text, 4)
        assert await inlay_hints(client, uri) == {}
        # ... until the function is traced again.
        assert "returned `12`" in await hover(client, uri, 3, 5)
        assert await inlay_hints(client, uri) == {3: "w = 3, h = 4", 4: "a = 12"}


TOTAL = (
    "RATE = 3\n"
    "def scale(x): return x * RATE\n"
    "def total(items):\n"
    "    acc = 0\n"
    "    for it in items:\n"
    "        acc += scale(it)\n"
    "    return acc\n"
    "assert total([1, 2]) == 9\n"
)


async def test_hints_go_when_a_helper_or_a_global_the_run_used_changes(tmp_path):
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "total.py", TOTAL)
        assert "returned `9`" in await hover(client, uri, 2, 5)
        assert await inlay_hints(client, uri) == {
            2: "items = [1, 2]", 3: "acc = 0", 4: "it = 1 → 2", 5: "acc = 3 → 9"}

        # The helper changes: the real run now returns 90 (the diagnostic says so); the
        # hints of the old run do not stay beside it.
        text = TOTAL.replace("x * RATE", "x * RATE * 10")
        replace_document(client, uri, text, 2)
        await wait_for(lambda: any("returned 90" in d.message for d in diagnostics_for(client, uri)))
        assert await inlay_hints(client, uri) == {}
        assert "returned `90`" in await hover(client, uri, 2, 5)
        assert (await inlay_hints(client, uri))[5] == "acc = 30 → 90"

        # An edit to an assert (not run before the call) keeps them.
        text = text.replace("== 9\n", "== 90\n")
        replace_document(client, uri, text, 3)
        await wait_for(lambda: diagnostics_for(client, uri) == [])
        assert (await inlay_hints(client, uri))[5] == "acc = 30 → 90"

        # The global changes: they go again.
        text = text.replace("RATE = 3", "RATE = 4")
        replace_document(client, uri, text, 4)
        assert await inlay_hints(client, uri) == {}


async def test_real_values_go_when_execution_is_turned_off(tmp_path):
    source = "def area(w, h):\n    a = w * h\n    return a\n\nassert area(3, 4) == 13\n"
    async with running_server(tmp_path, configuration=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "area.py", source)
        await wait_for(lambda: len(diagnostics_for(client, uri)) == 1)
        assert "returned `12`" in await hover(client, uri, 0, 5)
        assert await inlay_hints(client, uri) == {0: "w = 3, h = 4", 1: "a = 12"}
        refreshes = client.inlay_refreshes

        # The workspace is no longer trusted: execution is turned off at runtime.
        client.set_configuration({"execution": {"enabled": False}}, section="semcoder")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        await wait_for(lambda: diagnostics_for(client, uri) == [])
        # the editor is asked to fetch its hints again, and the real values are gone
        await wait_for(lambda: client.inlay_refreshes > refreshes)
        assert await inlay_hints(client, uri) == {}
