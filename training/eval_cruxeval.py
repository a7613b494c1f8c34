"""`semcoder eval cruxeval --task o|i --model X.gguf`: CRUXEval with the server's engine and prompts.

Prompts are `formats.forward_prompt` (output prediction, CRUXEval-O) and
`formats.backward_prompt` (input prediction, CRUXEval-I); answers are read with the same
parsers the server uses. Scoring is CRUXEval's own rule (shared/benchmarks/cruxeval/README.md):
a candidate passes when `code + "\\nassert " + output + " == " + candidate` runs without error
within 3 s, here in the sandboxed tracer; pass@k is the unbiased estimator over n samples,
averaged over the problems that have at least k samples. Results are appended to
`samples.jsonl` as they come, so an interrupted run resumes; `report.json` and `table.md` are
rewritten at the end.

Resume is keyed on what made the samples: the model file's identity (its size
and a SHA-256 over its first 4 MiB, its last 1 MiB and 1024 blocks of 4 KiB spread evenly
between them: the whole file when it is under 64 MiB), the task and every generation setting,
written to `run.json`; each row carries a hash of that key and one of its problem (prompt and
expected answer). Rows made by another model, other settings or other data are never mixed
in: the run stops and says what differs and how to start afresh. `eval repair` resumes the
same way.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from math import comb
from pathlib import Path

from semcoder_inference.errors import SemcoderError

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "benchmarks" / "cruxeval" / "cruxeval.jsonl"
SCORE_TIMEOUT_S = 3.0

# The published protocol (shared/benchmarks/cruxeval/README.md): 10 samples per problem,
# temperature 0.2 for pass@1 and 0.8 for pass@5; greedy decoding gives a single-sample pass@1.
PROTOCOL_TEMPERATURE = {1: 0.2, 5: 0.8}
PROTOCOL_SAMPLES = 10


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k estimator (Chen et al. 2021): 1 - C(n-c, k) / C(n, k). Needs n >= k."""
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def check_limit(limit: int | None) -> None:
    if limit is not None and limit < 1:
        raise SemcoderError(f"--limit must be at least 1 (it was {limit}).",
                            hint="Leave --limit out to evaluate every problem.")


def load_problems(path: Path, limit: int | None) -> list[dict]:
    check_limit(limit)
    path = Path(path)
    if not path.exists():
        raise SemcoderError(f"The CRUXEval file {path} does not exist.", hint="Pass --data PATH to cruxeval.jsonl.")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows[:limit] if limit is not None else rows


# ----------------------------------------------------------------------------- what made the samples

FINGERPRINT_WHOLE_BELOW = 64 << 20  # files smaller than this are hashed whole
FINGERPRINT_HEAD = 4 << 20  # GGUF header, metadata (provenance, tokenizer) and the first tensors
FINGERPRINT_TAIL = 1 << 20
FINGERPRINT_BLOCKS = 1024
FINGERPRINT_BLOCK = 4 << 10


def file_fingerprint(path: Path) -> str:
    """A cheap content hash of a model file: whole below 64 MiB; otherwise its size, first 4 MiB,
    last 1 MiB and 1024 blocks of 4 KiB spread evenly between them (about 9 MiB read for a 4 GB
    GGUF). Weights changed anywhere over more than the block spacing (size / 1024: 4 MiB for
    4 GB) always change it; a re-export also changes the metadata at the head."""
    size = path.stat().st_size
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        if size < FINGERPRINT_WHOLE_BELOW:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
            return "sha256:" + digest.hexdigest()
        digest.update(str(size).encode() + b"\0")
        digest.update(fh.read(FINGERPRINT_HEAD))
        span = size - FINGERPRINT_HEAD - FINGERPRINT_TAIL - FINGERPRINT_BLOCK
        for i in range(FINGERPRINT_BLOCKS):
            fh.seek(FINGERPRINT_HEAD + span * i // (FINGERPRINT_BLOCKS - 1))
            digest.update(fh.read(FINGERPRINT_BLOCK))
        fh.seek(size - FINGERPRINT_TAIL)
        digest.update(fh.read(FINGERPRINT_TAIL))
    return "sha256-sampled:" + digest.hexdigest()


def model_identity(model: str, path: Path | None = None) -> dict:
    """{"path", "size", "mtime", "fingerprint"} for a model file (a path, or a hub spec already in
    the local cache: nothing is downloaded); {"name": model} when there is no file to read
    (an engine passed in by a test, or a hub file not fetched yet)."""
    if path is None:
        from semcoder_inference.model_spec import resolve_model

        try:
            path = resolve_model(str(model), download=False)
        except SemcoderError:
            path = None
    if path is None or not Path(path).is_file():
        return {"name": str(model)}
    path = Path(path)
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime": int(st.st_mtime),
            "fingerprint": file_fingerprint(path)}


def _comparable(record: dict) -> dict:
    """The part of a run record that must match for samples to be reused: the model's content
    (not its path or mtime: a copied or touched file is the same model) and the settings."""
    model = record.get("model") or {}
    if "fingerprint" in model:
        model = {"size": model["size"], "fingerprint": model["fingerprint"]}
    return {"model": model, "settings": record.get("settings") or {}}


