"""Whether a repr "reads back as a literal" (trace["return"]["literal"], a recorded call's
arguments): the fast answer for values made of builtin types agrees with the definition,
ast.literal_eval of the text giving back an equal value of the same type whose repr is
the same text."""

from __future__ import annotations

import ast
import random

import pytest

from conftest import PlainReprBudget
from semcoder_inference.tracer import Tracer, child
from semcoder_inference.tracer.child import reads_back
from semcoder_inference.tracer.safe_repr import SafeRepr


SAFE_REPR = SafeRepr(120, PlainReprBudget())


def by_definition(value, text, limit):
    try:
        back = ast.literal_eval(text)
    except Exception:
        return False
    return type(back) is type(value) and back == value and SAFE_REPR(back, limit) == text


class Point:
    def __init__(self, x):
        self.x = x

    def __repr__(self):
        return f"Point({self.x})"


class LooksLikeOne:
    def __repr__(self):
        return "1"

    def __eq__(self, other):
        return other == 1


class Name(str):
    pass


def _random_value(rng: random.Random, depth: int = 0):
    makers = [
        lambda: rng.randrange(-10**6, 10**6),
        lambda: rng.random() * 10 ** rng.randrange(-20, 20),
        lambda: "".join(rng.choice("ab'\"\\\n\u00e9") for _ in range(rng.randrange(6))),
        lambda: None,
        lambda: rng.random() < 0.5,
        lambda: bytes(rng.randrange(256) for _ in range(3)),
        lambda: [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))],
        lambda: tuple(_random_value(rng, depth + 1) for _ in range(rng.randrange(3))),
        lambda: {rng.choice([1, "k", (1,), 2.5, None, True]): _random_value(rng, depth + 1)
                 for _ in range(rng.randrange(3))},
    ]
    return makers[rng.randrange(len(makers) if depth < 4 else 6)]()


def _values():
    cyclic = [1]
    cyclic.append(cyclic)
    fixed = [
        None, True, False, 0, -5, 2**70, -2**63, 2**5000, [2**4001], 1.5, -0.0, 1e300, 1e-300,
        float("inf"), float("nan"), [float("nan")], 1 + 2j, complex(-0.0, 1), "", "a'b\"c", "x" * 200,
        "x" * 50000, b"", b"\x00\xff", [], (), {}, (1,), ("a",) * 3, [[]] * 3, [{}], {"k": {}},
        [[[[[[1]]]]]], [1, [2, [3, [4, [5, [6, [7]]]]]]], {1: (2, "a")},
        {"a": [1, 2.5, None], (1, 2): {True: b"x"}}, {1: 1, True: 2}, [True, 1, 1.0],
        set(), {1, 2, 3}, {8, 16, 24, 1}, frozenset({1}), range(3), bytearray(b"ab"),
        Point(3), [Point(1)], LooksLikeOne(), [LooksLikeOne()], Name("a"), [Name("a")], cyclic,
        list(range(30)), list(range(10000)), {i: str(i) for i in range(50)},
    ]
    rng = random.Random(7)
    return fixed + [_random_value(rng) for _ in range(2000)]


@pytest.mark.parametrize("limit", [121, 10001])
def test_the_fast_answer_agrees_with_the_definition(limit):
    checked = 0
    for value in _values():
        text = SAFE_REPR(value, limit)
        if len(text) >= limit:  # cut short: the tracer marks it truncated, never literal
            continue
        expected = by_definition(value, text, limit)
        assert reads_back(value, text, lambda back: SAFE_REPR(back, limit) == text) is expected, (value, text)
        checked += 1
    assert checked > 1500


def test_values_of_builtin_types_need_no_parsing(monkeypatch):
    """The parser is what costs a fresh child most: builtin values never reach it."""
    def no_parser(text):
        raise AssertionError(f"parsed {text!r}")

    monkeypatch.setattr(child.ast, "literal_eval", no_parser)
    assert reads_back({"a": [1, 2.5, None, (True, b"x")]}, "{'a': [1, 2.5, None, (True, b'x')]}")
    assert not reads_back("x" * 500, repr("x" * 100))  # a repr cut short is another value
    assert not reads_back([[[[[[[1]]]]]]], "[[[[[[[...]]]]]]]")
    assert not reads_back(list(range(1000)), "[0, 1, 2, ...]")  # more parts than the text has room for


def test_a_traced_return_says_whether_it_is_a_literal():
    source = ("class P:\n    def __repr__(self):\n        return '[1]'\n\n"
              "def f(kind):\n    return {'list': [1, {'a': (2.5, None)}], 'nan': [float('nan')], 'fake': P(),\n"
              "            'set': {3, 1}, 'cycle': (lambda l: (l.append(l), l)[1])([])}[kind]\n")
    with Tracer(workers=1) as tracer:
        literal = {kind: tracer.trace_call(source, f"f({kind!r})")["return"]["literal"]
                   for kind in ("list", "nan", "fake", "set", "cycle")}
    assert literal == {"list": True, "nan": False, "fake": False, "set": True, "cycle": False}
