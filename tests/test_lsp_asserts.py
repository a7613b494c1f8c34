"""Asserts are judged as Python judges them, everywhere the editor shows a verdict: the
diagnostics, the hover and the repair's check. Hover text shows values literally; stdout
says where it was cut; diagnostic ranges are in UTF-16 code units."""

from __future__ import annotations

from lsprotocol import types

from lsp_helpers import EXEC_ON, diagnostics_for, hover, line_of, open_document, replay_env, running_server, wait_for


PASSING = (
    "EXPECTED = 6\n"
    "def half(n): return n / 2\n"
    "def mk(a):\n"
    "    d = {\"b\": 2, \"a\": a}\n"
    "    return d\n"
    "def six(): return 6\n"
    "def flag(x): return x > 0\n"
    "class Temp:\n"
    "    def __init__(self, c):\n"
    "        self.c = c\n"
    "    @property\n"
    "    def fahrenheit(self):\n"
    "        return self.c * 9 / 5 + 32\n"
    "def test_six():\n"
    "    want = 6\n"
    "    assert six() == want\n"
    "assert half(4) == 2\n"
    "assert mk(1) == {\"a\": 1, \"b\": 2}\n"
    "assert six() == 2 * 3\n"
    "assert six() == EXPECTED\n"
    "assert flag(3) == 1\n"
    "assert Temp(100).fahrenheit == 212\n"
)

FAILING = (
    "assert half(5) == 2\n"
    "assert six() == EXPECTED + 1\n"
    "assert six() == EXPECTD\n"
)


async def test_asserts_that_pass_in_python_are_no_errors_and_the_hover_agrees(tmp_path):
    source = PASSING + FAILING
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "checks.py", source)
        await wait_for(lambda: len(diagnostics_for(client, uri)) >= 3)
        # Only the three asserts that fail in Python are errors: 2.0 == 2, a dict's order,
        # an expression or a constant as the expected value, True == 1 and a property's
        # 212.0 == 212 all pass, and so does a test's assert on a local of the test.
        messages = {d.range.start.line: d.message for d in diagnostics_for(client, uri)}
        assert messages == {
            line_of(source, "half(5)"): "assert failed: half(5) returned 2.5, expected 2",
            line_of(source, "EXPECTED + 1"): "assert failed: six() returned 6, expected EXPECTED + 1 (7)",
            line_of(source, "EXPECTD"): "assert failed: six() returned 6, but the expected value EXPECTD raised "
                                        "NameError: name 'EXPECTD' is not defined",
        }, messages

        # The hover of a passing assert says it passes; of a failing one, what its diagnostic says.
        value = await hover(client, uri, line_of(source, "half(4)"), 8)
        assert "returned `2.0`" in value and "✓ the assert passes: `half(4) == 2`" in value, value
        assert "assert failed" not in value
        value = await hover(client, uri, line_of(source, "fahrenheit == 212"), len("assert Temp(100).fahr"))
        assert "returned `212.0`" in value and "✓ the assert passes" in value, value
        value = await hover(client, uri, line_of(source, "half(5)"), 8)
        assert "⚠ assert failed: half(5) returned 2.5, expected 2" in value, value

        # No quick fix is offered on a passing assert: there is no diagnostic to repair.
        line = line_of(source, "assert mk(1)")
        actions = await client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=line, character=0), end=types.Position(line=line, character=5)),
            context=types.CodeActionContext(
                diagnostics=[d for d in diagnostics_for(client, uri) if d.range.start.line == line])))
        assert not actions


async def test_a_doctest_still_compares_the_printed_value(tmp_path):
    # doctest compares text: `2.0` is not `2` there, as `python -m doctest` would say.
    source = ('def half(n):\n    """\n    >>> half(4)\n    2\n    >>> half(6)\n    3.0\n    """\n'
              "    return n / 2\n")
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "doc.py", source)
        await wait_for(lambda: len(diagnostics_for(client, uri)) == 1)
        (diag,) = diagnostics_for(client, uri)
        assert diag.message == "doctest failed: half(4) returned 2.0, expected 2"
        assert diag.range.start.line == 2 and diag.data["origin"] == "doctest"


