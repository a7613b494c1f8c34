"""Reading values (tracer/safe_repr.py), from a review: no method of the traced code runs
while a value is read or compared (a builtin container's subclass, an object's own
`__class__`, a metaclass's `__eq__`, an exception's `args` property, a str subclass a
`__repr__` returns); a container past the depth shown does not read as one found again
inside itself; a big int shows its digits where they fit the limit; a thread's ident, which
differs from run to run, is left out as an address is."""

from __future__ import annotations

import re
import sys
import time

import pytest

from conftest import PlainReprBudget
from semcoder_inference.tracer import Tracer, render_monologue
from semcoder_inference.tracer.safe_repr import SafeRepr, fingerprint


@pytest.fixture(scope="module")
def tracer():
    with Tracer(workers=1) as t:
        yield t


def logged_globals(trace):
    """The events that say the module global LOG changed."""
    return [e for e in trace["events"] if "LOG" in (e.get("globals") or {})]


def test_no_method_of_a_builtin_containers_subclass_runs_while_its_value_is_read(tracer):
    """A list subclass's own __len__ ran on every traced line (the size a fingerprint keeps):
    f() returned [2, 2, 2] where Python returns [], and every line reported LOG changing. The
    same for a set subclass's __iter__ (its repr iterates it) and a dict subclass's items()."""
    source = (
        "LOG = []\n"
        "class L(list):\n"
        "    def __len__(self):\n"
        "        LOG.append('len'); return list.__len__(self)\n"
        "    def __iter__(self):\n"
        "        LOG.append('iter'); return list.__iter__(self)\n"
        "class S(set):\n"
        "    def __iter__(self):\n"
        "        LOG.append('set iter'); return set.__iter__(self)\n"
        "    def __len__(self):\n"
        "        LOG.append('set len'); return set.__len__(self)\n"
        "class D(dict):\n"
        "    def items(self):\n"
        "        LOG.append('items'); return dict.items(self)\n"
        "    def __iter__(self):\n"
        "        LOG.append('keys'); return dict.__iter__(self)\n"
        "    def __len__(self):\n"
        "        LOG.append('dict len'); return dict.__len__(self)\n"
        "class T(tuple):\n"
        "    def __len__(self):\n"
        "        LOG.append('tuple len'); return tuple.__len__(self)\n"
        "def f():\n"
        "    a = L([1, 2])\n"
        "    a.append(3)\n"
        "    s = S({1})\n"
        "    s.add(2)\n"
        "    d = D(k=1)\n"
        "    d['j'] = [2]\n"
        "    t = T((4,))\n"
        "    x = 1\n"
        "    return list(LOG)\n"
    )
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "ok" and trace["return"]["repr"] == "[]", trace["message"]
    assert logged_globals(trace) == []
    changes = {e["line"]: e["changes"] for e in trace["events"] if e["kind"] == "line"}
    # shown as Python's repr shows them
    assert changes[23] == {"a": "[1, 2]"} and changes[24] == {"a": "[1, 2, 3]"}
    assert changes[25] == {"s": "S({1})"} and changes[26] == {"s": "S({1, 2})"}
    assert changes[27] == {"d": "{'k': 1}"} and changes[28] == {"d": "{'k': 1, 'j': [2]}"}
    assert changes[29] == {"t": "(4,)"}
    # the size a fingerprint keeps: the builtin's, whatever the subclass's __len__ says
    liar = type("Liar", (list,), {"__len__": lambda self: 99})
    assert fingerprint(liar([1, 2]), "t") == ("t", 2) and fingerprint([1, 2], "t") == ("t", 2)
    assert fingerprint({1: 2}, "t") == ("t", 1) and fingerprint(bytearray(3), "t") == ("t", 3)
    assert fingerprint((1, 2), "t") == ("t", -1) and fingerprint(5, "t") == ("t", -1)


