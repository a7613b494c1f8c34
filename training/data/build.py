"""`semcoder data build`: seeds -> real runs -> PyX / PyX-R JSONL + datasheet.

Work is split per seed and runs in a process pool; each worker owns one sandboxed Tracer.
Finished seeds are appended to `work/progress.jsonl` as they complete, so an interrupted
build resumes where it stopped. The final step deduplicates, writes `pyx.jsonl`,
`pyx_r.jsonl` (both loadable with `datasets.load_dataset("json", ...)`) and the datasheet.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

from semcoder_inference.errors import SemcoderError

from .decontam import Decontaminator, ast_fingerprint, shape_fingerprint
from .inject import BUG_KINDS, inject_bugs
from .monologue import cut_values
from .mutate import mutate_inputs
from .records import backward_record, forward_record, nl_record, repair_record
from .seeds import Seed, generate_seeds, load_seeds


@dataclass
class BuildConfig:
    out_dir: Path
    seeds_path: Path | None = None  # None: the built-in generator
    generated_seeds: int = 48
    mutations_per_seed: int = 4  # extra inputs tried per seed
    max_inputs_per_seed: int = 4  # kept inputs (seed + mutated) per seed
    max_bugs_per_seed: int = 3  # kept PyX-R variants per seed, one per bug kind at most
    workers: int = 2
    timeout_s: float = 2.0  # sandbox limits for one run
    memory_mb: int = 256
    # Characters of a value's text in a trace (the tracer's `max_repr`; its default, 120, is
    # for hovers). A record that would state a value still cut at this length is left out.
    max_repr: int = 1000
    decontaminate: bool = True
    cruxeval_path: Path | None = None
    teacher_url: str | None = None  # OpenAI-compatible endpoint for teacher monologues
    teacher_model: str | None = None
    random_seed: int = 0
    holdout: float = 0.1  # share of seeds whose PyX-R records go to heldout/ (for eval repair)
    progress: bool = True


# ---------------------------------------------------------------- worker side

_TRACER = None


def _init_worker(timeout_s: float, memory_mb: int, max_repr: int, hash_seed: int) -> None:
    global _TRACER
    from semcoder_inference.tracer import Limits, Tracer

    # A fixed hash seed: a program whose values follow a set of strings' order gives the
    # same text in every build (Python's default seed is random per process).
    _TRACER = Tracer(limits=Limits(timeout_s=timeout_s, cpu_s=timeout_s, memory_mb=memory_mb, max_repr=max_repr),
                     hash_seed=hash_seed % 2**32)


def _close_worker() -> None:
    global _TRACER
    if _TRACER is not None:
        _TRACER.close()
        _TRACER = None


def _run(source: str, call: str) -> dict:
    try:
        return _TRACER.trace_call(source, call)
    except SemcoderError as exc:  # the tracer refused the program (syntax error, ...)
        return {"status": "invalid", "message": str(exc), "events": [], "return": None, "exception": None}


def _ok(trace: dict) -> bool:
    """A run whose return value can be asserted: a literal, its text whole (`literal` is about
    the value; a cut text, `truncated.return`, is no value to train on)."""
    ret = trace.get("return")
    return trace.get("status") == "ok" and ret is not None and bool(ret.get("literal")) \
        and not (trace.get("truncated") or {}).get("return")


def process_seed(seed_json: dict, config_json: dict) -> dict:
    """All records of one seed. Runs in a worker; returns plain JSON-able data."""
    seed = Seed(**seed_json)
    cfg = config_json
    rng = random.Random(f"{cfg['random_seed']}:{seed.seed_id}")
    counts: Counter = Counter()
    meta = {"seed_id": seed.seed_id, "origin": seed.origin}
    records: list[dict] = []
    repairs: list[dict] = []

    candidates = list(dict.fromkeys(seed.inputs)) + mutate_inputs(seed.inputs, cfg["mutations_per_seed"], rng)
    kept: list[tuple[str, dict]] = []
    for args in candidates:
        if len(kept) >= cfg["max_inputs_per_seed"]:
            break
        trace = _run(seed.source, f"{seed.function}({args})")
        counts[f"inputs_{trace.get('status')}"] += 1
        if trace.get("status") == "exception":
            # Why inputs fail, by exception type (a NameError: the seed lacks something).
            counts[f"exception_{(trace.get('exception') or {}).get('type')}"] += 1
        if _ok(trace):
            kept.append((args, trace))
        elif trace.get("status") == "ok":
            counts["inputs_not_literal"] += 1
    counts["inputs_kept"] = len(kept)
    if not kept:
        return {"seed_id": seed.seed_id, "records": [], "repairs": [], "counts": dict(counts)}

    nl = nl_record(seed, generator="seed", **meta)
    if nl:
        records.append(nl)
    for args, trace in kept:
        call = f"{seed.function}({args})"
        if cut_values(trace, cfg["max_repr"]):
            # A value the monologues would state is cut ("..."): its text is no value of the
            # run. The input still serves as a test of the PyX-R rows (its return is whole).
            counts["records_dropped_cut_value"] += 2
        else:
            records.append(forward_record(seed.source, call, trace, generator="trace", **meta))
            records.append(backward_record(seed.source, seed.function, args, trace, generator="trace", **meta))
        if cfg.get("teacher_url"):
            from .teacher import teacher_forward_record

            teacher_row = teacher_forward_record(cfg["teacher_url"], cfg.get("teacher_model"), seed.source, call, trace, meta)
            counts["teacher_accepted" if teacher_row else "teacher_rejected"] += 1
            if teacher_row:
                records.append(teacher_row)

    # PyX-R: one kept variant per bug kind at most, in a seed-dependent order of kinds.
    kinds = list(BUG_KINDS)
    rng.shuffle(kinds)
    variants = {kind: [] for kind in kinds}
    try:
        for bug in inject_bugs(seed.source, seed.function):
            variants[bug.kind].append(bug)
    except SyntaxError:
        variants = {}
    for kind in kinds:
        if len(repairs) >= cfg["max_bugs_per_seed"]:
            break
        options = variants.get(kind, [])
        rng.shuffle(options)
        for bug in options[:3]:
            counts[f"bugs_tried_{kind}"] += 1
            failing, cut = _first_failure(bug, seed.function, kept, cfg["max_repr"])
            if failing is None:
                # Passing every test, or failing only where its run states a cut value.
                counts[f"bugs_cut_value_{kind}" if cut else f"bugs_passing_{kind}"] += 1
                continue
            args, expected, buggy_trace = failing
            # `tests` (every kept input with its real output) lets `semcoder eval repair`
            # verify a proposed fix by running it.
            tests = [{"args": a, "expected": t["return"]["repr"]} for a, t in kept]
            repairs.append(repair_record(seed.description, bug.source, bug.fixed, seed.function, args, expected,
                                         buggy_trace, bug, bug_kind=kind, tests=tests, **meta))
            counts[f"bugs_kept_{kind}"] += 1
            break
    return {"seed_id": seed.seed_id, "records": records, "repairs": repairs, "counts": dict(counts)}


def _first_failure(bug, function: str, kept: list[tuple[str, dict]], max_repr: int):
    """(the first kept input whose test fails on the buggy program, with its real trace, or
    None; whether a failing run was passed over because its simulation would state a cut
    value)."""
    cut = False
    for args, good in kept:
        trace = _run(bug.source, f"{function}({args})")
        expected = good["return"]["repr"]
        returned = (trace.get("return") or {}).get("repr")
        if trace.get("status") != "ok" or returned != expected or (trace.get("truncated") or {}).get("return"):
            if trace.get("status") in ("ok", "exception"):  # a readable failing run
                if cut_values(trace, max_repr):
                    cut = True
                    continue
                return (args, expected, trace), cut
    return None, cut


def _worker_entry(seed_json: dict, config_json: dict) -> dict:
    return process_seed(seed_json, config_json)


# ---------------------------------------------------------------- driver side

# What a worker writes for a seed (work/progress.jsonl) depends on these settings, and on
# the builder itself: WORK_FORMAT changes when what it writes does (2: values are traced with
# `max_repr` and records that would state a cut value are left out; 3: runs hash with --seed
# as their PYTHONHASHSEED). A work folder resumes
# only under the settings it was begun with (work/config.json); the others (workers, seeds,
# holdout, decontamination) only choose among finished seeds and may change.
WORK_FORMAT = 3
WORK_SETTINGS = {  # setting -> the `semcoder data build` option that sets it
    "mutations_per_seed": "--mutations", "max_inputs_per_seed": "--max-inputs", "max_bugs_per_seed": "--max-bugs",
    "timeout_s": "--timeout", "memory_mb": None, "max_repr": None, "random_seed": "--seed",
    "teacher_url": "--teacher", "teacher_model": "--teacher-model",
}


def _work_config(config: BuildConfig) -> dict:
    settings = {"work_format": WORK_FORMAT, **{key: getattr(config, key) for key in WORK_SETTINGS}}
    return json.loads(json.dumps(settings))  # as it reads back from the file


def _claim_work_folder(work: Path, config: BuildConfig) -> None:
    """Record the settings of a new work folder, or check that an existing one was begun with
    these: its finished seeds are reused, and seeds done under other settings would give
    records that the datasheet does not describe."""
    path = work / "config.json"
    wanted = _work_config(config)
    progress = work / "progress.jsonl"
    begun = progress.exists() and progress.stat().st_size > 0  # (no finished seed: nothing to reuse)
    if begun and path.exists():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            stored = None
        if stored == wanted:
            return
        if isinstance(stored, dict):
            changed = [f"{key} ({WORK_SETTINGS.get(key) or 'setting'}): {stored.get(key)!r} then, {value!r} now"
                       for key, value in wanted.items() if stored.get(key) != value and key != "work_format"]
            if stored.get("work_format") != WORK_FORMAT:
                changed.append(f"the builder's work format: {stored.get('work_format')!r} then, {WORK_FORMAT} now")
            what = "; ".join(changed)
        else:
            what = f"{path} cannot be read"
        raise SemcoderError(f"The output folder {work.parent} holds a build begun with other settings ({what}), "
                            "so its finished seeds cannot be reused.",
                            hint=f"Rerun with the settings it was begun with to resume it, or build into another --out "
                                 f"(or delete {work}) to start anew.")
    if begun:
        raise SemcoderError(f"The output folder {work.parent} holds a build begun by an older version of "
                            "`semcoder data build`, which did not record its settings, so its finished seeds cannot be reused.",
                            hint=f"Build into another --out (or delete {work}) to start anew.")
    _atomic_write(path, json.dumps(wanted, indent=2) + "\n")


def _record_key(row: dict) -> str:
    text = json.dumps({k: row.get(k) for k in ("nl", "fwd_mnl", "bwd_mnl", "fault", "response")}, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()


def _prompt_key(row: dict) -> str:
    """The record's task, prompt and generator, without its answer (a teacher's monologue is
    kept beside the traced one for the same prompt, on purpose: `--teacher`)."""
    text = json.dumps({k: row.get(k) for k in ("nl", "fwd_mnl", "bwd_mnl", "fault", "generator")}, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()


def _keep_one_per_prompt(kept: dict[str, dict], row: dict, counts: Counter) -> None:
    """One record per prompt (and generator), the first in seed and input order. An exact copy is counted as
    `records_duplicate`; the same prompt with another answer (a backward prompt
    `assert f(??) == 0` that several inputs satisfy) as `records_same_prompt`: one answer is
    enough, and repeats would weigh that prompt several times over in the loss."""
    key = _prompt_key(row)
    if key not in kept:
        kept[key] = row
    elif _record_key(row) == _record_key(kept[key]):
        counts["records_duplicate"] += 1
    else:
        counts["records_same_prompt"] += 1


def _read_progress(path: Path) -> dict[str, dict]:
    done: dict[str, dict] = {}
    if not path.exists():
        return done
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by an interruption: that seed is simply redone
        done[row["seed_id"]] = row
    return done


def build(config: BuildConfig) -> dict:
    """Build the data set into `config.out_dir`; returns the datasheet dict."""
    from tqdm import tqdm

    out = Path(config.out_dir)
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    _claim_work_folder(work, config)
    started = time.perf_counter()

    seeds = load_seeds(config.seeds_path) if config.seeds_path else generate_seeds(config.generated_seeds, config.random_seed)
    if not seeds:
        raise SemcoderError(f"No usable seeds were found in {config.seeds_path}.",
                            hint="A seed is a top-level function called somewhere in its file with literal arguments, or a JSONL row with `code` and `inputs`.")
    counts: Counter = Counter(seeds_total=len(seeds))

    # Duplicate seeds are pointless work: exact copies, and renamed copies (the same program
    # modulo identifiers and formatting: the first one is kept). Contaminated seeds must never
    # reach the data.
    unique: dict[str, Seed] = {}
    for s in seeds:
        unique.setdefault(s.seed_id, s)
    counts["seeds_duplicate"] = len(seeds) - len(unique)
    programs: dict[str, Seed] = {}
    for s in unique.values():
        programs.setdefault(program_key(s), s)
    counts["seeds_duplicate_renamed"] = len(unique) - len(programs)
    # Programs that differ only in their constants (`x > 3` / `x > 5`) are kept, but they are
    # one family: the held-out split goes by family, so a family lands on one side only.
    families = Counter(family_key(s) for s in programs.values())
    counts["seed_programs"] = len(programs)
    counts["seed_families"] = len(families)
    # Near-duplicates: seeds equal to another modulo identifiers and constants (renamed copies
    # included); what is left is one seed per family.
    counts["seeds_near_duplicate"] = len(unique) - len(families)
    contaminated: list[dict] = []
    clean: list[Seed] = []
    decontaminator = Decontaminator.from_cruxeval(config.cruxeval_path) if config.decontaminate else None
    for s in programs.values():
        reason = decontaminator.reason(s.source) if decontaminator else None
        if reason:
            contaminated.append({"seed_id": s.seed_id, "origin": s.origin, "reason": reason})
        else:
            clean.append(s)
    counts["seeds_contaminated"] = len(contaminated)

    progress_path = work / "progress.jsonl"
    done = _read_progress(progress_path)
    todo = [s for s in clean if s.seed_id not in done]
    counts["seeds_resumed"] = len(clean) - len(todo)
    config_json = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()}

    with progress_path.open("a", encoding="utf-8") as log, tqdm(total=len(clean), initial=len(clean) - len(todo), desc="seeds",
                                                                 unit="seed", file=sys.stderr, disable=not config.progress) as bar:
        def keep(result: dict) -> None:
            log.write(json.dumps(result) + "\n")
            log.flush()
            done[result["seed_id"]] = result
            bar.update(1)

        if config.workers <= 1:
            _init_worker(config.timeout_s, config.memory_mb, config.max_repr, config.random_seed)
            try:
                for s in todo:
                    keep(process_seed(s.to_json(), config_json))
            finally:
                _close_worker()
        elif todo:
            with ProcessPoolExecutor(max_workers=config.workers, initializer=_init_worker,
                                     initargs=(config.timeout_s, config.memory_mb, config.max_repr,
                                               config.random_seed)) as pool:
                futures = [pool.submit(_worker_entry, s.to_json(), config_json) for s in todo]
                for future in as_completed(futures):
                    keep(future.result())

    return _finish(out, clean, done, counts, contaminated, config, time.perf_counter() - started)


def program_key(seed: Seed) -> str:
    """The seed's program modulo identifiers, docstrings and formatting (renamed copies are
    equal); its text where it does not parse."""
    return ast_fingerprint(seed.source) or hashlib.sha1(seed.source.encode()).hexdigest()


def family_key(seed: Seed) -> str:
    """The seed's program modulo identifiers and constants: the unit of the held-out split."""
    return shape_fingerprint(seed.source) or program_key(seed)


