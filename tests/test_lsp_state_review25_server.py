"""The server's diagnostics on files whose asserts really pass (python, pytest, doctest) but
whose calls, replayed alone, do not see the state earlier code left (see
test_lsp_state_review25.py for the rules, one by one): no false "assert failed", and the
assert that really fails in each file keeps its diagnostic. A hover on an assert that
pytest fails after an earlier test's change no longer says it passes."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from lsp_helpers import (EXEC_ON, diagnostics_for, hover, line_of, open_document, pytest_outcomes,
                         python_failing_asserts, running_server, wait_for)

PLUGINS = '''_PLUGINS = {}
_CACHE = {}


def registry():
    return _PLUGINS


def register(name, fn):
    plugins = registry()
    plugins[name] = fn
    return len(plugins)


def slow_square(n):
    cache = _CACHE
    if n in cache:
        return ("cached", cache[n])
    cache[n] = n * n
    return ("computed", cache[n])


class Tracker:
    seen = []

    @classmethod
    def track(cls, x):
        cls.seen.append(x)
        return len(cls.seen)


ITEMS = [1, 2]


def append_one(xs):
    xs.append(1)
    return xs


def describe(xs):
    return f"{len(xs)} items"


def double(x):
    return x * 2


assert register("upper", str.upper) == 1
assert register("lower", str.lower) == 2
assert slow_square(4) == ("computed", 16)
assert slow_square(4) == ("cached", 16)
assert Tracker.track("a") == 1
assert Tracker.track("b") == 2
assert append_one(ITEMS) == [1, 2, 1]
assert describe(ITEMS) == "3 items"
assert double(2) == 5
'''

TESTS = '''from pathlib import Path


class Config:
    debug = False


def enable_debug():
    setattr(Config, "debug", True)


def is_debug():
    return Config.debug


def save(name, text):
    Path(name).write_text(text)


def load(name):
    return Path(name).read_text()


def double(x):
    return x * 2


def test_debug_on():
    enable_debug()
    assert is_debug()


def test_debug_default():
    assert not is_debug()


def test_roundtrip():
    save("note_a.txt", "hello")
    assert load("note_a.txt") == "hello"


def test_double():
    assert double(2) == 5
'''

BANK = '''_ACCOUNTS = {}


def accounts():
    return _ACCOUNTS


def open_account(name, amount=0):
    """
    >>> open_account("ann", 10)
    1
    >>> open_account("bob")
    2
    """
    book = accounts()
    book[name] = amount
    return len(book)


def show(name, amount):
    """
    >>> show("bob", 0)
    bob has nothing
    """
    print(f"{name} has {amount}")
'''


async def test_only_the_asserts_that_really_fail_get_a_diagnostic(tmp_path):
    files = {"plugins.py": PLUGINS, "test_state.py": TESTS, "bank.py": BANK}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    # What really runs: the script fails only at `double(2) == 5`; pytest fails the tests
    # that really fail (test_debug_default after test_debug_on set Config.debug), doctest
    # only show's example.
    assert python_failing_asserts(tmp_path, "plugins.py") == [line_of(PLUGINS, "double(2) == 5")]
    assert pytest_outcomes(tmp_path, "test_state.py") == {
        "test_debug_on": "PASSED", "test_debug_default": "FAILED", "test_roundtrip": "PASSED", "test_double": "FAILED"}
    ran = subprocess.run([sys.executable, "-m", "doctest", "bank.py"], capture_output=True, text=True, cwd=tmp_path)
    assert ran.stdout.count("Failed example:") == 1 and 'Failed example:\n    show("bob", 0)' in ran.stdout, ran.stdout
    (tmp_path / "note_a.txt").unlink()
    expected = {
        "plugins.py": [(line_of(PLUGINS, "double(2) == 5"), "assert failed: double(2) returned 4, expected 5")],
        "test_state.py": [(line_of(TESTS, "double(2) == 5"), "assert failed: double(2) returned 4, expected 5")],
        "bank.py": [(line_of(BANK, 'show("bob", 0)'),
                     "doctest failed: show(\"bob\", 0) printed bob has 0, expected bob has nothing")],
    }
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uris = {name: open_document(client, tmp_path / name) for name in files}
        for name, uri in uris.items():
            await wait_for(lambda: diagnostics_for(client, uri), timeout=60)
        await asyncio.sleep(1)  # (nothing more comes)
        found = {name: [(d.range.start.line, d.message) for d in diagnostics_for(client, uri)]
                 for name, uri in uris.items()}
        assert found == expected
        # pytest fails test_debug_default (test_debug_on ran first): the hover must not say
        # that its assert passes, as the replay alone (Config.debug still False) did.
        line = line_of(TESTS, "assert not is_debug()")
        text = await hover(client, uris["test_state.py"], line, 15)
        assert text is not None and "the assert passes" not in text and "assert failed" not in text, text
