"""Calls nested deeper than max_depth: untraced, and cheap. Each such call found its depth by
walking up to the last traced frame, O(depth) a call: a plain recursion 20000 deep spent
seconds in the tracer and was reported as the code's own timeout. Now a frame past
max_depth is remembered (until it returns) with its depth."""

from __future__ import annotations

import pytest

from semcoder_inference.tracer import Limits, Tracer, schema
from test_tracer_interpreters import _interpreters

RECURSION = """
import sys
sys.setrecursionlimit(10 ** 6)

def depth(n):
    if n == 0:
        return 0
    return 1 + depth(n - 1)
"""


@pytest.fixture(scope="module")
def tracer():
    with Tracer(workers=1, limits=Limits(timeout_s=5.0, cpu_s=5.0)) as t:
        yield t


def test_a_recursion_20000_deep_is_traced_within_its_limits(tracer):
    trace = tracer.trace_call(RECURSION, "depth(20000)")
    assert trace["status"] == "ok", trace["message"]
    assert trace["return"]["repr"] == "20000"
    assert trace["truncated"]["depth"] is True and trace["truncated"]["events"] is False
    assert "trace_stopped" not in trace
    schema.check(trace)
    depths = [event["depth"] for event in trace["events"]]
    assert max(depths) == Limits().max_depth and depths[0] == 0
    # every traced frame's call and return, in order, down to max_depth and back
    calls = [e["depth"] for e in trace["events"] if e["kind"] == "call"]
    returns = [e["depth"] for e in trace["events"] if e["kind"] == "return"]
    assert calls == list(range(Limits().max_depth + 1)) and returns == calls[::-1]
    assert trace["events"][-1] == {"line": 8, "depth": 0, "function": "depth", "iteration": None, "changes": {},
                                   "kind": "return", "value": "20000"}


def test_a_deep_call_costs_what_a_shallow_one_does(tracer):
    """Four times the depth takes about four times as long (it took sixteen times)."""
    def fastest(n):
        runs = [tracer.trace_call(RECURSION, f"depth({n})") for _ in range(3)]
        assert all(run["status"] == "ok" and run["return"]["repr"] == str(n) for run in runs), runs[0]["message"]
        return min(run["duration_s"] for run in runs)

    shallow, deep = fastest(4000), fastest(16000)
    assert deep / shallow < 9, (shallow, deep)


def test_frames_past_max_depth_are_not_kept_alive(tracer):
    """The tracer remembers a frame past max_depth only until it returns: what its locals
    hold goes when it does, as without the tracer."""
    source = (
        "import weakref\n"
        "class Box:\n    pass\n"
        "def down(n, refs):\n"
        "    if n == 0:\n"
        "        box = Box()\n"
        "        refs.append(weakref.ref(box))\n"
        "        return 0\n"
        "    return down(n - 1, refs)\n"
        "def f():\n"
        "    refs = []\n"
        "    down(30, refs)\n"
        "    gone = refs[0]() is None\n"
        "    return gone\n")
    trace = tracer.trace_call(source, "f()", limits=Limits(max_depth=5))
    assert trace["status"] == "ok" and trace["return"]["repr"] == "True", trace["message"]
    assert trace["truncated"]["depth"] is True
    assert max(event["depth"] for event in trace["events"]) == 5


def test_depths_stay_right_around_deep_calls_exceptions_and_generators(tracer):
    """A generator first run past max_depth and resumed near the top is traced there, lines
    included; an exception passing through untraced frames leaves the rest traced; calls
    after a deep recursion get their own depths."""
    _check_depths_around_deep_calls(tracer)


def _check_depths_around_deep_calls(tracer):
    source = (
        "def counter():\n"          # 1
        "    x = 1\n"
        "    yield x\n"
        "    x = 2\n"                # 4
        "    yield x\n"
        "def make(n):\n"            # 6
        "    if n == 0:\n"
        "        g = counter()\n"
        "        next(g)\n"
        "        return g\n"
        "    return make(n - 1)\n"
        "def boom(n):\n"            # 12
        "    if n == 0:\n"
        "        raise ValueError(n)\n"
        "    return boom(n - 1)\n"
        "def leaf(v):\n"            # 16
        "    return v + 1\n"
        "def f():\n"                # 18
        "    g = make(10)\n"
        "    second = next(g)\n"
        "    try:\n"
        "        boom(10)\n"
        "    except ValueError:\n"
        "        caught = True\n"    # 24
        "    y = leaf(second)\n"
        "    return y\n")
    trace = tracer.trace_call(source, "f()", limits=Limits(max_depth=3))
    assert trace["status"] == "ok" and trace["return"]["repr"] == "3", trace["message"]
    assert trace["truncated"]["depth"] is True and "trace_stopped" not in trace
    schema.check(trace)
    events = trace["events"]
    assert max(e["depth"] for e in events) == 3
    # the generator, resumed by f: a new traced call at depth 1, its lines traced
    resumed = [e for e in events if e["function"] == "counter"][:4]  # (then closed, unfinished)
    assert [(e["line"], e["depth"], e["kind"]) for e in resumed] == [(3, 1, "call"), (4, 1, "line"), (5, 1, "line"),
                                                                     (5, 1, "return")]
    assert resumed[1]["changes"] == {"x": "2"} and resumed[3]["value"] == "2"
    # the exception passed through the untraced frames; f goes on traced
    assert any(e["function"] == "boom" and e["kind"] == "exception" and e["depth"] == 3 for e in events)
    mine = [(e["line"], e["changes"]) for e in events if e["function"] == "f" and e["kind"] == "line"]
    assert (24, {"caught": "True"}) in mine and (25, {"y": "3"}) in mine and (26, {}) in mine
    assert [(e["depth"], e["kind"]) for e in events if e["function"] == "leaf"] == [(1, "call"), (1, "line"),
                                                                                   (1, "return")]


def test_a_runaway_recursion_past_max_depth_is_reported_as_before(tracer):
    _check_runaway_recursion(tracer)


def _check_runaway_recursion(tracer):
    source = "def f(n):\n    return f(n + 1)\n"
    trace = tracer.trace_call(source, "f(0)", limits=Limits(recursion_limit=3000))
    assert trace["status"] == "exception" and trace["exception"]["type"] == "RecursionError"
    assert trace["message"].startswith("recursion limit of 3000 calls reached at line ")
    assert trace["truncated"]["depth"] is True and "trace_stopped" not in trace
    assert trace["events"][-1]["depth"] == 0 and trace["events"][-1]["kind"] == "exception"


@pytest.mark.parametrize("python", _interpreters(oldest=9))
def test_deep_calls_under_each_interpreter(python):
    """The frames past max_depth get a trace function of their own (for their "return"),
    without line events: Python 3.9 to 3.13 each deliver those events their own way. (6000
    deep: traced by any trace function, Python 3.10 runs out of its 8 MB stack at 20000.)"""
    with Tracer(python=python, workers=1, limits=Limits(timeout_s=5.0, cpu_s=5.0)) as tracer:
        trace = tracer.trace_call(RECURSION, "depth(6000)")
        assert trace["status"] == "ok" and trace["return"]["repr"] == "6000", trace["message"]
        assert trace["truncated"]["depth"] is True and max(e["depth"] for e in trace["events"]) == Limits().max_depth
        _check_depths_around_deep_calls(tracer)
        _check_runaway_recursion(tracer)
