"""Merge a peft LoRA adapter into its base Hugging Face checkpoint, without torch.

W' = W + s * (B @ A), with s = lora_alpha / r (or lora_alpha / sqrt(r) with rsLoRA), per
module, honouring peft's per-module `rank_pattern` / `alpha_pattern`. Embedding adapters
(lora_embedding_A/B) add (B @ A)^T. The arithmetic is float32; the merged tensor goes back
to the base tensor's dtype (bf16 stays bf16). Tensors are processed one at a time and
streamed to disk, so merging a 6.7B checkpoint does not need the model in RAM.
Variants whose merge is not this formula (DoRA, fan_in_fan_out, trained biases, extra
saved modules) are refused with an explanation rather than merged wrongly.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import sys
from pathlib import Path

import numpy as np

from semcoder_inference.errors import ModelError, SemcoderError

from .atomic import atomic_output
from .safetensors_io import TensorEntry, checkpoint_tensors, f32_to_bf16_bits, read_header, write_safetensors

# Full weights peft saves beside the adapter (e.g. embeddings when they are LoRA targets, in
# case the vocabulary was resized); on load peft puts them into the base model.
_SAVED_WEIGHT_KEY = re.compile(r"^base_model\.model\.(?P<module>.+?)(\.base_layer)?\.weight$")
_ADAPTER_KEY = re.compile(r"^base_model\.model\.(?P<module>.+)\.(?P<part>lora_A|lora_B|lora_embedding_A|lora_embedding_B)(\.[^.]+)?(\.weight)?$")


def _pattern_value(patterns: dict[str, float], module: str, default: float) -> float:
    # peft's rule (utils.other.get_pattern_key): the first key whose regex matches the module
    # name's suffix at a dot boundary wins.
    for key, value in patterns.items():
        if re.match(rf"(.*\.)?({key})$", module):
            return value
    return default


def _read_adapter_config(adapter_dir: Path) -> dict:
    path = adapter_dir / "adapter_config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path} is missing: {adapter_dir} is not a peft adapter folder.") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"Cannot read {path}: {exc}.") from exc
    if config.get("peft_type", "LORA") != "LORA":
        raise SemcoderError(f"The adapter in {adapter_dir} is {config.get('peft_type')}, not LoRA; only LoRA adapters can be merged.")
    refusals = []
    if config.get("use_dora"):
        refusals.append("DoRA (use_dora=true)")
    if config.get("fan_in_fan_out"):
        refusals.append("fan_in_fan_out=true")
    if config.get("bias", "none") != "none":
        refusals.append(f"trained biases (bias={config.get('bias')!r})")
    if config.get("modules_to_save"):
        refusals.append(f"fully trained modules (modules_to_save={config['modules_to_save']})")
    if refusals:
        raise SemcoderError(f"The adapter in {adapter_dir} uses {', '.join(refusals)}, which this merger does not support.",
                            hint="Merge it with peft's merge_and_unload() and save_pretrained(), then export the result.")
    return config


def _load_adapter(adapter_dir: Path) -> tuple[dict[str, dict], dict[str, TensorEntry]]:
    """({base module: {"A", "B", "embedding"}}, {base tensor name: saved full weight}) from the adapter file."""
    file = adapter_dir / "adapter_model.safetensors"
    if not file.exists():
        raise ModelError(f"{file} is missing.", hint="Save the adapter with save_pretrained(safe_serialization=True).")
    modules: dict[str, dict] = {}
    saved: dict[str, TensorEntry] = {}
    for entry in read_header(file):
        match = _ADAPTER_KEY.match(entry.name)
        full = _SAVED_WEIGHT_KEY.match(entry.name)
        if not match and full:
            saved[full["module"] + ".weight"] = entry
            continue
        if not match:
            raise SemcoderError(f"The adapter has a tensor {entry.name!r} that is not a LoRA A/B matrix; it cannot be merged.")
        slot = modules.setdefault(match["module"], {"embedding": match["part"].startswith("lora_embedding")})
        slot["A" if match["part"].endswith("A") else "B"] = entry.to_float32()
    for module, slot in modules.items():
        if "A" not in slot or "B" not in slot:
            raise ModelError(f"The adapter's module {module!r} lacks its {'B' if 'A' in slot else 'A'} matrix.")
    return modules, saved


def _to_stored(values: np.ndarray, st_dtype: str) -> np.ndarray:
    if st_dtype == "BF16":
        return f32_to_bf16_bits(values)
    return values.astype({"F32": np.float32, "F16": np.float16, "F64": np.float64}[st_dtype])


def merge_lora(base_dir: str | Path, adapter_dir: str | Path, out_dir: str | Path, *, progress: bool = False) -> Path:
    """Write base + LoRA merged into `out_dir` (config and tokenizer files copied). Returns `out_dir`."""
    from tqdm import tqdm

    base_dir, adapter_dir, out_dir = Path(base_dir), Path(adapter_dir), Path(out_dir)
    config = _read_adapter_config(adapter_dir)
    adapter, saved = _load_adapter(adapter_dir)
    base = checkpoint_tensors(base_dir)
    for name, entry in saved.items():  # values replace the base's; the output keeps the base's dtype
        if name not in base or base[name].shape != entry.shape:
            raise SemcoderError(f"The adapter carries a full {name!r} of shape {entry.shape} that does not replace the base's "
                                f"{base[name].shape if name in base else 'missing tensor'} (a resized vocabulary is not supported).")
    alpha = float(config.get("lora_alpha", 8))
    rsl = bool(config.get("use_rslora"))
    rank_pattern = config.get("rank_pattern") or {}
    alpha_pattern = config.get("alpha_pattern") or {}

    deltas: dict[str, tuple[np.ndarray, np.ndarray, float, bool]] = {}
    for module, slot in adapter.items():
        target = module + ".weight"
        if target not in base:
            raise ModelError(f"The adapter changes {module!r}, which the base checkpoint in {base_dir} does not have.",
                             hint="Check that the adapter was trained on this base model.")
        rank = int(_pattern_value(rank_pattern, module, slot["A"].shape[0]))
        mod_alpha = float(_pattern_value(alpha_pattern, module, alpha))
        scale = mod_alpha / (math.sqrt(rank) if rsl else rank)
        deltas[target] = (slot["A"], slot["B"], scale, slot["embedding"])

    def producer(name: str):
        entry = base[name]
        source = saved.get(name, entry)

        def produce() -> np.ndarray:
            if name not in deltas and source is entry:
                return np.asarray(entry.raw())  # untouched: copy the stored bytes as they are
            merged = source.to_float32()
            if name in deltas:
                a, b, scale, embedding = deltas[name]
                delta = (b @ a) * scale
                merged = merged + (delta.T if embedding else delta)
            if merged.shape != entry.shape:
                raise ModelError(f"The adapter's update for {name!r} has shape {merged.shape}, the base tensor {entry.shape}.")
            return _to_stored(merged, entry.dtype)
        return produce

    out_dir.mkdir(parents=True, exist_ok=True)
    for item in base_dir.iterdir():  # config, tokenizer, generation config ... but not the weights
        weights = item.suffix in {".safetensors", ".bin", ".pt", ".pth"} or item.name.endswith(".index.json")
        if item.is_file() and not weights:
            shutil.copy2(item, out_dir / item.name)
    names = sorted(base)
    bar = tqdm(total=len(names), unit="tensor", desc="merge LoRA", file=sys.stderr, disable=not progress)

    def counted(name: str):
        produce = producer(name)

        def run() -> np.ndarray:
            out = produce()
            bar.update(1)
            return out
        return run

    try:
        with atomic_output(out_dir / "model.safetensors") as tmp:
            write_safetensors(tmp, [(n, base[n].dtype, base[n].shape, counted(n)) for n in names], metadata={"format": "pt"})
    finally:
        bar.close()
    return out_dir
