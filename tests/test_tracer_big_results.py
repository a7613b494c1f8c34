"""A result too big for the server's frame limit: an honest trace over 64 MB came back as
tampering ("the run broke its sandbox worker twice", after running twice), or, bigger, as
"the trace could not be encoded: MemoryError". The run now keeps its own result within
child.RESULT_MAX_BYTES, dropping events from the end; a frame past the server's limit is
still refused as what it can only be: a run writing into the tracer's private channel."""

from __future__ import annotations

import json
import os
import random
import time

import pytest

from semcoder_inference.tracer import Limits, Tracer, child, pool, schema

BIG = Limits(timeout_s=20.0, cpu_s=20.0, max_repr=2_000_000)
# Each pass of the loop changes `s`, a new string of a million characters shown whole
# (max_repr): about 1 MB of events a pass.
GROWING = (
    "def f(n):\n"
    "    s = 'a' * 1_000_000\n"
    "    for i in range(n):\n"
    "        s = s[:-1] + str(i % 10)\n"
    "    return len(s)\n")


@pytest.fixture(scope="module")
def tracer():
    with Tracer(workers=1, limits=BIG) as t:
        yield t


def _event(i, width=3):
    return {"line": 2 + i % 3, "depth": 0, "function": "f", "iteration": i, "kind": "line",
            "changes": {"v%d" % k: "'%s\u00e9\ud800\"'" % ("x" * random.randint(0, 40)) for k in range(width)}}


def _result(events):
    return {"schema": "semcoder.trace/1", "status": "ok", "message": "returned 1", "function": "f", "call": "f()",
            "events": events, "return": {"repr": "1", "literal": True}, "exception": None, "assertion": None,
            "stdout": "out \u2603", "stderr": "", "truncated": {"events": False, "stdout": False, "stderr": False,
                                                            "depth": False, "return": False},
            "duration_s": 0.5, "id": "ab" * 16}


def test_the_server_refuses_no_frame_an_honest_run_writes():
    assert pool._MAX_FRAME == child.MAX_FRAME
    assert child.RESULT_MAX_BYTES <= child.MAX_FRAME - (8 << 20)


@pytest.mark.parametrize("count", [0, 1, 255, 256, 257, 700, 3000])
def test_a_result_that_fits_is_the_json_json_dumps_writes(count):
    random.seed(count)
    result = _result([_event(i) for i in range(count)])
    expected = json.dumps(result, ensure_ascii=False, default=str).encode("utf-8", "replace")
    assert child.encode_result(result) == expected
    assert child.encode_result(result, len(expected)) == expected  # (exactly its size fits)
    assert result["truncated"]["events"] is False and result["message"] == "returned 1"


