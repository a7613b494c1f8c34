"""`semcoder eval repair --model X.gguf --data heldout/pyx_r.jsonl`: are injected bugs fixed?

Each held-out PyX-R record carries the buggy program (in its `fault` instruction), the
function name and every test the data builder ran on the correct program (`tests`: argument
list and expected repr). The model gets the repair prompt the server uses; the program it
writes between [Refined] and [/Refined] counts as a fix only when every test passes when
run in the sandbox. The score is the fraction fixed (pass@1 with one greedy sample).

Each result is appended to `results.jsonl` as it comes, so an interrupted run resumes; the
resume is keyed like `eval cruxeval`'s (eval_cruxeval.py): the model file's identity and the
generation settings in `run.json`, and each row's record (prompt and tests). Results of
another model, other settings or other data are refused, never mixed in.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from semcoder_inference.errors import SemcoderError


def load_repair_rows(path: Path, limit: int | None) -> list[dict]:
    from .eval_cruxeval import check_limit

    check_limit(limit)
    path = Path(path)
    if not path.exists():
        raise SemcoderError(f"The repair data {path} does not exist.",
                            hint="Build it with `semcoder data build --out DIR`; held-out bugs are in DIR/heldout/pyx_r.jsonl.")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if not row.get("fault") or not row.get("tests") or not row.get("function"):
            raise SemcoderError(f"Line {number} of {path} is not a verifiable PyX-R record (it needs `fault`, `function` and `tests`).",
                                hint="Use records written by `semcoder data build`.")
        rows.append(row)
    return rows[:limit] if limit is not None else rows


def verify(tracer, code: str | None, row: dict) -> tuple[bool, str]:
    """(every test passes, why not)."""
    if not code or not code.strip():
        return False, "no [Refined] program"
    for test in row["tests"]:
        try:
            trace = tracer.trace_call(code, f"{row['function']}({test['args']})", expect=test["expected"])
        except SemcoderError as exc:
            return False, str(exc)
        if trace.get("status") != "ok" or not (trace.get("assertion") or {}).get("passed"):
            return False, f"{row['function']}({test['args']}): {trace.get('status')} {trace.get('message', '')}".strip()
    return True, ""


@dataclass
class RepairConfig:
    model: str
    data: Path
    out_dir: Path
    limit: int | None = None
    max_tokens: int = 1024
    n_ctx: int = 4096
    n_threads: int | None = None
    n_gpu_layers: int = 0
    progress: bool = True


def generation_settings(cfg: RepairConfig) -> dict:
    from semcoder_inference import formats

    return {"task": "repair", "temperature": 0.0, "max_tokens": cfg.max_tokens, "n_ctx": cfg.n_ctx,
            "stop": [formats.REFINED_STOP]}


def repair_prompt(row: dict) -> str:
    from semcoder_inference import formats

    return formats.REPAIR_TEMPLATE.format(instruction=row["fault"], response="")


def evaluate_repair(cfg: RepairConfig, engine=None) -> dict:
    from tqdm import tqdm

    from semcoder_inference import formats
    from semcoder_inference.engine import GenerationParams
    from semcoder_inference.parsers import RefinedParser
    from semcoder_inference.tracer import Limits, Tracer

    from .eval_cruxeval import _short_hash, check_problem_rows, model_identity, read_rows, start_or_resume

    rows = load_repair_rows(cfg.data, cfg.limit)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.jsonl"
    own_engine = engine is None
    if own_engine:
        from semcoder_inference.llama_engine import LlamaCppEngine

        engine = LlamaCppEngine(cfg.model, n_ctx=cfg.n_ctx, n_threads=cfg.n_threads, n_gpu_layers=cfg.n_gpu_layers)
    tracer = None
    try:
        identity = model_identity(cfg.model)
        if "fingerprint" not in identity and own_engine:  # a hub spec not cached yet: the engine fetches it
            engine.load()
            identity = model_identity(cfg.model, engine.path)
        record = {"benchmark": "repair", "model": identity, "settings": generation_settings(cfg)}
        keys = {f"row-{n}": _short_hash({"prompt": repair_prompt(row), "function": row["function"], "tests": row["tests"]})
                for n, row in enumerate(rows)}
        saved = read_rows(results_path)
        run_key = start_or_resume(out, results_path, record, saved)
        check_problem_rows(results_path, saved, keys, "held-out record")
        done = {r["id"]: r for r in saved}

        engine.load()
        tracer = Tracer(limits=Limits(timeout_s=3.0, cpu_s=3.0), workers=1)
        started = time.perf_counter()
        todo = [(f"row-{n}", row) for n, row in enumerate(rows) if f"row-{n}" not in done]
        with results_path.open("a", encoding="utf-8") as log, tqdm(total=len(rows), initial=len(rows) - len(todo), desc="repair",
                                                                    file=sys.stderr, disable=not cfg.progress) as bar:
            for key, row in todo:
                params = GenerationParams(max_tokens=cfg.max_tokens, temperature=0.0, stop=(formats.REFINED_STOP,))
                try:
                    text = "".join(engine.stream(repair_prompt(row), params))
                except SemcoderError as exc:
                    text = f"<error: {exc}>"
                parser = RefinedParser()
                parser.feed(text)
                fixed, why = verify(tracer, parser.code, row)
                result = {"run": run_key, "id": key, "problem": keys[key], "seed_id": row.get("seed_id"),
                          "bug_kind": row.get("bug_kind"), "fixed": fixed, "why": why, "code": parser.code}
                log.write(json.dumps(result) + "\n")
                log.flush()
                done[key] = result
                bar.update(1)
    finally:
        if tracer is not None:
            tracer.close()
        if own_engine:
            engine.close()
    results = [done[f"row-{n}"] for n in range(len(rows))]
    fixed = sum(r["fixed"] for r in results)
    by_kind: dict[str, list[int]] = {}
    for r in results:
        by_kind.setdefault(r["bug_kind"] or "?", [0, 0])
        by_kind[r["bug_kind"] or "?"][0] += r["fixed"]
        by_kind[r["bug_kind"] or "?"][1] += 1
    report = {"benchmark": "repair (held-out injected bugs)", "model": str(cfg.model), "model_file": identity,
              "settings": record["settings"], "problems": len(results),
              "fixed": fixed, "pass@1": fixed / len(results) if results else 0.0,
              "by_bug_kind": {k: {"fixed": v[0], "total": v[1]} for k, v in sorted(by_kind.items())},
              "elapsed_s": round(time.perf_counter() - started, 2)}
    (out / "repair_report.json").write_text(json.dumps({**report, "results": results}, indent=2) + "\n")
    return report
