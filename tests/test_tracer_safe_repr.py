"""Bounded reprs of builtin containers: a container is shown item by item while the text
so far is within the limit, then ", ..."; the whole is cut to the limit."""

from __future__ import annotations

import random

from conftest import PlainReprBudget
from semcoder_inference.tracer.safe_repr import SafeRepr


def reference(obj, limit, level=0):
    """The rule, written plainly: a container shows its items while the text before each
    (everything written so far, outer containers included) is at most `limit` long."""
    out = []

    def walk(obj, level):
        kind = type(obj)
        if kind in (int, float, bool, type(None)):
            out.append(repr(obj))
            return
        if kind is str:
            out.append(repr(obj[:limit]))
            return
        if level > 6:  # (its size alone: `[...]` is Python's mark of a container inside itself)
            size = len(obj)
            opening, closing = {list: "[]", tuple: "()", dict: "{}"}[kind]
            out.append(opening + ("... %d item%s" % (size, "" if size == 1 else "s") if size else "") + closing)
            return
        opening, closing = {list: ("[", "]"), tuple: ("(", ")"), dict: ("{", "}")}[kind]
        out.append(opening)
        for index, item in enumerate(obj.items() if kind is dict else obj):
            if len("".join(out)) > limit:
                out.append(", ...")
                break
            if index:
                out.append(", ")
            if kind is dict:
                walk(item[0], level + 1)
                out.append(": ")
                walk(item[1], level + 1)
            else:
                walk(item, level + 1)
        if kind is tuple and len(obj) == 1:
            out.append(",")
        out.append(closing)

    walk(obj, level)
    text = "".join(out)
    return text[: max(limit - 3, 1)] + "..." if len(text) > limit else text


def _value(rng, depth=0):
    choice = rng.randrange(7 if depth < 3 or (depth < 8 and rng.random() < 0.3) else 4)
    if choice == 0:
        return rng.randrange(-10 ** rng.randrange(1, 12), 10 ** rng.randrange(1, 12))
    if choice == 1:
        return "".join(rng.choice("ab'\"") for _ in range(rng.randrange(30)))
    if choice == 2:
        return None if rng.random() < 0.5 else rng.random() < 0.5
    if choice == 3:
        return rng.random()
    if choice == 4:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(60 if depth < 2 else 4))]
    if choice == 5:
        return tuple(_value(rng, depth + 1) for _ in range(rng.randrange(4)))
    return {rng.randrange(100): _value(rng, depth + 1) for _ in range(rng.randrange(20 if depth < 2 else 3))}


def test_long_and_nested_containers_are_cut_by_the_rule():
    rng = random.Random(3)
    safe = SafeRepr(120, PlainReprBudget())
    cut = 0
    for _ in range(3000):
        value = _value(rng)
        for limit in (20, 120, 1000):
            text = safe(value, limit)
            assert text == reference(value, limit), (value, limit)
            cut += text.endswith("...")
    assert cut > 500  # the rule was exercised, not only short values


def test_a_long_list_costs_only_what_it_shows():
    """Only the first items of a long list are walked (the rest could be millions)."""
    seen = []

    class Counted:
        def __init__(self, n):
            self.n = n

        def __repr__(self):
            seen.append(self.n)
            return "C"

    text = SafeRepr(120, PlainReprBudget())([Counted(n) for n in range(100_000)])
    assert text.startswith("[C, C") and text.endswith("...") and len(text) == 120
    assert len(seen) < 60


def test_ends_shows_the_first_and_last_items_of_a_long_value():
    """What events show (SafeRepr.ends): a long list, tuple, dict or str keeps its first and
    last items within the limit; anything else, or anything short
    enough, is shown as by the rule."""
    safe = SafeRepr(40, PlainReprBudget())
    assert safe.ends(list(range(100))) == "[0, 1, 2, 3, 4, ..., 96, 97, 98, 99]"
    assert safe.ends(tuple(range(100))) == "(0, 1, 2, 3, 4, ..., 96, 97, 98, 99)"
    assert safe.ends({i: i for i in range(100)}) == "{0: 0, 1: 1, ..., 98: 98, 99: 99}"
    assert safe.ends("a" * 50 + "Z") == "'" + "a" * 17 + "..." + "a" * 16 + "Z'"
    assert safe.ends([1, 2, 3]) == "[1, 2, 3]" and safe.ends(set(range(100))) == safe(set(range(100)))
    # quotes that differ between the two ends: cut as usual
    mixed = "'" * 30 + '"' * 30
    assert safe.ends(mixed) == safe(mixed)
    # items longer than half the room: the first and the last alone do not fit, cut as usual
    wide = ["x" * 30, "y" * 30, "z" * 30]
    assert safe.ends(wide) == safe(wide)
    rng = random.Random(5)
    for _ in range(2000):
        value = _value(rng)
        text = safe.ends(value)
        assert len(text) <= 48 and (text == safe(value) or ", ..., " in text or "..." in text[1:-1])


