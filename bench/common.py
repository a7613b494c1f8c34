"""Small helpers shared by the benchmarks: tables, timing, cached random-weight models."""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_CACHE = REPO_ROOT / ".cache" / "bench"


def print_table(title: str, header: list[str], rows: list[list], out=sys.stdout) -> None:
    """A plain-text table, columns sized to their widest cell."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = "+-" + "-+-".join("-" * w for w in widths) + "-+"
    print(f"\n{title}", file=out)
    print(line, file=out)
    for n, row in enumerate(cells):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |", file=out)
        if n == 0:
            print(line, file=out)
    print(line, file=out)


def median(values) -> float:
    return statistics.median(values) if values else float("nan")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cpu_used_elsewhere(seconds: float = 1.0) -> float:
    """How many CPUs' worth of time the rest of the machine used over the next `seconds`
    (this process only waits meanwhile). A leftover process (a stray worker, a build,
    another benchmark) skews every absolute figure; ratios measured side by side, much
    less."""
    import psutil

    return psutil.cpu_percent(interval=seconds) / 100 * (psutil.cpu_count() or 1)


def warn_if_busy(used: float, threshold: float = 0.25, out=sys.stdout) -> None:
    """A line under the tables when other processes were using CPU as the run began."""
    if used > threshold:
        print(f"\nWarning: other processes used {used:.2f} CPUs in the second before this run (a leftover "
              "worker? a build?): the absolute figures above are off, the side-by-side ratios much less. "
              "Check `ps` and run again.", file=out)


# ----------------------------------------------------------------- random models


def _byte_level_vocab(n_vocab: int) -> tuple[list[str], list[int], list[str]]:
    """A byte-level BPE vocabulary: the 256 byte symbols (GPT-2 mapping), frequent Python
    pieces built by merges, filler tokens, and BOS/EOS at the end (as DeepSeek-Coder does)."""
    visible = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = [], 0
    for b in range(256):
        if b in visible:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    tokens = list(chars)
    merges: list[str] = []
    # Merge pairs for common code fragments, so prompts tokenize to fewer, realistic tokens.
    fragments = ["Ġ", "ĠĠ", "ĠĠĠĠ", "def", "return", "Ġx", "Ġ=", "Ġ+", "in", "for", "if", "Ġi", "self", "Ġ(", "):", "Ċ"]
    seen = set(tokens)
    for frag in fragments:
        current = frag[0]
        for ch in frag[1:]:
            joined = current + ch
            if joined not in seen:
                merges.append(f"{current} {ch}")
                tokens.append(joined)
                seen.add(joined)
            current = joined
    n_fill = n_vocab - len(tokens) - 2
    tokens += [f"<fill_{i}>" for i in range(n_fill)]
    types = [1] * (len(tokens)) + [3, 3]  # 1 normal, 3 control
    tokens += ["<|begin_of_sentence|>", "<|end_of_sentence|>"]
    return tokens, types, merges


def build_random_llama_gguf(
    out_path: Path,
    *,
    hidden: int,
    layers: int,
    heads: int,
    ff: int,
    vocab: int,
    context: int = 4096,
    seed: int = 0,
) -> Path:
    """Write an f16 GGUF of a random-weight Llama with a byte-level BPE vocabulary.

    A fallback for benchmarks when semcoder_training.tiny does not offer a custom-shape
    builder: speed depends on the shapes, not on the weights or the vocabulary's content."""
    import gguf
    import numpy as np

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(out_path.suffix + ".part")
    rng = np.random.default_rng(seed)
    head_dim = hidden // heads
    writer = gguf.GGUFWriter(str(tmp), "llama")
    writer.add_name("random-llama-bench")
    writer.add_context_length(context)
    writer.add_embedding_length(hidden)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ff)
    writer.add_head_count(heads)
    writer.add_head_count_kv(heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_rope_freq_base(100000.0)
    writer.add_file_type(1)  # mostly f16
    tokens, types, merges = _byte_level_vocab(vocab)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("deepseek-coder")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(vocab - 2)
    writer.add_eos_token_id(vocab - 1)
    writer.add_add_bos_token(True)

    def weight(rows: int, cols: int) -> "np.ndarray":
        return (rng.standard_normal((rows, cols), dtype=np.float32) * (1.0 / cols**0.5)).astype(np.float16)

    ones = np.ones(hidden, dtype=np.float32)
    writer.add_tensor("token_embd.weight", weight(vocab, hidden))
    for i in range(layers):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", ones)
        writer.add_tensor(f"blk.{i}.attn_q.weight", weight(hidden, hidden))
        writer.add_tensor(f"blk.{i}.attn_k.weight", weight(hidden, hidden))
        writer.add_tensor(f"blk.{i}.attn_v.weight", weight(hidden, hidden))
        writer.add_tensor(f"blk.{i}.attn_output.weight", weight(hidden, hidden))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", ones)
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", weight(ff, hidden))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", weight(ff, hidden))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", weight(hidden, ff))
    writer.add_tensor("output_norm.weight", ones)
    writer.add_tensor("output.weight", weight(vocab, hidden))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, out_path)
    return out_path


def quantize_gguf(src: Path, dst: Path, ftype: int) -> Path:
    """llama.cpp's quantizer (15 = Q4_K_M, 7 = Q8_0), written atomically."""
    import ctypes

    import llama_cpp

    tmp = Path(str(dst) + ".part")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), ctypes.byref(params))
    if rc != 0:
        raise RuntimeError(f"quantize failed with code {rc}")
    os.replace(tmp, dst)
    return dst
