"""The trace's JSON Schema (inference/tracer/trace.schema.json): every result the Tracer
returns has its shape, whatever happened to the run (it returned, raised, hit a limit, was
killed, died, or forged a result of its own), and the docs list exactly its fields."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from semcoder_inference.tracer import Limits, Tracer, schema

SCHEMA = schema.json_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
DOCS = Path(__file__).resolve().parents[1] / "docs" / "trace-schema.md"
FAST = Limits(timeout_s=1.0, cpu_s=5, memory_mb=256, max_events=500, max_output_bytes=200)


def assert_valid(trace: dict) -> None:
    """Valid for the JSON Schema and for the tracer's own check (they must agree)."""
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(trace)]
    assert errors == [], errors[:3]
    schema.check(trace)


@pytest.fixture(scope="module")
def tracer():
    with Tracer(limits=FAST, workers=2) as t:
        yield t


def test_the_schema_is_a_json_schema_and_the_cli_prints_it():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    proc = subprocess.run([sys.executable, "-m", "semcoder_inference.cli", "trace", "--schema"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and json.loads(proc.stdout) == SCHEMA


GENERATOR = (
    "def gen(n):\n    for i in range(n):\n        yield i\n\n"
    "def f(n):\n    total = []\n    for v in gen(n):\n        try:\n            total.append(1 // v)\n"
    "        except ZeroDivisionError:\n            total.append(None)\n    print('x' * 300)\n    return total\n"
)

RUNS = {
    # name: (source, call, expect, limits, status)
    "returns, with a generator, a caught exception and cut output": (GENERATOR, "f(3)", "[None, 1, 0]", None, "ok"),
    "assertion fails": ("def f(x):\n    return x\n", "f(1)", "2", None, "ok"),
    "expected value fails": ("def f(x):\n    return x\n", "f(1)", "undefined_name", None, "ok"),
    "raises": ("def g(d):\n    return d['k']\n\ndef f():\n    return g({})\n", "f()", None, None, "exception"),
    # (its traceback sums up the repeated frames in an entry with no line: see test_tracer_messages.py)
    "recurses away": ("def f(n):\n    return f(n + 1)\n", "f(0)", None, None, "exception"),
    "loops forever": ("def f():\n    while True:\n        pass\n", "f()", None, None, "timeout"),
    "stuck in native code": ("def f():\n    return sum(range(10 ** 13))\n", "f()", None, None, "timeout"),
    "burns CPU": ("def f():\n    while True:\n        pass\n", "f()", None, FAST.merged(timeout_s=10, cpu_s=1),
                  "cpu_limit"),
    "eats memory": ("def f():\n    b = []\n    while True:\n        b.append(bytearray(10 ** 7))\n", "f()", None, None,
                    "memory_limit"),
    "leaves without a result": ("import os\n\ndef f():\n    os._exit(3)\n", "f()", None, None, "crashed"),
    "does not compile": ("def f(:\n", "f()", None, None, "invalid"),
}


@pytest.mark.parametrize("name", list(RUNS))
def test_every_kind_of_result_has_the_schemas_shape(tracer, name):
    source, call, expect, limits, status = RUNS[name]
    trace = tracer.trace_call(source, call, expect=expect, limits=limits)
    assert trace["status"] == status, trace["message"]
    assert_valid(trace)
    assert trace["function"] == "f" and trace["call"] == call  # kept even when the child died


def test_shapes_the_runs_above_produce(tracer):
    source, call, expect = RUNS["returns, with a generator, a caught exception and cut output"][:3]
    trace = tracer.trace_call(source, call, expect=expect)
    kinds = {e["kind"] for e in trace["events"]}
    assert kinds == {"call", "line", "return", "exception"}
    assert any(e.get("resumed") for e in trace["events"]) and any(e.get("yield") for e in trace["events"])
    assert trace["truncated"]["stdout"] and trace["assertion"]["passed"]
    source, call, expect = RUNS["expected value fails"][:3]
    failing = tracer.trace_call(source, call, expect=expect)
    assert failing["assertion"]["error"].startswith("NameError")
    died = tracer.trace_call(*RUNS["leaves without a result"][:2])
    assert died["events"] == [] and died["duration_s"] is None and "exited (code 3)" in died["message"]


def test_recorded_calls_have_the_schemas_shape(tracer):
    calls = tracer.record_calls("def f(x, *rest, k=1):\n    return x\n\nif __name__ == '__main__':\n"
                                "    f(1, 2, k=3)\n    f(object())\n", target="f")
    assert [c["literal"] for c in calls] == [True, False]
    assert_valid(tracer.last_record_result)


def test_watched_calls_have_the_schemas_shape(tracer):
    source = "def f(x):\n    return x.real\n\nif __name__ == '__main__':\n    f(3j)\n"
    trace = tracer.watch_call(source, "f", filename="/work/w.py")
    assert trace["status"] == "ok" and trace["caller_line"] == 5
    assert_valid(trace)
    never = tracer.watch_call(source, "g", filename="/work/w.py")
    assert never["status"] == "invalid" and never["caller_line"] is None and "exited" not in never
    assert_valid(never)
    failed = tracer.watch_call(source.replace("f(3j)", "raise SystemExit('usage: w.py N')"), "f",
                               filename="/work/w.py")
    assert failed["status"] == "invalid" and failed["exited"] == "'usage: w.py N'"
    assert_valid(failed)


# A run is user code in the process that read the request: it can find its own result
# pipe and the request's id, and write a result frame of its own, here a malformed one.
FORGER = """import gc, json, os, struct

def f():
    state = next(o for o in gc.get_objects() if type(o).__name__ == 'RunState')
    body = json.dumps({"id": state.request["id"], "schema": "semcoder.trace/1", "status": "ok",
                       "message": "all good", "events": "not a list", "truncated": {}}).encode()
    os.write(state.result_fd, struct.pack(">I", len(body)) + body)
    os._exit(0)
"""


def test_a_forged_malformed_result_becomes_a_crashed_one(tracer):
    trace = tracer.trace_call(FORGER, "f()")
    assert trace["status"] == "crashed", trace
    assert trace["message"].startswith("the run returned a malformed result (events is not a list)")
    assert_valid(trace)
    assert tracer.trace_call("def f():\n    return 2\n", "f()")["return"]["repr"] == "2"  # and the next run is fine


GOOD = {"schema": "semcoder.trace/1", "status": "ok", "message": "returned 1", "function": "f", "call": "f()",
        "events": [{"line": 1, "depth": 0, "function": "f", "iteration": None, "changes": {}, "kind": "call"},
                   {"line": 2, "depth": 0, "function": "f", "iteration": 1, "changes": {"x": "1"}, "kind": "line"},
                   {"line": 3, "depth": 0, "function": "f", "iteration": None, "changes": {}, "kind": "return",
                    "value": "1", "yield": True}],
        "return": {"repr": "1", "literal": True}, "exception": None,
        "assertion": {"passed": True, "expected_repr": "1", "actual_repr": "1"}, "stdout": "", "stderr": "",
        "truncated": {"events": False, "stdout": False, "stderr": False, "depth": False, "return": False},
        "duration_s": 0.001}

BAD = {
    "events is not a list": lambda t: t.update(events={}),
    "events[1] has an unknown kind": lambda t: t["events"][1].update(kind="jump"),
    "events[1].line is not a line number": lambda t: t["events"][1].update(line=True),
    "events[0] has a bad depth": lambda t: t["events"][0].update(depth=-1),
    "events[1] has a bad iteration": lambda t: t["events"][1].update(iteration=0),
    "events[1] has changes that are not names and texts": lambda t: t["events"][1].update(changes={"x": 1}),
    "events[2] has a bad 'yield'": lambda t: t["events"][2].update({"yield": False}),
    "events[0] has an unknown field 'secret'": lambda t: t["events"][0].update(secret="x"),
    "the result has an unknown field 'extra'": lambda t: t.update(extra=1),
    "status is unknown": lambda t: t.update(status="fine"),
    "return lacks 'literal'": lambda t: t["return"].pop("literal"),
    "assertion.passed is not true or false": lambda t: t["assertion"].update(passed="yes"),
    "truncated.events is not true or false": lambda t: t["truncated"].update(events=None),
    "duration_s is not a duration": lambda t: t.update(duration_s=-1),
    "stdout is not text": lambda t: t.update(stdout=None),
    "caller_line is not a line number": lambda t: t.update(caller_line="12"),
    "exited is not text": lambda t: t.update(exited=2),
    "awaited is not true": lambda t: t.update(awaited=False),
    "module_s is not a duration": lambda t: t.update(module_s=-1),
    "module_output lacks 'stderr'": lambda t: t.update(module_output={"stdout": 0}),
}


def test_what_the_module_printed_is_no_more_than_the_output():
    """(A rule the JSON Schema cannot state: module_output counts characters of stdout.)"""
    bad = copy.deepcopy(GOOD)
    bad.update(stdout="ab", module_output={"stdout": 3, "stderr": 0})
    with pytest.raises(schema.Malformed, match="module_output.stdout is not a count of the stdout's characters"):
        schema.check(bad)
    bad["module_output"]["stdout"] = 2
    schema.check(bad)


@pytest.mark.parametrize("problem", list(BAD))
def test_the_check_and_the_json_schema_agree_on_what_is_malformed(problem):
    assert_valid(GOOD)
    bad = copy.deepcopy(GOOD)
    BAD[problem](bad)
    assert not VALIDATOR.is_valid(bad)
    with pytest.raises(schema.Malformed, match=re.escape(problem)):
        schema.check(bad)
    conformed = schema.conform(bad, "f", "f()")
    assert conformed["status"] == "crashed" and problem in conformed["message"]
    assert_valid(conformed)


@pytest.mark.parametrize("number", [0, -1, "1", True, 1.5, None])
def test_a_thread_number_must_be_a_positive_integer(number):
    bad = copy.deepcopy(GOOD)
    bad["events"][1]["thread"] = number
    assert not VALIDATOR.is_valid(bad)
    with pytest.raises(schema.Malformed, match=re.escape("events[1] has a bad thread number")):
        schema.check(bad)
    bad["events"][1]["thread"] = 2  # the events of a thread the traced call started
    assert_valid(bad)


def test_what_a_dead_child_could_not_report_is_filled_in():
    trailer = {"schema": "semcoder.trace/1", "status": "timeout", "message": "timed out after 1 s (killed)",
               "events": [], "truncated": {"events": True}}
    filled = schema.conform(trailer, "f", "f(1)")
    assert_valid(filled)
    assert filled["function"] == "f" and filled["call"] == "f(1)" and filled["duration_s"] is None
    assert filled["truncated"] == {"events": True, "stdout": False, "stderr": False, "depth": False, "return": False}
    assert schema.conform(copy.deepcopy(GOOD)) == GOOD  # a complete result is left as it is
    assert schema.conform([1, 2])["status"] == "crashed"


def _documented(table_heading: str) -> set[str]:
    text = DOCS.read_text()
    section = text.split(table_heading, 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)`", section, flags=re.M))


def test_the_docs_describe_exactly_the_schemas_fields():
    documented = _documented("## Top level") | {"stdout", "stderr"}  # one row describes both
    assert documented == set(SCHEMA["properties"])
    assert _documented("## Events") == set(SCHEMA["$defs"]["event"]["properties"]) - {"value", "resumed", "yield"}
