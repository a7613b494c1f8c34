"""Values whose class has a metaclass of the traced code's own: the tracer tells classes
apart by identity, so it never hashes a class nor compares one with `==` (either runs the
metaclass's `__hash__` or `__eq__`: user code, changing the run; and a metaclass that
defines `__eq__` alone makes its classes unhashable, which stopped the trace)."""

from __future__ import annotations

import contextlib
import io

import pytest

from semcoder_inference.tracer import Tracer


@pytest.fixture(scope="module")
def tracer():
    with Tracer(workers=1) as t:
        yield t


def untraced(source, call):
    """(what `call` returns, what it printed) run as plain Python, with no tracer."""
    namespace = {"__name__": "untraced"}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(source, "<untraced>", "exec"), namespace)
        returned = eval(call, namespace)
    return returned, printed.getvalue()


def line_of(source, text):
    """The number of the line of `source` that is `text`, stripped."""
    return [line.strip() for line in source.splitlines()].index(text) + 1


def assert_traced_to_the_end(trace):
    assert trace["status"] == "ok", trace.get("message")
    assert not trace.get("trace_stopped"), trace.get("message")
    assert "could not go on" not in (trace.get("message") or ""), trace.get("message")


UNHASHABLE = '''class Meta(type):
    def __eq__(cls, other):
        return cls is other

class Point(metaclass=Meta):
    def __init__(self, x):
        self.x = x

def f(n):
    p = Point(n)
    items = [p, Point(n + 1)]
    d = {"p": p}
    return p.x + len(items)
'''


def test_a_class_whose_metaclass_has_eq_alone_is_traced_to_the_end(tracer):
    """`__eq__` without `__hash__` makes a metaclass's classes unhashable: `kind in
    _ATOM_TYPES` raised TypeError and the trace stopped after the call's first line."""
    trace = tracer.trace_call(UNHASHABLE, "f(1)")
    assert_traced_to_the_end(trace)
    assert trace["return"]["repr"] == "3"
    lines = [e["line"] for e in trace["events"] if e["kind"] == "line" and e["function"] == "f"]
    assert lines == [10, 11, 12, 13]
    assert [e["line"] for e in trace["events"] if e["kind"] == "line" and e["function"] == "Point.__init__"] == [7, 7]
    changes = {e["line"]: e["changes"] for e in trace["events"] if e["kind"] == "line" and e["function"] == "f"}
    assert changes[10] == {"p": "<Point x=1>"}
    assert changes[11] == {"items": "[<Point x=1>, <Point x=2>]"}
    assert changes[12] == {"d": "{'p': <Point x=1>}"}
    returns = [e for e in trace["events"] if e["kind"] == "return" and e["function"] == "f"]
    assert len(returns) == 1 and returns[0]["value"] == "3"


# The values a line may hold, of classes of a metaclass: objects (in a list, a tuple, a
# dict and as its key, a deque, a set, another object's attributes, slots; changed inside a
# long list; returned), the classes themselves as values (and as a class's `__module__`),
# an exception of such a class raised and caught.
COUNTING = '''import collections
CALLS = []

class Meta(type):
    def __hash__(cls):
        CALLS.append(("hash", cls.__name__))
        print("hash", cls.__name__)
        return 1
    def __eq__(cls, other):
        CALLS.append(("eq", cls.__name__))
        print("eq", cls.__name__)
        return cls is other

class Point(metaclass=Meta):
    def __init__(self, x):
        self.x = x

class Slotted(metaclass=Meta):
    __slots__ = ("a",)
    def __init__(self, a):
        self.a = a

class Oops(Exception, metaclass=Meta):
    pass

class Box:
    def __init__(self, inside):
        self.inside = inside

class Odd:
    __module__ = Point  # (not a str: looked up, it would be hashed)

def make(n):
    return Point(n)

def f(n):
    p = Point(n)
    items = [p, Point(n + 1)]
    pair = (p, items)
    d = {"p": p, "k": {n: p}}
    q = collections.deque([p, p])
    s = {p}
    b = Box(p)
    b.inside = [p, Slotted(n)]
    kind = Point
    kinds = {"Point": Point, "Slotted": Slotted}
    items.append(p)
    p.x = n + 5
    many = [Point(i) for i in range(40)]
    many[30].x = -1
    many[5] = Point(-5)
    keyed = {p: [1]}
    keyed[p].append(2)
    big = Point(list(range(60)))
    big.x[1] = -1; big.x[50] = -2
    made = make(n)
    odd = Odd()
    try:
        raise Oops(n)
    except Oops:
        caught = True
    return len(CALLS)
'''


