"""`semcoder data build | train | export | eval cruxeval|repair`: the training pipeline.

Registration imports nothing heavy (no torch, no transformers): each handler imports its
module when it runs, so `semcoder --help` stays fast and the base install still starts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from semcoder_inference.cli import command_group
from semcoder_inference.errors import SemcoderError


def _need_train_extra(exc: ImportError) -> SemcoderError:
    return SemcoderError(f"This command needs the training extra ({exc.name} is not installed).",
                         hint='Install it with: pip install -e ".[train]"')


# ----------------------------------------------------------------------------- data


def _data_build(args) -> int:
    from .data.build import BuildConfig, build

    if args.workers < 1:
        raise SemcoderError("--workers must be at least 1.")
    if not 0.0 <= args.holdout < 1.0:
        raise SemcoderError("--holdout must be a fraction in [0, 1).")
    sheet = build(BuildConfig(
        out_dir=Path(args.out), seeds_path=Path(args.seeds) if args.seeds else None, generated_seeds=args.count,
        mutations_per_seed=args.mutations, max_inputs_per_seed=args.max_inputs, max_bugs_per_seed=args.max_bugs,
        workers=args.workers, timeout_s=args.timeout, decontaminate=not args.no_decontaminate,
        cruxeval_path=Path(args.cruxeval) if args.cruxeval else None, teacher_url=args.teacher,
        teacher_model=args.teacher_model, random_seed=args.seed, holdout=args.holdout, progress=not args.no_progress))
    per_task = ", ".join(f"{k} {v}" for k, v in sorted(sheet["records_per_task"].items()))
    print(f"wrote {sheet['records_total']} records ({per_task}) to {args.out}; "
          f"{len(sheet['contaminated_seeds'])} contaminated seeds dropped; datasheet: {Path(args.out) / 'datasheet.md'}")
    return 0


# ----------------------------------------------------------------------------- train / export


def _train(args) -> int:
    try:
        from .train import load_config, train
    except ImportError as exc:
        raise _need_train_extra(exc) from None
    summary = train(load_config(args.recipe, args.set))
    last = summary["history"][-1] if summary["history"] else {}
    loss = f"final loss {last['loss']:.4f}" if last else "no steps run"
    if summary.get("finished", True):
        print(f"done: {summary['steps']} steps, {loss}, checkpoint {summary['checkpoint']}")
    else:  # stop_after ended it early: say where it stopped and what a rerun resumes from
        print(f"stopped after step {summary['steps']} of {summary['max_steps']} (stop_after), {loss}, "
              f"last checkpoint {summary['checkpoint']} (rerun the same command to resume from it)")
    return 0


def _export(args) -> int:
    try:
        from .export_run import export_run
    except ImportError as exc:
        raise _need_train_extra(exc) from None
    out = export_run(args.run, args.out, args.quant, keep_hf=args.keep_hf, progress=not args.no_progress)
    print(f"wrote {out} ({args.quant})")
    return 0


# ----------------------------------------------------------------------------- eval


def _eval_cruxeval(args) -> int:
    from .eval_cruxeval import DEFAULT_DATA, EvalConfig, evaluate

    out = Path(args.out or f"eval/cruxeval-{args.task}-{Path(args.model).stem}")
    report = evaluate(EvalConfig(task=args.task, model=args.model, out_dir=out, data=Path(args.data or DEFAULT_DATA),
                                 limit=args.limit, samples=args.samples, temperature=args.temperature,
                                 max_tokens=args.max_tokens, n_ctx=args.n_ctx, n_threads=args.threads,
                                 n_gpu_layers=args.gpu_layers, progress=not args.no_progress))
    print(f"{report['benchmark']}: pass@1 = {report['pass@1']:.4f} over {report['problems']} problems "
          f"x {report['samples_per_problem']} samples (report: {out / 'report.json'}, table: {out / 'table.md'})")
    return 0


def _eval_repair(args) -> int:
    from .eval_repair import RepairConfig, evaluate_repair

    out = Path(args.out or f"eval/repair-{Path(args.model).stem}")
    report = evaluate_repair(RepairConfig(model=args.model, data=Path(args.data), out_dir=out, limit=args.limit,
                                          max_tokens=args.max_tokens, n_ctx=args.n_ctx, n_threads=args.threads,
                                          n_gpu_layers=args.gpu_layers, progress=not args.no_progress))
    print(f"repair: pass@1 = {report['pass@1']:.4f} ({report['fixed']}/{report['problems']} held-out bugs fixed, "
          f"verified by execution; report: {out / 'repair_report.json'})")
    return 0


def _engine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="GGUF file (or owner/repo:file.gguf)")
    p.add_argument("--limit", type=int, default=None, help="only the first N problems (quick runs)")
    p.add_argument("--out", default=None, help="folder for the report (default eval/...)")
    p.add_argument("--max-tokens", type=int, default=768)
    p.add_argument("--n-ctx", type=int, default=4096)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--gpu-layers", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")


def register(subparsers) -> None:
    data = command_group(subparsers, "data", "Training data from real execution.")
    p = data.add_parser("build", help="build PyX / PyX-R records from seeds (real, sandboxed runs)",
                        description="Build PyX (nl, fwd_mnl, bwd_mnl) and PyX-R (fault) records from seed programs. "
                                    "Without --seeds, the built-in seed generator is used.")
    p.add_argument("--seeds", default=None, help="a folder of .py files, one .py file, or a JSONL of {code, inputs}")
    p.add_argument("--out", required=True, help="output folder (pyx.jsonl, pyx_r.jsonl, datasheet.md); resumable")
    p.add_argument("--count", type=int, default=48, help="seeds from the built-in generator (without --seeds)")
    p.add_argument("--workers", type=int, default=2, help="processes (each with its own sandbox)")
    p.add_argument("--mutations", type=int, default=4, help="mutated inputs tried per seed")
    p.add_argument("--max-inputs", type=int, default=4, help="inputs kept per seed")
    p.add_argument("--max-bugs", type=int, default=3, help="PyX-R variants kept per seed")
    p.add_argument("--timeout", type=float, default=2.0, help="sandbox time limit per run, seconds")
    p.add_argument("--holdout", type=float, default=0.1, help="share of seeds held out for `eval repair`")
    p.add_argument("--cruxeval", default=None, help="CRUXEval JSONL to decontaminate against")
    p.add_argument("--no-decontaminate", action="store_true", help="skip the CRUXEval check (not for real training data)")
    p.add_argument("--teacher", default=None, help="OpenAI-compatible base URL for teacher monologues")
    p.add_argument("--teacher-model", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=_data_build)

    p = subparsers.add_parser("train", help="fine-tune (LoRA, QLoRA, full) from a YAML recipe",
                              description="Fine-tune on PyX/PyX-R records. Recipes: training/recipes/*.yaml.")
    p.add_argument("recipe", help="YAML recipe")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a recipe key (repeatable)")
    p.set_defaults(handler=_train)

    p = subparsers.add_parser("export", help="export a training run or checkpoint to GGUF",
                              description="Merge LoRA -> HF checkpoint -> GGUF (f16) -> quantized GGUF, with provenance metadata.")
    p.add_argument("run", metavar="RUN_OR_CHECKPOINT_DIR")
    p.add_argument("--out", required=True, help="output .gguf")
    p.add_argument("--quant", default="q4_k_m", choices=["q4_k_m", "q8_0", "f16"])
    p.add_argument("--keep-hf", default=None, help="also keep the merged HF checkpoint in this folder")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=_export)

    ev = command_group(subparsers, "eval", "Evaluate a GGUF model.")
    p = ev.add_parser("cruxeval", help="CRUXEval-O / CRUXEval-I pass@1 with the server's prompts and engine")
    p.add_argument("--task", required=True, choices=["o", "i"])
    _engine_options(p)
    p.add_argument("--samples", type=int, default=1, help="samples per problem (pass@1 is unbiased over them)")
    p.add_argument("--temperature", type=float, default=None, help="default 0 for one sample, 0.2 for more")
    p.add_argument("--data", default=None, help="cruxeval.jsonl (default: shared/benchmarks/cruxeval)")
    p.set_defaults(handler=_eval_cruxeval)

    p = ev.add_parser("repair", help="fraction of held-out injected bugs fixed, verified by execution")
    _engine_options(p)
    p.add_argument("--data", required=True, help="PyX-R JSONL with tests (e.g. DATA/heldout/pyx_r.jsonl)")
    p.set_defaults(handler=_eval_repair)
