"""What a run changes of the result pipe outlived it (review 27). The pipe's open file
description is the zygote's and every run's: a run that made it non-blocking
(os.set_blocking) and shrank it (F_SETPIPE_SZ) left it so for every later run, whose
results were then cut ("crashed": a frame announced but only 4092 bytes written); and a
run that made it non-blocking and filled it had the zygote's marker and trailer dropped on
EAGAIN, so that the next, innocent call waited its limit and 15 s more and ran twice. The
zygote now sets the description's flags and the pipe's size back after each run, before
its marker and trailer, and a result is written whole on a descriptor its run made
non-blocking."""

from __future__ import annotations

import threading
import time

import pytest

from semcoder_inference.tracer import Limits, Tracer

LIMITS = Limits(timeout_s=2, cpu_s=2)

# The result pipe, as the run's own RunState names it.
FIND = '''
import os, fcntl, gc
def result_pipes():
    return [o for o in gc.get_objects() if type(o).__name__ == "RunState"][0].result_fd,
'''
CHANGES = FIND + '''
def f():
    for fd in result_pipes():
        os.set_blocking(fd, False)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_DIRECT)  # packet mode
        fcntl.fcntl(fd, 1031, 4096)  # F_SETPIPE_SZ: one page
    return "changed"
'''
PROBE = FIND + '''
def f():
    return [(os.get_blocking(fd), bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT), fcntl.fcntl(fd, 1032))
            for fd in result_pipes()]
'''
# A result well over a page (its events).
INNOCENT = "def f():\n    total = 0\n    for i in range(300):\n        total += i\n    return total\n"
# Writes its own result (its own, forged or not: documented), waits until the server has
# taken it and stopped reading, then fills the pipe without blocking and leaves.
FILLS = '''
def f():
    import gc, json, os, struct, time
    state = [o for o in gc.get_objects() if type(o).__name__ == "RunState"][0]
    fd = state.result_fd
    body = json.dumps({"schema": "semcoder.trace/1", "status": "ok", "id": state.request["id"], "events": [],
                       "truncated": {}, "return": {"repr": "42", "literal": True}}).encode()
    os.write(fd, struct.pack(">I", len(body)) + body)
    time.sleep(0.3)
    os.set_blocking(fd, False)
    try:
        while True:
            os.write(fd, b"\\0" * 4096)
    except BlockingIOError:
        pass
    os._exit(0)
'''


@pytest.fixture(params=["auto", "audit"])
def tracer(request):
    with Tracer(limits=LIMITS, workers=1, isolation=request.param) as t:
        yield t


def _traced_in_time(tracer, source, call, wait_s):
    out = {}

    def call_it():
        started = time.monotonic()
        out["trace"] = tracer.trace_call(source, call)
        out["took"] = time.monotonic() - started

    thread = threading.Thread(target=call_it, daemon=True)
    thread.start()
    thread.join(wait_s)
    assert not thread.is_alive(), f"the call was still blocked after {wait_s} s"
    return out["trace"], out["took"]


def test_a_run_s_changes_to_the_result_pipe_do_not_outlive_it(tracer):
    before = tracer.trace_call(PROBE, "f()")
    assert before["status"] == "ok", before
    changed = tracer.trace_call(CHANGES, "f()")
    assert changed["status"] == "ok" and changed["return"]["repr"] == "'changed'", changed
    after = tracer.trace_call(PROBE, "f()")
    assert after["status"] == "ok" and after["return"]["repr"] == before["return"]["repr"], (before, after)
    for _ in range(3):
        trace = tracer.trace_call(INNOCENT, "f()")
        assert trace["status"] == "ok" and trace["return"]["repr"] == "44850", trace


def test_a_result_is_written_whole_on_a_pipe_its_run_made_non_blocking(tracer):
    source = FIND + ("def f():\n    for fd in result_pipes():\n        os.set_blocking(fd, False)\n"
                     "    return 'x' * 300000\n")
    trace = tracer.trace_call(source, "f()", limits=Limits(timeout_s=2, cpu_s=2, max_return_repr=400000))
    assert trace["status"] == "ok", trace
    assert len(trace["return"]["repr"]) == 300002


def test_a_run_that_fills_a_non_blocking_pipe_does_not_hold_the_next_call(tracer):
    hostile, _ = _traced_in_time(tracer, FILLS, "f()", 30)
    assert hostile["status"] == "ok" and hostile["return"]["repr"] == "42", hostile
    time.sleep(1)  # the user moves on to the next hover
    for n in (1, 2):
        trace, took = _traced_in_time(tracer, f"def f():\n    return {n}\n", "f()", 30)
        assert trace["status"] == "ok" and trace["return"]["repr"] == str(n), trace
        assert took < 5, took
