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
        if len(text) >= limit:  # cut short: the tracer marks it truncated (literal: see is_literal below)
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


def by_value(value):
    """The definition, for a whole repr: repr(value) reads back as an equal value of the
    same type."""
    try:
        back = ast.literal_eval(repr(value))
    except Exception:
        return False
    return type(back) is type(value) and back == value


def test_is_literal_decides_from_the_value_as_the_definition_does():
    """What `literal` says of a return value whose text a limit cut (child.is_literal): the
    value itself, made only of builtin literal types (exact ones), is a literal."""
    rng = random.Random(11)
    values = [_random_value(rng) for _ in range(2000)] + [
        None, 2**70, 2**3999, 1.5, -0.0, float("inf"), [float("nan")], 1 + 2j, complex(float("inf"), 0),
        "", b"\x00", [], (), {}, {1, 2}, set(), frozenset({1}), [{1: (2, "a")}], list(range(10000)), range(3)]
    for value in values:
        assert child.is_literal(value) is by_value(value), value
    deep = None
    for i in range(99):
        deep = (i, deep)
    assert child.is_literal(deep) and by_value(deep)
    cyclic = [1]
    cyclic.append(cyclic)
    assert not child.is_literal(cyclic) and not child.is_literal({"me": cyclic})
    assert not child.is_literal([Name("a")])  # (exact types only: stricter than reading back)
    assert not child.is_literal(2**4000)  # documented: ints up to 4000 bits (SafeRepr shows `<int with 4001 bits>`)
    assert not child.is_literal(list(range(child.LITERAL_PARTS)))  # not looked at whole: documented


def test_a_return_value_cut_anywhere_is_flagged_and_literal_is_about_the_value():
    """`cons(9)` gave `(8, (7, (6, (5, (4, (3, (2, ...)))))))` with truncated.return false:
    the depth limit cut it inside, where the text does not end in "...". And `literal`
    was false: the cut text does not read back, but the value does (docs/trace-schema.md)."""
    source = ("def cons(n):\n    out = None\n    for i in range(n):\n        out = (i, out)\n    return out\n\n"
              "class Node:\n    pass\n\n"
              "def wide(n):\n    return list(range(n))\n\n"
              "def objects(n):\n    return [Node() for i in range(n)]\n\n"
              "def cyclic():\n    xs = [1]\n    xs.append(xs)\n    xs[0] = 2\n    return xs\n")
    with Tracer(workers=1) as tracer:
        deep = tracer.trace_call(source, "cons(9)")
        assert deep["return"] == {"repr": "(8, (7, (6, (5, (4, (3, (2, (... 2 items))))))))", "literal": True}
        assert deep["truncated"]["return"] is True
        whole = tracer.trace_call(source, "cons(3)")
        assert whole["return"] == {"repr": "(2, (1, (0, None)))", "literal": True}
        assert whole["truncated"]["return"] is False
        long = tracer.trace_call(source, "wide(5000)")
        assert long["truncated"]["return"] is True and long["return"]["literal"] is True
        assert long["return"]["repr"].endswith("...") and len(long["return"]["repr"]) <= 10000
        many = tracer.trace_call(source, "objects(2000)")
        assert many["truncated"]["return"] is True and many["return"]["literal"] is False
        loop = tracer.trace_call(source, "cyclic()")  # whole, as Python prints it; not a literal
        assert loop["return"] == {"repr": "[2, [...]]", "literal": False} and loop["truncated"]["return"] is False
