"""One forged result cost the server gigabytes (review 25): a run found its RunState through
gc and sent a result whose assertion's expected repr was a 3 MB text; the server held only
stdout, stderr, the number of events and the return's repr to the run's limits, and later
read such texts back with ast.literal_eval (about 470 bytes of memory a character). Every
text of a result is now held to the limit of its kind (pool._within_limits), cut as the run
cuts its own, ending in "..."."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

from semcoder_inference.tracer import Limits, Tracer, pool, schema

LIMITS = Limits(timeout_s=10, cpu_s=10)
SHOWN = max(LIMITS.max_return_repr, 64)  # (the return's repr: pool._within_limits)
# The limits of texts no limit of the run's governs (docs/sandbox.md, NAME ...).
VALUE_MOST = LIMITS.max_repr + 8  # a value in an event (8 more where its first and last items show)
NAME = 1000  # a function's, an exception type's, a place's name
RAISED = 2002  # "Type: message"
SENTENCE = 10_000  # a message, a line of source, a file's name
ARG = 100_000  # a recorded call's argument
CALL = 200_000  # a call
MEGA = 1_000_000

# The run's forged result: status ok, returned 2, every text it may hold a megabyte or more.
FORGED = '''
def f():
    import gc
    state = [o for o in gc.get_objects() if type(o).__name__ == "RunState"][0]
    big = "[" + "0," * %(count)d + "]"
    name = "n" * %(count)d
    event = {"line": 2, "depth": 0, "function": name, "iteration": None, "kind": "exception",
             "changes": {name: big, "ok": "1"}, "globals": {"G": big}, "value": big}
    result = state.result("ok", big, **{
        "return": {"repr": big, "literal": True},
        "events": [event, dict(event, kind="return")],
        "exception": {"type": name, "message": big, "line": 2,
                      "traceback": [{"line": 2, "function": name, "text": big}]},
        "assertion": {"passed": False, "expected_repr": big, "actual_repr": big}})
    result.update(function=name, call=name, exited=big, trace_stopped=big)
    state.finish(result)
'''

# A forged recording: more calls than asked for, each argument and call a megabyte long.
FORGED_CALLS = '''
def f(x):
    return x

def main():
    import gc
    state = [o for o in gc.get_objects() if type(o).__name__ == "RunState"][0]
    big = "[" + "0," * %(count)d + "]"
    name = "n" * %(count)d
    call = {"call": "f(" + big + ")", "literal": True, "target": name, "caller_line": 1, "caller_file": big,
            "args": [{"name": name, "repr": big, "literal": True}, {"name": None, "repr": "1", "literal": True}]}
    result = state.result("ok", "recorded 9 calls")
    result["calls"] = [dict(call) for _ in range(9)]
    state.finish(result)
'''


@pytest.fixture(scope="module")
def tracer():
    with Tracer(limits=LIMITS, workers=1) as t:
        yield t


def _cut_to(text: str, most: int) -> None:
    assert len(text) <= most and text.endswith("..."), (len(text), most, text[-10:])


def test_every_text_of_a_forged_result_comes_back_cut_to_its_limit(tracer):
    trace = tracer.trace_call(FORGED % {"count": MEGA}, "f()", expect="1")
    assert trace["status"] == "ok"
    schema.check(trace)
    _cut_to(trace["return"]["repr"], SHOWN + 3)
    _cut_to(trace["assertion"]["actual_repr"], SHOWN + 3)
    assert trace["truncated"]["return"]
    _cut_to(trace["assertion"]["expected_repr"], 1000)  # (the run's own cut of it: child.py)
    _cut_to(trace["message"], SENTENCE + 100)
    _cut_to(trace["function"], NAME)
    _cut_to(trace["call"], CALL)
    _cut_to(trace["exited"], SENTENCE)
    _cut_to(trace["trace_stopped"], SENTENCE)
    exception = trace["exception"]
    _cut_to(exception["type"], NAME)
    _cut_to(exception["message"], SENTENCE)
    _cut_to(exception["traceback"][0]["function"], NAME)
    _cut_to(exception["traceback"][0]["text"], SENTENCE)
    raised, returned = trace["events"]
    for event in (raised, returned):
        _cut_to(event["function"], NAME)
        (name, value), ok = event["changes"].items()
        _cut_to(name, NAME)
        _cut_to(value, VALUE_MOST)
        assert ok == ("ok", "1")
        _cut_to(event["globals"]["G"], VALUE_MOST)
    _cut_to(raised["value"], RAISED)  # "Type: message"
    _cut_to(returned["value"], VALUE_MOST)
    assert len(json.dumps(trace)) < 300_000  # (of the 14 MB the run sent)


def test_a_forged_recording_keeps_the_calls_asked_for_each_cut_to_its_limits(tracer):
    calls = tracer.record_calls(FORGED_CALLS % {"count": 300_000}, target="f", max_calls=2, entry="main()")
    assert len(calls) == 2
    for call in calls:
        _cut_to(call["call"], CALL)
        _cut_to(call["target"], NAME)
        _cut_to(call["caller_file"], SENTENCE)
        cut, one = call["args"]
        _cut_to(cut["name"], NAME)
        _cut_to(cut["repr"], ARG)
        # A cut text reads back as no value: neither the argument nor the call is a literal.
        assert cut["literal"] is False and call["literal"] is False
        assert one == {"name": None, "repr": "1", "literal": True}


JUDGE = """
import ast, json, resource, sys
from semcoder_lsp.results import expectation_failure, judge
trace = json.load(open(sys.argv[1]))

