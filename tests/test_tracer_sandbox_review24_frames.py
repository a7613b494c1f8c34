"""A run writes its result into the server's stream itself, and can write anything there. A
frame it began and never finished (a length of 100000, then its exit) made the server read
the zygote's trailer and the next run's result as the rest of it (review 24): the next,
innocent call waited its time limit and 15 s more, then ran again on a new worker ("a
tracer worker broke"); a run that wrote only the length held its own call twice that. The
zygote now marks where each run's bytes end with bytes no run can know, told first on a
pipe no run holds (runtime.MARKER_BYTES): the server drops whatever a run wrote past its
result, and says so of a run that wrote no whole result, at once."""

from __future__ import annotations

import time

import pytest

from semcoder_inference.tracer import Limits, Tracer

LIMITS = Limits(timeout_s=3.0, cpu_s=3, memory_mb=256, max_events=200, max_output_bytes=2000)
# Well under the limit and its 15 s margin, which a call waited for a frame that never came.
QUICK_S = LIMITS.timeout_s


@pytest.fixture(scope="module", params=["auto", "audit"])
def tracer(request):
    with Tracer(limits=LIMITS, workers=1, isolation=request.param) as t:
        yield t


WRITE_INTO_THE_STREAM = """import gc, json, os, struct, time

def f(whole_result, then, wait):
    state = next(o for o in gc.get_objects() if type(o).__name__ == "RunState")
    data = b""
    if whole_result:
        body = json.dumps({"schema": "semcoder.trace/1", "status": "ok", "message": "returned 1",
                           "id": state.request["id"], "function": "f", "call": "f()", "events": [],
                           "return": {"repr": "1", "literal": True}, "exception": None, "assertion": None,
                           "stdout": "", "stderr": "", "truncated": {}}).encode()
        data = struct.pack(">I", len(body)) + body
    os.write(state.result_fd, data + then)
    time.sleep(wait)
    os._exit(0)
"""


def _timed(tracer, source, call):
    started = time.monotonic()
    trace = tracer.trace_call(source, call)
    return trace, time.monotonic() - started


def _innocent_call_is_quick(tracer, workers):
    trace, took = _timed(tracer, "def g():\n    return 2\n", "g()")
    assert trace["status"] == "ok" and trace["return"]["repr"] == "2", trace["message"]
    assert took < QUICK_S, took
    assert tracer.worker_pids == workers  # the same worker: nothing broke


def test_a_whole_result_then_an_unfinished_frame_does_not_hold_the_next_call(tracer):
    workers = tracer.worker_pids
    trace, took = _timed(tracer, WRITE_INTO_THE_STREAM, "f(True, struct.pack('>I', 100000), 0)")
    assert trace["status"] == "ok" and trace["return"]["repr"] == "1", trace["message"]  # (its own choice)
    assert took < QUICK_S, took
    _innocent_call_is_quick(tracer, workers or tracer.worker_pids)


def test_a_run_that_writes_only_a_frame_s_length_is_told_at_once(tracer):
    workers = tracer.worker_pids
    trace, took = _timed(tracer, WRITE_INTO_THE_STREAM, "f(False, struct.pack('>I', 100000), 0)")
    assert took < QUICK_S, took  # (it held its own call twice its limit and 15 s more)
    assert trace["status"] == "crashed", trace["message"]
    assert trace["message"] == "the run wrote no whole result (a frame of 100000 bytes announced, 0 written)"
    _innocent_call_is_quick(tracer, workers or tracer.worker_pids)


def test_a_run_that_writes_part_of_a_frame_and_waits_ends_at_its_limit(tracer):
    """Its wall-clock limit ends it, and the trace of that (a whole frame) goes into the
    stream after the part the run wrote, which the server does not take for its rest."""
    workers = tracer.worker_pids
    trace, took = _timed(tracer, WRITE_INTO_THE_STREAM, "f(False, struct.pack('>I', 100000) + b'{\"id\"', 60)")
    assert trace["status"] == "crashed", trace["message"]
    assert trace["message"].startswith("the run wrote no whole result (a frame of 100000 bytes announced, ")
    assert took < LIMITS.timeout_s + 3, took  # (twice its limit and 15 s more)
    _innocent_call_is_quick(tracer, workers or tracer.worker_pids)


def test_a_few_bytes_and_no_length_are_no_result_either(tracer):
    trace, took = _timed(tracer, WRITE_INTO_THE_STREAM, "f(False, b'\\x00\\x01', 0)")
    assert trace["status"] == "crashed" and took < QUICK_S, (trace["message"], took)
    assert trace["message"] == "the run wrote no whole result (2 bytes, not even a frame's length)"
    _innocent_call_is_quick(tracer, tracer.worker_pids)


def test_a_run_cannot_reach_the_control_pipe(tracer):
    """The marker travels first on a pipe no run holds: a spare closes every descriptor
    of the zygote's but its own, and the zygote keeps that one below where they close."""
    source = ("import os\n\ndef f():\n    pipes = []\n    for fd in range(3, 1100):\n        try:\n"
              "            os.fstat(fd)\n        except OSError:\n            continue\n        pipes.append(fd)\n"
              "    return pipes\n")
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "ok", trace["message"]
    # The request's pipe (closed once read), the result's, and the one that tells the
    # zygote the run has started: no fourth.
    assert len(eval(trace["return"]["repr"])) <= 3, trace["return"]["repr"]
