"""Asserts and doctests whose call, replayed alone, cannot see the state earlier code left,
after a review of the verdicts against real runs: each file here runs as the comments say
(python, pytest, doctest), and each line marked `# no verdict` had a false "assert failed"
(or "doctest failed") before: state reached through a local alias of a global or through the
class (`cls.`, `type(self).`, a class attribute changed through `self`), changed by earlier
statements of a test, the module or its `__main__` block (a bare call that sets an attribute,
an argument a function changes), or files an earlier call wrote. Lines marked `# judged`
keep their verdict: the rules do not switch judging off (where such an assert fails, its
real run fails too)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lsp_helpers import pytest_outcomes, python_failing_asserts
from semcoder_lsp.calls import analyse


def verdicts(source: str) -> dict[int, str]:
    """The lines (0-based) of the asserts and doctest examples the server judges, each with its call."""
    return {c.line: c.call for c in analyse(source).calls if c.origin in ("assert", "doctest")}


def marked(source: str, mark: str) -> set[int]:
    return {i for i, line in enumerate(source.splitlines()) if line.rstrip().endswith(mark)}


def check_marks(source: str) -> None:
    judged = verdicts(source)
    assert {i: judged[i] for i in marked(source, "# no verdict") if i in judged} == {}
    assert marked(source, "# judged") - judged.keys() == set()


# -- 1a: state reached through a local alias of a global, or through the class ----------------

ALIASES = '''"""A plugin registry and a memo cache, with self-checks at the bottom."""

_PLUGINS = {}
_CACHE = {}
_TABLE = {}


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


def remember(name, table=_TABLE):
    table[name] = True
    return len(table)


class Shape:
    instances = []

    def __init__(self, name):
        self.name = name
        type(self).instances.append(name)

    @classmethod
    def count(cls):
        return len(cls.instances)


class Tracker:
    seen = []

    @classmethod
    def track(cls, x):
        cls.seen.append(x)
        return len(cls.seen)


class Log:
    lines = []

    def add(self, line):
        self.lines.append(line)
        return len(self.lines)


class Buffer:
    def __init__(self):
        self.lines = []

    lines = []

    def add(self, line):
        self.lines.append(line)
        return len(self.lines)


def make_shape(name):
    Shape(name)
    return Shape.count()


def double(x):
    return x * 2


assert register("upper", str.upper) == 1  # judged
assert register("lower", str.lower) == 2  # no verdict
assert slow_square(4) == ("computed", 16)  # judged
assert slow_square(4) == ("cached", 16)  # no verdict
assert remember("a") == 1  # judged
assert remember("b") == 2  # no verdict
assert make_shape("circle") == 1  # judged
assert make_shape("square") == 2  # no verdict
assert Tracker.track("a") == 1  # judged
assert Tracker.track("b") == 2  # no verdict
assert Log().add("a") == 1  # judged
assert Log().add("b") == 2  # no verdict
assert Buffer().add("a") == 1  # judged
assert Buffer().add("b") == 1  # judged
assert double(2) == 4  # judged
'''


def test_state_through_an_alias_or_the_class_leaves_later_asserts_without_a_verdict(tmp_path):
    """`plugins = registry(); plugins[name] = fn`, `cache = _CACHE; cache[k] = v`, a default
    that is a global (`table=_TABLE`), `type(self).instances.append`, `cls.seen.append`, a
    list of the class's changed through `self`: a later call sees what the earlier left.
    (An instance's own list, Buffer's, is no state: both its asserts are judged.)"""
    path = tmp_path / "plugins.py"
    path.write_text(ALIASES)
    assert python_failing_asserts(tmp_path, path.name) == []
    check_marks(ALIASES)


BANK = '''_ACCOUNTS = {}
_BALANCE = [0]


def accounts():
    return _ACCOUNTS


def open_account(name, amount=0):
    """Open an account and return how many exist.

    >>> open_account("ann", 10)  # judged
    1
    >>> open_account("bob")  # no verdict
    2
    """
    book = accounts()
    book[name] = amount
    return len(book)


def deposit(amount):
    """
    >>> deposit(5)  # judged
    5
    """
    balance = _BALANCE
    balance[0] += amount
    return balance[0]


def total():
    """doctest runs deposit's docstring first (by name): this sees its deposit.

    >>> total()  # no verdict
    5
    """
    return _BALANCE[0]


def show(name, amount):
    """
    >>> show("ann", 5)  # judged
    ann has 5
    >>> show("bob", 0)  # judged
    bob has 0
    """
    print(f"{name} has {amount}")
'''


def test_doctests_of_a_function_that_keeps_state_through_an_alias(tmp_path):
    """doctest runs a docstring's examples in one namespace, and the docstrings of a module
    one after another: `open_account("bob")` after `open_account("ann", 10)` (state kept
    through `book = accounts()`), `total()` after deposit's `deposit(5)`. A pure function's
    examples keep their verdicts."""
    path = tmp_path / "bank.py"
    path.write_text(BANK)
    ran = subprocess.run([sys.executable, "-m", "doctest", path.name], capture_output=True, text=True, cwd=tmp_path)
    assert ran.returncode == 0 and not ran.stdout, ran.stdout
    check_marks(BANK)


# -- 1b, 1c: earlier statements of the same block; an argument a function changes --------------

SETTINGS = '''import os

CONFIG = {"debug": False, "retries": 1}
ITEMS = [1, 2]
LIMIT = 2


class Flags:
    verbose = False


def is_debug():
    return CONFIG["debug"]


def retries():
    return CONFIG["retries"]


def verbose():
    return Flags.verbose


def turn_on():
    setattr(Flags, "verbose", True)


def append_one(xs):
    xs.append(1)
    return xs


def add_all(xs):
    append_one(xs)
    return len(xs)


def describe(xs):
    return f"{len(xs)} items"


def countdown(n):
    while n > 0:
        n -= 1
    return n


def double(x):
    return x * 2


assert append_one(ITEMS) == [1, 2, 1]  # judged
assert append_one(ITEMS) == [1, 2, 1, 1]  # no verdict
assert describe(ITEMS) == "4 items"  # no verdict
assert add_all(ITEMS) == 5  # no verdict
assert append_one([1]) == [1, 1]  # judged
assert countdown(LIMIT) == 0  # judged
assert countdown(LIMIT) == 0  # judged

if __name__ == "__main__":
    CONFIG["debug"] = True
    CONFIG.update(retries=3)
    assert is_debug()  # no verdict
    assert retries() == 3  # no verdict
    assert not verbose()  # judged
    turn_on()
    assert verbose()  # no verdict
    assert double(3) == 6  # judged
'''


def test_earlier_statements_of_the_module_and_its_main_block_and_changed_arguments(tmp_path):
    """In the `__main__` block, `CONFIG["debug"] = True`, `CONFIG.update(retries=3)` and a
    bare call that sets a class attribute (`turn_on()`: `setattr(Flags, ...)`) change what
    later calls read; `append_one(ITEMS)` changes the module's list it is passed (and so
    does `add_all`, which passes it on), so a later `describe(ITEMS)` sees 4 items. The
    replay of each call alone saw none of it. A constant passed to a function that counts
    its parameter down is not changed: both `countdown(LIMIT)` are judged."""
    path = tmp_path / "settings_demo.py"
    path.write_text(SETTINGS)
    assert python_failing_asserts(tmp_path, path.name) == []
    ran = subprocess.run([sys.executable, path.name], capture_output=True, text=True, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    check_marks(SETTINGS)


TESTS = '''import os


class Counter:
    total = 0

    def bump(self):
        Counter.total += 1
        return Counter.total


class Registry:
    items = []

    @classmethod
    def add(cls, x):
        cls.items.append(x)
        return len(cls.items)


class Config:
    debug = False


def enable_debug():
    setattr(Config, "debug", True)


def is_debug():
    return Config.debug


SETTINGS = {"scale": 1}


def scale(x):
    return x * SETTINGS["scale"]


def set_scale(value):
    settings = SETTINGS
    settings["scale"] = value


def double(x):
    return x * 2


def test_registry_1():
    assert Registry.add("a") == 1  # judged


def test_registry_2():
    assert Registry.add("b") == 2  # no verdict


def test_debug_on():
    enable_debug()
    assert is_debug()  # no verdict


def test_debug_default():
    assert not is_debug()  # no verdict


def test_scale_set():
    set_scale(3)
    assert scale(2) == 6  # no verdict


def test_scale_later():
    assert scale(1) == 3  # no verdict


def test_in_place():
    SETTINGS["scale"] = 5
    assert scale(1) == 5  # no verdict


def test_pure():
    enable_debug()
    set_scale(2)
    assert double(2) == 4  # judged
'''


def test_state_a_test_leaves_for_the_next(tmp_path):
    """pytest runs a file's tests in order, in one process: `Registry.add("b")` sees what the
    first test's `cls.items.append` left; `is_debug()` after `enable_debug()` (a bare call
    that sets a class attribute with setattr) in its own test, and in the next test too,
    where pytest fails it: no verdict there either, rather than the replay's pass. A pure
    function's assert after the same calls keeps its verdict."""
    path = tmp_path / "test_state.py"
    path.write_text(TESTS)
    outcomes = pytest_outcomes(tmp_path, path.name)
    assert outcomes.pop("test_debug_default") == "FAILED"
    assert outcomes and set(outcomes.values()) == {"PASSED"}, outcomes
    check_marks(TESTS)


