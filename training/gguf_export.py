"""Hugging Face Llama-family checkpoint -> GGUF (f32, f16 or bf16), written atomically.

What llama.cpp needs that a plain tensor dump would get wrong:
* q_proj/k_proj rows permuted per head: HF applies RoPE to the two halves of each head
  ("rotate_half"), llama.cpp's LLAMA graph to adjacent pairs; the permutation converts one
  layout to the other (k uses the key/value head count, which differs under GQA).
* RoPE base and scaling from the config (transformers 5 `rope_parameters`, or the older
  `rope_theta` / `rope_scaling` keys that SemCoder's config.json still uses).
* 1-D tensors (norms) stay f32 in 16-bit files, as llama.cpp's own converter does.
* the tokenizer: byte-level BPE ("gpt2" + pre-tokenizer "deepseek-coder") or SentencePiece.

Tensors are converted one at a time (memory-mapped input, streamed output), so a 6.7B
checkpoint exports without holding it in RAM. The file is written under a temporary name in
the target folder and renamed at the end: a failed export leaves no file under the final name.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from semcoder_inference.errors import ModelError, SemcoderError

from .atomic import atomic_output
from .safetensors_io import checkpoint_tensors, f32_to_bf16_bits

SUPPORTED_ARCHITECTURES = ("LlamaForCausalLM",)
DTYPES = ("f32", "f16", "bf16")

# A lazily produced HF tensor: (hf_name, shape, produce() -> float array)
LazyTensor = tuple[str, tuple[int, ...], Callable[[], np.ndarray]]


@dataclass
class LlamaHParams:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    context: int
    rms_eps: float
    rope_theta: float
    rope_scaling: tuple[str, float] | None = None  # ("linear", factor)
    head_dim: int | None = None
    name: str = "model"

    @property
    def rope_dim(self) -> int:
        return self.head_dim or self.hidden // self.heads


@dataclass
class GGUFVocab:
    model: str  # "gpt2" (byte-level BPE) or "llama" (SentencePiece)
    tokens: list[str]
    token_types: list[int]
    bos_id: int | None
    eos_id: int | None
    pre: str | None = None
    merges: list[str] = field(default_factory=list)
    scores: list[float] | None = None
    unk_id: int | None = None
    pad_id: int | None = None
    add_bos: bool = True
    add_eos: bool = False
    add_space_prefix: bool | None = None


# ---------------------------------------------------------------- config


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path} is missing.", hint="Point at a Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer files).") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"Cannot read {path}: {exc}.") from exc


def _rope_from_config(config: dict[str, Any]) -> tuple[float, tuple[str, float] | None]:
    params = config.get("rope_parameters")
    if isinstance(params, dict) and "full_attention" in params and isinstance(params["full_attention"], dict):
        params = params["full_attention"]  # per-layer-type form of transformers 5
    if isinstance(params, dict) and "rope_theta" in params:
        theta = float(params["rope_theta"])
        scaling = params
    else:
        theta = float(config.get("rope_theta", 10000.0))
        scaling = config.get("rope_scaling") or {}
    kind = scaling.get("rope_type") or scaling.get("type") or "default"
    if kind == "default":
        return theta, None
    if kind == "linear":
        return theta, ("linear", float(scaling["factor"]))
    raise SemcoderError(f"RoPE scaling type {kind!r} is not supported by this exporter (only none and 'linear').")


def read_hparams(hf_dir: Path) -> LlamaHParams:
    config = _read_json(hf_dir / "config.json")
    archs = config.get("architectures") or []
    if not any(a in SUPPORTED_ARCHITECTURES for a in archs):
        raise ModelError(
            f"{hf_dir} holds a {', '.join(archs) or 'model of unknown architecture'}; the GGUF exporter handles "
            f"Llama-family checkpoints ({', '.join(SUPPORTED_ARCHITECTURES)}) such as SemCoder and DeepSeek-Coder."
        )
    theta, scaling = _rope_from_config(config)
    heads = int(config["num_attention_heads"])
    return LlamaHParams(
        hidden=int(config["hidden_size"]),
        layers=int(config["num_hidden_layers"]),
        heads=heads,
        kv_heads=int(config.get("num_key_value_heads") or heads),
        intermediate=int(config["intermediate_size"]),
        vocab=int(config["vocab_size"]),
        context=int(config.get("max_position_embeddings", 4096)),
        rms_eps=float(config.get("rms_norm_eps", 1e-6)),
        rope_theta=theta,
        rope_scaling=scaling,
        head_dim=config.get("head_dim"),
        name=str(config.get("_name_or_path") or hf_dir.resolve().name),
    )


# ---------------------------------------------------------------- tokenizer


def _token_content(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("content")
    return value


def _is_deepseek_coder_pre(pre: dict[str, Any] | None) -> bool:
    from .tokenizers_build import DEEPSEEK_CODER_SPLITS

    if not pre or pre.get("type") != "Sequence":
        return False
    steps = pre.get("pretokenizers", [])
    splits = [s.get("pattern", {}).get("Regex") for s in steps if s.get("type") == "Split"]
    digits = [s for s in steps if s.get("type") == "Digits"]
    return tuple(splits) == DEEPSEEK_CODER_SPLITS and len(digits) == 1 and digits[0].get("individual_digits") is True


def _bpe_vocab(hf_dir: Path, n_vocab: int, pre: str | None) -> GGUFVocab:
    data = _read_json(hf_dir / "tokenizer.json")
    model = data.get("model", {})
    if model.get("type") != "BPE":
        raise ModelError(f"{hf_dir / 'tokenizer.json'} holds a {model.get('type')} model; only BPE and SentencePiece tokenizers are exported.")
    if pre is None:
        if not _is_deepseek_coder_pre(data.get("pre_tokenizer")):
            raise SemcoderError(
                f"The byte-level tokenizer in {hf_dir} does not use DeepSeek-Coder's pre-tokenizer, the only one this "
                "exporter recognises.", hint="Pass the llama.cpp pre-tokenizer name explicitly if you know it matches."
            )
        pre = "deepseek-coder"
    id_to_token: dict[int, str] = {int(i): t for t, i in model["vocab"].items()}
    special: set[int] = set()
    user_defined: set[int] = set()
    for added in data.get("added_tokens", []):
        id_to_token[int(added["id"])] = added["content"]
        (special if added.get("special") else user_defined).add(int(added["id"]))
    size = max(n_vocab, max(id_to_token) + 1)
    if size > n_vocab:
        raise ModelError(f"The tokenizer in {hf_dir} has ids up to {size - 1} but the model's vocab_size is {n_vocab}.")
    tokens, types = [], []
    for i in range(size):
        if i in id_to_token:
            tokens.append(id_to_token[i])
            types.append(3 if i in special else 4 if i in user_defined else 1)  # CONTROL / USER_DEFINED / NORMAL
        else:
            tokens.append(f"[PAD{i}]")  # the model's embedding has rows the tokenizer never produces
            types.append(5)  # UNUSED
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    tok_config = _read_json(hf_dir / "tokenizer_config.json") if (hf_dir / "tokenizer_config.json").exists() else {}
    lookup = {t: i for i, t in enumerate(tokens)}
    config = _read_json(hf_dir / "config.json")
    bos = lookup.get(_token_content(tok_config.get("bos_token")), config.get("bos_token_id"))
    eos = lookup.get(_token_content(tok_config.get("eos_token")), config.get("eos_token_id"))
    pad = lookup.get(_token_content(tok_config.get("pad_token")))
    return GGUFVocab(model="gpt2", pre=pre, tokens=tokens, token_types=types, merges=merges, bos_id=bos, eos_id=eos,
                     pad_id=pad, add_bos=bool(tok_config.get("add_bos_token", True)), add_eos=bool(tok_config.get("add_eos_token", False)))


def _spm_vocab(hf_dir: Path, n_vocab: int) -> GGUFVocab:
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    try:
        proto.ParseFromString((hf_dir / "tokenizer.model").read_bytes())
    except Exception as exc:  # protobuf raises its own DecodeError
        raise ModelError(f"{hf_dir / 'tokenizer.model'} is not a readable SentencePiece model: {exc}.") from exc
    tokens = [p.piece for p in proto.pieces]
    scores = [float(p.score) for p in proto.pieces]
    types = [int(p.type) for p in proto.pieces]  # SentencePiece's type numbers are GGUF's token types
    if len(tokens) > n_vocab:
        raise ModelError(f"The SentencePiece model in {hf_dir} has {len(tokens)} pieces but the model's vocab_size is {n_vocab}.")
    for i in range(len(tokens), n_vocab):
        tokens.append(f"[PAD{i}]")
        scores.append(-1000.0)
        types.append(5)
    tok_config = _read_json(hf_dir / "tokenizer_config.json") if (hf_dir / "tokenizer_config.json").exists() else {}
    spec = proto.trainer_spec

    def valid(i: int) -> int | None:
        return i if i >= 0 else None

    return GGUFVocab(model="llama", tokens=tokens, token_types=types, scores=scores, bos_id=valid(spec.bos_id),
                     eos_id=valid(spec.eos_id), unk_id=valid(spec.unk_id), pad_id=valid(spec.pad_id),
                     add_bos=bool(tok_config.get("add_bos_token", True)), add_eos=bool(tok_config.get("add_eos_token", False)),
                     add_space_prefix=bool(proto.normalizer_spec.add_dummy_prefix))


def read_vocab(hf_dir: Path, n_vocab: int, pre: str | None = None) -> GGUFVocab:
    """The tokenizer of a checkpoint folder, in GGUF terms."""
    tokenizer_json = hf_dir / "tokenizer.json"
    if tokenizer_json.exists():
        data = _read_json(tokenizer_json)
        byte_level = "ByteLevel" in json.dumps(data.get("pre_tokenizer")) or "ByteLevel" in json.dumps(data.get("decoder"))
        if byte_level or not (hf_dir / "tokenizer.model").exists():
            return _bpe_vocab(hf_dir, n_vocab, pre)
    if (hf_dir / "tokenizer.model").exists():
        return _spm_vocab(hf_dir, n_vocab)
    raise ModelError(f"No tokenizer in {hf_dir}: expected tokenizer.json (byte-level BPE) or tokenizer.model (SentencePiece).")


# ---------------------------------------------------------------- tensors


def permute_rope_rows(weight: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder q/k projection rows from HF's half-split RoPE layout to llama.cpp's pairwise one."""
    rows = weight.shape[0]
    return weight.reshape(n_head, 2, rows // n_head // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def _prepare(name: str, data: np.ndarray, hp: LlamaHParams) -> np.ndarray:
    if name.endswith("self_attn.q_proj.weight"):
        return permute_rope_rows(data, hp.heads)
    if name.endswith("self_attn.k_proj.weight"):
        return permute_rope_rows(data, hp.kv_heads)
    return data


def _convert(data: np.ndarray, dtype: str) -> np.ndarray:
    """Cast one tensor to its stored form (bf16 as raw uint16 bits); 1-D tensors stay f32."""
    if dtype == "f32" or data.ndim == 1:
        return np.ascontiguousarray(data, dtype=np.float32)
    if dtype == "f16":
        return np.ascontiguousarray(data, dtype=np.float16)
    return f32_to_bf16_bits(np.asarray(data, dtype=np.float32))


def _gguf_name(name_map, hf_name: str) -> str:
    mapped = name_map.get_name(hf_name, try_suffixes=(".weight", ".bias"))
    if mapped is None:
        raise ModelError(f"The checkpoint has a tensor {hf_name!r} that has no place in a llama.cpp Llama model.")
    return mapped


# ---------------------------------------------------------------- writing


def _add_metadata(writer, key: str, value: Any) -> None:
    if isinstance(value, bool):
        writer.add_bool(key, value)
    elif isinstance(value, int):
        writer.add_int64(key, value) if value < 0 or value >= 2**32 else writer.add_uint32(key, value)
    elif isinstance(value, float):
        writer.add_float32(key, value)
    elif isinstance(value, str):
        writer.add_string(key, value)
    else:
        writer.add_string(key, json.dumps(value, sort_keys=True))


def write_llama_gguf(out_path: Path, hp: LlamaHParams, vocab: GGUFVocab, tensors: Iterable[LazyTensor], dtype: str = "f16",
                     metadata: dict[str, Any] | None = None, progress: bool = False) -> Path:
    """Write a llama.cpp Llama GGUF from lazily produced HF-named tensors, atomically."""
    import gguf

    if dtype not in DTYPES:
        raise SemcoderError(f"Unknown GGUF dtype {dtype!r}: choose one of {', '.join(DTYPES)}.")
    if len(vocab.tokens) != hp.vocab:
        raise ModelError(f"The tokenizer has {len(vocab.tokens)} tokens but the model's vocabulary has {hp.vocab} rows.")
    for key in metadata or {}:
        if not re.fullmatch(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)+", key):
            raise SemcoderError(f"Metadata key {key!r} is not a dotted GGUF key such as 'semcoder.base_model'.")
    out_path = Path(out_path)
    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, hp.layers)
    planned = [(_gguf_name(name_map, n), n, shape, produce) for n, shape, produce in tensors if not n.endswith("rotary_emb.inv_freq")]

    with atomic_output(out_path) as tmp:
        writer = gguf.GGUFWriter(str(tmp), "llama")
        try:
            _write_all(writer, hp, vocab, planned, dtype, metadata, progress, out_path.name)
        finally:
            writer.close()
    return out_path


