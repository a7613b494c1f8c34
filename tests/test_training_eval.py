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


# ----------------------------------------------------------------------------- resume is keyed on the model and settings


def test_resume_refuses_samples_of_another_model_or_other_settings(tmp_path):
    from semcoder_inference.errors import SemcoderError

    problems = _problems(3)
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + b"A" * 4000)
    out = tmp_path / "ev"
    cfg = dict(task="o", model=str(model), out_dir=out, limit=2, max_tokens=32, progress=False)
    evaluate(EvalConfig(**cfg), engine=ReplayEngine(_output_oracle(problems, set())))

    same = ReplayEngine(_output_oracle(problems, set()))
    report = evaluate(EvalConfig(**cfg), engine=same)  # the same file and settings: resumed, nothing new
    assert same.prompts == [] and report["problems"] == 2

    model.write_bytes(b"GGUF" + b"B" * 4000)  # re-exported under the same name, same size
    other = ReplayEngine(_output_oracle(problems, set()))
    with pytest.raises(SemcoderError) as exc:
        evaluate(EvalConfig(**cfg), engine=other)
    assert other.prompts == []
    assert "model file" in str(exc.value) and "--out" in str(exc.value) and "samples.jsonl" in str(exc.value)

    model.write_bytes(b"GGUF" + b"A" * 4000)  # the first model again, other settings
    with pytest.raises(SemcoderError) as exc:
        evaluate(EvalConfig(**{**cfg, "temperature": 0.7, "max_tokens": 64}), engine=other)
    message = str(exc.value)
    assert "temperature: was 0.0, now 0.7" in message and "max_tokens: was 32, now 64" in message
    assert "model file" not in message
    assert other.prompts == []
    assert json.loads((out / "report.json").read_text())["temperature"] == 0.0  # the old report stands

    copy = tmp_path / "elsewhere.gguf"  # the same bytes under another name (or touched) is the same model
    copy.write_bytes(model.read_bytes())
    report = evaluate(EvalConfig(**{**cfg, "model": str(copy), "limit": 3}), engine=other)
    assert len(other.prompts) == 1 and report["problems"] == 3


def test_resume_refuses_samples_written_without_a_record_of_their_run(tmp_path):
    from semcoder_inference.errors import SemcoderError

    (tmp_path / "samples.jsonl").write_text(json.dumps(
        {"task": "o", "model": "m", "id": "sample_0", "sample": 0, "candidate": "1", "passed": False,
         "error": None, "generation": ""}) + "\n")
    engine = ReplayEngine(_output_oracle(_problems(1), set()))
    with pytest.raises(SemcoderError, match="without a record"):
        evaluate(EvalConfig(task="o", model="m", out_dir=tmp_path, limit=1, progress=False), engine=engine)
    assert engine.prompts == []


def test_resume_refuses_samples_of_other_data(tmp_path):
    from semcoder_inference.errors import SemcoderError

    problems = _problems(2)
    evaluate(EvalConfig(task="o", model="m", out_dir=tmp_path / "ev", limit=2, progress=False),
             engine=ReplayEngine(_output_oracle(problems, set())))
    changed = [dict(problems[0], output="'changed'"), problems[1]]
    data = tmp_path / "crux.jsonl"
    data.write_text("\n".join(json.dumps(p) for p in changed))
    with pytest.raises(SemcoderError, match="sample_0"):
        evaluate(EvalConfig(task="o", model="m", out_dir=tmp_path / "ev", data=data, limit=2, progress=False),
                 engine=ReplayEngine(_output_oracle(problems, set())))


def test_model_fingerprint_reads_little_of_a_big_file_yet_sees_changed_weights(tmp_path):
    from semcoder_training.eval_cruxeval import model_identity

    big = tmp_path / "big.gguf"
    size = 256 << 20
    with big.open("wb") as fh:  # sparse: cheap to make
        fh.truncate(size)
    first = model_identity(str(big))
    assert first["size"] == size and first["fingerprint"].startswith("sha256-sampled:")
    with big.open("r+b") as fh:  # 256 KiB of changed "weights" in the middle of the file
        fh.seek(size // 2 + 12345)
        fh.write(b"\x01" * (256 << 10))
    assert model_identity(str(big))["fingerprint"] != first["fingerprint"]
    small = tmp_path / "small.gguf"
    small.write_bytes(b"x" * 1000)
    assert model_identity(str(small))["fingerprint"].startswith("sha256:")
    assert model_identity("owner/repo-not-cached:file.gguf") == {"name": "owner/repo-not-cached:file.gguf"}


def _repair_data(tmp_path):
    build(BuildConfig(out_dir=tmp_path / "data", generated_seeds=4, workers=1, progress=False, holdout=0.0))
    data = tmp_path / "data" / "pyx_r.jsonl"
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    fixes = {r["fault"]: r["response"].split("### Bug Fixing\n", 1)[1] for r in rows}

    def model(prompt: str) -> str:
        return next(fix for fault, fix in fixes.items() if fault in prompt)
    return data, rows, model


def test_repair_resumes_only_for_the_same_model_and_settings(tmp_path):
    from semcoder_inference.errors import SemcoderError

    data, rows, script = _repair_data(tmp_path)
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + b"A" * 4000)
    cfg = dict(model=str(model), data=data, out_dir=tmp_path / "eval", limit=2, max_tokens=512, progress=False)
    first = ReplayEngine(script)
    evaluate_repair(RepairConfig(**cfg), engine=first)
    assert len(first.prompts) == 2

    again = ReplayEngine(script)
    report = evaluate_repair(RepairConfig(**{**cfg, "limit": 3}), engine=again)
    assert len(again.prompts) == 1 and report["problems"] == 3 and report["fixed"] == 3

    with pytest.raises(SemcoderError, match="max_tokens: was 512, now 256"):
        evaluate_repair(RepairConfig(**{**cfg, "max_tokens": 256}), engine=again)
    model.write_bytes(b"GGUF" + b"B" * 4000)
    with pytest.raises(SemcoderError, match="model file"):
        evaluate_repair(RepairConfig(**cfg), engine=again)
    assert len(again.prompts) == 1