# -- 1d: files an earlier statement wrote --------------------------------------------------------

NOTES = '''import json
import os
from pathlib import Path

NOTES_DIR = Path(".")


def save(name, text):
    (NOTES_DIR / name).write_text(text)


def load(name):
    return (NOTES_DIR / name).read_text()


def dump(name, data):
    with open(NOTES_DIR / name, "w") as f:
        json.dump(data, f)


def read(name):
    with open(NOTES_DIR / name) as f:
        return json.load(f)


def drop(name):
    os.remove(NOTES_DIR / name)


def present(name):
    return os.path.exists(NOTES_DIR / name)


def double(x):
    return x * 2


assert present("note_c.txt") is False  # judged
assert present("note_c.txt") is False  # judged
save("note_b.txt", "world")
assert load("note_b.txt") == "world"  # no verdict
dump("data.json", {"a": 1})
assert read("data.json") == {"a": 1}  # no verdict
save("note_c.txt", "x")
drop("note_c.txt")
assert present("note_c.txt") is False  # no verdict
assert double(3) == 6  # judged


def test_roundtrip():
    save("note_a.txt", "hello")
    assert load("note_a.txt") == "hello"  # no verdict
'''


def test_files_an_earlier_call_wrote(tmp_path):
    """`save("note_b.txt", ...)` then `assert load("note_b.txt") == ...`: the replay of the
    load alone finds no file (FileNotFoundError). Any earlier statement that reaches file
    writing (`write_text`, `open(..., "w")` with `json.dump`, `os.remove`) leaves a later
    call that reaches file reading or testing without a verdict; before it, and for a call
    that touches no file, verdicts stay."""
    path = tmp_path / "notes.py"
    path.write_text(NOTES)
    assert python_failing_asserts(tmp_path, path.name) == []
    for name in ("note_a.txt", "note_b.txt", "data.json"):
        (tmp_path / name).unlink(missing_ok=True)  # (pytest imports the module: it writes them again)
    assert pytest_outcomes(tmp_path, path.name) == {"test_roundtrip": "PASSED"}
    check_marks(NOTES)