def is_heldout(key: str, fraction: float) -> bool:
    """A fixed, content-based split: the same family (`family_key`) is held out in every build."""
    return int(hashlib.sha1(f"heldout:{key}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction


def _finish(out: Path, clean: list[Seed], done: dict[str, dict], counts: Counter, contaminated: list[dict],
            config: BuildConfig, elapsed_s: float) -> dict:
    pyx: dict[str, dict] = {}
    pyx_r: dict[str, dict] = {}
    heldout: dict[str, dict] = {}
    held_families: set[str] = set()
    counts["records_duplicate"] += 0
    counts["records_same_prompt"] += 0
    for s in clean:  # seed order, not completion order: the output does not depend on timing
        result = done.get(s.seed_id)
        if result is None:
            continue
        counts.update(result.get("counts", {}))
        family = family_key(s)
        if is_heldout(family, config.holdout):
            # Nothing of a held-out family is trained on: no seed of it, renamed or with other
            # constants, reaches the training files; its PyX records are dropped too.
            for row in result["repairs"]:
                _keep_one_per_prompt(heldout, row, counts)
            counts["seeds_heldout"] += 1
            held_families.add(family)
            continue
        for row in result["records"]:
            _keep_one_per_prompt(pyx, row, counts)
        for row in result["repairs"]:
            _keep_one_per_prompt(pyx_r, row, counts)
    counts["seed_families_heldout"] = len(held_families)
    if config.holdout > 0 and not held_families and clean:
        print(f"semcoder: no seed family fell in the held-out share ({config.holdout:g} of "
              f"{len({family_key(s) for s in clean})} families), so heldout/pyx_r.jsonl is empty; "
              "more (varied) seeds or a larger --holdout give one.", file=sys.stderr)

    _write_jsonl(out / "pyx.jsonl", pyx.values())
    _write_jsonl(out / "pyx_r.jsonl", pyx_r.values())
    (out / "heldout").mkdir(exist_ok=True)
    _write_jsonl(out / "heldout" / "pyx_r.jsonl", heldout.values())
    per_task = Counter()
    for row in pyx.values():
        per_task[next(k for k in ("nl", "fwd_mnl", "bwd_mnl") if row.get(k) is not None)] += 1
    per_task["fault"] = len(pyx_r)
    teacher = Counter(row.get("generator") for row in pyx.values())
    datasheet = {
        "schema": "semcoder.datasheet/1",
        "records_per_task": dict(per_task),
        "records_total": sum(per_task.values()),
        "pyx_r_per_bug_kind": dict(Counter(row["bug_kind"] for row in pyx_r.values())),
        "heldout_pyx_r": len(heldout),
        "record_sources": dict(teacher),
        "counts": dict(sorted(counts.items())),
        "contaminated_seeds": contaminated,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
        "elapsed_s": round(elapsed_s, 2),
        "files": {"pyx": "pyx.jsonl", "pyx_r": "pyx_r.jsonl", "heldout_pyx_r": "heldout/pyx_r.jsonl"},
    }
    _atomic_write(out / "datasheet.json", json.dumps(datasheet, indent=2) + "\n")
    _atomic_write(out / "datasheet.md", _datasheet_markdown(datasheet))
    return datasheet


def _write_jsonl(path: Path, rows) -> None:
    _atomic_write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _datasheet_markdown(sheet: dict) -> str:
    lines = ["# Datasheet", "", "Records built from real, sandboxed runs (see docs/training.md).", "",
             "| task | records |", "| --- | ---: |"]
    for task, n in sorted(sheet["records_per_task"].items()):
        lines.append(f"| {task} | {n} |")
    lines += ["", "| PyX-R bug kind | records |", "| --- | ---: |"]
    for kind, n in sorted(sheet["pyx_r_per_bug_kind"].items()):
        lines.append(f"| {kind} | {n} |")
    lines += ["", "| count | value |", "| --- | ---: |"]
    for key, n in sheet["counts"].items():
        lines.append(f"| {key} | {n} |")
    c = sheet["counts"]
    lines += ["", f"Seeds: {c.get('seeds_total', 0)} given; {c.get('seeds_duplicate', 0)} exact copies and "
                  f"{c.get('seeds_duplicate_renamed', 0)} renamed copies (the same program modulo identifiers) dropped; "
                  f"{c.get('seeds_near_duplicate', 0)} near-duplicates (equal to another seed modulo identifiers and "
                  f"constants, renamed copies included); {c.get('seed_programs', 0)} distinct programs (modulo "
                  f"identifiers) in {c.get('seed_families', 0)} families (modulo identifiers and constants).",
              f"Seeds dropped as CRUXEval-contaminated: {len(sheet['contaminated_seeds'])}.",
              f"Records dropped: {c.get('records_duplicate', 0)} exact copies, {c.get('records_same_prompt', 0)} "
              f"with a prompt already kept (one answer per prompt).",
              f"Held-out PyX-R records (heldout/pyx_r.jsonl): {sheet['heldout_pyx_r']}, from "
              f"{c.get('seed_families_heldout', 0)} held-out families. The split is by family, so no program of a "
              f"held-out family, renamed or with other constants, is in the training files.", ""]
    return "\n".join(lines)
