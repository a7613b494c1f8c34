"""Which asserts the server judges, and when it says so: only asserts that run as written
(not under pytest.raises, in a try with an except, under an `if`, in a skipped or xfailed
test, or about a test's local of the function's name); no verdict where the call depends
on what an earlier call left or on a later definition; module-level asserts whose
arguments the replayed module computes (`ident(LIMIT)`) judged like literal ones; and the
diagnostics published as checks finish, not held back by a slow one."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from lsp_helpers import (
    EXEC_ON,
    diagnostics_for,
    hover,
    line_of,
    open_document,
    pytest_outcomes,
    python_failing_asserts,
    replace_document,
    replay_env,
    running_server,
    wait_for,
)


def _shown(client, uri) -> list[tuple[int, str]]:
    return [(d.range.start.line, d.message) for d in diagnostics_for(client, uri)]


async def _settled(client, uri, expected, timeout=30.0) -> None:
    """The diagnostics become `expected` and stay so (a later check of the pass would have
    changed them within a publication interval or two)."""
    await wait_for(lambda: _shown(client, uri) == expected, timeout=timeout)
    await asyncio.sleep(1.5)
    assert _shown(client, uri) == expected


CONTEXTS = '''import sys

import pytest


def div(a, b):
    return a / b


def legacy_round(x):
    return round(x)


if sys.version_info < (3, 0):
    assert legacy_round(2.5) == 3


def test_div_by_zero():
    with pytest.raises(ZeroDivisionError):
        assert div(1, 0) == 0


def test_caught():
    try:
        assert div(1, 0) == 0
    except ZeroDivisionError:
        pass


def test_shadowed():
    div = lambda a, b: a // b
    assert div(7, 2) == 3


@pytest.mark.skip(reason="not yet")
def test_skipped():
    assert div(1, 2) == 2


@pytest.mark.skipif(sys.platform != "nowhere", reason="elsewhere only")
def test_skipped_here():
    assert div(1, 2) == 2


@pytest.mark.xfail(reason="known bug")
def test_known_bug():
    assert div(1, 2) == 2


def test_halves():
    assert div(1, 2) == 0.25
'''


async def test_only_asserts_that_run_as_written_are_judged(tmp_path):
    """An assert is a check only where it runs as written and its failure means what the
    diagnostic says: not under `pytest.raises` (whose "raised ZeroDivisionError" invited a
    repair that broke the test, offered as verified), in a try with an except, under an `if`
    that does not run, in a skipped or xfailed test, or about the test's own `div`. Only
    test_halves fails, for pytest as for the server."""
    path = tmp_path / "test_contexts.py"
    path.write_text(CONTEXTS)
    halves = line_of(CONTEXTS, "== 0.25")
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        await _settled(client, uri, [(halves, "assert failed: div(1, 2) returned 0.5, expected 0.25")])
        # the hover still traces the call under the cursor, without the assert's verdict
        text = await hover(client, uri, line_of(CONTEXTS, "assert div(1, 0)"), 16)
        assert "raised `ZeroDivisionError: division by zero`" in text and "expected:" not in text, text
        # the test's own `div` is no call of the module's (whose div(7, 2) is 3.5)
        text = await hover(client, uri, line_of(CONTEXTS, "assert div(7, 2)"), 12)
        assert "3.5" not in text and "`div(7, 2)`" not in text, text
    assert pytest_outcomes(tmp_path, path.name) == {
        "test_div_by_zero": "PASSED", "test_caught": "PASSED", "test_shadowed": "PASSED",
        "test_skipped": "SKIPPED", "test_skipped_here": "SKIPPED", "test_known_bug": "XFAIL",
        "test_halves": "FAILED"}


ORDER = '''items = []


def add(x):
    items.append(x)
    return len(items)


STACK = []


def push(x):
    STACK.append(x)
    return len(STACK)


def size():
    return len(STACK)


def double(x):
    return 2 * x


def version():
    return 1


assert add("a") == 1
assert add("b") == 2
assert push(1) == 1
assert size() == 1
assert version() == 1


def version():
    return 2


assert version() == 2
assert double(2) == 5
'''

ORDER_TESTS = '''calls = []


def record(x):
    calls.append(x)
    return len(calls)


def pair(x):
    return [x, x]


def test_first():
    assert record("a") == 1


def test_second():
    assert record("b") == 2


def test_pair():
    assert pair(1) == [1, 2]
'''


async def test_asserts_that_depend_on_order_get_no_verdict(tmp_path):
    """Each check's call is replayed alone on the file's definitions (the last definition of
    a name wins): an assert whose call may see what an earlier call left (`add("b")` after
    `add("a")`, `size()` after `push(1)` filled STACK; `record("b")` in the test after the
    one that called `record("a")`), or made before its function's last definition
    (`version()`), gets no verdict; Python passes them all. The one real failure of each
    file is still reported."""
    module = tmp_path / "ordered.py"
    module.write_text(ORDER)
    tests = tmp_path / "test_ordered.py"
    tests.write_text(ORDER_TESTS)
    doubled = line_of(ORDER, "assert double(")
    paired = line_of(ORDER_TESTS, "assert pair(")
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        module_uri = open_document(client, module)
        tests_uri = open_document(client, tests)
        await _settled(client, module_uri, [(doubled, "assert failed: double(2) returned 4, expected 5")])
        # the hover of a call that depends on the one before traces it where the file makes it
        text = await hover(client, module_uri, line_of(ORDER, 'add("b")'), 8)
        assert "returned `2`" in text and "returned `1`" not in text, text
        await _settled(client, tests_uri, [(paired, "assert failed: pair(1) returned [1, 1], expected [1, 2]")])
    assert python_failing_asserts(tmp_path, module.name) == [doubled]
    assert pytest_outcomes(tmp_path, tests.name) == {
        "test_first": "PASSED", "test_second": "PASSED", "test_pair": "FAILED"}


COMPUTED = '''import math

LIMIT = 10


def ident(x):
    return x


assert ident(10**6) == 0
assert ident(LIMIT) == 10
assert ident(math.pi) == 3
assert ident(len("abc")) == 3
assert ident(str(5)) == 5
assert ident(ident(2)) == 0
'''


async def test_module_level_asserts_with_computed_arguments_are_judged(tmp_path):
    """A module-level assert's call whose arguments read only what the replayed module has
    (a constant, an import, a builtin, the file's own function) is replayed and judged like
    a literal one: the four Python fails are reported, the two it passes are not; the
    hover of such a line traces that call, and asks the model nothing (its prompt states
    literal inputs only: `LIMIT` would reach it as a name it cannot see)."""
    path = tmp_path / "computed.py"
    path.write_text(COMPUTED)
    failing = {
        line_of(COMPUTED, "10**6"): "assert failed: ident(10**6) returned 1000000, expected 0",
        line_of(COMPUTED, "math.pi"): "assert failed: ident(math.pi) returned 3.141592653589793, expected 3",
        line_of(COMPUTED, "str(5)"): "assert failed: ident(str(5)) returned '5', expected 5",
        line_of(COMPUTED, "ident(ident(2))"): "assert failed: ident(ident(2)) returned 2, expected 0",
    }
    answer = "1. At [L6], `x = 10`.\n[/MONOLOGUE]\n[ANSWER]\nassert ident(LIMIT) == 10\n[/ANSWER]\n"
    async with running_server(tmp_path, init_options=EXEC_ON, env=replay_env(tmp_path, answer)) as client:
        uri = open_document(client, path)
        await _settled(client, uri, sorted(failing.items()))
        text = await hover(client, uri, line_of(COMPUTED, "ident(LIMIT)"), 9)
        assert "returned `10`" in text and "never called" not in text, text
        assert "No prediction: this call's arguments are values the model's input cannot write" in text, text
    assert python_failing_asserts(tmp_path, path.name) == sorted(failing)


SLOW = '''def spin(n):
    while True:
        n += 1


def fast(x):
    return x


assert fast(1) == 2
assert spin(1) == 2
'''


class _Recorded(dict):
    """client.diagnostics that keeps every publication, with when it came."""

    def __init__(self):
        super().__init__()
        self.history: list[tuple[float, str, list[tuple[int, str]]]] = []

    def __setitem__(self, uri, diagnostics):
        super().__setitem__(uri, diagnostics)
        self.history.append((time.monotonic(), uri, [(d.range.start.line, d.message) for d in diagnostics]))


async def test_a_slow_check_holds_back_no_other_diagnostic(tmp_path):
    """A check that waits out its time limit (5 s) held back every diagnostic of the file.
    Now what is known is published while it runs; once a check is known to be slow it runs
    after the others; a diagnostic whose check has not run again stays meanwhile (no
    flicker); and the last publication is exactly the pass's, in file order."""
    path = tmp_path / "slow.py"
    path.write_text(SLOW)
    fast_1 = (line_of(SLOW, "fast(1)"), "assert failed: fast(1) returned 1, expected 2")
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        client.diagnostics = recorded = _Recorded()
        uri = open_document(client, path)
        opened = time.monotonic()
        await wait_for(lambda: fast_1 in _shown(client, uri), timeout=3.0)
        assert time.monotonic() - opened < 3.0
        # (where the loop was stopped, line 2 or 3, is the timer's choice)
        await wait_for(lambda: len(_shown(client, uri)) == 2, timeout=20)
        spun = _shown(client, uri)[1]
        assert spun[0] == line_of(SLOW, "assert spin") and spun[1].startswith("spin(1): timed out after 5 s"), spun
        await _settled(client, uri, [fast_1, spun])
        # an assert added after the slow one: published before the slow check has run again
        text = SLOW + "assert fast(2) == 3\n"
        fast_2 = (line_of(text, "fast(2)"), "assert failed: fast(2) returned 2, expected 3")
        recorded.history.clear()
        replace_document(client, uri, text, 2)
        changed = time.monotonic()
        await wait_for(lambda: fast_2 in _shown(client, uri), timeout=3.0)
        assert time.monotonic() - changed < 3.0
        await _settled(client, uri, [fast_1, spun, fast_2], timeout=20)
        shown = [diagnostics for _, published, diagnostics in recorded.history if published == uri]
        assert shown and all(fast_1 in d and spun in d for d in shown), shown
    # (the fixture is what it claims: fast(1) == 2 fails, spin(1) never returns)
    ran = subprocess.run([sys.executable, "-c", SLOW.split("assert fast")[0] + "assert fast(1) == 2"],
                         capture_output=True, text=True)
    assert ran.returncode == 1 and "AssertionError" in ran.stderr
    try:
        subprocess.run([sys.executable, "-c", SLOW.split("assert fast")[0] + "spin(1)"], timeout=1)
        raise AssertionError("spin(1) returned")
    except subprocess.TimeoutExpired:
        pass
