"""What a hover, an inlay hint and a diagnostic say of a real run must be true, and
readable: a loop whose trace was cut at its events limit does not show the last value the
trace saw as where it ended; a call on a top-level assert's line is traced where the assert
makes it; a hover during the diagnostics' run of the same call waits for that run rather
than running it again; and a value of thousands of characters is cut in a message."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from lsprotocol import types

from lsp_helpers import EXEC_ON, diagnostics_for, hover, line_of, open_document, running_server, wait_for

CUT = "… (trace cut)"


async def _inlay_hints(client, uri, lines):
    hints = await client.text_document_inlay_hint_async(types.InlayHintParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=lines, character=0))))
    return {h.position.line: h for h in hints or []}


def _row(text: str, line: int) -> str:
    """The hover table's row of a (0-based) line."""
    return next(row for row in text.splitlines() if row.startswith(f"| {line + 1} `"))


LOOPS = '''def total(n):
    acc = 0
    for i in range(n):
        acc += i
    return acc


def count(n):
    i = 0
    acc = 0
    while i < n:
        acc += i
        i += 1
    return acc


assert total(50000) == 1249975000
assert count(50000) == 1249975000
'''

# Where the loops really end, as Python itself runs them (checked below).
LOOP_ENDS = {"total": {"i": "49999", "acc": "1249975000"}, "count": {"i": "50000", "acc": "1249975000"}}


async def test_a_loop_cut_at_the_events_limit_says_so_and_never_shows_the_last_traced_value_as_its_end(tmp_path):
    """50,000 iterations make more than the tracer's 20,000 events: the trace keeps the first
    ones, the run goes on to its result. The table and the inlay hints show the values the
    trace saw, each loop line's ending in "… (trace cut)", and the hover says the trace was
    cut and that later values are not shown; the return value is the run's own."""
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "loops.py", LOOPS)
        await wait_for(lambda: uri in client.diagnostics, 60)
        assert diagnostics_for(client, uri) == []
        for name in ("total", "count"):
            fn_line = line_of(LOOPS, f"def {name}(")
            text = await hover(client, uri, fn_line, 5)
            assert "returned `1249975000`" in text, text
            assert "⚠ The trace was cut at its events limit" in text and "later values are not shown" in text, text
            rows = [_row(text, line) for line in range(fn_line + 1, fn_line + 6)
                    if f"| {line + 1} `" in text and "→" in _row(text, line)]
            assert len(rows) >= 2, text
            for row in rows:  # every loop value ends in the cut, never in the last traced value
                for value in row.split(" | ")[1].split("`, `"):
                    assert value.rstrip("` |").endswith(CUT), row
                    last = value.rstrip("` |")[: -len(CUT)].rstrip(" →").rsplit(" → ", 1)[-1]
                    name_of = value.lstrip("`").split(" = ", 1)[0]
                    assert last != LOOP_ENDS[name][name_of], row  # (it would have been a lie)
            assert "| `n = 50000` |" in _row(text, fn_line)  # (the arguments are the call's)
            hints = await _inlay_hints(client, uri, len(LOOPS.splitlines()))
            looped = [h for line, h in hints.items() if fn_line < line <= fn_line + 6 and "→" in h.label]
            assert looped and all(h.label.endswith(CUT) for h in looped), [h.label for h in hints.values()]
            assert all("cut at its events limit" in h.tooltip for line, h in hints.items()
                       if fn_line <= line <= fn_line + 6), [h.tooltip for h in hints.values()]
    # (the fixture is what it claims: Python runs both loops to those ends, and the asserts pass)
    probe = LOOPS + (
        "import sys\nends = {}\n"
        "def tracer(frame, event, arg):\n"
        "    if event == 'return' and frame.f_code.co_name in ('total', 'count'):\n"
        "        ends[frame.f_code.co_name] = {k: repr(frame.f_locals[k]) for k in ('i', 'acc')}\n"
        "    return tracer\n"
        "sys.settrace(tracer); total(50000); count(50000); sys.settrace(None)\nprint(ends)\n")
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert ran.returncode == 0 and eval(ran.stdout) == LOOP_ENDS, ran.stderr


