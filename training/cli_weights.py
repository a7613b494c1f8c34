"""`semcoder model build-tiny | export | quantize | merge-lora` — the weights chain on the command line.

Registration imports nothing heavy; each handler imports its module when it runs, so the
base install (no `train` extra) still starts and gets a clear message instead.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from semcoder_inference.cli import command_group
from semcoder_inference.errors import SemcoderError


def _need_train_extra(exc: ImportError) -> SemcoderError:
    return SemcoderError(f"This command needs the training extra ({exc.name} is not installed).",
                         hint='Install it with: pip install -e ".[train]"')


def _metadata(pairs: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SemcoderError(f"--meta {pair!r} is not KEY=VALUE (for example --meta semcoder.base_model=semcoder/semcoder_s_1030).")
        out[key] = value
    return out


def check_output_path(out: Path, *, source_file: Path | None = None, source_dir: Path | None = None,
                      flag: str = "--out") -> None:
    """Refuse an output path that would overwrite the input (the file itself, or anything in
    the input checkpoint's folder), or whose folder does not exist (a typo would otherwise
    create it silently): a usage error, before any work."""
    out = Path(out).expanduser()
    target = out.resolve()
    if source_file is not None:
        source = Path(source_file).expanduser()
        same = target == source.resolve()
        if not same and out.exists() and source.exists():
            try:
                same = os.path.samefile(out, source)
            except OSError:
                same = False
        if same:
            raise SemcoderError(f"{flag} {out} is the input file {source_file}: writing it would replace the input.",
                                hint=f"Give {flag} another file name.")
    if source_dir is not None:
        folder = Path(source_dir).expanduser().resolve()
        if target == folder or folder in target.parents:
            raise SemcoderError(f"{flag} {out} is inside the input checkpoint folder {source_dir}: writing it there "
                                "could replace the checkpoint's own files.",
                                hint=f"Give {flag} a path outside {source_dir}.")
    parent = target.parent
    if not parent.is_dir():
        raise SemcoderError(f"The folder of {flag} {out} ({parent}) does not exist.",
                            hint=f"Create it first (mkdir -p {parent}) or give {flag} a path in an existing folder.")


def _build_tiny(args: argparse.Namespace) -> int:
    try:
        from .tiny import build_tiny
    except ImportError as exc:
        raise _need_train_extra(exc) from exc
    model = build_tiny(args.out_dir, args.tokenizer, seed=args.seed, progress=not args.quiet)
    print(json.dumps({"hf_dir": str(model.hf_dir), "gguf_f16": str(model.gguf_f16), "gguf_q8_0": str(model.gguf_q8_0),
                      "gguf_q4_k_m": str(model.gguf_q4_k_m)}, indent=2))
    return 0


def _export(args: argparse.Namespace) -> int:
    try:
        from .gguf_export import check_pre_tokenizer, export_gguf
    except ImportError as exc:
        raise _need_train_extra(exc) from exc
    check_pre_tokenizer(args.pre_tokenizer)
    check_output_path(args.out, source_dir=args.hf_dir)
    out = export_gguf(args.hf_dir, args.out, dtype=args.dtype, metadata=_metadata(args.meta),
                      pre_tokenizer=args.pre_tokenizer, progress=not args.quiet)
    print(out)
    return 0


def _quantize(args: argparse.Namespace) -> int:
    from .quantize import quantize

    check_output_path(args.out, source_file=args.src)
    out = quantize(args.src, args.out, args.type, threads=args.threads, progress=not args.quiet)
    print(out)
    return 0


def _merge_lora(args: argparse.Namespace) -> int:
    try:
        from .lora import merge_lora
    except ImportError as exc:
        raise _need_train_extra(exc) from exc
    if args.gguf is not None:
        for folder in (args.base_dir, args.adapter_dir):
            check_output_path(args.gguf, source_dir=folder, flag="--gguf")
    merged = merge_lora(args.base_dir, args.adapter_dir, args.out_dir, progress=not args.quiet)
    print(merged)
    if args.gguf:
        from .gguf_export import export_gguf

        print(export_gguf(merged, args.gguf, dtype=args.dtype, progress=not args.quiet,
                          metadata={"semcoder.lora.adapter": str(Path(args.adapter_dir).resolve().name)}))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    group = command_group(subparsers, "model", "Model files: fetch, inspect, build, export, quantize.")

    p = group.add_parser("build-tiny", help="build a tiny random Llama (HF checkpoint + GGUF) for tests",
                         description="Random-init Llama with a tokenizer trained on this interpreter's standard library "
                                     "(no downloads); writes hf/, model-f16.gguf, model-q8_0.gguf, model-q4_k_m.gguf. "
                                     "Its output is noise: it exists to test the machinery.")
    p.add_argument("out_dir", type=Path, help="new (or empty) folder to create")
    p.add_argument("--tokenizer", choices=("bpe", "spm"), default="bpe",
                   help="bpe: byte-level BPE with DeepSeek-Coder's pre-tokenizer (default); spm: SentencePiece")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(handler=_build_tiny)

    p = group.add_parser("export", help="export a Hugging Face Llama checkpoint to GGUF",
                         description="Convert a Hugging Face Llama-family checkpoint (safetensors) to GGUF.")
    p.add_argument("hf_dir", type=Path, help="checkpoint folder (config.json, *.safetensors, tokenizer files)")
    p.add_argument("--out", type=Path, required=True,
                   help="GGUF file to write (outside the checkpoint folder; its folder must exist)")
    p.add_argument("--dtype", choices=("f32", "f16", "bf16"), default="f16",
                   help="type of the exported weights (default f16; norms and other 1-D tensors stay f32)")
    p.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE", help="extra GGUF metadata (repeatable)")
    p.add_argument("--pre-tokenizer", default=None, metavar="NAME",
                   help="llama.cpp pre-tokenizer name for a byte-level BPE tokenizer, one llama.cpp knows "
                        "(default: detected; DeepSeek-Coder's is recognised as 'deepseek-coder')")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_export)

    p = group.add_parser("quantize", help="quantize a GGUF with llama.cpp (q8_0, q4_k_m)",
                         description="Quantize an f32/f16/bf16 GGUF with llama.cpp's quantizer.")
    p.add_argument("src", type=Path, help="input GGUF (f32/f16/bf16)")
    p.add_argument("--out", type=Path, required=True,
                   help="GGUF file to write (not the input; its folder must exist)")
    p.add_argument("--type", choices=("q8_0", "q4_k_m"), default="q4_k_m", help="quantization type (default q4_k_m)")
    p.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_quantize)

    p = group.add_parser("merge-lora", help="merge a peft LoRA adapter into its base checkpoint (and export)",
                         description="Merge a peft LoRA adapter into the base HF checkpoint; optionally export the result to GGUF.")
    p.add_argument("base_dir", type=Path)
    p.add_argument("adapter_dir", type=Path, help="folder with adapter_config.json and adapter_model.safetensors")
    p.add_argument("--out-dir", type=Path, required=True, help="folder for the merged HF checkpoint")
    p.add_argument("--gguf", type=Path, default=None, help="also export the merged checkpoint to this GGUF file")
    p.add_argument("--dtype", choices=("f32", "f16", "bf16"), default="f16")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(handler=_merge_lora)