# -- Verdicts that stay: the assert really fails, and is still judged ---------------------------

FAILING = {
    "a pure function after calls that keep state (1a)": '''_PLUGINS = {}


def registry():
    return _PLUGINS


def register(name, fn):
    plugins = registry()
    plugins[name] = fn
    return len(plugins)


def double(x):
    return x * 2


assert register("a", 1) == 1
assert register("b", 2) == 2
assert double(2) == 5  # judged, fails
''',
    "the first call of a function that keeps state (1a)": '''_CACHE = {}


def slow_square(n):
    cache = _CACHE
    if n in cache:
        return ("cached", cache[n])
    cache[n] = n * n
    return ("computed", cache[n])


assert slow_square(4) == ("cached", 16)  # judged, fails
''',
    "a call that does not read what the __main__ block changed (1b)": '''CONFIG = {"debug": False}


def is_debug():
    return CONFIG["debug"]


def double(x):
    return x * 2


if __name__ == "__main__":
    CONFIG["debug"] = True
    assert double(2) == 5  # judged, fails
''',
    "a literal argument after a global was changed (1c)": '''ITEMS = [1, 2]


def append_one(xs):
    xs.append(1)
    return xs


assert append_one(ITEMS) == [1, 2, 1]
assert append_one([1]) == [1]  # judged, fails
''',
    "a file read before any is written (1d)": '''from pathlib import Path


def save(name, text):
    Path(name).write_text(text)


def load(name):
    return Path(name).read_text()


def double(x):
    return x * 2


assert load("missing_note.txt") == "x"  # judged, fails
save("note.txt", "x")
assert double(2) == 5  # judged, fails
''',
}


@pytest.mark.parametrize("name", sorted(FAILING))
def test_asserts_that_really_fail_keep_their_verdict(name, tmp_path):
    source = FAILING[name]
    path = tmp_path / "script.py"
    path.write_text(source)
    if "__main__" in source:
        ran = subprocess.run([sys.executable, path.name], capture_output=True, text=True, cwd=tmp_path)
        assert ran.returncode == 1 and "AssertionError" in ran.stderr, ran.stderr
    else:
        assert set(python_failing_asserts(tmp_path, path.name)) == marked(source, "# judged, fails")
    judged = verdicts(source)
    assert marked(source, "# judged, fails") <= judged.keys(), judged
