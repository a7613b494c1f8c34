"""What travels between the server and a run: requests as marshal data, with the run's code
objects compiled by the server when the zygote's interpreter has the server's bytecode, and
results as JSON. Whoever compiles, the trace must be the same."""

from __future__ import annotations

import json
import types
import warnings

import pytest

from conftest import CRUXEVAL
from semcoder_inference.tracer import Tracer, child, pool


FEATURES = [
    # (source, call, expect)
    ("from __future__ import annotations\n\ndef f(x: Undefined) -> list[int]:\n    total = 0\n"
     "    for i in range(x):\n        while total < i:\n            total += 1\n    return [total]\n", "f(4)", "[3]"),
    ("class Box:\n    def __init__(self, v):\n        self.v = v\n\ndef f(n):\n    b = Box(n)\n"
     "    b.v += 1\n    return b.v\n", "f(1)", "2"),
    ("def g(n):\n    for i in range(n):\n        yield i * i\n\ndef f(n):\n    return sum(g(n))\n", "f(3)", "5"),
    ("def f(d):\n    try:\n        return d['missing']\n    except KeyError as exc:\n"
     "        raise ValueError('no key') from exc\n", "f({})", None),
    ("def f(x):\n    print('seen', x)\n    return x is 1\n", "f(1)", "True"),  # a SyntaxWarning source
]


def _compare(result: dict) -> dict:
    """A result without its timings, which differ from run to run."""
    return {key: value for key, value in result.items() if key not in ("duration_s", "module_s")}


@pytest.fixture(scope="module")
def compiled_here():
    with Tracer(workers=1) as tracer:
        yield tracer


@pytest.fixture(scope="module")
def compiled_in_child():
    # A zygote whose bytecode tag differs from ours gets source text only, as an older or
    # newer interpreter would.
    saved = pool._BYTECODE_TAG
    pool._BYTECODE_TAG = "another-python:0000"
    try:
        with Tracer(workers=1) as tracer:
            tracer.trace_call("def f():\n    return 1\n", "f()")  # starts the zygote under the other tag
            assert not any(z.same_bytecode for z in tracer._all)
            yield tracer
    finally:
        pool._BYTECODE_TAG = saved


def _requests(tracer: Tracer, monkeypatch) -> list[dict]:
    """What each request sends: its first frame, with its second (loops, compiled) added."""
    sent: list[dict] = []
    original = pool._Zygote.request

    def spy(self, message, code, timeout):
        sent.append(dict(message))

        def second():
            sent[-1]["loops"], sent[-1]["compiled"] = parts = code()
            return parts

        return original(self, message, second, timeout)

    monkeypatch.setattr(pool._Zygote, "request", spy)
    return sent


def test_the_zygote_reports_its_bytecode_and_gets_code_objects(compiled_here, monkeypatch):
    assert compiled_here.isolation_info["bytecode"] == pool._BYTECODE_TAG
    sent = _requests(compiled_here, monkeypatch)
    trace = compiled_here.trace_call("def f(x):\n    return x + 1\n", "f(1)", expect="2")
    assert trace["status"] == "ok" and trace["assertion"]["passed"]
    module, call, expect, entry = sent[-1]["compiled"]
    assert isinstance(module, types.CodeType) and module.co_filename == "<source>"
    assert isinstance(call, types.CodeType) and isinstance(expect, types.CodeType) and entry is None


def test_another_interpreter_gets_source_text_only(compiled_in_child, monkeypatch):
    sent = _requests(compiled_in_child, monkeypatch)
    trace = compiled_in_child.trace_call("def f(x):\n    return x + 1\n", "f(1)")
    assert trace["status"] == "ok" and trace["return"]["repr"] == "2"
    assert sent[-1]["compiled"] is None and sent[-1]["loops"] == ([], [])


def test_traces_are_the_same_whoever_compiles_them(compiled_here, compiled_in_child):
    rows = [json.loads(line) for line in CRUXEVAL.read_text().splitlines()[:80]]
    cases = FEATURES + [(r["code"], f"f({r['input']})", r["output"]) for r in rows]
    for source, call, expect in cases:
        here = compiled_here.trace_call(source, call, filename="/work/case.py", expect=expect)
        there = compiled_in_child.trace_call(source, call, filename="/work/case.py", expect=expect)
        assert _compare(here) == _compare(there), source
    recorded = [t.record_calls("def f(x):\n    return x * 2\n\ndef main():\n    f(3)\n    f(4)\n",
                               target="f", entry="main()") for t in (compiled_here, compiled_in_child)]
    assert recorded[0] == recorded[1] and [c["call"] for c in recorded[0]] == ["f(3)", "f(4)"]


