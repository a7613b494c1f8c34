"""All 800 CRUXEval samples: the traced return value equals the expected output, and every
trace has the shape of the JSON Schema.

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

from conftest import CRUXEVAL
from semcoder_inference.tracer import Tracer, schema


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
