"""`semcoder export`: a training run (or one checkpoint) -> merged HF checkpoint -> GGUF.

Reuses the weights chain: `lora.merge_lora` folds a LoRA adapter into its base,
`gguf_export.export_gguf` writes f16 GGUF, `quantize.quantize` makes Q8_0 / Q4_K_M. The
GGUF carries provenance: the base model, the data files and the recipe of the run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

from semcoder_inference.errors import SemcoderError

QUANTS = ("f16", "q8_0", "q4_k_m")


def resolve_checkpoint(path: str | Path) -> Path:
    """A run folder means its latest checkpoint; a checkpoint folder means itself."""
    path = Path(path)
    if not path.is_dir():
        raise SemcoderError(f"{path} is not a folder.", hint="Pass a run directory (output_dir of `semcoder train`) or one of its checkpoint-* folders.")
    if (path / "meta.json").exists():
        return path
    checkpoints = sorted(p for p in path.glob("checkpoint-*") if (p / "meta.json").exists())
    if not checkpoints:
        raise SemcoderError(f"{path} holds no training checkpoint (no checkpoint-*/meta.json).",
                            hint="Train first with `semcoder train RECIPE.yaml`, or pass a checkpoint folder.")
    return checkpoints[-1]


def _digest(path: str) -> str | None:
    p = Path(path)
    if not p.is_file():
        return None
    h = hashlib.sha256()
    with p.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def provenance(meta: dict, checkpoint: Path) -> dict[str, object]:
    """GGUF metadata keys that say where the weights came from. The data hashes are the ones
    taken when training started (meta.json's data_files: one per JSONL file); checkpoints
    from before that recorded only paths, hashed now (null for a folder)."""
    config = meta.get("config", {})
    if meta.get("data_files") is not None:
        data = [{"path": f["path"], "sha256_16": f["sha256"][:16]} for f in meta["data_files"]]
    else:
        data = [{"path": str(p), "sha256_16": _digest(p)} for p in meta.get("data", [])]
    return {
        "semcoder.provenance.base_model": str(meta.get("base_model", "")),
        "semcoder.provenance.method": str(meta.get("method", "")),
        "semcoder.provenance.step": int(meta.get("step", 0)),
        "semcoder.provenance.data": json.dumps(data, sort_keys=True),
        "semcoder.provenance.recipe_path": str(meta.get("recipe") or ""),
        "semcoder.provenance.recipe": json.dumps(config, sort_keys=True, default=str),
        "semcoder.provenance.checkpoint": str(checkpoint.resolve()),
    }


def merged_hf_dir(checkpoint: Path, work: Path) -> Path:
    """The checkpoint as a full HF folder: LoRA merged into its base, or the full weights."""
    meta = json.loads((checkpoint / "meta.json").read_text())
    if (checkpoint / "adapter").is_dir():
        from .lora import merge_lora

        out = work / "merged"
        merge_lora(_base_model(meta, checkpoint), checkpoint / "adapter", out)
        return out
    if (checkpoint / "model").is_dir():
        model_dir = checkpoint / "model"
        if any(model_dir.glob("tokenizer*")):
            return model_dir
        # An older full checkpoint without the tokenizer (it lives with the base model): a
        # folder in `work` with links to the weights and copies of the tokenizer files, so the
        # checkpoint itself is left as it is.
        base = _base_model(meta, checkpoint)
        view = work / "model"
        view.mkdir()
        for f in model_dir.iterdir():
            (view / f.name).symlink_to(f.resolve())
        for f in base.glob("tokenizer*"):
            shutil.copy2(f, view / f.name)
        return view
    raise SemcoderError(f"The checkpoint {checkpoint} has neither adapter/ nor model/ weights.")


def _base_model(meta: dict, checkpoint: Path) -> Path:
    base = Path(str(meta.get("base_model", "")))
    if not str(meta.get("base_model", "")) or not base.is_dir():
        relative = " (a relative path, from a checkpoint that stored it as given: run export from the folder training ran in)" \
            if str(meta.get("base_model", "")) and not base.is_absolute() else ""
        raise SemcoderError(f"The base model {str(base)!r} that {checkpoint / 'meta.json'} names is not a folder here{relative}.",
                            hint="Put the base model back at that path, or edit base_model in meta.json to where it is now.")
    return base


def export_run(run_or_checkpoint: str | Path, out: str | Path, quant: str = "q4_k_m", *, keep_hf: str | Path | None = None,
               progress: bool = False) -> Path:
    """Export the run's latest (or the given) checkpoint to `out` as `quant`."""
    if quant not in QUANTS:
        raise SemcoderError(f"Unknown --quant {quant!r}: choose one of {', '.join(QUANTS)}.")
    checkpoint = resolve_checkpoint(run_or_checkpoint)
    meta = json.loads((checkpoint / "meta.json").read_text())
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    from .gguf_export import export_gguf
    from .quantize import quantize

    with tempfile.TemporaryDirectory(prefix="semcoder-export-", dir=out.parent) as tmp:
        work = Path(tmp)
        hf_dir = merged_hf_dir(checkpoint, work)
        if keep_hf:
            shutil.copytree(hf_dir, keep_hf, dirs_exist_ok=True)
        metadata = provenance(meta, checkpoint)
        if quant == "f16":
            export_gguf(hf_dir, out, dtype="f16", metadata=metadata, progress=progress)
        else:
            f16 = work / "model-f16.gguf"
            export_gguf(hf_dir, f16, dtype="f16", metadata=metadata, progress=progress)
            quantize(f16, out, quant, progress=progress)
    return out
