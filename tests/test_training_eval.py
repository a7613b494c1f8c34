"""`semcoder eval cruxeval|repair`: CRUXEval's scoring rule, unbiased pass@k, resume."""

from __future__ import annotations

import json
import re

import pytest

from semcoder_inference import formats
from semcoder_inference.replay_engine import ReplayEngine
from semcoder_training.data.build import BuildConfig, build
from semcoder_training.eval_cruxeval import EvalConfig, evaluate, pass_at_k
from semcoder_training.eval_repair import RepairConfig, evaluate_repair

from conftest import CRUXEVAL


def _problems(n):
    return [json.loads(line) for line in CRUXEVAL.read_text().splitlines()[:n]]


def test_pass_at_k_is_the_unbiased_estimator():
    assert pass_at_k(10, 0, 1) == 0.0 and pass_at_k(10, 10, 1) == 1.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(10, 3, 5) == pytest.approx(1 - (7 * 6 * 5 * 4 * 3) / (10 * 9 * 8 * 7 * 6))
    assert pass_at_k(4, 1, 5) == 1.0  # fewer wrong samples than k


def _output_oracle(problems, wrong_ids):
    """A scripted model: the right output (in the model's double-quote style) except for `wrong_ids`."""
    by_call = {f"f({p['input']})": p for p in problems}

    def answer(prompt: str) -> str:
        call = re.search(r"^assert (.*) == \?\?$", prompt, re.M).group(1)
        p = next(p for c, p in by_call.items() if formats.swap_string_quotes(c) == call)
        value = "'not it'" if p["id"] in wrong_ids else p["output"]
        return f"step 1 ...\n[/MONOLOGUE]\n[ANSWER]\nassert {call} == {formats.swap_string_quotes(value)}\n[/ANSWER]"
    return answer


def test_output_prediction_is_scored_by_execution(tmp_path):
    problems = _problems(6)
    engine = ReplayEngine(_output_oracle(problems, {"sample_1", "sample_4"}))
    report = evaluate(EvalConfig(task="o", model="replay", out_dir=tmp_path, limit=6, progress=False), engine=engine)
    assert report["pass@1"] == pytest.approx(4 / 6)
    table = (tmp_path / "table.md").read_text()
    assert "| sample_1 | 0/1 |" in table and "| sample_0 | 1/1 |" in table
    full = json.loads((tmp_path / "report.json").read_text())
    assert [p["correct"] for p in full["per_problem"]] == [1, 0, 1, 1, 0, 1]
    assert all(prompt.endswith("[MONOLOGUE]\n") and "# [L5]" in prompt for prompt in engine.prompts)


def test_input_prediction_needs_a_call_that_gives_the_output(tmp_path):
    problems = _problems(4)

    def answer(prompt: str) -> str:
        output = re.search(r"^assert f\(\?\?\) == (.*)$", prompt, re.M).group(1)
        p = next(p for p in problems if formats.swap_string_quotes(p["output"]) == output)
        if p["id"] == "sample_0":
            return "[ANSWER]\nassert 1 == 2\n[/ANSWER]"  # no call of f: fails by the rule
        if p["id"] == "sample_1":
            return "[ANSWER]\nassert f(1, 2, 3) == x\n[/ANSWER]"  # raises: fails
        return f"[ANSWER]\nassert f({formats.swap_string_quotes(p['input'])}) == {output}\n[/ANSWER]"

    report = evaluate(EvalConfig(task="i", model="replay", out_dir=tmp_path, limit=4, progress=False), engine=ReplayEngine(answer))
    assert report["pass@1"] == pytest.approx(2 / 4)


def test_a_candidate_that_hangs_fails_within_the_limit(tmp_path):
    engine = ReplayEngine(lambda prompt: "[ANSWER]\nassert f([1]) == [x for x in iter(int, 1)]\n[/ANSWER]")
    report = evaluate(EvalConfig(task="o", model="replay", out_dir=tmp_path, limit=1, progress=False), engine=engine)
    assert report["pass@1"] == 0.0 and report["elapsed_s"] < 15


def test_samples_and_resume(tmp_path):
    problems = _problems(4)
    first = ReplayEngine(_output_oracle(problems, {"sample_2"}))
    evaluate(EvalConfig(task="o", model="m", out_dir=tmp_path, limit=2, samples=3, progress=False), engine=first)
    assert len(first.prompts) == 6
    second = ReplayEngine(_output_oracle(problems, {"sample_2"}))
    report = evaluate(EvalConfig(task="o", model="m", out_dir=tmp_path, limit=4, samples=3, progress=False), engine=second)
    assert len(second.prompts) == 6  # only the two new problems x 3 samples were generated
    assert report["problems"] == 4 and report["pass@1"] == pytest.approx(3 / 4)


def test_repair_counts_only_fixes_that_pass_every_test(tmp_path):
    build(BuildConfig(out_dir=tmp_path / "data", generated_seeds=8, workers=1, progress=False, holdout=0.0))
    data = tmp_path / "data" / "pyx_r.jsonl"
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    fixes = {r["fault"]: r["response"].split("### Bug Fixing\n", 1)[1] for r in rows}

    def model(prompt: str) -> str:  # fixes the even-numbered bugs, repeats the bug otherwise
        i = next(i for i, (fault, _) in enumerate(fixes.items()) if fault in prompt)
        if i % 2 == 0:
            return list(fixes.values())[i]
        buggy = prompt.split("### Buggy Solution\n", 1)[1].split("\n\n### Failed Test", 1)[0]
        return f"[Refined]\n{buggy}\n"

    report = evaluate_repair(RepairConfig(model="replay", data=data, out_dir=tmp_path / "eval", progress=False),
                             engine=ReplayEngine(model))
    assert report["problems"] == len(rows) >= 4
    assert report["fixed"] == (len(rows) + 1) // 2
    assert report["pass@1"] == pytest.approx(report["fixed"] / len(rows))
