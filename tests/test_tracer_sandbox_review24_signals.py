"""Signals and a run's end (review 24): faulthandler.register(SIGALRM, chain=False) took the
wall clock's signal from the run (signal.signal refuses that), which then ran on to the
zygote's kill a second late, without a partial trace; and a run killed by SIGKILL before
any limit (its own os.kill, the OOM killer) was reported as stopped by the CPU time limit.
The zygote now reads the CPU time a child used (wait4) before it says so."""

from __future__ import annotations

import time

import pytest

from semcoder_inference.tracer import Limits, Tracer

FAST = Limits(timeout_s=1.0, cpu_s=5, memory_mb=256, max_events=500, max_output_bytes=200)


@pytest.fixture(scope="module", params=["auto", "audit"])
def tracer(request):
    with Tracer(limits=FAST, workers=1, isolation=request.param) as t:
        yield t


@pytest.mark.parametrize("signal_name", ["SIGALRM", "SIGXCPU"])
def test_faulthandler_cannot_take_the_time_limits_signals(tracer, signal_name):
    source = ("import faulthandler, os, signal\n\ndef f():\n"
              f"    faulthandler.register(signal.{signal_name}, file=open(os.devnull, 'w'), chain=False)\n"
              "    while True:\n        pass\n")
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "exception" and "time limits" in trace["message"], trace["message"]


def test_a_run_that_tries_still_ends_at_its_limit_with_its_partial_trace(tracer):
    source = ("import faulthandler, os, signal\n\ndef f():\n    n = 0\n    try:\n"
              "        faulthandler.register(signal.SIGALRM, file=open(os.devnull, 'w'), chain=False)\n"
              "    except PermissionError:\n        pass\n    while True:\n        n += 1\n")
    started = time.monotonic()
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "timeout" and "killed" not in trace["message"], trace["message"]
    assert trace["events"] and time.monotonic() - started < FAST.timeout_s + 0.9


def test_faulthandler_still_registers_other_signals(tracer):
    source = ("import faulthandler, os, signal\n\ndef f():\n"
              "    faulthandler.register(signal.SIGUSR1, file=open(os.devnull, 'w'), chain=True)\n"
              "    return faulthandler.unregister(signal.SIGUSR1)\n")
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "ok" and trace["return"]["repr"] == "True", trace["message"]


def test_a_run_killed_before_any_limit_is_not_said_to_have_reached_one(tracer):
    source = "import os, signal\n\ndef f():\n    os.kill(os.getpid(), signal.SIGKILL)\n"
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "crashed", trace["message"]
    assert trace["message"].startswith("the traced process was killed by SIGKILL before it reached any limit")
    assert "CPU" not in trace["message"]


def test_native_code_past_its_cpu_limit_is_still_stopped_by_it(tracer):
    """Stuck in C, the run never handles SIGXCPU; the hard limit's SIGKILL ends it, and the
    CPU time it used says which limit that was."""
    trace = tracer.trace_call("def f():\n    return sum(range(10 ** 13))\n", "f()",
                              limits=FAST.merged(timeout_s=10, cpu_s=1))
    assert trace["status"] == "cpu_limit", trace["message"]
    assert trace["message"] == "stopped by the CPU time limit of 1 s (no partial trace)"