# ----------------------------------------------------------------------------- --limit, pass@5, the protocol's temperatures


@pytest.mark.parametrize("limit", [0, -1])
def test_limit_below_one_is_an_error_not_every_problem(tmp_path, limit):
    from semcoder_inference.errors import SemcoderError

    engine = ReplayEngine(_output_oracle(_problems(2), set()))
    with pytest.raises(SemcoderError, match="--limit"):
        evaluate(EvalConfig(task="o", model="m", out_dir=tmp_path / "o", limit=limit, progress=False), engine=engine)
    (tmp_path / "r.jsonl").write_text("")
    with pytest.raises(SemcoderError, match="--limit"):
        evaluate_repair(RepairConfig(model="m", data=tmp_path / "r.jsonl", out_dir=tmp_path / "r", limit=limit,
                                     progress=False), engine=engine)
    assert engine.prompts == []


def test_pass_at_5_counts_only_problems_with_five_samples(tmp_path):
    from semcoder_training.eval_cruxeval import write_report

    problems = _problems(2)
    cfg = EvalConfig(task="o", model="m", out_dir=tmp_path, limit=2, samples=5, progress=False)
    done = {("sample_0", i): {"passed": i == 0, "candidate": "1"} for i in range(5)}  # 1 of 5 right
    done.update({("sample_1", i): {"passed": False, "candidate": "2"} for i in range(2)})  # cut short at 2
    report = write_report(cfg, problems, done, 0.2, 1.0)
    assert report["pass@5"] == pytest.approx(1.0)  # sample_0 alone; sample_1 has n < k
    assert report["metrics"]["pass@5"]["problems"] == 1
    assert report["metrics"]["pass@1"]["problems"] == 2
    assert report["pass@1"] == pytest.approx((0.2 + 0.0) / 2)
    assert "1 problem" in (tmp_path / "table.md").read_text()


def test_report_says_which_temperature_each_metric_used_against_the_protocol(tmp_path):
    problems = _problems(1)
    report = evaluate(EvalConfig(task="o", model="m", out_dir=tmp_path / "a", limit=1, samples=5, progress=False),
                      engine=ReplayEngine(_output_oracle(problems, set())))
    p1, p5 = report["metrics"]["pass@1"], report["metrics"]["pass@5"]
    assert p1["temperature"] == p5["temperature"] == 0.2
    assert p1["protocol_temperature"] == 0.2 and p1["matches_protocol"]
    assert p5["protocol_temperature"] == 0.8 and not p5["matches_protocol"] and "0.8" in p5["note"]
    assert "0.8" in (tmp_path / "a" / "table.md").read_text()

    report = evaluate(EvalConfig(task="o", model="m", out_dir=tmp_path / "b", limit=1, samples=5, temperature=0.8,
                                 progress=False), engine=ReplayEngine(_output_oracle(problems, set())))
    assert report["metrics"]["pass@5"]["matches_protocol"] and not report["metrics"]["pass@1"]["matches_protocol"]

    report = evaluate(EvalConfig(task="o", model="m", out_dir=tmp_path / "c", limit=1, progress=False),
                      engine=ReplayEngine(_output_oracle(problems, set())))
    assert report["metrics"]["pass@1"]["matches_protocol"] and "pass@5" not in report["metrics"]  # greedy pass@1


def test_a_line_cut_short_does_not_swallow_the_next_row(tmp_path):
    problems = _problems(2)
    evaluate(EvalConfig(task="o", model="m", out_dir=tmp_path, limit=2, progress=False),
             engine=ReplayEngine(_output_oracle(problems, set())))
    lines = (tmp_path / "samples.jsonl").read_text().splitlines()
    (tmp_path / "samples.jsonl").write_text(lines[0] + "\n" + lines[1][:40])  # interrupted mid-write
    again = ReplayEngine(_output_oracle(problems, set()))
    evaluate(EvalConfig(task="o", model="m", out_dir=tmp_path, limit=2, progress=False), engine=again)
    assert len(again.prompts) == 1
    third = ReplayEngine(_output_oracle(problems, set()))
    report = evaluate(EvalConfig(task="o", model="m", out_dir=tmp_path, limit=2, progress=False), engine=third)
    assert third.prompts == [] and report["pass@1"] == 1.0