@pytest.mark.parametrize("count, width", [(300, 3), (3000, 1), (3000, 8), (600, 40)])
def test_a_result_too_big_keeps_as_many_events_as_fit_and_says_so(count, width):
    random.seed(count * width)
    events = [_event(i, width) for i in range(count)]
    whole = json.dumps(_result(list(events)), ensure_ascii=False, default=str).encode("utf-8", "replace")
    for budget in (len(whole) - 1, len(whole) * 2 // 3, len(whole) // 7):
        result = _result(list(events))
        data = child.encode_result(result, budget)
        assert len(data) <= budget
        sent = json.loads(data)
        kept = len(sent["events"])
        assert 0 < kept < count
        assert sent["events"] == json.loads(whole)["events"][:kept]  # the first ones, whole
        assert sent["truncated"] == dict(_result([])["truncated"], events=True)
        assert sent["message"] == "returned 1 (the trace keeps its first %d of %d events: all of them would make " \
                                  "the result larger than %d MB)" % (kept, count, budget >> 20)
        assert sent["return"] == {"repr": "1", "literal": True} and sent["stdout"] == "out \u2603"
        assert sent["id"] == "ab" * 16
        # as many as fit: one more would not have
        one_more = _result(events[:kept + 1])
        one_more["truncated"]["events"] = True
        one_more["message"] = sent["message"]
        assert len(json.dumps(one_more, ensure_ascii=False).encode("utf-8", "replace")) > budget - child._NOTE_ROOM


def test_a_result_too_big_without_its_events_cuts_its_texts():
    result = _result([_event(i) for i in range(10)])
    result["stdout"] = "o" * 100_000
    data = child.encode_result(result, 60_000)
    sent = json.loads(data)
    assert len(data) <= 60_000 and sent["status"] == "ok"
    assert sent["truncated"]["stdout"] is True and sent["stdout"] == "o" * (60_000 // 32)
    assert len(sent["events"]) == 10 and sent["truncated"]["events"] is False


def _finish(monkeypatch, result, fail_over=None):
    """RunState.finish of `result`, its frame read from a pipe; with `fail_over`, encoding
    more than that many events at once raises MemoryError (a run at its memory limit)."""
    from semcoder_inference.tracer import runtime

    class Exited(Exception):
        pass

    def exit_(code):
        raise Exited

    if fail_over is not None:
        encode = child._json

        def short_of_memory(value):
            if type(value) is dict and len(value.get("events") or ()) > fail_over or \
                    type(value) is list and len(value) > fail_over:
                raise MemoryError
            return encode(value)

        monkeypatch.setattr(child, "_json", short_of_memory)
    monkeypatch.setattr(child, "_os_nice", lambda increment: None)
    monkeypatch.setattr(child, "_sched_yield", lambda: None)
    monkeypatch.setattr(child, "_os_exit", exit_)
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    state = child.RunState({"limits": dict(runtime._WARM_UP_LIMITS), "filename": "<test>", "id": "ab12"}, "/",
                           write_end)
    received = bytearray()
    import threading

    def drain():
        os.set_blocking(read_end, True)
        while True:
            chunk = os.read(read_end, 1 << 16)
            if not chunk:
                return
            received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        with pytest.raises(Exited):
            state.finish(result)
    finally:
        os.close(write_end)
        reader.join()
        os.close(read_end)
        state.budget.state = None
    size = int.from_bytes(received[:4], "big")
    assert size == len(received) - 4
    return json.loads(received[4:].decode("utf-8"))


def test_a_run_writes_a_long_result_whole(monkeypatch):
    random.seed(5)
    result = _result([_event(i, 30) for i in range(6000)])  # over child._JOINED_MAX: written part by part
    expected = json.loads(json.dumps(result, ensure_ascii=False).encode("utf-8", "replace"))
    assert len(json.dumps(result)) > child._JOINED_MAX
    assert _finish(monkeypatch, result) == dict(expected, id="ab12")


def test_a_run_at_its_memory_limit_sends_the_events_it_can(monkeypatch):
    """The trace used to come back "crashed: the trace could not be encoded: MemoryError"."""
    random.seed(6)
    result = _result([_event(i) for i in range(1000)])
    sent = _finish(monkeypatch, result, fail_over=200)
    assert sent["status"] == "ok" and len(sent["events"]) == 125  # 1000, 500, 250, 125
    assert sent["truncated"]["events"] is True
    assert sent["message"] == "returned 1 (the trace keeps its first 125 of 1000 events: the run had no memory " \
                              "left to send more)"


def test_an_honest_trace_over_the_frame_limit_comes_back_cut_in_one_run(tracer):
    assert tracer.trace_call("def g():\n    return 5\n", "g()")["return"]["repr"] == "5"
    pids = tracer.worker_pids
    assert pids
    started = time.monotonic()
    trace = tracer.trace_call(GROWING, "f(90)")
    took = time.monotonic() - started
    assert trace["status"] == "ok", trace["message"]
    assert trace["return"] == {"repr": "1000000", "literal": True}
    assert trace["truncated"]["events"] is True
    kept, total = len(trace["events"]), 1 + 1 + 91 + 90 + 1 + 1  # call, line 2, the header's checks, the body, line 5, return
    assert 60 < kept < total
    assert trace["message"] == "returned 1000000 (the trace keeps its first %d of %d events: all of them would " \
                               "make the result larger than %d MB)" % (kept, total, child.RESULT_MAX_BYTES >> 20)
    schema.check(trace)
    lines = [event["line"] for event in trace["events"]]
    assert lines[:4] == [1, 2, 3, 4] and trace["events"][-1]["kind"] == "line"
    assert len(trace["events"][3]["changes"]["s"]) == 1_000_002  # shown whole
    assert tracer.worker_pids == pids  # one run, on the same worker: nothing was thrown away
    assert took < 15, took  # (twice over the limit took 20 s and more)
    assert tracer.trace_call("def g():\n    return 5\n", "g()")["return"]["repr"] == "5"


def test_a_frame_over_the_limit_is_still_taken_for_tampering(tracer):
    """Past the child's own cut, only a run writing into the tracer's channel itself can
    send a frame over the limit: the worker is replaced and the run has no result."""
    source = (
        "import gc, os, struct, sys\n"
        "def f():\n"
        "    child = next(m for name, m in sys.modules.items() if name.endswith('.child') and hasattr(m, 'RunState'))\n"
        "    state = next(o for o in gc.get_objects() if type(o) is child.RunState and o.request.get('call') == 'f()')\n"
        "    os.write(state.result_fd, struct.pack('>I', %d) + b'{')\n"
        "    os._exit(0)\n") % (pool._MAX_FRAME + 1)
    assert tracer.trace_call("def g():\n    return 5\n", "g()")["return"]["repr"] == "5"
    pids = tracer.worker_pids
    assert pids
    forged = tracer.trace_call(source, "f()", limits=BIG.merged(timeout_s=3.0))
    assert forged["status"] == "crashed" and "broke its sandbox worker twice" in forged["message"], forged["message"]
    assert "private channel" in forged["message"]
    assert tracer.trace_call("def g():\n    return 5\n", "g()")["return"]["repr"] == "5"
    assert not set(tracer.worker_pids) & set(pids)  # (replaced)
