"""Diagnostics, inlay hints, code actions with verified repair, code lens, commands."""

from __future__ import annotations

import asyncio

from lsprotocol import types

from lsp_helpers import (
    EXEC_ON,
    copy_demo,
    diagnostics_for,
    line_of,
    open_document,
    replace_document,
    replay_env,
    request,
    running_server,
    wait_for,
)


FIXED_AVERAGE = '''### Execution Simulation
`count` is `2`, so the result is `3.0`.
### Root Cause Analysis
The count is one too small.
[Refined]
```python
def average(values):
    """Return the arithmetic mean of `values`."""
    total = sum(values)
    count = len(values)
    return total / count
```
[/Refined]
'''

STILL_BROKEN = FIXED_AVERAGE.replace("count = len(values)", "count = len(values) + 1")


async def test_failing_asserts_and_exceptions_become_errors_and_clear_on_change(tmp_path):
    source = (
        "def ratio(a, b):\n"
        "    q = a / b\n"
        "    return q\n"
        "\n"
        "def double(x):\n"
        "    return x * 2\n"
        "\n"
        "assert ratio(1, 0) == 0\n"
        "assert double(2) == 5\n"
        "assert double(3) == 6\n"
    )
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "m.py", source)
        await wait_for(lambda: len(diagnostics_for(client, uri)) == 2)
        by_line = {d.range.start.line: d for d in diagnostics_for(client, uri)}
        # the exception is reported where it was raised, inside the function
        assert by_line[1].message == "ratio(1, 0) raised ZeroDivisionError: division by zero"
        assert by_line[1].severity == types.DiagnosticSeverity.Error and by_line[1].source == "semcoder"
        assert by_line[8].message == "assert failed: double(2) returned 4, expected 5"
        # fixing `double` clears its diagnostic; the other stays
        replace_document(client, uri, source.replace("return x * 2", "return x * 2 + (x == 2)"), 2)
        await wait_for(lambda: sorted(d.range.start.line for d in diagnostics_for(client, uri)) == [1])


async def test_a_semcoder_comment_call_that_raises_is_an_error(tmp_path):
    source = (
        "def inverse(x):\n"
        "    # semcoder: inverse(0)\n"
        "    return 1 / x\n"
        "\n"
        "def spin(n):\n"
        "    # semcoder: spin(1)\n"
        "    while n:\n"
        "        pass\n"
        "\n"
        "def fine(x):\n"
        "    # semcoder: fine(2)\n"
        "    return x\n"
    )
    options = {"execution": {"enabled": True, "timeoutSeconds": 0.5}}
    async with running_server(tmp_path, init_options=options) as client:
        uri = open_document(client, tmp_path / "c.py", source)
        await wait_for(lambda: len(diagnostics_for(client, uri)) == 2)
        by_line = {d.range.start.line: d for d in diagnostics_for(client, uri)}
        assert by_line[2].message == "inverse(0) raised ZeroDivisionError: division by zero"
        assert by_line[2].data["expected"] is None and by_line[2].data["call"] == "inverse(0)"
        assert by_line[5].message.startswith("spin(1): timed out after 0.5 s at line ")  # 7 or 8: the loop
        # a comment call that returns is no failure, whatever it returns
        replace_document(client, uri, source.replace("return 1 / x", "return 1 / (x or 1)"), 2)
        await wait_for(lambda: sorted(d.range.start.line for d in diagnostics_for(client, uri)) == [5])


async def test_predicted_failure_is_a_hint(tmp_path):
    wrong = ("1. At [L6], `area = 7`.\n[/MONOLOGUE]\n[ANSWER]\nassert rectangle_area(3, 4) == 7\n[/ANSWER]\n")
    source = "def rectangle_area(width, height):\n    area = width * height\n    return area\n\nassert rectangle_area(3, 4) == 12\n"
    async with running_server(tmp_path, env=replay_env(tmp_path, wrong)) as client:
        uri = open_document(client, tmp_path / "r.py", source)
        await wait_for(lambda: len(diagnostics_for(client, uri)) == 1)
        diag = diagnostics_for(client, uri)[0]
        assert diag.severity == types.DiagnosticSeverity.Hint
        assert diag.message == "predicted: rectangle_area(3, 4) returns 7, expected 12"
        assert diag.range.start.line == 4


