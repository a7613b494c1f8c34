"""A forged result whose status, or an event's kind, was a list made schema.check raise
TypeError (`in` a frozenset hashes the value) instead of Malformed (review 25): the error
left the Tracer, and the server closed every worker. Any shape is now either the schema's
or the documented `crashed` result."""

from __future__ import annotations

import copy
import re

import pytest

from semcoder_inference.tracer import Limits, Tracer, schema

GOOD = {
    "schema": "semcoder.trace/1", "status": "ok", "message": "returned 1", "function": "f", "call": "f()",
    "events": [{"line": 1, "depth": 0, "function": "f", "iteration": None, "changes": {}, "kind": "call"}],
    "return": {"repr": "1", "literal": True}, "exception": None, "assertion": None, "stdout": "", "stderr": "",
    "truncated": {"events": False, "stdout": False, "stderr": False, "depth": False, "return": False},
    "duration_s": 0.001,
}

UNHASHABLE = {
    "a status that is a list": ("status is unknown", lambda t: t.update(status=["ok"])),
    "a schema that is a list": ("schema is not", lambda t: t.update(schema=["semcoder.trace/1"])),
    "a kind that is a list": ("events[0] has an unknown kind", lambda t: t["events"][0].update(kind=["call"])),
    "a kind that is a dict": ("events[0] has an unknown kind", lambda t: t["events"][0].update(kind={"call": 1})),
}


@pytest.mark.parametrize("case", list(UNHASHABLE))
def test_an_unhashable_value_is_malformed_not_a_type_error(case):
    problem, spoil = UNHASHABLE[case]
    bad = copy.deepcopy(GOOD)
    spoil(bad)
    with pytest.raises(schema.Malformed, match=re.escape(problem)):
        schema.check(bad)
    conformed = schema.conform(bad, "f", "f()")
    assert conformed["status"] == "crashed" and "malformed result" in conformed["message"], conformed["message"]
    schema.check(conformed)


def test_whatever_check_raises_conform_gives_a_crashed_result(monkeypatch):
    def broken(result):
        raise TypeError("unforeseen")

    monkeypatch.setattr(schema, "check", broken)
    conformed = schema.conform(copy.deepcopy(GOOD), "f", "f()")
    assert conformed["status"] == "crashed"
    assert conformed["message"] == ("the run returned a malformed result (checking it raised TypeError), so it has "
                                    "no trustworthy trace")


FORGED = '''
def f():
    import gc
    state = [o for o in gc.get_objects() if type(o).__name__ == "RunState"][0]
    result = state.result("ok", "returned 1")
    %s
    state.finish(result)
'''


@pytest.mark.parametrize("isolation", ["auto", "audit"])
def test_a_run_that_forges_unhashable_shapes_gets_a_crashed_result_and_the_tracer_goes_on(isolation):
    with Tracer(isolation=isolation, workers=1, limits=Limits(timeout_s=5, cpu_s=5)) as tracer:
        assert tracer.trace_call("def g():\n    return 2\n", "g()")["status"] == "ok"
        workers = tracer.worker_pids
        for forged in ('result["status"] = ["ok"]',
                       'result["events"] = [{"line": 1, "depth": 0, "function": "f", "iteration": None, '
                       '"changes": {}, "kind": ["call"]}]'):
            trace = tracer.trace_call(FORGED % forged, "f()")
            assert trace["status"] == "crashed", trace
            assert trace["message"].startswith("the run returned a malformed result (")
        after = tracer.trace_call("def g():\n    return 2\n", "g()")
        assert after["status"] == "ok" and after["return"]["repr"] == "2"
        assert tracer.worker_pids == workers
