"""`semcoder eval cruxeval --task o|i --model X.gguf`: CRUXEval with the server's engine and prompts.

Prompts are `formats.forward_prompt` (output prediction, CRUXEval-O) and
`formats.backward_prompt` (input prediction, CRUXEval-I); answers are read with the same
parsers the server uses. Scoring is CRUXEval's own rule (shared/benchmarks/cruxeval/README.md):
a candidate passes when `code + "\\nassert " + output + " == " + candidate` runs without error
within 3 s, here in the sandboxed tracer; pass@k is the unbiased estimator over n samples,
averaged over problems. Results are appended to `samples.jsonl` as they come, so an
interrupted run resumes; `report.json` and `table.md` are rewritten at the end.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from math import comb
from pathlib import Path

from semcoder_inference.errors import SemcoderError

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "benchmarks" / "cruxeval" / "cruxeval.jsonl"
SCORE_TIMEOUT_S = 3.0


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k estimator (Chen et al. 2021): 1 - C(n-c, k) / C(n, k)."""
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def load_problems(path: Path, limit: int | None) -> list[dict]:
    path = Path(path)
    if not path.exists():
        raise SemcoderError(f"The CRUXEval file {path} does not exist.", hint="Pass --data PATH to cruxeval.jsonl.")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows[:limit] if limit else rows


def build_prompt(task: str, problem: dict) -> str:
    from semcoder_inference import formats

    if task == "o":
        return formats.forward_prompt(problem["code"], f"f({problem['input']})").text
    return formats.backward_prompt(problem["code"], problem["output"], "f")


def candidate_from_text(task: str, text: str) -> str | None:
    """The candidate the model proposed: a literal (O) or a call `f(...)` (I), in Python's
    own quote style (the model writes `"`, CRUXEval's outputs use `'`; values are equal)."""
    from semcoder_inference.formats import restore_string_quotes
    from semcoder_inference.parsers import AnswerParser, input_from_answer, output_from_answer

    parser = AnswerParser()
    parser.feed(text)
    if parser.answer is None:
        return None
    raw = output_from_answer(parser.answer) if task == "o" else input_from_answer(parser.answer)
    return restore_string_quotes(raw).strip() or None


def check_program(task: str, problem: dict, candidate: str) -> str:
    """The program whose clean run means the candidate passes (CRUXEval's rule, verbatim)."""
    return problem["code"] + "\nassert " + problem["output"] + " == " + candidate + "\n"


def score(tracer, task: str, problem: dict, candidate: str | None) -> bool:
    if not candidate:
        return False
    if task == "i" and "f(" not in candidate:
        return False  # CRUXEval-I requires the answer to be a call of f
    try:
        trace = tracer.trace_call(check_program(task, problem, candidate), "None")
    except SemcoderError:
        return False
    return trace.get("status") == "ok"


@dataclass
class EvalConfig:
    task: str
    model: str
    out_dir: Path
    data: Path = DEFAULT_DATA
    limit: int | None = None
    samples: int = 1
    temperature: float | None = None  # default: 0 (greedy) for one sample, 0.2 for more
    top_p: float = 0.95
    max_tokens: int = 768
    n_ctx: int = 4096
    n_threads: int | None = None
    n_gpu_layers: int = 0
    seed: int = 0
    progress: bool = True


