"""All 800 CRUXEval samples: the traced return value equals the expected output, every
trace has the shape of the JSON Schema, every line's changes are what a naive tracer sees,
and every condition a monologue states is what the condition evaluates to.

The comparison runs inside the sandbox (`expect=`): the expected output is evaluated there
as a Python value and compared with `==` to what the call returned; the return value's repr
must also read back as a literal equal to the expected output here, in the test process.
"""

from __future__ import annotations

import ast
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

import jsonschema

import naive_tracer
from conftest import CRUXEVAL
from semcoder_inference.tracer import Limits, Tracer, render_monologue, schema


def _load():
    assert CRUXEVAL.is_file(), f"CRUXEval data missing at {CRUXEVAL}"
    return [json.loads(line) for line in CRUXEVAL.read_text().splitlines() if line.strip()]


@pytest.mark.slow
def test_all_cruxeval_samples_return_the_expected_output():
    rows = _load()
    assert len(rows) == 800
    with Tracer(workers=2) as tracer:
        def run(row):
            return tracer.trace_call(row["code"], f"f({row['input']})", filename=f"/cruxeval/{row['id']}.py",
                                     expect=row["output"])

        with ThreadPoolExecutor(2) as pool:
            traces = list(pool.map(run, rows))
    failures = []
    validator = jsonschema.Draft202012Validator(schema.json_schema())
    for row, trace in zip(rows, traces):
        for error in validator.iter_errors(trace):  # the documented shape (docs/trace-schema.md)
            failures.append((row["id"], "schema", f"{list(error.absolute_path)}: {error.message}"[:120]))
        assertion = trace.get("assertion") or {}
        if trace["status"] != "ok" or not assertion.get("passed"):
            failures.append((row["id"], trace["status"], trace["message"][:120]))
            continue
        # Independently of the sandbox's own `==`: the repr is a literal equal to the output.
        if not trace["return"]["literal"] or ast.literal_eval(trace["return"]["repr"]) != ast.literal_eval(row["output"]):
            failures.append((row["id"], "repr", trace["return"]["repr"][:120]))
        if not any(e["kind"] == "line" for e in trace["events"]):
            failures.append((row["id"], "no line events", ""))
    assert failures == [], f"{len(failures)} samples failed, first: {failures[:5]}"


@pytest.mark.slow
def test_every_change_a_trace_reports_is_what_a_naive_tracer_sees():
    """The sandboxed tracer's changes per line, with all its shortcuts (atoms skipped,
    small containers compared by identity, reprs cut at max_repr), against the naive
    tracer's (tests/naive_tracer.py) on all 800 samples: the same names on the same lines
    with the same values."""
    rows = _load()
    differ = []
    with Tracer(workers=2, limits=Limits(max_events=100_000)) as tracer:
        for row in rows:
            call = f"f({row['input']})"
            trace = tracer.trace_call(row["code"], call)
            assert not any(trace["truncated"].values()), row["id"]
            missing, extra = naive_tracer.change_differences(trace, row["code"], call, tracer.limits.max_repr)
            if extra or missing:
                differ.append((row["id"], "missing", list(missing)[:2], "extra", list(extra)[:2]))
    assert differ == [], f"{len(differ)} samples differ, first: {differ[:3]}"


@pytest.mark.slow
def test_every_condition_a_monologue_states_is_what_the_condition_evaluates_to():
    """"The condition `c` is true", "Iteration n of the loop starts" (of a `while`) and "The
    loop condition is false": on all 800 samples, each such statement, in order, is the
    value the condition has when the naive tracer evaluates it again at that step. A
    condition is stated where the run's next step shows it (its line changed nothing);
    where it cannot (a one-line body that changed nothing, without an else), nothing is."""
    rows = _load()
    wrong, stated = [], 0
    with Tracer(workers=2, limits=Limits(max_events=100_000)) as tracer:
        for row in rows:
            call = f"f({row['input']})"
            trace = tracer.trace_call(row["code"], call)
            misstated, count = naive_tracer.misstated_conditions(trace, render_monologue(trace, row["code"]),
                                                                 row["code"], call)
            wrong += [(row["id"],) + m for m in misstated]
            stated += count
    assert wrong == [], f"{len(wrong)} conditions misstated, first: {wrong[:3]}"
    assert stated > 2000  # the statements were found