@pytest.mark.parametrize("source, call, expected", [
    ("def f(:\n    pass\n", "f()", "the source has a syntax error at line 1"),
    ("def f():\n    return 1\n", "f(", "the call expression 'f(' has a syntax error"),
])
def test_what_does_not_compile_is_reported_by_the_run(compiled_here, compiled_in_child, source, call, expected):
    for tracer in (compiled_here, compiled_in_child):
        trace = tracer.trace_call(source, call)
        assert trace["status"] == "invalid" and trace["message"].startswith(expected)


def test_a_runs_compile_warnings_stay_out_of_the_server(compiled_here):
    filters = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        source = "def f(x):\n    return x is 1\n"
        trace = compiled_here.trace_call(source + "# edit %d\n" % id(caught), "f(1)")
    assert trace["status"] == "ok"
    assert [w for w in caught if issubclass(w.category, SyntaxWarning)] == []
    assert warnings.filters == filters


RESULT = {"schema": "semcoder.trace/1", "status": "ok", "events": [
    {"line": 1, "changes": {"s": "'caf\u00e9 \ud800 \"q\"\\n'"}, "iteration": None, "value": -2.5}],
    "stdout": "\u2603 tab\t", "truncated": {"events": False}, "duration_s": 1e-06,
    "odd": {"inf": float("inf"), "tuple": (1, 2), "set": {3}}}


def test_results_are_the_json_that_json_dumps_writes(monkeypatch):
    expected = json.dumps(RESULT, ensure_ascii=False, default=str).encode("utf-8", "replace")
    assert child._encode_c is not None  # CPython's C encoder is used
    assert child.encode_result(RESULT) == expected
    monkeypatch.setattr(child, "_encode_c", None)  # and the fallback says the same
    assert child.encode_result(RESULT) == expected
    assert json.loads(expected)["events"][0]["changes"]["s"] == "'caf\u00e9 ? \"q\"\\n'"


def test_the_server_keeps_the_work_for_a_file_it_sees_again_but_not_for_huge_ones(compiled_here):
    small = "def f(xs):\n    for x in xs:\n        pass\n    return len(xs)\n"
    huge = small + "# padding\n" * 30_000  # about 300 KB
    for source in (small, huge):
        trace = compiled_here.trace_call(source, "f([1, 2])", filename="/work/cache.py")
        assert trace["status"] == "ok" and trace["return"]["repr"] == "2"
        assert [e["iteration"] for e in trace["events"] if e["kind"] == "line" and e["line"] == 2] == [1, 2, 3]
    assert (small, "/work/cache.py") in compiled_here._code_cache and small in compiled_here._loop_cache
    assert (huge, "/work/cache.py") not in compiled_here._code_cache and huge not in compiled_here._loop_cache


def test_both_frames_of_a_request_go_in_one_write_once_the_code_is_worked_out(compiled_here, monkeypatch):
    """The spare is woken only once the server has parsed and compiled, by one write of both
    frames: it then runs on the server's vCPU as the server starts waiting (see
    pool._Zygote.request)."""
    happened: list[str] = []
    write, request = pool._Zygote._write, pool._Zygote.request

    def spy_write(self, data):
        happened.append("frame")
        return write(self, data)

    def spy_request(self, message, code, timeout):
        def second():
            happened.append("code")
            return code()
        return request(self, message, second, timeout)

    monkeypatch.setattr(pool._Zygote, "_write", spy_write)
    monkeypatch.setattr(pool._Zygote, "request", spy_request)
    trace = compiled_here.trace_call("def f(xs):\n    for x in xs:\n        pass\n    return len(xs)\n", "f([4, 5])")
    assert trace["status"] == "ok" and trace["return"]["repr"] == "2"
    assert [e["iteration"] for e in trace["events"] if e["line"] == 2] == [1, 2, 3]
    assert happened == ["code", "frame"]