def evaluate(cfg: EvalConfig, engine=None) -> dict:
    from tqdm import tqdm

    from semcoder_inference.engine import GenerationParams
    from semcoder_inference.formats import ANSWER_STOP
    from semcoder_inference.tracer import Limits, Tracer

    if cfg.task not in ("o", "i"):
        raise SemcoderError(f"--task must be o (output prediction) or i (input prediction), not {cfg.task!r}.")
    if cfg.samples < 1:
        raise SemcoderError("--samples must be at least 1.")
    problems = load_problems(cfg.data, cfg.limit)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "samples.jsonl"
    done: dict[tuple[str, int], dict] = {}
    if results_path.exists():
        for line in results_path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # cut short by an interruption
            if row.get("task") == cfg.task and row.get("model") == str(cfg.model):
                done[(row["id"], row["sample"])] = row

    temperature = cfg.temperature if cfg.temperature is not None else (0.0 if cfg.samples == 1 else 0.2)
    own_engine = engine is None
    if own_engine:
        from semcoder_inference.llama_engine import LlamaCppEngine

        engine = LlamaCppEngine(cfg.model, n_ctx=cfg.n_ctx, n_threads=cfg.n_threads, n_gpu_layers=cfg.n_gpu_layers)
    engine.load()
    tracer = Tracer(limits=Limits(timeout_s=SCORE_TIMEOUT_S, cpu_s=SCORE_TIMEOUT_S), workers=1)
    started = time.perf_counter()
    todo = [(p, i) for p in problems for i in range(cfg.samples) if (p["id"], i) not in done]
    try:
        with results_path.open("a", encoding="utf-8") as log, tqdm(total=len(problems) * cfg.samples, initial=len(problems) * cfg.samples - len(todo),
                                                                    desc=f"cruxeval-{cfg.task}", file=sys.stderr, disable=not cfg.progress) as bar:
            for problem, i in todo:
                prompt = build_prompt(cfg.task, problem)
                params = GenerationParams(max_tokens=cfg.max_tokens, temperature=temperature, top_p=cfg.top_p,
                                          seed=cfg.seed + i, stop=(ANSWER_STOP,))
                try:
                    text = "".join(engine.stream(prompt, params))
                    error = None
                except SemcoderError as exc:  # prompt too long for the context, ...
                    text, error = "", str(exc)
                candidate = candidate_from_text(cfg.task, text)
                row = {"task": cfg.task, "model": str(cfg.model), "id": problem["id"], "sample": i,
                       "candidate": candidate, "passed": score(tracer, cfg.task, problem, candidate),
                       "error": error, "generation": text}
                log.write(json.dumps(row) + "\n")
                log.flush()
                done[(problem["id"], i)] = row
                bar.update(1)
    finally:
        tracer.close()
        if own_engine:
            engine.close()
    return write_report(cfg, problems, done, temperature, time.perf_counter() - started)


def write_report(cfg: EvalConfig, problems: list[dict], done: dict, temperature: float, elapsed_s: float) -> dict:
    per_problem = []
    for p in problems:
        rows = [done[(p["id"], i)] for i in range(cfg.samples) if (p["id"], i) in done]
        c = sum(1 for r in rows if r["passed"])
        per_problem.append({"id": p["id"], "n": len(rows), "correct": c, "pass@1": pass_at_k(len(rows), c, 1),
                            "candidate": rows[0]["candidate"] if rows else None,
                            "expected": p["output"] if cfg.task == "o" else f"f({p['input']})"})
    scored = [r for r in per_problem if r["n"]]
    report = {
        "benchmark": f"CRUXEval-{cfg.task.upper()}",
        "model": str(cfg.model),
        "problems": len(scored),
        "samples_per_problem": cfg.samples,
        "temperature": temperature,
        "pass@1": sum(r["pass@1"] for r in scored) / len(scored) if scored else 0.0,
        "elapsed_s": round(elapsed_s, 2),
        "scoring": "exec(code + '\\nassert ' + output + ' == ' + candidate) in the sandbox, 3 s limit; unbiased pass@k",
    }
    if cfg.samples >= 5:
        report["pass@5"] = sum(pass_at_k(r["n"], r["correct"], 5) for r in scored if r["n"] >= 5) / max(1, len(scored))
    out = Path(cfg.out_dir)
    (out / "report.json").write_text(json.dumps({**report, "per_problem": per_problem}, indent=2) + "\n")
    lines = [f"# {report['benchmark']}: pass@1 = {report['pass@1']:.4f}", "",
             "| id | correct/n | candidate | expected |", "| --- | --- | --- | --- |"]
    for r in per_problem:
        cand = (r["candidate"] or "").replace("|", "\\|")[:60]
        exp = r["expected"].replace("|", "\\|")[:60]
        lines.append(f"| {r['id']} | {r['correct']}/{r['n']} | `{cand}` | `{exp}` |")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    return report