def _short_hash(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def _describe_model(model: dict) -> str:
    if "fingerprint" in model:
        kind, _, digest = model["fingerprint"].partition(":")
        return f"{model.get('path', '?')} ({model['size']:,} bytes, {kind} {digest[:12]})"
    return repr(model.get("name"))


def _differences(saved: dict, current: dict) -> list[str]:
    diffs = []
    old, new = _comparable(saved), _comparable(current)
    if old["model"] != new["model"]:
        what = "model file" if "fingerprint" in old["model"] or "fingerprint" in new["model"] else "model"
        diffs.append(f"{what}: was {_describe_model(saved.get('model') or {})}, now {_describe_model(current['model'])}")
    for key in sorted(set(old["settings"]) | set(new["settings"])):
        if old["settings"].get(key) != new["settings"].get(key):
            diffs.append(f"{key}: was {old['settings'].get(key)}, now {new['settings'].get(key)}")
    return diffs


def read_rows(path: Path) -> list[dict]:
    """The rows of a JSONL results file; a line cut short by an interruption is skipped."""
    rows = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict):
                rows.append(row)
    return rows


def start_or_resume(out: Path, results_path: Path, record: dict, rows: list[dict]) -> str:
    """Check that `rows` (already in `results_path`) were made by `record`'s model and settings,
    or record a fresh run in out/run.json. Returns the key every new row must carry.
    Raises SemcoderError naming what differs when the rows belong to another run."""
    from .atomic import atomic_output

    key = _short_hash(_comparable(record))
    run_json = out / "run.json"
    foreign = [r for r in rows if r.get("run") != key]
    if foreign:
        afresh = (f"Pass another --out folder to keep both, or delete {results_path} and {run_json} "
                  "to start afresh with these settings.")
        saved = None
        try:
            saved = json.loads(run_json.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
        if any("run" not in r for r in foreign) or saved is None or _short_hash(_comparable(saved)) != foreign[0]["run"]:
            raise SemcoderError(f"{results_path} holds results written without a record of the model and settings "
                                "that made them (by an older version of semcoder eval), so they cannot be resumed.",
                                hint=afresh)
        diffs = _differences(saved, record) or ["the record differs"]
        raise SemcoderError(f"{results_path} holds results made with another model or other settings, so they "
                            f"are not reused: {'; '.join(diffs)}.", hint=afresh)
    if not rows or not run_json.exists():
        with atomic_output(run_json) as tmp:
            tmp.write_text(json.dumps({**record, "key": key}, indent=2) + "\n", encoding="utf-8")
    if results_path.exists() and results_path.stat().st_size:
        with results_path.open("rb+") as fh:  # a line cut short must not swallow the next row
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                fh.write(b"\n")
    return key


def check_problem_rows(results_path: Path, rows: list[dict], problem_keys: dict[str, str], what: str) -> None:
    """Refuse rows whose problem (prompt and expected answer) is not the one evaluated now."""
    for row in rows:
        expected = problem_keys.get(row.get("id"))
        if expected is not None and row.get("problem") != expected:
            raise SemcoderError(f"{results_path} holds a result for {row.get('id')} made from a different {what} "
                                "(the data file or the prompt format changed since), so it is not reused.",
                                hint=f"Pass another --out folder, or delete {results_path} and "
                                     f"{results_path.parent / 'run.json'} to start afresh.")


# ----------------------------------------------------------------------------- prompts and scoring


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


def effective_temperature(cfg: EvalConfig) -> float:
    return cfg.temperature if cfg.temperature is not None else (0.0 if cfg.samples == 1 else PROTOCOL_TEMPERATURE[1])


def generation_settings(cfg: EvalConfig) -> dict:
    """Everything that decides a sample's text (threads and GPU layers only decide speed).
    The number of samples is not among them: sample i is drawn with seed + i, so more samples
    extend a run."""
    from semcoder_inference.formats import ANSWER_STOP

    return {"task": cfg.task, "temperature": effective_temperature(cfg), "top_p": cfg.top_p,
            "max_tokens": cfg.max_tokens, "seed": cfg.seed, "n_ctx": cfg.n_ctx, "stop": [ANSWER_STOP]}


def problem_key(task: str, problem: dict) -> str:
    return _short_hash({"prompt": build_prompt(task, problem), "code": problem["code"], "input": problem["input"],
                        "output": problem["output"]})


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
    temperature = effective_temperature(cfg)

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
        record = {"benchmark": f"CRUXEval-{cfg.task.upper()}", "model": identity, "settings": generation_settings(cfg)}
        rows = read_rows(results_path)
        keys = {p["id"]: problem_key(cfg.task, p) for p in problems}
        run_key = start_or_resume(out, results_path, record, rows)
        check_problem_rows(results_path, rows, keys, "problem")
        done: dict[tuple[str, int], dict] = {(r["id"], r["sample"]): r for r in rows}

        engine.load()
        tracer = Tracer(limits=Limits(timeout_s=SCORE_TIMEOUT_S, cpu_s=SCORE_TIMEOUT_S), workers=1)
        started = time.perf_counter()
        todo = [(p, i) for p in problems for i in range(cfg.samples) if (p["id"], i) not in done]
        total = len(problems) * cfg.samples
        with results_path.open("a", encoding="utf-8") as log, tqdm(total=total, initial=total - len(todo),
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
                row = {"task": cfg.task, "model": str(cfg.model), "run": run_key, "id": problem["id"],
                       "problem": keys[problem["id"]], "sample": i, "candidate": candidate,
                       "passed": score(tracer, cfg.task, problem, candidate), "error": error, "generation": text}
                log.write(json.dumps(row) + "\n")
                log.flush()
                done[(problem["id"], i)] = row
                bar.update(1)
    finally:
        if tracer is not None:
            tracer.close()
        if own_engine:
            engine.close()
    return write_report(cfg, problems, done, temperature, time.perf_counter() - started, model=identity)


def _metric(k: int, per_problem: list[dict], temperature: float, samples: int) -> dict | None:
    """pass@k over the problems with at least k samples, and how its temperature compares
    with the published protocol's."""
    counted = [r for r in per_problem if r["n"] >= k]
    if not counted:
        return None
    protocol_t = PROTOCOL_TEMPERATURE[k]
    greedy_pass1 = k == 1 and temperature == 0.0 and samples == 1
    matches = greedy_pass1 or temperature == protocol_t
    if greedy_pass1:
        note = "greedy decoding, one sample: the single-sample pass@1 the protocol allows"
    elif matches:
        note = f"temperature {temperature}, as in the published protocol"
    else:
        note = (f"sampled at temperature {temperature}; the published protocol uses {protocol_t} for pass@{k} "
                f"(rerun with --samples {PROTOCOL_SAMPLES} --temperature {protocol_t}), so this pass@{k} is not "
                "comparable with published figures")
    if not greedy_pass1 and samples != PROTOCOL_SAMPLES:
        note += (f" ({samples} samples per problem against the protocol's {PROTOCOL_SAMPLES}: "
                 "the estimator is unbiased either way, with fewer it varies more)")
    return {"value": sum(pass_at_k(r["n"], r["correct"], k) for r in counted) / len(counted),
            "problems": len(counted), "samples_per_problem": samples, "temperature": temperature,
            "protocol_temperature": protocol_t, "protocol_samples": PROTOCOL_SAMPLES,
            "matches_protocol": matches, "note": note}


def write_report(cfg: EvalConfig, problems: list[dict], done: dict, temperature: float, elapsed_s: float,
                 model: dict | None = None) -> dict:
    per_problem = []
    for p in problems:
        rows = [done[(p["id"], i)] for i in range(cfg.samples) if (p["id"], i) in done]
        c = sum(1 for r in rows if r["passed"])
        per_problem.append({"id": p["id"], "n": len(rows), "correct": c,
                            "pass@1": pass_at_k(len(rows), c, 1) if rows else None,
                            "candidate": rows[0]["candidate"] if rows else None,
                            "expected": p["output"] if cfg.task == "o" else f"f({p['input']})"})
    metrics = {}
    for k in (1, 5):
        if k <= cfg.samples and (m := _metric(k, per_problem, temperature, cfg.samples)) is not None:
            metrics[f"pass@{k}"] = m
    report = {
        "benchmark": f"CRUXEval-{cfg.task.upper()}",
        "model": str(cfg.model),
        "model_file": model or {"name": str(cfg.model)},
        "problems": sum(1 for r in per_problem if r["n"]),
        "samples_per_problem": cfg.samples,
        "temperature": temperature,
        "pass@1": metrics["pass@1"]["value"] if "pass@1" in metrics else 0.0,
        **({"pass@5": metrics["pass@5"]["value"]} if "pass@5" in metrics else {}),
        "metrics": metrics,
        "elapsed_s": round(elapsed_s, 2),
        "scoring": "exec(code + '\\nassert ' + output + ' == ' + candidate) in the sandbox, 3 s limit; "
                   "unbiased pass@k averaged over the problems with at least k samples",
    }
    out = Path(cfg.out_dir)
    (out / "report.json").write_text(json.dumps({**report, "per_problem": per_problem}, indent=2) + "\n")
    lines = [f"# {report['benchmark']}: pass@1 = {report['pass@1']:.4f}", ""]
    for name, m in metrics.items():
        plural = "" if m["problems"] == 1 else "s"
        lines.append(f"- {name} = {m['value']:.4f} over {m['problems']} problem{plural} with at least "
                     f"{name[5:]} sample{'' if name == 'pass@1' else 's'}; {m['note']}.")
    if cfg.samples >= 5 and "pass@5" not in metrics:
        lines.append("- pass@5: no problem has 5 samples yet.")
    lines += ["", "| id | correct/n | candidate | expected |", "| --- | --- | --- | --- |"]
    for r in per_problem:
        cand = (r["candidate"] or "").replace("|", "\\|")[:60]
        exp = r["expected"].replace("|", "\\|")[:60]
        lines.append(f"| {r['id']} | {r['correct']}/{r['n']} | `{cand}` | `{exp}` |")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    return report
