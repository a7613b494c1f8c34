"""Threads a traced call starts are traced too: their lines, calls and returns are in the
trace, numbered by thread, and the renderers keep each thread's steps apart. Script runs
(record and watch modes) find the target's calls in the threads the script starts."""

from __future__ import annotations

import jsonschema
import pytest

from kernel_probes import threads_refused_here
from semcoder_inference.tracer import Limits, Tracer, render_monologue, render_table, schema

VALIDATOR = jsonschema.Draft202012Validator(schema.json_schema())

ONE_THREAD = """import threading

def run_thread(n):
    box = []
    def work():
        for i in range(n):
            box.append(i)
    t = threading.Thread(target=work)
    t.start()
    t.join()
    return box
"""

POOL = """from concurrent.futures import ThreadPoolExecutor

def square(x):
    y = x * x
    return y

def run_pool(xs):
    with ThreadPoolExecutor(2) as pool:
        out = list(pool.map(square, xs))
    return out
"""

OUTLIVES_THE_CALL = """import threading, time

def step(k):
    return k + 1

def start_and_return():
    def tick():
        k = 0
        while True:
            k = step(k)
            time.sleep(0.001)
    threading.Thread(target=tick, daemon=True).start()
    time.sleep(0.02)
    return 'started'
"""

REPRS_IN_A_THREAD = """import threading, time

class Slow:
    def __repr__(self):
        time.sleep(0.3)  # past the 0.2 s a repr gets on the main thread
        return "Slow()"

class Broken:
    def __repr__(self):
        raise ValueError("no repr")

class Named:
    def __repr__(self):
        return "Named(7)"

def run():
    seen = []
    def work():
        b = Broken()
        n = Named()
        s = Slow()
        seen.append(1)
    t = threading.Thread(target=work)
    t.start()
    t.join()
    return len(seen)
"""


@pytest.fixture(scope="module")
def tracer():
    with Tracer(limits=Limits(timeout_s=5.0, max_events=2000), workers=1) as t:
        yield t


def _traced(tracer, source, call, **kwargs):
    """The trace of a run that starts threads; where this user may start none (docs/sandbox.md:
    not root, without the runs' namespaces), the refusal is the sandbox's and is said so."""
    return _script_ok(tracer, tracer.trace_call(source, call, **kwargs))


def test_the_lines_a_started_thread_runs_are_in_the_trace(tracer):
    trace = _traced(tracer, ONE_THREAD, "run_thread(2)")
    assert trace["status"] == "ok" and trace["return"]["repr"] == "[0, 1]"
    main = [e for e in trace["events"] if "thread" not in e]
    worker = [e for e in trace["events"] if "thread" in e]
    assert {e["function"] for e in main} == {"run_thread"}
    assert {e["thread"] for e in worker} == {1}
    assert [(e["kind"], e["line"], e["iteration"], e["changes"]) for e in worker] == [
        ("call", 5, None, {"box": "[]", "n": "2"}),
        ("line", 6, 1, {"i": "0"}),
        ("line", 7, 1, {"box": "[0]"}),
        ("line", 6, 2, {"i": "1"}),
        ("line", 7, 2, {"box": "[0, 1]"}),
        ("line", 6, 3, {}),
        ("return", 6, None, {}),
    ]
    assert all(e["depth"] == 0 and e["function"] == "run_thread.<locals>.work" for e in worker)
    # the calling thread's own steps are all there, and end the trace
    assert [e["line"] for e in main if e["kind"] == "line"] == [4, 5, 8, 9, 10, 11]
    assert trace["events"][-1] == {**main[-1], "kind": "return", "value": "[0, 1]"}


