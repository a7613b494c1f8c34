"""Two asserts of one call that raises inside the function mark the same line with the
same error: the editor showed it twice. One diagnostic per range and message, the first
(whose data the quick fix uses)."""

from __future__ import annotations

from lsp_helpers import EXEC_ON, diagnostics_for, line_of, open_document, running_server, wait_for

AVERAGE = '''def average(values):
    return sum(values) / len(value)


def test_average_of_a_pair():
    assert average([1, 3]) == 2


def test_average_is_positive():
    assert average([1, 3]) > 0


def test_average_of_one():
    assert average([5]) == 5
'''

NAME_ERROR = "raised NameError: name 'value' is not defined"


async def test_two_asserts_of_one_failing_call_give_one_error(tmp_path):
    path = tmp_path / "test_average.py"
    path.write_text(AVERAGE)
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        # (the checks run in file order: once the last one's error is there, all have run)
        await wait_for(lambda: any(d.message.startswith("average([5])") for d in diagnostics_for(client, uri)))
        found = [(d.range.start.line, d.message) for d in diagnostics_for(client, uri)]
        raising = line_of(AVERAGE, "len(value)")
        assert found == [(raising, f"average([1, 3]) {NAME_ERROR}"), (raising, f"average([5]) {NAME_ERROR}")], found
        first = diagnostics_for(client, uri)[0]
        assert first.data["callLine"] == line_of(AVERAGE, "assert average([1, 3]) == 2"), first.data