def _write_all(writer, hp: LlamaHParams, vocab: GGUFVocab, planned, dtype: str, metadata, progress: bool, label: str) -> None:
    import gguf
    from tqdm import tqdm

    writer.add_name(hp.name)
    writer.add_context_length(hp.context)
    writer.add_embedding_length(hp.hidden)
    writer.add_block_count(hp.layers)
    writer.add_feed_forward_length(hp.intermediate)
    writer.add_head_count(hp.heads)
    writer.add_head_count_kv(hp.kv_heads)
    writer.add_rope_dimension_count(hp.rope_dim)
    if hp.head_dim and hp.head_dim != hp.hidden // hp.heads:
        writer.add_key_length(hp.head_dim)
        writer.add_value_length(hp.head_dim)
    writer.add_layer_norm_rms_eps(hp.rms_eps)
    writer.add_rope_freq_base(hp.rope_theta)
    if hp.rope_scaling:
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(hp.rope_scaling[1])
    writer.add_vocab_size(hp.vocab)
    writer.add_file_type({"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                          "bf16": gguf.LlamaFileType.MOSTLY_BF16}[dtype])
    _add_vocab(writer, vocab)
    for key, value in (metadata or {}).items():
        _add_metadata(writer, key, value)

    # Tensor infos come before any data, so shapes/dtypes are declared up front and
    # each tensor is produced, converted and written only when its turn comes.
    for gguf_name, _, shape, _ in planned:
        store_f32 = dtype == "f32" or len(shape) == 1
        n = int(np.prod(shape))
        if store_f32:
            writer.add_tensor_info(gguf_name, shape, np.dtype(np.float32), n * 4)
        elif dtype == "f16":
            writer.add_tensor_info(gguf_name, shape, np.dtype(np.float16), n * 2)
        else:
            writer.add_tensor_info(gguf_name, shape, np.dtype(np.uint16), n * 2, raw_dtype=gguf.GGMLQuantizationType.BF16)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    total = sum(int(np.prod(shape)) for _, _, shape, _ in planned)
    with tqdm(total=total, unit="param", unit_scale=True, desc=f"export {label}", file=sys.stderr,
              disable=not progress) as bar:
        for gguf_name, hf_name, shape, produce in planned:
            data = produce()
            if tuple(data.shape) != tuple(shape):
                raise ModelError(f"Tensor {hf_name!r} has shape {tuple(data.shape)}, expected {tuple(shape)}.")
            array = _convert(_prepare(hf_name, data, hp), dtype)
            writer.write_tensor_data(array)
            bar.update(array.size)


def _add_vocab(writer, vocab: GGUFVocab) -> None:
    writer.add_tokenizer_model(vocab.model)
    if vocab.pre:
        writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.token_types)
    if vocab.scores is not None:
        writer.add_token_scores(vocab.scores)
    if vocab.merges:
        writer.add_token_merges(vocab.merges)
    if vocab.bos_id is not None:
        writer.add_bos_token_id(vocab.bos_id)
    if vocab.eos_id is not None:
        writer.add_eos_token_id(vocab.eos_id)
    if vocab.unk_id is not None:
        writer.add_unk_token_id(vocab.unk_id)
    if vocab.pad_id is not None:
        writer.add_pad_token_id(vocab.pad_id)
    writer.add_add_bos_token(vocab.add_bos)
    writer.add_add_eos_token(vocab.add_eos)
    if vocab.add_space_prefix is not None:
        writer.add_add_space_prefix(vocab.add_space_prefix)


# The pre-tokenizer names (`tokenizer.ggml.pre`) that the llama.cpp of llama-cpp-python 0.3.x
# knows (llama-vocab.cpp); any other makes it refuse the file ("unknown pre-tokenizer type").
KNOWN_PRE_TOKENIZERS = (
    "default", "llama3", "llama-v3", "llama-bpe", "llama4", "deepseek-llm", "deepseek-coder", "deepseek-v3",
    "deepseek-r1-qwen", "falcon", "falcon3", "falcon-h1", "mpt", "starcoder", "gpt-2", "phi-2", "refact", "command-r",
    "qwen2", "qwen35", "stablelm2", "olmo", "dbrx", "smaug-bpe", "poro-chat", "chatglm-bpe", "viking", "jais",
    "jais-2", "tekken", "smollm", "codeshell", "bloom", "gpt3-finnish", "exaone", "exaone4", "exaone-moe",
    "chameleon", "minerva-7b", "megrez", "gpt-4o", "superbpe", "trillion", "bailingmoe", "seed-coder", "hunyuan",
    "hunyuan-dense", "kimi-k2", "grok-2", "pixtral", "midm-2.0", "lfm2", "jina-es", "jina-de", "jina-v1-en",
    "jina-v2-es", "jina-v2-de", "jina-v2-code", "a.x-4.0", "mellum", "roberta-bpe", "gigachat", "afmoe",
    "minimax-m2", "solar-open", "youtu", "granite-docling", "modern-bert", "kanana2", "tiny_aya", "joyai-llm",
    "f2llmv2",
)


def check_pre_tokenizer(name: str | None) -> None:
    """Refuse a pre-tokenizer name llama.cpp does not know: the file would be written, pass a
    header check, and then fail to load."""
    if name is not None and name not in KNOWN_PRE_TOKENIZERS:
        raise SemcoderError(
            f"--pre-tokenizer {name!r} is not a pre-tokenizer llama.cpp knows, so it could not load the file.",
            hint="Leave it out to detect DeepSeek-Coder's, or choose one of: " + ", ".join(sorted(KNOWN_PRE_TOKENIZERS)) + ".",
        )


def export_gguf(hf_dir: str | Path, out_path: str | Path, *, dtype: str = "f16", metadata: dict[str, Any] | None = None,
                pre_tokenizer: str | None = None, progress: bool = False) -> Path:
    """Export the HF Llama checkpoint in `hf_dir` to a GGUF file at `out_path`.

    `metadata` adds key/values (e.g. {"semcoder.base_model": "..."}) for provenance.
    """
    hf_dir = Path(hf_dir)
    check_pre_tokenizer(pre_tokenizer)
    if not hf_dir.is_dir():
        raise ModelError(f"{hf_dir} is not a folder; export needs a Hugging Face checkpoint folder.")
    hp = read_hparams(hf_dir)
    vocab = read_vocab(hf_dir, hp.vocab, pre_tokenizer)
    entries = checkpoint_tensors(hf_dir)
    lazy = [(name, entry.shape, entry.to_float32) for name, entry in sorted(entries.items(), key=lambda kv: _tensor_order(kv[0]))]
    return write_llama_gguf(Path(out_path), hp, vocab, lazy, dtype=dtype, metadata=metadata, progress=progress)


def _tensor_order(name: str) -> tuple[int, int, str]:
    """Embedding first, then layers in numeric order, then the head: the order llama.cpp's converter uses."""
    match = re.search(r"\.layers\.(\d+)\.", name)
    if match:
        return (1, int(match.group(1)), name)
    return (0 if "embed_tokens" in name else 2, 0, name)