def test_a_metaclasss_hash_and_eq_run_as_often_as_without_the_tracer(tracer):
    """A metaclass's own `__hash__` ran each time the tracer looked a value's class up in
    a set of classes (several times per local per line): the count the run returns, and
    what it printed, differed from a plain run's."""
    expected, printed = untraced(COUNTING, "f(1)")
    trace = tracer.trace_call(COUNTING, "f(1)")
    assert_traced_to_the_end(trace)
    assert trace["return"]["repr"] == repr(expected)
    assert trace["stdout"] == printed
    assert not [e for e in trace["events"] if "CALLS" in (e.get("globals") or {})]
    changes = {e["line"]: e["changes"] for e in trace["events"] if e["kind"] == "line" and e["function"] == "f"}

    def at(text):  # what the line of f that is `text` changed
        return changes[line_of(COUNTING, text)]

    assert at("s = {p}") == {"s": "{<Point x=1>}"}
    assert at("b.inside = [p, Slotted(n)]") == {"b": "<Box inside=[<Point x=1>, <Slotted a=1>]>"}
    assert list(at("kind = Point")) == ["kind"] and at("kind = Point")["kind"].endswith(".Point'>")
    assert at("items.append(p)") == {"items": "[<Point x=1>, <Point x=2>, <Point x=1>]",
                                     "pair": "(<Point x=1>, [<Point x=1>, <Point x=2>, <Point x=1>])"}
    moved = at("p.x = n + 5")
    assert moved["p"] == "<Point x=6>" and moved["q[0].x"] == moved["q[1].x"] == "6"
    assert moved["b"] == "<Box inside=[<Point x=6>, <Slotted a=1>]>"
    assert at("many[30].x = -1") == {"many[30].x": "-1"}
    assert at("caught = True") == {"caught": "True"}
    assert at("many[5] = Point(-5)") == {"many[5]": "<Point x=-5>"}
    assert at("keyed[p].append(2)") == {"keyed": "{<Point x=6>: [1, 2]}"}
    assert at("big.x[1] = -1; big.x[50] = -2") == {"big.x[1]": "-1", "big.x[50]": "-2"}
    assert at("made = make(n)") == {"made": "<Point x=1>"}
    assert [e["value"] for e in trace["events"] if e["kind"] == "return" and e["function"] == "make"] == ["<Point x=1>"]


RAISING = '''class Meta(type):
    def __eq__(cls, other):
        raise RuntimeError("no comparing classes")
    __hash__ = type.__hash__

class Oops(Exception, metaclass=Meta):
    pass

class Point(metaclass=Meta):
    def __init__(self, x):
        self.x = x

def f(n):
    p = Point(n)
    items = [p, Point(n + 1)]
    try:
        raise Oops(n)
    except Oops:
        items.append(p)
    return p.x + len(items)
'''


@pytest.mark.parametrize("hashable", [True, False])
def test_a_metaclass_whose_eq_raises_leaves_the_trace_going(tracer, hashable):
    """A metaclass `__eq__` that raises: `exc_type in (StopIteration, StopAsyncIteration)`
    ran it for every exception event (and a class left unhashable stopped the trace at
    its first object)."""
    source = RAISING if hashable else RAISING.replace("    __hash__ = type.__hash__\n", "")
    assert untraced(source, "f(1)") == (4, "")
    trace = tracer.trace_call(source, "f(1)")
    assert_traced_to_the_end(trace)
    assert trace["return"]["repr"] == "4"
    exceptions = [e for e in trace["events"] if e["kind"] == "exception"]
    assert [e["value"] for e in exceptions] == ["Oops: 1"]
    changes = {e["line"]: e["changes"] for e in trace["events"] if e["kind"] == "line" and e["function"] == "f"}
    assert changes[line_of(source, "items.append(p)")] == {"items": "[<Point x=1>, <Point x=2>, <Point x=1>]"}


EXITING = '''import sys


class Code:
    def __eq__(self, other):
        print("Code.__eq__ ran")
        return True

    def __str__(self):
        return "bad input"


class Two(int):
    def __eq__(self, other):
        print("Two.__eq__ ran")
        return True


def f(x):
    return x

if __name__ == "__main__":
    sys.exit(KIND)
'''


@pytest.mark.parametrize("kind, exited", [("Code()", "'bad input'"), ("Two(2)", "code 2")])
def test_a_scripts_exit_code_is_read_without_running_its_eq(tracer, kind, exited):
    """How a script's SystemExit said it failed was read with `code in (None, 0)`, which ran
    the code's own `__eq__` (Python's exit does not: a true one made the exit read as
    clean); an int subclass's value is int's own."""
    source = EXITING.replace("KIND", kind)
    never = tracer.watch_call(source, "f", filename="/work/exits.py")
    assert never["status"] == "invalid" and never["exited"] == exited, never
    assert "__eq__ ran" not in never["stdout"], never["stdout"]