def texts(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from texts(item)

before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
judge(trace, "1")
print(expectation_failure(trace, "1")[:80])
for text in texts(trace):  # what the server may read back as a value, each text
    try:
        ast.literal_eval(text)
    except Exception:
        pass
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) >> 10)
"""


def test_judging_a_forged_result_costs_the_server_little_memory(tracer, tmp_path):
    """The reviewer's case: an expected repr that is a literal list of 400 000 items
    (800 KB: read back, some 370 MB), and every other text of the result like it. Judged,
    and each text read back as a literal, in a process of its own, whose peak memory only
    that can raise. (The server, for its part, no longer reads back texts of over
    100 000 characters: semcoder_lsp.results.MAX_PARSED_CHARS.)"""
    trace = tracer.trace_call(FORGED % {"count": 400_000}, "f()", expect="1")
    assert trace["status"] == "ok"
    (tmp_path / "trace.json").write_text(json.dumps(trace))
    judged = subprocess.run([sys.executable, "-c", JUDGE, str(tmp_path / "trace.json")], capture_output=True,
                            text=True, timeout=120)
    assert judged.returncode == 0, judged.stderr[-2000:]
    message, grown = judged.stdout.splitlines()
    assert message.startswith("assert failed: "), message
    assert int(grown) < 100, f"judging it raised the peak memory by {grown} MB"


HONEST = {
    "returns": ("def f(xs):\n    out = []\n    for x in xs:\n        out.append(x * 2)\n    return out\n",
                "f(list(range(300)))", "[0]"),
    "raises": ("class E(Exception):\n    pass\n\ndef f(n):\n    if n:\n        return f(n - 1)\n"
               "    raise E('x' * 5000)\n", "f(3)", None),
    "long values": ("G = []\n\ndef f():\n    global G\n    s = 'ab' * 4000\n    d = {i: [i] * 50 for i in range(99)}\n"
                    "    G = list(range(1000))\n    return s, d\n", "f()", "'x' * 3000"),
    "expected value fails": ("def f():\n    return 1\n", "f()", "1 / 0"),
}


@pytest.mark.parametrize("name", list(HONEST))
def test_an_honest_result_is_left_as_it_is(tracer, name):
    source, call, expect = HONEST[name]
    message, limits = tracer._base(source, None, None)
    message.update(call=call, function="f", expect=expect)
    trace = tracer.trace_call(source, call, expect=expect)
    assert pool._within_limits(copy.deepcopy(trace), limits, message) == trace


def test_the_common_case_costs_little():
    """A trace of 20 000 events, each with a few changes: held to its limits without a copy."""
    event = {"line": 3, "depth": 0, "function": "f", "iteration": 2, "changes": {"i": "1", "out": "[0, 1]"},
             "kind": "line"}
    trace = schema.crashed("")
    trace.update(status="ok", events=[dict(event) for _ in range(20_000)])
    events = trace["events"]
    import time
    started = time.perf_counter()
    held = pool._within_limits(trace, Limits(), {})
    took = time.perf_counter() - started
    assert held["events"] is events and all(a is b for a, b in zip(held["events"], events))
    assert took < 0.5, took