def test_a_librarys_repr_drops_addresses_and_says_where_it_is_cut():
    """Addresses differ from run to run and tell the reader nothing; a repr too long for
    the limit ends in "..." like every cut text."""
    from collections import deque

    safe = SafeRepr(200, PlainReprBudget())

    def helper():
        pass

    assert safe(helper) == f"<function {helper.__qualname__}>"
    assert safe(iter([1])) == "<list_iterator object>"
    assert safe([map(str, [])]) == "[<map object>]"
    assert SafeRepr(60, PlainReprBudget())(deque(range(100))) == \
        "deque([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, ..."


class Node:
    def __init__(self, value):
        self.value = value


def test_a_value_found_again_inside_itself_prints_as_python_prints_it():
    """A self-containing container printed as nesting down to the depth limit,
    `[2, [2, [2, ...]]]`, as if it were a deep value; Python prints `[2, [...]]`. Such a
    text is whole: no limit cut it."""
    safe = SafeRepr(120, PlainReprBudget())
    xs = [1]
    xs.append(xs)
    xs[0] = 2
    me = {"k": 1}
    me["me"] = me
    holder = ([],)
    holder[0].append(holder)  # a tuple holding a list holding the tuple
    pair = [[], 0]
    pair[0].append(pair)
    shared = [1]
    twice = [shared, shared, (shared,)]  # the same list twice, not inside itself: shown twice
    for value in (xs, me, holder, pair, twice, {"a": xs, "b": [xs]}):
        assert safe.shown(value) == (repr(value), False), value
    assert safe(xs) == "[2, [...]]" and safe(me) == "{'k': 1, 'me': {...}}" and safe(holder) == "([(...)],)"
    # walked objects, in sets too
    parent, child = Node(0), Node(1)
    parent.child, child.parent = child, parent
    assert safe.shown(child) == ("<Node value=1, parent=<Node value=0, child=<Node ...>>>", False)
    parent.bag = {child}
    assert safe([parent]) == "[<Node value=0, child=<Node value=1, parent=<Node ...>>, bag={<Node value=1, " \
                             "parent=<Node ...>>}>]"
    loop = Node(2)
    loop.me = loop
    assert safe.as_object(loop) == "<Node value=2, me=<Node ...>>"
    # a long one, as events show it (first and last items)
    long = list(range(100))
    long.append(long)
    assert SafeRepr(40, PlainReprBudget()).ends(long) == "[0, 1, 2, 3, 4, ..., 98, 99, [...]]"


def test_shown_says_when_any_limit_cut_the_text():
    """A value cut deep inside (`(8, (7, ...))`) does not end in "...": only SafeRepr knows
    it cut it (trace["truncated"]["return"])."""
    safe = SafeRepr(120, PlainReprBudget())
    cons = None
    for i in range(9):
        cons = (i, cons)
    assert safe.shown(cons) == ("(8, (7, (6, (5, (4, (3, (2, (... 2 items))))))))", True)
    assert safe.shown(list(range(100)))[1] is True  # items left out
    assert safe.shown("x" * 200)[1] is True and safe.shown(b"x" * 200)[1] is True
    assert safe.shown(2 ** 5000) == ("<int with 5001 bits>", True)
    deep = Node(0)
    for i in range(1, 6):
        deep = Node(deep)
    assert safe.shown(deep) == ("<Node value=<Node value=<Node value=<Node value=<Node object>>>>>", True)
    assert safe.shown([1, "a", (None, 2.5), {"k": [b"x"]}, Node(1)]) == \
        ("[1, 'a', (None, 2.5), {'k': [b'x']}, <Node value=1>]", False)
    assert safe.shown(cons, 5) == ("(8...", True)


def test_a_traced_self_containing_value_reads_as_python_prints_it():
    """Through the real tracer: the return value, its message and the events' changes."""
    from semcoder_inference.tracer import Tracer

    source = "def f():\n    xs = [1]\n    xs.append(xs)\n    xs[0] = 2\n    me = {}\n    me['me'] = me\n    return xs, me\n"
    with Tracer(workers=1) as tracer:
        trace = tracer.trace_call(source, "f()")
    assert trace["return"] == {"repr": "([2, [...]], {'me': {...}})", "literal": False}
    assert trace["message"] == "returned ([2, [...]], {'me': {...}})" and trace["truncated"]["return"] is False
    changes = {e["line"]: e["changes"] for e in trace["events"] if e["kind"] == "line"}
    assert changes[3] == {"xs": "[1, [...]]"} and changes[4] == {"xs": "[2, [...]]"}
    assert changes[6] == {"me": "{'me': {...}}"}