ASSERTS = '''from enum import Enum

LIMIT = 10


def push(x, stack=[]):
    stack.append(x)
    n = len(stack)
    return n


class Counter:
    def __init__(self):
        self.n = 0

    def bump(self):
        self.n += 1
        return self.n


class Unit(Enum):
    M = 10

    def factor(self):
        f = self.value * 2
        return f


class Box:
    def __init__(self, w, h):
        self.w = w
        self.h = h

    @property
    def area(self):
        a = self.w * self.h
        return a


C = Counter()
C.bump()
assert push(LIMIT) == 1
assert push(LIMIT) == 0, "not zero"
assert C.bump() == 2
assert Unit.M.factor() == 20
assert Box(push(0), C.n).area == 6
'''


async def test_a_call_on_a_top_level_asserts_line_is_traced_where_that_assert_makes_it(tmp_path):
    """`assert push(LIMIT) == 0` calls push(10) on its own line, and gets 2: the assert
    before it pushed once. The hover traces that call where the assert makes it: the file
    runs with that assert, and those before it, as their conditions (so they run, and a
    false one stops nothing), the later ones blanked; not "never called" (the file ran with
    every top-level assert blanked). The same for a method of an instance the file made, a
    property, and an enum member's method."""
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "a.py", ASSERTS)
        for needle, col, call, returned, row in [
            ("assert push(LIMIT) == 0", 9, "push(10, [10])", "2", "n = 2"),
            ("assert C.bump", 11, "Counter.bump(<Counter n=1>)", "2", "self = <Counter n=2>"),
            ("assert Unit.M", 16, None, "20", "f = 20"),
            ("assert Box(push", 28, "Box.area(<Box w=3, h=2>)", "6", "a = 6"),
        ]:
            line = line_of(ASSERTS, needle)
            text = await hover(client, uri, line, col)
            assert "never called" not in text, text
            if call is not None:  # (calls no replay can make alone: what was called before counts)
                assert f"`{call}` (traced where it runs, from line {line + 1})" in text, text
            assert f"returned `{returned}`" in text and f"`{row}`" in text, text
    # (the fixture is what it claims: Python makes those calls on those lines, with those
    # values: the second push gives 2, so that assert fails, and with it passing, the rest pass)
    ran = subprocess.run([sys.executable, "-c", ASSERTS.replace('== 0, "not zero"', "== 2")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    ran = subprocess.run([sys.executable, "-c", ASSERTS], capture_output=True, text=True, cwd=tmp_path)
    assert ran.returncode == 1 and "AssertionError: not zero" in ran.stderr, ran.stderr


SPIN = '''def spin(n):
    i = 0
    while True:
        i += n


assert spin(1) == 0
'''
SPIN_LIMIT_S = 3


async def test_a_hover_during_the_diagnostics_run_of_the_same_call_waits_for_that_run(tmp_path):
    """The diagnostics run `spin(1)` until its time limit; a hover of it meanwhile gets that
    run's trace when it ends, rather than a second run of its own after it (the execution
    thread runs one at a time: the hover would come a whole time limit later). The
    timed-out loop's values say the trace was cut."""
    options = {"execution": {**EXEC_ON["execution"], "timeoutSeconds": SPIN_LIMIT_S}}
    async with running_server(tmp_path, init_options=options) as client:
        loop = asyncio.get_running_loop()
        uri = open_document(client, tmp_path / "spin.py", SPIN)
        published: list[float] = []

        async def diagnostics_published():
            await wait_for(lambda: diagnostics_for(client, uri), 60)
            published.append(loop.time())

        waiting = asyncio.create_task(diagnostics_published())
        await asyncio.sleep(1.0)  # (the diagnostics' run began after 0.3 s)
        assert not waiting.done()
        text = await hover(client, uri, 0, 5)
        hovered = loop.time()
        await waiting
        # One run: the hover came with the diagnostics (a second run would end a whole
        # time limit after them).
        assert abs(hovered - published[0]) < SPIN_LIMIT_S / 2, (hovered, published)
        message = diagnostics_for(client, uri)[0].message
        assert message.startswith("spin(1): "), message
        assert "spin(1)" in text and "i = " in text and CUT in text, text


async def test_a_run_in_flight_is_shared_and_a_cancelled_one_leaves_the_waiter_to_run_itself():
    """Tracing._shared_run: a second request for a key in flight waits for that run (one
    run); where the run waited for is cancelled, the waiter runs it itself (and nothing is
    left in flight); a cancelled waiter does not cancel the run."""
    from semcoder_lsp.tracing import Tracing

    tracing = Tracing(None)
    group, version = ("file:///x.py", "actual"), "v1"
    tracing._memo_versions[group] = version
    runs: list[asyncio.Event] = []

    async def run():
        release = asyncio.Event()
        runs.append(release)
        await release.wait()
        return {"status": "ok", "run": len(runs)}

    first = asyncio.create_task(tracing._shared_run("k", group, version, run))
    second = asyncio.create_task(tracing._shared_run("k", group, version, run))
    await asyncio.sleep(0.05)
    assert len(runs) == 1
    runs[0].set()
    assert (await first)["run"] == (await second)["run"] == 1
    assert (await tracing._shared_run("k", group, version, run))["run"] == 1  # (kept)

    first = asyncio.create_task(tracing._shared_run("k2", group, version, run))
    second = asyncio.create_task(tracing._shared_run("k2", group, version, run))
    await asyncio.sleep(0.05)
    first.cancel()
    await asyncio.sleep(0.05)
    assert first.cancelled() and len(runs) == 3  # the waiter runs it itself
    runs[2].set()
    assert (await second)["run"] == 3
    assert not tracing._in_flight

    first = asyncio.create_task(tracing._shared_run("k3", group, version, run))
    second = asyncio.create_task(tracing._shared_run("k3", group, version, run))
    await asyncio.sleep(0.05)
    second.cancel()
    await asyncio.sleep(0.05)
    runs[3].set()
    assert (await first)["run"] == 4 and len(runs) == 4 and not tracing._in_flight


BIG = '''def big(n):
    return list(range(n))


def text(n):
    t = "x" * n
    return t


def small(n):
    return n * 2


def fail(n):
    raise ValueError("y" * n)


assert big(100000) == []
assert text(20000) == ""
assert small(2) == 5
assert fail(5000) == 0
'''


async def test_a_long_value_is_cut_in_a_diagnostic_and_in_a_hover(tmp_path):
    """A return repr of 10,000 characters (the tracer's limit) or an exception's message of
    1,000 is cut, in the diagnostic's message, to its first 200 characters, "…" and its
    length; a short value's message is as it was. The hover cuts long values too, saying so."""
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "big.py", BIG)
        await wait_for(lambda: len(diagnostics_for(client, uri)) == 4, 60)
        messages = {d.range.start.line: d.message for d in diagnostics_for(client, uri)}
        big, text_, small = (messages[line_of(BIG, needle)] for needle in ("assert big", "assert text", "assert small"))
        assert small == "assert failed: small(2) returned 4, expected 5"
        assert big.startswith("assert failed: big(100000) returned [0, 1, 2, 3,") and big.endswith(
            "… (over 10,000 characters), expected []"), big
        assert text_.endswith("… (over 10,000 characters), expected \"\"") and len(text_) < 300, text_
        assert len(big) < 300, big
        fail = messages[line_of(BIG, 'raise ValueError')]
        assert fail.startswith("fail(5000) raised ValueError: yyy") and "… (over 1,000 characters)" in fail, fail
        assert len(fail) < 300, fail
        for needle in ("assert big", "assert text"):
            shown = await hover(client, uri, line_of(BIG, needle), 9)
            assert len(shown) < 2500, shown
            assert "_(cut: over 10,000 characters)_" in shown, shown
    # (the fixture is what it claims: the values are that long, and the asserts fail)
    ran = subprocess.run([sys.executable, "-c", BIG.split("assert")[0] + (
        "print(len(repr(big(100000))), len(repr(text(20000))), small(2), big(100000) == [], text(20000) == '')")],
        capture_output=True, text=True)
    assert ran.stdout.split() == ["688890", "20002", "4", "False", "False"], ran.stderr