async def _repair_action(client, uri, diag):
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=diag.range,
        context=types.CodeActionContext(diagnostics=[diag])))
    assert [a.title for a in actions] == ["Repair with SemCoder"]
    assert actions[0].edit is None  # the expensive part waits for resolve
    return await client.code_action_resolve_async(actions[0])


async def test_quick_fix_is_verified_and_replaces_only_the_function(tmp_path):
    demo = copy_demo(tmp_path)
    path = demo / "shapes.py"
    text = path.read_text()
    async with running_server(tmp_path, env=replay_env(tmp_path, FIXED_AVERAGE), init_options=EXEC_ON, root=demo) as client:
        uri = open_document(client, path)
        assert_line = line_of(text, "assert average([1, 2, 3])")
        await wait_for(lambda: any(d.range.start.line == assert_line for d in diagnostics_for(client, uri)))
        diag = next(d for d in diagnostics_for(client, uri) if d.range.start.line == assert_line)
        assert diag.message == "assert failed: average([1, 2, 3]) returned 3.0, expected 2.0"
        resolved = await _repair_action(client, uri, diag)
        assert resolved.title == "Repair with SemCoder (verified)"
        assert resolved.is_preferred is True
        (edit,) = resolved.edit.changes[uri]
        assert edit.range.start.line == line_of(text, "def average")
        assert edit.range.end.line == line_of(text, "return total / count")
        assert "count = len(values)\n" in edit.new_text and "- 1" not in edit.new_text
        # the repair prompt carried the failing call as the failed test
        result = await request(client, "semcoder/repair", {
            "textDocument": {"uri": uri}, "position": {"line": assert_line, "character": 0},
            "partialResultToken": "r"})
        assert result["failedTest"] == "retv = average([1, 2, 3])\nassert retv == 2.0"
        assert result["candidates"][0]["verified"] is True
        assert any("candidate" in p for p in client.partials["r"])
        assert "".join(p.get("textDelta", "") for p in client.partials["r"]).startswith("### Execution Simulation")


async def test_quick_fix_that_still_fails_is_unverified(tmp_path):
    demo = copy_demo(tmp_path)
    path = demo / "shapes.py"
    text = path.read_text()
    async with running_server(tmp_path, env=replay_env(tmp_path, STILL_BROKEN), init_options=EXEC_ON, root=demo) as client:
        uri = open_document(client, path)
        assert_line = line_of(text, "assert average([1, 2, 3])")
        await wait_for(lambda: any(d.range.start.line == assert_line for d in diagnostics_for(client, uri)))
        diag = next(d for d in diagnostics_for(client, uri) if d.range.start.line == assert_line)
        resolved = await _repair_action(client, uri, diag)
        assert resolved.title == "Repair with SemCoder (unverified)"
        assert not resolved.is_preferred


async def test_quick_fix_without_model_says_so(tmp_path):
    demo = copy_demo(tmp_path)
    path = demo / "shapes.py"
    text = path.read_text()
    async with running_server(tmp_path, init_options=EXEC_ON, root=demo) as client:
        uri = open_document(client, path)
        line = line_of(text, "assert average([1, 2, 3])")
        await wait_for(lambda: any(d.range.start.line == line for d in diagnostics_for(client, uri)))
        diag = next(d for d in diagnostics_for(client, uri) if d.range.start.line == line)
        resolved = await _repair_action(client, uri, diag)
        assert resolved.title == "Repair with SemCoder: no model configured"
        assert resolved.edit is None


async def test_inlay_hints_show_actual_values(tmp_path):
    demo = copy_demo(tmp_path)
    path = demo / "shapes.py"
    text = path.read_text()
    async with running_server(tmp_path, init_options=EXEC_ON, root=demo) as client:
        uri = open_document(client, path)
        await request(client, "semcoder/trace", {"textDocument": {"uri": uri}, "function": "perimeter",
                                                 "call": "perimeter([1, 2])"})
        hints = await client.text_document_inlay_hint_async(types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=50, character=0))))
        labels = {h.position.line: h.label for h in hints}
        assert labels[line_of(text, "total += side")] == "total = 1 → 3"
        assert labels[line_of(text, "for side in sides")] == "side = 1 → 2"
        # editing the function hides its (now stale) values
        replace_document(client, uri, text.replace("total += side", "total += 2 * side"), 2)
        await asyncio.sleep(0.2)
        hints = await client.text_document_inlay_hint_async(types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=50, character=0))))
        assert not [h for h in hints if h.position.line == line_of(text, "total += side")]


