"""`semcoder model pull SPEC` and `semcoder model info PATH_OR_SPEC`.

Training adds `model build-tiny|export|quantize` to the same group through its own
entry point; `command_group` makes sure the group is created once.
"""

from __future__ import annotations

import argparse
import json
import sys

from .cli import command_group
from .errors import ModelError, SettingsError
from .model_spec import check_gguf, download_hub_file, ensure_online, parse_hub_spec, read_gguf_header, resolve_model


def register(subparsers: argparse._SubParsersAction) -> None:
    group = command_group(subparsers, "model", "Get, inspect, export and quantize models.")

    pull = group.add_parser(
        "pull",
        help="download a GGUF file from Hugging Face into the local cache",
        description="Download a GGUF model file into the Hugging Face cache (shared with the engine). "
        "SPEC is OWNER/REPO:FILE.gguf or hf://OWNER/REPO/FILE.gguf, e.g. "
        "tensorblock/semcoder_s_1030-GGUF:semcoder_s_1030-Q4_K_M.gguf",
    )
    pull.add_argument("spec", metavar="SPEC", help="OWNER/REPO:FILE.gguf or hf://OWNER/REPO/FILE.gguf (a .gguf file)")
    pull.add_argument("--force", action="store_true", help="download again even if the file is cached")
    pull.set_defaults(handler=_pull)

    info = group.add_parser(
        "info",
        help="show what a GGUF model is (architecture, size, quantization, context, tokenizer)",
        description="Read a GGUF file's header and print its architecture, parameter count, "
        "quantization, context length, tokenizer and file size, and whether the header passes "
        "the checks llama.cpp makes (the weights themselves are not read).",
    )
    info.add_argument("model", metavar="PATH_OR_SPEC")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.set_defaults(handler=_info)


def _pull(args: argparse.Namespace) -> int:
    hub = parse_hub_spec(args.spec)
    if hub is None:
        raise ModelError(
            f"{args.spec!r} is not a Hugging Face file spec.",
            hint="Write OWNER/REPO:FILE.gguf or hf://OWNER/REPO/FILE.gguf (a local file needs no pull).",
        )
    if not hub.filename.lower().endswith(".gguf"):
        raise SettingsError(
            f"{hub.filename!r} is not a .gguf file: `model pull` fetches GGUF model files only.",
            hint="Name the repository's .gguf file (OWNER/REPO:FILE.gguf); a checkpoint in another format "
            "needs `semcoder model export` first.",
        )
    path = None
    if not args.force:
        try:
            path = resolve_model(args.spec, download=False)
            print(f"already cached: {path}", file=sys.stderr)
        except ModelError:
            path = None
    if path is None:
        ensure_online(hub)
        print(f"downloading {hub.filename} from {hub.repo_id} ...", file=sys.stderr)
        path = download_hub_file(hub)
    info = check_gguf(path)  # a download that is not a usable GGUF should fail here, not later
    print(f"{path}  ({info.architecture}, {info.quant_type}, {info.summary()['file size']})", file=sys.stderr)
    print(path)  # stdout: just the path, for scripts
    return 0


_INFO_HINT = "Give `semcoder model info` the path of a .gguf file (or OWNER/REPO:FILE.gguf), or convert a " \
    "Hugging Face checkpoint with `semcoder model export`."


def _for_info(exc: ModelError) -> ModelError:
    """The error as `model info` should say it: its hints name --model and $SEMCODER_MODEL,
    which are predict's ways to give a model, not this command's."""
    if exc.hint and ("--model" in exc.hint or "SEMCODER_MODEL" in exc.hint):
        exc.hint = _INFO_HINT
    return exc


def _info(args: argparse.Namespace) -> int:
    if not args.model.strip():
        raise SettingsError("Which model? PATH_OR_SPEC is empty.", hint=_INFO_HINT)
    try:
        path = resolve_model(args.model, download=False)
        info = read_gguf_header(path)
    except ModelError as exc:
        raise _for_info(exc) from None
    summary = info.summary()
    numbers = {"file size bytes": info.file_size, "parameter count": info.parameters}
    # Only the header is read: it is checked as llama.cpp checks it (architecture, tensor
    # list, the metadata it requires), but the weights are not, so the line says what was
    # checked instead of promising that llama.cpp will load the file.
    try:
        check_gguf(path)
        summary["header check"] = "passed (the weights are read only when llama.cpp loads the file)"
    except ModelError as exc:
        # Info still describes the file, then fails: the user learns what it is and why
        # it cannot be used.
        summary["header check"] = "failed"
        _print_summary(summary, args.json, {**numbers, "header check error": str(_for_info(exc))})
        raise _for_info(exc) from None
    _print_summary(summary, args.json, numbers)
    return 0


def _print_summary(summary: dict, as_json: bool, numbers: dict | None = None) -> None:
    """The text form shows sizes for reading ("3.24 MiB"); JSON adds the numbers themselves
    (bytes, parameters) next to them, and the reason of a failed header check."""
    if as_json:
        print(json.dumps({**summary, **(numbers or {})}, indent=2, default=str))
        return
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        print(f"{key.ljust(width)}  {value if value not in (None, '') else '-'}")