def test_pool_workers_are_numbered_and_each_call_keeps_its_own_values(tracer):
    trace = _traced(tracer, POOL, "run_pool([1, 2, 3, 4])")
    assert trace["status"] == "ok" and trace["return"]["repr"] == "[1, 4, 9, 16]"
    calls = [e for e in trace["events"] if e["function"] == "square" and e["kind"] == "call"]
    returns = [e for e in trace["events"] if e["function"] == "square" and e["kind"] == "return"]
    assert sorted(e["changes"]["x"] for e in calls) == ["1", "2", "3", "4"]
    assert sorted(int(e["value"]) for e in returns) == [1, 4, 9, 16]
    assert {e["thread"] for e in calls} <= {1, 2} and all("thread" in e for e in returns)
    # within each thread, each call's own steps follow it: its assignment, then its return
    for number in {e["thread"] for e in calls}:
        own = [e for e in trace["events"] if e.get("thread") == number]
        starts = [i for i, e in enumerate(own) if e["kind"] == "call"] + [len(own)]
        for begin, end in zip(starts, starts[1:]):
            steps = own[begin:end]
            x = int(steps[0]["changes"]["x"])
            assert [(e["kind"], e["line"], e["changes"]) for e in steps[:-1]] == [
                ("call", 3, {"x": str(x)}), ("line", 4, {"y": str(x * x)}), ("line", 5, {})]
            assert (steps[-1]["kind"], steps[-1]["value"]) == ("return", str(x * x))


def test_a_thread_that_outlives_the_call_adds_no_events_after_it(tracer):
    # The expected value takes 200 ms to compute, after the call: had the ticking thread
    # gone on being traced, its calls of `step` would have added about 200 calls' events.
    trace = _traced(tracer, OUTLIVES_THE_CALL, "start_and_return()",
                    expect="(__import__('time').sleep(0.2), 'started')[1]")
    assert trace["status"] == "ok" and trace["assertion"]["passed"]
    steps = [e for e in trace["events"] if e.get("thread") == 1 and e["function"] == "step" and e["kind"] == "call"]
    assert 0 < len(steps) < 100


def test_reprs_in_a_thread_run_without_the_alarm_and_a_broken_one_is_contained(tracer):
    # The repr budget's alarm can only interrupt the main thread, which waits in join():
    # a slow repr in the thread runs to its end instead of breaking the call there.
    trace = _traced(tracer, REPRS_IN_A_THREAD, "run()")
    assert trace["status"] == "ok" and trace["return"]["repr"] == "1"
    changes = {}
    for event in trace["events"]:
        if event.get("thread") == 1:
            changes.update(event["changes"])
    assert changes["b"] == "<repr failed: ValueError>"
    assert changes["n"] == "Named(7)"
    assert changes["s"] == "Slow()"


def test_the_table_marks_each_threads_steps():
    trace = {"status": "ok", "events": [
        {"line": 3, "depth": 0, "function": "f", "iteration": None, "changes": {"n": "2"}, "kind": "call"},
        {"line": 6, "depth": 0, "function": "work", "iteration": None, "changes": {}, "kind": "call", "thread": 1},
        {"line": 7, "depth": 0, "function": "work", "iteration": None, "changes": {"k": "1"}, "kind": "line", "thread": 1},
        {"line": 4, "depth": 0, "function": "f", "iteration": None, "changes": {"m": "3"}, "kind": "line"},
    ], "truncated": {}}
    rows = render_table(trace).splitlines()[2:]
    assert rows == ["| 3 | call `f` with `n = 2` |", "| 6 | [thread 1] call `work` |",
                    "| 7 | [thread 1] `k = 1` |", "| 4 | `m = 3` |"]


IF_SOURCE = """def f(x):
    if x:
        y = 1
    return y

def work():
    k = 1
"""


def test_a_monologue_judges_a_condition_by_its_own_threads_next_step():
    # Between the `if` on line 2 and the line its own thread runs next (3: the condition
    # held), another thread's step comes (line 7). The monologue must not read that as
    # the branch taken.
    trace = {"status": "ok", "call": "f(1)", "return": {"repr": "1", "literal": True}, "events": [
        {"line": 1, "depth": 0, "function": "f", "iteration": None, "changes": {"x": "1"}, "kind": "call"},
        {"line": 2, "depth": 0, "function": "f", "iteration": None, "changes": {}, "kind": "line"},
        {"line": 6, "depth": 0, "function": "work", "iteration": None, "changes": {}, "kind": "call", "thread": 1},
        {"line": 7, "depth": 0, "function": "work", "iteration": None, "changes": {"k": "1"}, "kind": "line", "thread": 1},
        {"line": 3, "depth": 0, "function": "f", "iteration": None, "changes": {"y": "1"}, "kind": "line"},
        {"line": 4, "depth": 0, "function": "f", "iteration": None, "changes": {}, "kind": "return", "value": "1"},
    ]}
    steps = render_monologue(trace, IF_SOURCE).splitlines()
    assert steps == [
        "1. The function `f` is called with `x = 1`.",
        "2. [L6]: The condition `x` is true.",
        "3. The function `work` is called in thread 1 with no arguments.",
        "4. [L11] (thread 1): `k` is assigned `1`.",
        "5. [L7]: `y` is assigned `1`.",
        "6. [L8]: `f` returns `1`.",
        "7. The return value of `f(1)` is `1`.",
    ]
    # narrating one function keeps to the thread that made the call
    assert "thread" not in render_monologue(trace, IF_SOURCE, function="f")


