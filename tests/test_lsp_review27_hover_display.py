"""What a hover shows of a run: only what the call printed (what the script printed before
it, said apart); a generator traced where the script draws it says it gave a generator and
what it yielded, not `returned None`; a loop's long values keep where the loop ended, in
order; a test run alone after one other test says "what it leaves"; a doctest example of a
class's docstring says why it is not traced, rather than nothing."""

from __future__ import annotations

import subprocess
import sys

from lsp_helpers import EXEC_ON, hover, line_of, open_document, running_server, wait_for

SCRIPT = '''class Box:
    """A box.

    >>> b = Box(2)
    >>> b.size
    2
    """

    def __init__(self, size):
        self.size = size


def countdown(start, report):
    n = start
    while n > 0:
        print("yielding", n)
        yield n
        n -= 1


def sieve(n):
    marks = [True] * (n + 1)
    for i in range(2, n + 1):
        for j in range(i * i, n + 1, i):
            marks[j] = False
    return marks


if __name__ == "__main__":
    print("before the box")
    box = Box([1, 2])
    for value in countdown(2, box):
        print("got", value)
    print(sieve(60)[:3])
'''

TESTS = '''COUNTS = []


def test_first():
    COUNTS.append(1)


def test_second():
    assert COUNTS == [5]
'''


async def _script_hover(tmp_path, needle: str, col: int) -> str:
    path = tmp_path / "script.py"
    path.write_text(SCRIPT)
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        await wait_for(lambda: uri in client.diagnostics)
        return await hover(client, uri, line_of(SCRIPT, needle), col)


def test_the_script_prints_as_the_hovers_say(tmp_path):
    path = tmp_path / "script.py"
    path.write_text(SCRIPT)
    ran = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, cwd=tmp_path)
    assert ran.stdout.startswith("before the box\nyielding 2\ngot 2\nyielding 1\ngot 1\n"), ran.stdout


async def test_a_watched_call_shows_only_its_own_output(tmp_path):
    # Box.__init__, traced where the script calls it: "before the box" is not its output.
    text = await _script_hover(tmp_path, "def __init__", 9)
    assert "(traced where the file calls it" in text, text
    assert "stdout: `before the box`" not in text, text
    assert "_Printed before the call (not by it): 1 line, `before the box`._" in text, text


async def test_a_watched_generator_says_what_it_yielded(tmp_path):
    text = await _script_hover(tmp_path, "def countdown", 5)
    assert "returned `None`" not in text, text
    assert "returned a generator, which yielded `[2, 1]` as the script iterated it, until it ended" in text, text


async def test_a_loops_long_values_keep_where_it_ended(tmp_path):
    # The first value, then where it ended (the final list), not cut mid-chain; the places
    # its text does not show, in the order of their indices.
    text = await _script_hover(tmp_path, "def sieve", 5)
    row = next(r for r in text.splitlines() if r.startswith("| ") and "marks[j] = False" in r)
    assert "characters, cut)" not in row, row
    assert "False, False, False, False, True, False]" in row, row  # (the end of the final list: 55..60)
    places = [int(p.split("]")[0]) for p in row.split("`marks[")[1:] if p[:1].isdigit()]
    assert places == sorted(places) and places, row


async def test_a_class_docstring_example_says_why_it_is_not_traced(tmp_path):
    text = await _script_hover(tmp_path, ">>> b.size", 8)
    assert text is not None and "in the docstring of the class `Box`" in text, text


async def test_a_test_after_one_other_says_what_it_leaves(tmp_path):
    tests = tmp_path / "test_counts.py"
    tests.write_text(TESTS)
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        turi = open_document(client, tests)
        await wait_for(lambda: turi in client.diagnostics)
        text = await hover(client, turi, line_of(TESTS, "def test_second"), 6)
        assert "under pytest the test before it runs first, in the same process, and what it leaves" in text, text