FIXED = '''### Execution Simulation
`n // 3` is `1`.
### Root Cause Analysis
It divides by 3.
[Refined]
```python
def half(n):
    return n / 2
```
[/Refined]
'''


async def test_a_repair_that_passes_in_python_is_verified(tmp_path):
    # The candidate returns 2.0 for `assert half(4) == 2`: it passes, so it is verified.
    source = "def half(n):\n    return n // 3\n\nassert half(4) == 2\nassert half(6) == 3\n"
    async with running_server(tmp_path, init_options=EXEC_ON, env=replay_env(tmp_path, FIXED)) as client:
        uri = open_document(client, tmp_path / "h.py", source)
        await wait_for(lambda: len(diagnostics_for(client, uri)) == 2)
        diag = next(d for d in diagnostics_for(client, uri) if d.range.start.line == 3)
        assert diag.message == "assert failed: half(4) returned 1, expected 2"
        (action,) = await client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=diag.range, context=types.CodeActionContext(diagnostics=[diag])))
        resolved = await client.code_action_resolve_async(action)
        assert resolved.title == "Repair with SemCoder (verified)", resolved.title
        assert resolved.is_preferred


async def test_hover_values_are_shown_literally(tmp_path):
    source = (
        "class Node:\n"
        "    pass\n"
        "\n"
        "def tag(n):\n"
        "    # semcoder: tag(1)\n"
        "    node = Node()\n"
        "    label = '__init__'\n"
        "    tick = 'a`b|c'\n"
        "    return label\n"
    )
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "tags.py", source)
        value = await hover(client, uri, 3, 5)
        # Each value is a code span: no bold `__init__`, no `<Node object>` HTML tag; a
        # value with a backtick gets a longer fence, a pipe is escaped for the table.
        assert "| 6 `node = Node()` | `node = <Node object>` |" in value, value
        assert "| 7 `label = '__init__'` | `label = '__init__'` |" in value
        assert "| 8 ``tick = 'a`b\\|c'`` | ``tick = 'a`b\\|c'`` |" in value
        assert "returned `'__init__'`" in value


async def test_hover_stdout_keeps_its_lines_and_says_where_it_was_cut(tmp_path):
    source = (
        "def chatty(n):\n"
        "    # semcoder: chatty(30)\n"
        "    for i in range(n):\n"
        "        print('line', i)\n"
        "    return n\n"
        "\n"
        "def quiet():\n"
        "    # semcoder: quiet()\n"
        "    print('done')\n"
    )
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "talk.py", source)
        value = await hover(client, uri, 0, 5)
        assert "stdout:\n```text\nline 0\nline 1\n" in value, value
        assert "line 11…\n```" in value and "line 12" not in value
        assert "_stdout cut: 85 of its 230 characters shown, 12 of 30 lines._" in value
        value = await hover(client, uri, 6, 5)
        assert "stdout: `done`" in value and "cut" not in value, value


async def test_diagnostic_ranges_count_utf16_code_units(tmp_path):
    source = 'def emoji(n):\n    return "é" + "😀" * n\n\nassert emoji(2) == "é😀😀😀"\n'
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "e.py", source)
        await wait_for(lambda: len(diagnostics_for(client, uri)) == 1)
        (diag,) = diagnostics_for(client, uri)
        line = source.splitlines()[3]
        # each 😀 is two UTF-16 code units: the underline reaches the end of the line
        assert diag.range.start == types.Position(line=3, character=0)
        assert diag.range.end == types.Position(line=3, character=len(line.encode("utf-16-le")) // 2)
        assert diag.range.end.character == len(line) + 3