SCRIPT = """import threading, time
from concurrent.futures import ThreadPoolExecutor

def f(x):
    y = x * 2
    return y + 1

def helper(n):
    return n - 1

def g(n):
    t = threading.Thread(target=helper, args=(n,))
    t.start()
    t.join()
    return n

def late():
    time.sleep(0.05)
    f(100)

if __name__ == "__main__":
    with ThreadPoolExecutor(2) as pool:
        print(list(pool.map(f, [1, 2, 3])))
    threading.Thread(target=late).start()  # not joined: Python waits for it all the same
    threading.Thread(target=g, args=(7,)).start()
"""


def _script_ok(tracer, result):
    """`result` (a trace, or a recording's result), checked against the JSON Schema; where
    this user may start no threads, the test skips, saying so (see _traced)."""
    if threads_refused_here(tracer, result):
        pytest.skip("this user may start no threads here: " + result["message"])
    assert [e.message for e in VALIDATOR.iter_errors(result)] == []
    return result


def test_record_mode_finds_the_calls_made_in_the_scripts_threads(tracer):
    calls = tracer.record_calls(SCRIPT, "f", max_calls=10)
    _script_ok(tracer, tracer.last_record_result)
    # the pool's three, then the one a thread makes after the module's code has ended
    assert sorted(c["call"] for c in calls[:3]) == ["f(1)", "f(2)", "f(3)"]
    assert [c["call"] for c in calls[3:]] == ["f(100)"]
    assert tracer.last_record_result["message"] == "recorded 4 calls"
    # reaching max_calls in a worker thread ends the run with exactly that many
    assert len(tracer.record_calls(SCRIPT, "f", max_calls=2)) == 2
    assert tracer.last_record_result["status"] == "ok"


def test_watch_mode_traces_a_call_made_in_a_thread_and_the_threads_it_starts(tracer):
    trace = _script_ok(tracer, tracer.watch_call(SCRIPT, "f"))
    assert trace["status"] == "ok" and trace["return"]["repr"] == "3"
    assert [(e["line"], e["kind"], e["changes"]) for e in trace["events"]] == [
        (4, "call", {"x": "1"}), (5, "line", {"y": "2"}), (6, "line", {}), (6, "return", {})]
    trace = _script_ok(tracer, tracer.watch_call(SCRIPT, "g"))
    assert trace["call"] == "g(7)" and trace["return"]["repr"] == "7"
    # g's own steps carry no thread number, though it runs in one the script started;
    # the thread g starts is thread 1
    assert [(e["function"], e["kind"], e.get("thread")) for e in trace["events"] if e["kind"] != "line"] == [
        ("g", "call", None), ("helper", "call", 1), ("helper", "return", 1), ("g", "return", None)]
    assert [e["changes"] for e in trace["events"] if e.get("thread") and e["kind"] == "call"] == [{"n": "7"}]


def test_a_script_thread_that_outlives_the_limit_times_out_with_what_it_recorded(tracer):
    source = ("import threading, time\n\ndef f(x):\n    return x\n\ndef spin():\n    f(1)\n"
              "    while True:\n        time.sleep(0.01)\n\nthreading.Thread(target=spin).start()\n")
    calls = tracer.record_calls(source, "f", entry="pass", limits=Limits(timeout_s=1.0))
    result = _script_ok(tracer, tracer.last_record_result)
    assert result["status"] == "timeout" and [c["call"] for c in calls] == ["f(1)"]