def test_no_object_is_asked_for_its_class_or_compared_by_its_metaclass(tracer):
    """isinstance(value, ...) asks a value that is not a list for its `__class__`, through its
    class's __getattribute__ (or a `__class__` property): user code, four times per value per
    line. And `kind in (int, str, ...)` runs a metaclass's own __eq__."""
    source = (
        "LOG = []\n"
        "class P:\n"
        "    def __repr__(self):\n"
        "        return 'P()'\n"
        "    def __getattribute__(self, name):\n"
        "        LOG.append(name); return object.__getattribute__(self, name)\n"
        "class Q:\n"
        "    def __repr__(self):\n"
        "        return 'Q()'\n"
        "    @property\n"
        "    def __class__(self):\n"
        "        LOG.append('class'); return Q\n"
        "class M(type):\n"
        "    def __eq__(cls, other):\n"
        "        LOG.append('eq'); return cls is other\n"
        "    __hash__ = type.__hash__\n"
        "class C(metaclass=M):\n"
        "    pass\n"
        "def f():\n"
        "    p = P()\n"
        "    q = Q()\n"
        "    c = C()\n"
        "    x = 1\n"
        "    return len(LOG)\n"
    )
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "ok" and trace["return"]["repr"] == "0", trace["message"]
    assert logged_globals(trace) == []
    changes = {e["line"]: e["changes"] for e in trace["events"] if e["kind"] == "line"}
    assert changes[20] == {"p": "P()"} and changes[21] == {"q": "Q()"} and changes[22] == {"c": "<C object>"}


def test_an_exceptions_message_and_a_reprs_text_are_read_without_user_code(tracer):
    """An exception's message was read through its `args` attribute (a property of the class
    ran, and said what Python's traceback does not: it reads the args themselves); a
    __repr__ returning a str subclass had that subclass's __len__, __contains__ and __eq__
    run, unbudgeted, on every line."""
    source = (
        "LOG = []\n"
        "class E(Exception):\n"
        "    @property\n"
        "    def args(self):\n"
        "        LOG.append('args'); return ('fake',)\n"
        "class Text(str):\n"
        "    def __len__(self):\n"
        "        LOG.append('len'); return str.__len__(self)\n"
        "    def __contains__(self, part):\n"
        "        LOG.append('in'); return False\n"
        "    def __eq__(self, other):\n"
        "        LOG.append('eq'); return False\n"
        "    __hash__ = str.__hash__\n"
        "class R:\n"
        "    def __repr__(self):\n"
        "        return Text('R at 0x1234')\n"
        "def g():\n"
        "    raise E('real')\n"
        "def f():\n"
        "    r = R()\n"
        "    try:\n"
        "        g()\n"
        "    except E as e:\n"
        "        x = len(LOG)\n"
        "    return len(LOG)\n"
    )
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "ok" and trace["return"]["repr"] == "0", trace["message"]
    assert logged_globals(trace) == []
    changes = {e["line"]: e["changes"] for e in trace["events"] if e["kind"] == "line"}
    assert changes[20] == {"r": "R"}  # (the address left out, as in any repr)
    raised = [e["value"] for e in trace["events"] if e["kind"] == "exception"]
    assert raised and all(value == "E: real" for value in raised), raised
    failing = tracer.trace_call(source.replace("    except E as e:\n        x = len(LOG)\n",
                                               "    finally:\n        pass\n"), "f()")
    assert failing["status"] == "exception" and failing["exception"]["message"] == "real"


def test_a_container_past_the_depth_shown_does_not_read_as_one_inside_itself(tracer):
    """A list nested eight deep showed as `[[[[[[[...]]]]]]]`: Python's own notation for a list
    that holds itself. Past the depth, a container shows its size alone (an empty one, whole);
    one that holds itself is still shown as Python shows it."""
    source = (
        "def f():\n"
        "    deep = [[[[[[[[1, 2]]]]]]]]\n"
        "    loop = [1]\n"
        "    loop.append(loop)\n"
        "    return deep, loop\n"
    )
    trace = tracer.trace_call(source, "f()")
    assert trace["return"]["repr"] == "([[[[[[[... 1 item]]]]]]], [1, [...]])"  # (one level down in the tuple)
    assert trace["truncated"]["return"] is True
    changes = {e["line"]: e["changes"] for e in trace["events"] if e["kind"] == "line"}
    assert changes[2] == {"deep": "[[[[[[[[... 2 items]]]]]]]]"} and changes[4] == {"loop": "[1, [...]]"}

    safe = SafeRepr(200, PlainReprBudget())

    def nest(inner, wrap=list):
        for _ in range(7):
            inner = wrap([inner])
        return inner

    assert safe.shown(nest((1,))) == ("[[[[[[[(... 1 item)]]]]]]]", True)
    assert safe.shown(nest({1: 2, 3: 4})) == ("[[[[[[[{... 2 items}]]]]]]]", True)
    assert safe.shown(nest({1, 2, 3})) == ("[[[[[[[{... 3 items}]]]]]]]", True)
    assert safe.shown(nest(frozenset({1}))) == ("[[[[[[[frozenset({... 1 item})]]]]]]]", True)
    bag = type("Bag", (set,), {})
    assert safe.shown(nest(bag({1, 2}))) == ("[[[[[[[Bag({... 2 items})]]]]]]]", True)
    # nothing left out of an empty one
    for empty in ([], (), {}, set(), frozenset(), bag()):
        assert safe.shown(nest(empty)) == (repr(nest(empty)), False), empty
    # as deep as shown: whole, as before
    assert safe.shown(nest(1)) == (repr(nest(1)), False)


