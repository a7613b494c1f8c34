"""Random-weight Llama models for tests and benchmarks, built without downloads or torch.

`build_tiny` makes a complete small model: a tokenizer trained on the interpreter's own
standard library, random Llama weights saved as a Hugging Face checkpoint (loads in
transformers), and GGUF files (f16 through the real exporter, then q8_0 and q4_k_m through
llama.cpp's quantizer). `ensure_tiny_model` caches one per tokenizer kind, safely across
concurrent test processes. `build_random_llama` writes a large random model (e.g. shaped like
a 1.3B code model) straight to GGUF, one tensor in memory at a time.

Shapes: hidden 256 and intermediate 768 keep every row length a multiple of 256, which
k-quants need (otherwise Q4_K_M silently falls back to other types). The config mirrors
DeepSeek-Coder's (RoPE base 100000, linear RoPE scaling 4) so the exporter's handling of
it is exercised by the parity tests.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from semcoder_inference.errors import SemcoderError

BUILDER_VERSION = 1
TOKENIZER_KINDS = ("bpe", "spm")


@dataclass(frozen=True)
class TinyModel:
    root: Path
    tokenizer: str
    hf_dir: Path
    gguf_f16: Path
    gguf_q8_0: Path
    gguf_q4_k_m: Path


@dataclass(frozen=True)
class RandomLlama:
    root: Path
    hf_dir: Path  # config.json + tokenizer files only (no weights)
    gguf_f16: Path
    quantized: dict[str, Path]


@dataclass(frozen=True)
class Shape:
    hidden: int = 256
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    intermediate: int = 768
    vocab: int = 3000
    context: int = 4096


def _model_files(root: Path) -> TinyModel:
    return TinyModel(root=root, tokenizer=json.loads((root / "BUILD_INFO.json").read_text())["tokenizer"],
                     hf_dir=root / "hf", gguf_f16=root / "model-f16.gguf", gguf_q8_0=root / "model-q8_0.gguf",
                     gguf_q4_k_m=root / "model-q4_k_m.gguf")


def _hf_config(shape: Shape, vocab: int, bos_id: int, eos_id: int) -> dict:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": shape.hidden,
        "intermediate_size": shape.intermediate,
        "num_hidden_layers": shape.layers,
        "num_attention_heads": shape.heads,
        "num_key_value_heads": shape.kv_heads,
        "max_position_embeddings": shape.context,
        "rms_norm_eps": 1e-6,
        "hidden_act": "silu",
        "vocab_size": vocab,
        "bos_token_id": bos_id,
        "eos_token_id": eos_id,
        "tie_word_embeddings": False,
        "attention_bias": False,
        "mlp_bias": False,
        # DeepSeek-Coder's RoPE settings, in the pre-transformers-5 keys its config.json uses
        "rope_theta": 100000.0,
        "rope_scaling": {"type": "linear", "factor": 4.0},
        "torch_dtype": "float16",
        "_name_or_path": "semcoder-tiny-random",
    }


def random_llama_tensors(shape: Shape, vocab: int, seed: int) -> list[tuple[str, tuple[int, ...], Callable[[], np.ndarray]]]:
    """HF-named tensors of a random Llama, each produced on demand (deterministic per name).

    Values are drawn in float32 and rounded to float16, so the HF checkpoint and the f16 GGUF
    hold bit-identical weights and parity tests measure compute differences only. Norm weights
    are random around 1 (not all ones) so a dropped or misplaced norm would show in logits.
    """
    head_dim = shape.hidden // shape.heads
    specs: list[tuple[str, tuple[int, ...], float, float]] = [("model.embed_tokens.weight", (vocab, shape.hidden), 0.0, 1.0)]
    for i in range(shape.layers):
        p = f"model.layers.{i}."
        specs += [
            (p + "input_layernorm.weight", (shape.hidden,), 1.0, 0.1),
            (p + "self_attn.q_proj.weight", (shape.heads * head_dim, shape.hidden), 0.0, 0.06),
            (p + "self_attn.k_proj.weight", (shape.kv_heads * head_dim, shape.hidden), 0.0, 0.06),
            (p + "self_attn.v_proj.weight", (shape.kv_heads * head_dim, shape.hidden), 0.0, 0.06),
            (p + "self_attn.o_proj.weight", (shape.hidden, shape.heads * head_dim), 0.0, 0.02),
            (p + "post_attention_layernorm.weight", (shape.hidden,), 1.0, 0.1),
            (p + "mlp.gate_proj.weight", (shape.intermediate, shape.hidden), 0.0, 0.04),
            (p + "mlp.up_proj.weight", (shape.intermediate, shape.hidden), 0.0, 0.04),
            (p + "mlp.down_proj.weight", (shape.hidden, shape.intermediate), 0.0, 0.02),
        ]
    specs += [("model.norm.weight", (shape.hidden,), 1.0, 0.1), ("lm_head.weight", (vocab, shape.hidden), 0.0, 0.08)]

    def producer(index: int, dims: tuple[int, ...], mean: float, std: float) -> Callable[[], np.ndarray]:
        def produce() -> np.ndarray:
            rng = np.random.default_rng([seed, index])
            values = rng.standard_normal(dims, dtype=np.float32)
            values *= std
            values += mean
            return values.astype(np.float16)
        return produce

    return [(name, dims, producer(i, dims, mean, std)) for i, (name, dims, mean, std) in enumerate(specs)]


def _write_tokenizer(kind: str, hf_dir: Path, vocab_target: int, context: int) -> tuple[int, int, int]:
    """Train the tokenizer into hf_dir; return (vocab size, bos id, eos id)."""
    from .tokenizers_build import BOS_TOKEN, EOS_TOKEN, build_tokenizer

    corpus = 3_000_000 if vocab_target <= 8000 else 16_000_000
    vocab = build_tokenizer(kind, hf_dir, vocab_target, context, max_corpus_bytes=corpus)
    if kind == "bpe":
        data = json.loads((hf_dir / "tokenizer.json").read_text(encoding="utf-8"))
        ids = {t["content"]: t["id"] for t in data["added_tokens"]}
        return vocab, ids[BOS_TOKEN], ids[EOS_TOKEN]
    return vocab, 1, 2


def build_tiny(out_dir: str | Path, tokenizer: str = "bpe", *, shape: Shape = Shape(), seed: int = 0,
               progress: bool = False) -> TinyModel:
    """Build a tiny random Llama (HF checkpoint + f16/q8_0/q4_k_m GGUF) into `out_dir`."""
    from .gguf_export import export_gguf
    from .quantize import quantize
    from .safetensors_io import write_safetensors

    if tokenizer not in TOKENIZER_KINDS:
        raise SemcoderError(f"Unknown tokenizer kind {tokenizer!r}: use 'bpe' (DeepSeek-Coder style byte-level BPE) or 'spm' (SentencePiece).")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise SemcoderError(f"{out_dir} already exists and is not empty; choose a new folder for the tiny model.")
    hf_dir = out_dir / "hf"
    hf_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    _say(progress, f"training a {tokenizer} tokenizer on local Python sources")
    vocab, bos_id, eos_id = _write_tokenizer(tokenizer, hf_dir, shape.vocab, shape.context)
    config = _hf_config(shape, vocab, bos_id, eos_id)
    (hf_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (hf_dir / "generation_config.json").write_text(json.dumps({"bos_token_id": bos_id, "eos_token_id": eos_id}) + "\n")
    _say(progress, f"writing random weights (vocab {vocab}, hidden {shape.hidden}, {shape.layers} layers)")
    tensors = random_llama_tensors(shape, vocab, seed)
    write_safetensors(hf_dir / "model.safetensors", [(n, "F16", dims, produce) for n, dims, produce in tensors],
                      metadata={"format": "pt"})
    model = TinyModel(root=out_dir, tokenizer=tokenizer, hf_dir=hf_dir, gguf_f16=out_dir / "model-f16.gguf",
                      gguf_q8_0=out_dir / "model-q8_0.gguf", gguf_q4_k_m=out_dir / "model-q4_k_m.gguf")
    export_gguf(hf_dir, model.gguf_f16, dtype="f16", progress=progress,
                metadata={"semcoder.tiny.tokenizer": tokenizer, "semcoder.tiny.seed": seed,
                          "semcoder.tiny.builder_version": BUILDER_VERSION})
    quantize(model.gguf_f16, model.gguf_q8_0, "q8_0", progress=progress)
    quantize(model.gguf_f16, model.gguf_q4_k_m, "q4_k_m", progress=progress)
    info = {"tokenizer": tokenizer, "seed": seed, "builder_version": BUILDER_VERSION, "vocab": vocab,
            "shape": shape.__dict__, "python": sys.version.split()[0], "build_seconds": round(time.monotonic() - started, 1)}
    (out_dir / "BUILD_INFO.json").write_text(json.dumps(info, indent=2) + "\n")
    _say(progress, f"done in {info['build_seconds']} s: {out_dir}")
    return model


def _cached_build(cache_root: Path, name: str, build: Callable[[Path], object]) -> Path:
    """Build into cache_root/name once, across processes; return the folder.

    Concurrent callers (parallel test processes) serialise on a lock file; the build runs in a
    temporary folder beside the final one and is renamed into place, so a reader sees either
    nothing or a complete build (marked by BUILD_INFO.json), never a half-built one.
    """
    final = cache_root / name
    if (final / "BUILD_INFO.json").exists():
        return final
    cache_root.mkdir(parents=True, exist_ok=True)
    with open(cache_root / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if (final / "BUILD_INFO.json").exists():  # another process built it while we waited
            return final
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-building-", dir=cache_root))
        try:
            build(staging / "model")
            if final.exists():  # a stale, incomplete folder from an interrupted older build
                shutil.rmtree(final)
            os.rename(staging / "model", final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return final


def ensure_tiny_model(cache_root: str | Path, tokenizer: str = "bpe") -> TinyModel:
    """The cached tiny model for `tokenizer`, built on first use (safe across processes)."""
    if tokenizer not in TOKENIZER_KINDS:
        raise SemcoderError(f"Unknown tokenizer kind {tokenizer!r}: use one of {', '.join(TOKENIZER_KINDS)}.")
    root = _cached_build(Path(cache_root), f"{tokenizer}-v{BUILDER_VERSION}", lambda out: build_tiny(out, tokenizer))
    return _model_files(root)


def ensure_random_llama(cache_root: str | Path, **shape) -> RandomLlama:
    """`build_random_llama(**shape)` cached under cache_root (for benchmarks: the 1.3B shape
    takes minutes to build on 2 cores, ~2.6 GB f16 + ~0.85 GB Q4_K_M on disk)."""
    from .quantize import QUANT_TYPES

    key = "-".join(f"{k}{v}" for k, v in sorted(shape.items()) if k != "progress") or "default"
    key = re.sub(r"[^A-Za-z0-9_.-]+", "", key)  # e.g. quantize_to=("q8_0",) -> "quantize_toq8_0"
    root = _cached_build(Path(cache_root), f"random-llama-{key}-v{BUILDER_VERSION}", lambda out: build_random_llama(out, **shape))
    quantized = {q: root / f"model-{q}.gguf" for q in QUANT_TYPES if (root / f"model-{q}.gguf").exists()}
    return RandomLlama(root=root, hf_dir=root / "hf", gguf_f16=root / "model-f16.gguf", quantized=quantized)


def build_random_llama(out_dir: str | Path, *, hidden: int = 2048, layers: int = 24, heads: int = 16,
                       kv_heads: int | None = None, vocab: int = 32256, intermediate: int = 5504, context: int = 4096,
                       quantize_to: tuple[str, ...] = ("q4_k_m",), seed: int = 0, progress: bool = False) -> RandomLlama:
    """A large random Llama written straight to GGUF (no HF weights, one tensor in RAM at a time).

    Defaults are shaped like a 1.3B code model (DeepSeek-Coder-1.3B: hidden 2048, 24 layers,
    16 heads, intermediate 5504, vocab 32256). The tokenizer is a byte-level BPE trained on
    local sources; vocabulary ids it does not reach are padded as unused tokens.
    """
    from .gguf_export import read_hparams, read_vocab, write_llama_gguf
    from .quantize import quantize

    shape = Shape(hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads or heads, intermediate=intermediate,
                  vocab=vocab, context=context)
    if hidden % heads or (hidden // heads) % 2:
        raise SemcoderError(f"hidden size {hidden} must split into {heads} heads of even size.")
    out_dir = Path(out_dir)
    hf_dir = out_dir / "hf"
    hf_dir.mkdir(parents=True, exist_ok=True)
    _say(progress, f"training a tokenizer (target vocab {vocab})")
    trained, bos_id, eos_id = _write_tokenizer("bpe", hf_dir, vocab, context)
    if trained > vocab:
        raise SemcoderError(f"The tokenizer came out with {trained} tokens, more than the requested vocab {vocab}.")
    config = _hf_config(shape, vocab, bos_id, eos_id)
    config["_name_or_path"] = f"random-llama-h{hidden}-l{layers}"
    (hf_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    hp = read_hparams(hf_dir)
    gguf_f16 = out_dir / "model-f16.gguf"
    write_llama_gguf(gguf_f16, hp, read_vocab(hf_dir, vocab), random_llama_tensors(shape, vocab, seed), dtype="f16",
                     metadata={"semcoder.random.seed": seed}, progress=progress)
    quantized = {}
    for qtype in quantize_to:
        quantized[qtype] = quantize(gguf_f16, out_dir / f"model-{qtype}.gguf", qtype, progress=progress)
    info = {"shape": shape.__dict__, "seed": seed, "builder_version": BUILDER_VERSION, "quantized": list(quantize_to)}
    (out_dir / "BUILD_INFO.json").write_text(json.dumps(info, indent=2) + "\n")
    return RandomLlama(root=out_dir, hf_dir=hf_dir, gguf_f16=gguf_f16, quantized=quantized)


def _say(enabled: bool, message: str) -> None:
    if enabled:
        print(f"semcoder: {message}", file=sys.stderr, flush=True)
