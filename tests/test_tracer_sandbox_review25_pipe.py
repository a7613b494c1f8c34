"""A run that filled the result pipe after its result froze the server (review 25): the
extra bytes filled the stream, the zygote then waited for room for the run's trailer and
forked no spare, so nothing read the request pipe; the next request longer than that
pipe (64 KiB) waited in a blocking write with no deadline, for ever, and with it the
server's tracing thread. The request is now written without blocking: while it waits, the
server reads the stream (dropping what the last run wrote, up to its marker), and a
zygote that takes no request by the call's deadline is given up and replaced."""

from __future__ import annotations

import threading
import time

import pytest

from semcoder_inference.tracer import Limits, Tracer, pool

LIMITS = Limits(timeout_s=2, cpu_s=2)

# After its (true) result, the run's last act (child._os_exit) writes into the result pipe:
# `EXIT_BODY` is what it does instead of exiting at once.
HOSTILE = '''
def f():
    import sys, os, gc, time
    child = sys.modules["_semcoder_tracer.child"]
    real_exit = child._os_exit
    fd = [o for o in gc.get_objects() if type(o).__name__ == "RunState"][0].result_fd
    def leave(code):
        try:
%s
        finally:
            real_exit(code)
    child._os_exit = leave
    return 42
'''
FILLS_THEN_EXITS = HOSTILE % "            os.write(fd, b'\\0' * (1 << 20))  # waits while the pipe is full"
WRITES_UNTIL_KILLED = HOSTILE % "            while True:\n                os.write(fd, b'\\0' * 65536)"
SLEEPS_UNTIL_KILLED = HOSTILE % "            time.sleep(60)"

# A request longer than the request pipe holds (about 100 KB of source).
BIG = "def g():\n    return 1\n" + "".join(f"x{i} = {i}\n" for i in range(9000))


def _traced_in_time(tracer: Tracer, source: str, call: str, wait_s: float, **kw) -> tuple[dict, float]:
    """The trace, and how long it took; fails (rather than hang the tests) after `wait_s`."""
    out: dict = {}

    def call_it() -> None:
        started = time.monotonic()
        out["trace"] = tracer.trace_call(source, call, **kw)
        out["took"] = time.monotonic() - started

    thread = threading.Thread(target=call_it, daemon=True)
    thread.start()
    thread.join(wait_s)
    assert not thread.is_alive(), f"the call was still blocked after {wait_s} s"
    return out["trace"], out["took"]


@pytest.fixture(params=["auto", "audit"])
def tracer(request):
    with Tracer(isolation=request.param, workers=1, limits=LIMITS) as t:
        yield t


def test_a_run_that_fills_the_pipe_after_its_result_does_not_hold_the_next_long_request(tracer):
    hostile = tracer.trace_call(FILLS_THEN_EXITS, "f()")
    assert hostile["status"] == "ok" and hostile["return"]["repr"] == "42", hostile["message"]
    workers = tracer.worker_pids
    # The old server waited here for ever (the limit is 2 s, the margin 15 s).
    victim, took = _traced_in_time(tracer, BIG, "g()", 20)
    assert victim["status"] == "ok" and victim["return"]["repr"] == "1", victim["message"]
    # The run ends once its megabyte has been read (and dropped): no limit is waited for,
    # and the worker is kept.
    assert took < 1.5, took
    assert tracer.worker_pids == workers
    again, _ = _traced_in_time(tracer, BIG, "g()", 20)
    assert again["status"] == "ok" and again["return"]["repr"] == "1", again["message"]


def test_the_same_long_hostile_source_traced_again_and_again_never_blocks():
    """The reviewer's second case: two workers, one hostile source of 90 KB, the third call
    going back to the worker the first one left waiting."""
    source = FILLS_THEN_EXITS + "".join(f"PAD_{i} = 'padding padding padding'\n" for i in range(2500))
    with Tracer(limits=LIMITS, workers=2) as tracer:
        for _ in range(4):
            trace, _ = _traced_in_time(tracer, source, "f()", 20)
            assert trace["status"] == "ok" and trace["return"]["repr"] == "42", trace["message"]


def test_a_run_that_writes_until_it_is_killed_holds_the_next_request_until_then_only(tracer):
    hostile = tracer.trace_call(WRITES_UNTIL_KILLED, "f()")
    assert hostile["status"] == "ok" and hostile["return"]["repr"] == "42", hostile["message"]
    workers = tracer.worker_pids
    victim, took = _traced_in_time(tracer, BIG, "g()", 20)
    assert victim["status"] == "ok" and victim["return"]["repr"] == "1", victim["message"]
    # (killed at its limit and a second's grace, 3 s after it began)
    assert took < LIMITS.timeout_s + 1 + 3, took
    assert tracer.worker_pids == workers


def test_a_zygote_that_takes_no_request_by_the_deadline_is_replaced_and_the_call_tried_again(monkeypatch):
    """The last run holds its zygote well past the next call's deadline (its own limit is
    longer): the request cannot be written, the zygote is given up, and the call runs on a
    fresh one, well before the last run's limit."""
    monkeypatch.setattr(pool, "_STUCK_MARGIN_S", 1.0)
    with Tracer(workers=1, limits=Limits(timeout_s=30, cpu_s=30)) as tracer:
        hostile = tracer.trace_call(SLEEPS_UNTIL_KILLED, "f()")
        assert hostile["status"] == "ok", hostile["message"]
        workers = tracer.worker_pids
        victim, took = _traced_in_time(tracer, BIG, "g()", 25, limits=Limits(timeout_s=1, cpu_s=1))
        assert victim["status"] == "ok" and victim["return"]["repr"] == "1", victim["message"]
        # (the deadline, 2 s; up to 2 s for the old zygote to stop; a fresh one's start)
        assert took < 12, took
        assert tracer.worker_pids != workers


def test_long_requests_still_go_through_in_order(tracer):
    """Honest runs, requests of 100 KB and more: each waits for its spare to read it."""
    for number in range(5):
        source = BIG + f"def h():\n    return {number}\n"
        trace, _ = _traced_in_time(tracer, source, "h()", 20)
        assert trace["status"] == "ok" and trace["return"]["repr"] == str(number), trace["message"]