def test_a_second_frame_left_behind_by_a_dead_child_is_not_read_as_a_request():
    """A child that dies between the two frames of its request leaves the second in the
    pipe. The next spare skips it, and runs the next request as sent, itself: the zygote
    was not replaced (a spare that failed on the stray frame would have left a frame of
    its own, or ended the zygote), and, where the runs have their own PID namespace (pids
    there count up from the zygote's 1), no spare in between died of reading it."""
    import marshal
    import struct

    source = "import os\n\ndef f(x):\n    return (x * 3, os.getpid())\n"
    with Tracer(workers=1) as tracer:
        before = tracer.trace_call(source, "f(1)")
        zygote = tracer._all[0]
        stray = marshal.dumps(([], None), 4)
        assert zygote._write(struct.pack(">I", len(stray)) + stray)
        after = tracer.trace_call(source, "f(5)")
        assert after["status"] == "ok", after["message"]
        tripled, pid = eval(after["return"]["repr"])
        assert tripled == 15
        if zygote.info["pid_namespace"]:
            assert pid == eval(before["return"]["repr"])[1] + 1
        assert tracer._all == [zygote]



def test_the_usual_trailer_is_recognised_without_parsing_and_reads_as_json_would():
    """A clean run's trailer (what the zygote writes after nearly every run) is compared
    byte for byte with the one the server owes a read, not parsed. It must read exactly as
    JSON would, and any other frame, a trailer for another run or one that carries a
    result, must still be parsed."""
    import os
    import struct

    from semcoder_inference.tracer import runtime

    owed = "ab" * 16

    def frame(body):
        return struct.pack(">I", len(body)) + body

    def trailer(request_id, killed=False, status=0):
        return runtime._trailer_frame(request_id.encode(), status, killed, 1.0, 1.0, 0.0)

    # The bytes the zygote writes for a clean exit are the ones the server looks for.
    assert trailer(owed) == frame((child.TRAILER_OK % owed).encode())
    frames = [
        trailer(owed),
        trailer("cd" * 16),
        trailer(owed, killed=True),  # killed: carries a result
        trailer(owed, status=9),  # died by a signal: carries a result
        trailer("x" * 31),  # not the server's kind of id: written by json, still read
        frame(json.dumps({"id": owed, "status": "ok"}).encode()),
    ]
    read_end, write_end = os.pipe()
    zygote = pool._Zygote.__new__(pool._Zygote)
    zygote.proc = types.SimpleNamespace(stdout=open(read_end, "rb", buffering=0))
    zygote._buffer = bytearray()
    try:
        for data in frames:
            os.write(write_end, data)
        for data in frames:
            assert zygote._read(1.0, owed) == json.loads(data[4:])
    finally:
        zygote.proc.stdout.close()
        os.close(write_end)


def test_a_frame_is_written_whole_however_little_each_write_takes(monkeypatch):
    """write_all (under write_frame and the zygote's trailers) usually finishes in one
    write; when a write takes only part, it goes on from there, and when the reader is
    gone it says so instead of raising."""
    import os

    taken = []
    real_write = os.write

    def write_a_little(fd, data):
        taken.append(len(data))
        return real_write(fd, bytes(data[:7]))

    read_end, write_end = os.pipe()
    try:
        assert child.write_frame(write_end, b"whole") is True
        assert os.read(read_end, 100) == b"\x00\x00\x00\x05whole"
        monkeypatch.setattr(child, "_os_write", write_a_little)
        body = b"0123456789" * 5
        assert child.write_frame(write_end, body) is True
        assert os.read(read_end, 100) == len(body).to_bytes(4, "big") + body
        assert len(taken) == 8 and taken[0] == 54 and taken[1] == 47  # one full try, then the rest
    finally:
        os.close(read_end)
    assert child.write_all(write_end, b"nobody reads this") is False
    os.close(write_end)


def test_a_finished_run_writes_its_result_then_gives_way_then_exits(monkeypatch):
    """Once its result is written (not before: the server's wake-up would wait for it), a
    run's process lowers its priority and yields, so that tearing down its address space
    gives way to the server and to other runs; then it exits."""
    from semcoder_inference.tracer import runtime

    happened = []

    class Exited(Exception):
        pass

    def exit_(code):
        happened.append(("exit", code))
        raise Exited

    monkeypatch.setattr(child, "write_frame", lambda fd, data: happened.append(("result", json.loads(data)["id"])))
    monkeypatch.setattr(child, "_os_nice", lambda increment: happened.append(("nice", increment)))
    monkeypatch.setattr(child, "_sched_yield", lambda: happened.append(("yield",)))
    monkeypatch.setattr(child, "_os_exit", exit_)
    state = child.RunState({"limits": dict(runtime._WARM_UP_LIMITS), "filename": "<test>", "id": "ab12"}, "/", -1)
    with pytest.raises(Exited):
        state.finish(state.result("ok", "returned"))
    state.budget.state = None
    assert happened == [("result", "ab12"), ("nice", 10), ("yield",), ("exit", 0)]
