"""A spare child that waits for its request rehearses a run meanwhile (runtime.Spare): the
pages a run writes are then copied from the zygote before the request comes, not during
the run. A rehearsal must never change a run: complete, cut short by the request, or not
done at all, the trace is the same."""

from __future__ import annotations

import ast
import json
import sys
import time
from pathlib import Path

import pytest

from conftest import CRUXEVAL
from semcoder_inference.tracer import Tracer, pool

from test_tracer_protocol import FEATURES, _compare

# What a run can see of its own process that a rehearsal could have left behind.
PROBE = (
    "import gc, linecache, sys\n\n"
    "def f():\n"
    "    return [sys.gettrace() is not None, sys.getprofile() is None, gc.isenabled(),\n"
    "            sorted(k for k in linecache.cache if not k.startswith('/')),\n"
    "            sorted(k for k in globals() if not k.startswith('__')), len(sys.modules),\n"
    "            sorted(k for k in sys.modules if 'warm' in k),\n"
    "            sorted(type(o).__name__ for o in gc.get_objects()\n"
    "                   if type(o).__name__ in ('RunState', 'ReprBudget', 'LineTracer')),\n"
    "            sorted({o.__code__.co_filename for o in gc.get_objects() if type(o).__name__ == 'function'}\n"
    "                   & {'<warm-up>'})]\n"
)


def _start(monkeypatch: pytest.MonkeyPatch, setting: float | None) -> Tracer:
    monkeypatch.setattr(pool, "_REHEARSE_WHEN_IDLE_S", setting)
    # Without the pages every spare copies as it starts (test_tracer_prefault.py), which
    # are most of those a rehearsal would copy: what is measured here is the rehearsal.
    monkeypatch.setattr(pool, "_PREFAULT", False)
    tracer = Tracer(workers=1)
    tracer.trace_call("def f():\n    return 1\n", "f()")  # the zygote starts with the setting
    return tracer


@pytest.fixture(scope="module")
def tracers():
    with pytest.MonkeyPatch.context() as monkeypatch:
        never = _start(monkeypatch, None)
        at_once = _start(monkeypatch, 0.0)  # rehearses as soon as the spare exists
    yield never, at_once
    never.close()
    at_once.close()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _private_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Private_Dirty:"):
            return int(line.split()[1])
    raise AssertionError("no Private_Dirty line")


def test_the_zygote_is_told_when_to_rehearse(tracers):
    never, at_once = tracers
    assert never.isolation_info["rehearse_when_idle_s"] is None
    assert at_once.isolation_info["rehearse_when_idle_s"] == 0.0
    with Tracer(workers=1) as default:
        assert default.isolation_info["rehearse_when_idle_s"] == pool._REHEARSE_WHEN_IDLE_S > 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_spare_that_waited_has_copied_the_pages_a_run_writes(tracers):
    copied = {}
    for name, tracer in zip(("never", "at once"), tracers):
        tracer.trace_call("def f(xs):\n    return sorted(xs)\n", "f([3, 1, 2])")
        time.sleep(0.5)  # the spare for the next run is forked, waits, and (maybe) rehearses
        spares = _children(tracer.worker_pids[0])
        assert len(spares) == 1, spares
        copied[name] = _private_kb(spares[0])
    # A rehearsal writes pages (allocator pools, reference counts) that a spare which only
    # waits still shares with the zygote: about 100 more here (400 KB).
    assert copied["at once"] >= copied["never"] + 200, copied


def test_a_rehearsal_never_changes_a_run(tracers):
    never, at_once = tracers
    rows = [json.loads(line) for line in CRUXEVAL.read_text().splitlines()[:60]]
    cases = [(PROBE, "f()", None)] + FEATURES + [(r["code"], f"f({r['input']})", r["output"]) for r in rows]
    for index, (source, call, expect) in enumerate(cases):
        if index % 8 == 0:
            time.sleep(0.1)  # let this one's rehearsal finish; the others are cut short
        rehearsed = at_once.trace_call(source, call, filename="/work/case.py", expect=expect)
        plain = never.trace_call(source, call, filename="/work/case.py", expect=expect)
        assert _compare(rehearsed) == _compare(plain), source
        assert rehearsed["status"] in ("ok", "exception"), rehearsed["message"]
    for tracer in tracers:
        time.sleep(0.1)  # the at-once spare has rehearsed to the end
        probe = tracer.trace_call(PROBE, "f()", filename="/work/case.py")
        seen = ast.literal_eval(probe["return"]["repr"])
        # Traced, no profiler, no file but its own, only its own globals, nothing of the
        # warm-up; the garbage collector finds this run's own tracing state and no other.
        assert seen[:5] == [True, True, True, [], ["f", "gc", "linecache", "sys"]] and seen[6] == [], seen
        assert seen[7:] == [["LineTracer", "ReprBudget", "RunState"], []], seen