async def test_code_lens_and_set_call_command(tmp_path):
    source = "def f(x):\n    return x + 1\n\ndef g(y):\n    return y * 3\n\nassert f(1) == 2\n"
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "l.py", source)
        lenses = await client.text_document_code_lens_async(types.CodeLensParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))
        titles = {l.range.start.line: l.command.title for l in lenses}
        assert titles == {0: "SemCoder: f(1)", 3: "SemCoder: supply a call…"}
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="semcoder.setCall", arguments=[{"uri": uri, "function": "g", "call": "g(5)"}]))
        assert result == {"ok": True}
        lenses = await client.text_document_code_lens_async(types.CodeLensParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))
        assert {l.range.start.line: l.command.title for l in lenses}[3] == "SemCoder: g(5)"
        trace = await request(client, "semcoder/trace", {"textDocument": {"uri": uri},
                                                         "position": {"line": 4, "character": 8}})
        assert trace["call"] == "g(5)" and trace["actual"]["return"]["repr"] == "15"


async def test_backward_prediction_is_checked_by_running_it(tmp_path):
    answer = "The output 15 needs y = 5.\n[/MONOLOGUE]\n[ANSWER]\nassert g(5) == 15\n[/ANSWER]\n"
    source = "def g(y):\n    return y * 3\n"
    async with running_server(tmp_path, env=replay_env(tmp_path, answer), init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "b.py", source)
        result = await request(client, "semcoder/predictInput", {
            "textDocument": {"uri": uri}, "function": "g", "output": "15", "partialResultToken": "b"})
        assert result["call"] == "g(5)" and result["input"] == "5" and result["verified"] is True
        wrong = await request(client, "semcoder/predictInput", {
            "textDocument": {"uri": uri}, "function": "g", "output": "16"})
        assert wrong["verified"] is False


async def test_a_backward_answer_is_checked_by_python_s_equality_and_must_give_an_input(tmp_path):
    """`2.0` is the output `2` as the assert sees it (the check compared texts); an answer
    that copies the `g(??)` placeholder back gives no input, and says so."""
    answer = "Half of 4.\n[/MONOLOGUE]\n[ANSWER]\nassert g(4) == 2\n[/ANSWER]\n"
    source = "def g(y):\n    return y / 2\n"
    async with running_server(tmp_path, env=replay_env(tmp_path, answer), init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "half.py", source)
        result = await request(client, "semcoder/predictInput", {
            "textDocument": {"uri": uri}, "function": "g", "output": "2"})
        assert result["call"] == "g(4)" and result["verified"] is True
    copied = "I cannot tell.\n[/MONOLOGUE]\n[ANSWER]\nassert g(??) == 2\n[/ANSWER]\n"
    async with running_server(tmp_path, env=replay_env(tmp_path, copied), init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "half.py", source)
        result = await request(client, "semcoder/predictInput", {
            "textDocument": {"uri": uri}, "function": "g", "output": "2"})
        assert result["call"] is None and "placeholder" in result["message"], result


PREDICTED_DOCTESTS = '''def seq(n):
    """
    >>> seq(3)  # doctest: +ELLIPSIS
    [1, ...]
    """
    return list(range(1, n + 1))


def show(n):
    """
    >>> show(3)
    counting to 3
    [1, 2, 3]
    """
    print("counting to", n)
    return list(range(1, n + 1))


def other():
    """
    >>> other()
    [4]
    """
    return [4]
'''


async def test_a_predicted_doctest_failure_is_judged_as_doctest_would(tmp_path):
    """The model predicts `[1, 2, 3]` for every call here: an ELLIPSIS example it matches
    and an example whose expected output holds printed lines (which the model does not
    predict) get no hint; only `other()`'s does. Compared as loose text, all three did."""
    answer = "1. At [L6], `n = 3`.\n[/MONOLOGUE]\n[ANSWER]\nassert seq(3) == [1, 2, 3]\n[/ANSWER]\n"
    async with running_server(tmp_path, env=replay_env(tmp_path, answer)) as client:
        uri = open_document(client, tmp_path / "d.py", PREDICTED_DOCTESTS)
        # (the hints are published as each prediction is judged, in the file's order)
        await wait_for(lambda: diagnostics_for(client, uri))
        assert [d.message for d in diagnostics_for(client, uri)] == [
            "predicted: other() returns [1, 2, 3], expected [4]"]