def test_a_big_int_shows_its_digits_where_they_fit_the_limit(tracer):
    """2**5000 returned `<int with 5001 bits>`, and the monologue said its text was cut short
    at the return limit, though its 1506 digits fit that limit (10000 characters). Digits
    that do not fit: the marker, without writing them out (a million digits take CPython
    seconds)."""
    source = "def f():\n    x = -(2 ** 5000)\n    return x\n"
    trace = tracer.trace_call(source, "f()")
    assert trace["return"] == {"repr": str(-(2 ** 5000)), "literal": True}
    assert trace["truncated"]["return"] is False and trace["message"].startswith("returned -1412467032")
    assert "cut short" not in render_monologue(trace, source)
    changes = {e["line"]: e["changes"] for e in trace["events"] if e["kind"] == "line"}
    assert changes[2] == {"x": "<int with 5001 bits>"}  # (an event's limit: 120 characters)

    safe = SafeRepr(120, PlainReprBudget())
    assert safe.shown(2 ** 5000, 1506) == (str(2 ** 5000), False)
    assert safe.shown(2 ** 5000, 1505) == ("<int with 5001 bits>", True)
    assert safe.shown([2 ** 5000], 2000) == ("[%d]" % 2 ** 5000, False)
    assert safe.shown(10 ** 300) == (str(10 ** 300)[:117] + "...", True)  # (up to 4000 bits: as before)
    huge = 1 << 3_400_000  # about a million digits
    started = time.perf_counter()
    assert safe.shown(huge, 1_500_000) == ("<int with 3400001 bits>", True)
    assert time.perf_counter() - started < 0.5


@pytest.mark.skipif(not hasattr(sys, "set_int_max_str_digits"), reason="no int digit limit in this Python")
def test_an_int_longer_than_python_may_write_does_not_break_the_run(tracer):
    """A run that lowers sys.set_int_max_str_digits (to 640, the least) and holds an int of
    700 digits (2326 bits): its repr raised ValueError inside the tracer, and the run crashed."""
    source = (
        "import sys\n"
        "def f():\n"
        "    sys.set_int_max_str_digits(640)\n"
        "    x = 10 ** 700\n"
        "    return [x, 1]\n"
    )
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "ok" and "trace_stopped" not in trace, trace["message"]
    assert trace["return"]["repr"] == "[<int with 2326 bits>, 1]" and trace["truncated"]["return"] is True
    changes = {e["line"]: e["changes"] for e in trace["events"] if e["kind"] == "line"}
    assert changes[4] == {"x": "<int with 2326 bits>"}


def test_a_threads_ident_is_left_out_as_an_address_is(tracer):
    """`<Thread(Thread-1 (work), stopped 139941108045504)>`: the ident differs from run to
    run, as an address does, and tells the reader nothing."""
    source = (
        "import threading\n"
        "def work():\n"
        "    pass\n"
        "def f():\n"
        "    t = threading.Thread(target=work, daemon=True)\n"
        "    t.start()\n"
        "    t.join()\n"
        "    return [t, threading.main_thread()]\n"
    )
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "ok", trace["message"]
    texts = [trace["return"]["repr"]] + [v for e in trace["events"] for v in e["changes"].values()]
    assert not [text for text in texts if re.search(r"\d{4,}", text)], texts
    assert re.fullmatch(r"\[<Thread\(Thread-\d+[^,]*, stopped daemon\)>, <_MainThread\(MainThread, started\)>\]",
                        trace["return"]["repr"]), trace["return"]["repr"]
    safe = SafeRepr(200, PlainReprBudget())

    class Named:
        def __repr__(self):
            return "<Worker(pool-1 (run), started daemon 140660967610048)>"

    assert safe(Named()) == "<Worker(pool-1 (run), started daemon)>"
