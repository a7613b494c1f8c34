"""Which asserts the server may judge, after a second review of its verdicts against real
pytest and Python: every file here passes (or is skipped) under pytest, and each assert
below had a false "assert failed" (or a false pass) before. No verdict now, or the right
one."""

from __future__ import annotations

import pytest

from lsp_helpers import EXEC_ON, diagnostics_for, hover, line_of, open_document, pytest_outcomes, running_server, wait_for
from semcoder_lsp.calls import analyse

HEAD = '''import itertools
import random
import sys

import pytest

CONFIG = {"scale": 1}
FACTOR = 1


def scale(x):
    return x * CONFIG["scale"] * FACTOR


'''

# Each file: what it adds to HEAD, and whether pytest passes it (all do, or skip it).
NO_VERDICT = {
    "a fixture": '''@pytest.fixture
def doubled(monkeypatch):
    monkeypatch.setitem(CONFIG, "scale", 2)


def test_fixture(doubled):
    assert scale(3) == 6
''',
    "monkeypatch": '''def test_monkeypatch(monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "FACTOR", 2)
    assert scale(3) == 6
''',
    "a change in place before the assert": '''def test_in_place():
    CONFIG["scale"] = 2
    assert scale(3) == 6
    CONFIG["scale"] = 1
''',
    "global": '''def test_global():
    global FACTOR
    FACTOR = 2
    assert scale(3) == 6
    FACTOR = 1
''',
    "an autouse fixture method": '''class TestScale:
    @pytest.fixture(autouse=True)
    def doubled(self, monkeypatch):
        monkeypatch.setitem(CONFIG, "scale", 2)

    def test_it(self):
        assert scale(3) == 6
''',
    "pytestmark usefixtures": '''@pytest.fixture
def doubled(monkeypatch):
    monkeypatch.setitem(CONFIG, "scale", 2)


pytestmark = pytest.mark.usefixtures("doubled")


def test_it():
    assert scale(3) == 6
''',
    "set-up inherited": '''class Base:
    def setup_method(self):
        CONFIG["scale"] = 2

    def teardown_method(self):
        CONFIG["scale"] = 1


class TestScale(Base):
    def test_it(self):
        assert scale(3) == 6
''',
    "importorskip": '''def test_skipped():
    pytest.importorskip("no_such_module_xyz")
    assert scale(3) == 6
''',
    "raise SkipTest": '''import unittest


def test_skipped():
    raise unittest.SkipTest("not here")
    assert scale(3) == 6
''',
    "__test__ = False": '''class TestNotCollected:
    __test__ = False

    def test_it(self):
        assert scale(3) == 6
''',
    "a shadowed test": '''def test_twice():
    assert scale(3) == 6


def test_twice():
    assert scale(3) == 3
''',
    "a later read": '''COUNT = 0


def bump():
    global COUNT
    COUNT += 1
    return COUNT


def test_order():
    assert COUNT + 1 == bump()
''',
    "an object's state": '''class Registry:
    def __init__(self):
        self.items = []

    def register(self, x):
        self.items.append(x)
        return len(self.items)


REG = Registry()


def register(x):
    return REG.register(x)


def test_registry():
    assert register("a") == 1
    assert register("b") == 2
''',
    "an iterator's state": '''_ids = itertools.count(1)


def new_id():
    return next(_ids)


def test_ids():
    assert new_id() == 1
    assert new_id() == 2
''',
    "random's state": '''def roll():
    return random.randint(1, 1000)


def test_rolls():
    random.seed(0)
    first = roll()
    random.seed(0)
    assert roll() == first
''',
    "is with a negative literal": '''def ident(x):
    return x


def test_same():
    assert ident(-6) is -6
''',
    "is with the argument": '''def ident(x):
    return x


@pytest.mark.parametrize("x", [-6, 1000, 1 + 2j])
def test_same(x):
    assert ident(x) is x
''',
    "__name__ read by the function": '''def who():
    return __name__


def test_who():
    assert who() == __name__
''',
}


@pytest.mark.parametrize("name", sorted(NO_VERDICT))
def test_no_verdict_where_the_replayed_call_may_not_see_what_pytest_s_does(name, tmp_path):
    source = HEAD + NO_VERDICT[name]
    judged = [(c.line, c.call, c.expected) for c in analyse(source).calls
              if c.origin == "assert" and source.splitlines()[c.line].strip().startswith(("assert", "(", "-", "1"))]
    asserted = [c for c in judged if "scale(3)" in c[1] or c[1] in ("bump()", 'register("b")', "new_id()", "roll()",
                                                                   "ident(-6)", "ident(1000)", "ident(1 + 2j)", "who()")]
    # (the first call sees what Python's does, and the test pytest runs of two of one name:
    # judged, and they pass)
    judged_rightly = {('register("a")', "1"), ("new_id()", "1"), ("scale(3)", "3")}
    assert [c for c in asserted if c[1:] not in judged_rightly] == [], name
    path = tmp_path / "test_rules.py"
    path.write_text(source)
    outcomes = pytest_outcomes(tmp_path, path.name)
    if name == "__test__ = False":
        assert outcomes == {}  # (not collected)
    elif name == "is with a negative literal":
        # A script passes (one constant -6); pytest's assertion rewriting makes two: it fails.
        assert outcomes == {"test_same": "FAILED"}
    else:
        assert outcomes and set(outcomes.values()) <= {"PASSED", "SKIPPED"}, outcomes


EQUAL_ORDER = '''from unittest.mock import ANY


class P:
    def __init__(self, x):
        self.x = x

    def __eq__(self, other):
        return isinstance(other, P) and other.x == self.x


def make(x):
    return P(x)


def ident(x):
    return x


def test_any():
    assert ANY == make(1)


def test_over_lines():
    assert ident(3) == (1 +
                        3)
'''


async def test_equality_is_asked_in_the_order_written_and_an_expected_value_may_span_lines(tmp_path):
    """`ANY == make(1)`: ANY's `__eq__` is asked first, as Python asks it (the server said
    `assert failed: make(1) returned <P x=1>, expected ANY`); `(1 +\\n 3)` was sent without its
    parentheses and reported as a syntax error in the hover, with no diagnostic."""
    path = tmp_path / "test_order.py"
    path.write_text(EQUAL_ORDER)
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        await wait_for(lambda: diagnostics_for(client, uri))
        assert [(d.range.start.line, d.message) for d in diagnostics_for(client, uri)] == [
            (line_of(EQUAL_ORDER, "ident(3) =="), "assert failed: ident(3) returned 3, expected 1 + 3 (4)")]
        text = await hover(client, uri, line_of(EQUAL_ORDER, "ANY == make"), 20)
        assert "✓ the assert passes: `ANY == make(1)` is true" in text, text
    assert pytest_outcomes(tmp_path, path.name) == {"test_any": "PASSED", "test_over_lines": "FAILED"}
