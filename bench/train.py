"""Training benchmark: one command, one table, every ratio measured side by side in one run.

    .venv/bin/python bench/train.py            # CPU: tiny model
    .venv/bin/python bench/train.py --gpu      # also a SemCoder-S-shaped LoRA step on a GPU

Rows:
- training tokens/s (real tokens, padding excluded) with sequence packing vs padding to the
  longest example of each micro-batch, on the tiny model and a length-skewed data set
  (75% short, 25% long: the case packing is for). Target: packing >= 1.5x.
- data building records/s with 1 worker vs 2 (process pool, one sandbox per worker).
- with --gpu and a CUDA device: one LoRA step of a randomly initialised model shaped like
  SemCoder-S (hidden 4096, 32 layers, 32 heads, vocab 32256), tokens/s and model FLOPs
  utilisation (6 * trainable-and-frozen forward/backward FLOPs estimate over peak bf16).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACK_WIDTH = 512
sys.path.insert(0, str(REPO / "tests"))


def skewed_records(path: Path, n: int, seed: int = 0) -> None:
    """PyX rows whose responses follow a heavy-tailed length distribution (Pareto)."""
    rng = random.Random(seed)
    words = (REPO / "training" / "train.py").read_text().split()
    with path.open("w") as f:
        for i in range(n):
            # most responses are a few words, one in four is 150-250 words: SemCoder's mix of
            # short answers and long monologues, exaggerated
            length = rng.randint(150, 250) if rng.random() < 0.25 else rng.randint(5, 30)
            start = rng.randrange(len(words) - length)
            body = " ".join(words[start:start + length])
            row = {"nl": None, "fwd_mnl": f"[PYTHON]\ndef f(x):\n    return x + {i}\nassert f(1) == ??\n[/PYTHON]\n[MONOLOGUE]",
                   "bwd_mnl": None, "response": body + "\n[/MONOLOGUE]\n[ANSWER]\nassert f(1) == 2\n[/ANSWER]"}
            f.write(json.dumps(row) + "\n")


def train_throughput(data: Path, rounds: int) -> tuple[float, float]:
    """(padded, packed) training tokens/s of the tiny recipe's LoRA model.

    The two modes alternate step by step in one process on one model, so both see the
    same machine load (this bench often runs on a busy 2-core machine). A step is the real
    training step: forward, response-only loss, backward, AdamW update. Padded steps take
    4 examples padded to the longest; packed steps take 4 rows of up to PACK_WIDTH (512)
    tokens, one row per micro-batch."""
    import contextlib

    import torch

    from semcoder_training.train import (Dist, RowStream, build_model, collate, load_config, read_records,
                                         resolve_model_path, response_loss_sum, tokenize_examples)
    from transformers import AutoTokenizer

    torch.manual_seed(0)
    torch.set_num_threads(2)
    config = load_config(REPO / "training" / "recipes" / "tiny_cpu.yaml", [f"data={data}", "max_seq_len=1024"])
    path = resolve_model_path("tiny")
    tokenizer = AutoTokenizer.from_pretrained(path)
    examples, _ = tokenize_examples(tokenizer, read_records([str(data)]), 1024)
    model = build_model(config, path, Dist(), torch.float32)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    # Packed rows are 512 tokens (an example longer than that gets a row of its own) and each
    # row is its own micro-batch: no padding at all, and attention work per token stays
    # bounded by the row width instead of growing with the 1024-token maximum.
    streams = {"padded": (RowStream(examples, 1024, False, 0), 4), "packed": (RowStream(examples, PACK_WIDTH, True, 0), 4)}
    tokens = {"padded": 0, "packed": 0}
    seconds = {"padded": 0.0, "packed": 0.0}
    for r in range(rounds + 1):
        for mode, (stream, rows_per_step) in streams.items():
            rows = stream.rows(r * rows_per_step, rows_per_step)
            micro = [rows] if mode == "padded" else [[row] for row in rows]
            batches = [collate(m, tokenizer.eos_token_id) for m in micro]
            t0 = time.perf_counter()
            for batch in batches:
                loss, n = response_loss_sum(model, batch, "cpu", contextlib.nullcontext)
                (loss / max(n, 1)).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if r:  # round 0 warms up both modes
                seconds[mode] += time.perf_counter() - t0
                tokens[mode] += sum(b["n_tokens"] for b in batches)
    return tokens["padded"] / seconds["padded"], tokens["packed"] / seconds["packed"]


def build_rate(out: Path, workers: int, seeds: int) -> tuple[float, int]:
    from semcoder_training.data.build import BuildConfig, build

    started = time.perf_counter()
    sheet = build(BuildConfig(out_dir=out, generated_seeds=seeds, workers=workers, progress=False, holdout=0.0))
    elapsed = time.perf_counter() - started
    return sheet["records_total"] / elapsed, sheet["records_total"]


def gpu_lora_step() -> list[tuple[str, str, str, str]]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    if not torch.cuda.is_available():
        return [("SemCoder-S-shaped LoRA step (GPU)", "no CUDA device", "", "")]
    cfg = LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=32, vocab_size=32256, max_position_embeddings=16384)
    with torch.device("cuda"):
        model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    model.config.use_cache = False
    model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    model = get_peft_model(model, LoraConfig(r=64, lora_alpha=128, target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                                                                   "gate_proj", "up_proj", "down_proj"]))
    model.enable_input_require_grads()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    batch, seq = 4, 2048
    ids = torch.randint(0, 32256, (batch, seq), device="cuda")
    n_params = sum(p.numel() for p in model.parameters())

    def step():
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(2):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    n = 5
    for _ in range(n):
        step()
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / n
    tokens_s = batch * seq / dt
    # 6N FLOPs per token for forward+backward (+2N for the recomputed forward with checkpointing)
    flops = 8 * n_params * batch * seq / dt
    name = torch.cuda.get_device_name()
    peak = 989e12 if "H100" in name or "H200" in name else None
    mfu = f"MFU {flops / peak:.1%} (8N FLOPs/token incl. recompute, peak 989 TFLOP/s bf16)" if peak else f"{flops / 1e12:.0f} TFLOP/s"
    # Peak GPU memory: the check of semcoder_s_lora_1gpu.yaml's arithmetic (bf16 base, fp32
    # adapters; that recipe takes 1 x 2048 tokens a micro-batch, this step 4 x 2048).
    peak_gib = torch.cuda.max_memory_allocated() / 2**30
    return [(f"SemCoder-S-shaped LoRA step, {name}", f"{tokens_s:,.0f} tokens/s",
             f"bs {batch} x {seq}, r=64, bf16, ckpt, peak {peak_gib:.1f} GiB allocated", mfu)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8, help="timed steps per mode (alternating)")
    parser.add_argument("--examples", type=int, default=160)
    parser.add_argument("--seeds", type=int, default=24)
    parser.add_argument("--gpu", action="store_true", help="also run the SemCoder-S-shaped LoRA step (needs CUDA)")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="semcoder-bench-train-"))
    rows: list[tuple[str, str, str, str]] = []
    figures: dict = {}
    try:
        data = work / "skewed.jsonl"
        skewed_records(data, args.examples)
        padded, packed = train_throughput(data, args.rounds)
        ratio = packed / padded
        figures.update(padded_tokens_s=padded, packed_tokens_s=packed, packing_ratio=ratio)
        rows.append(("training tokens/s, padding to longest", f"{padded:,.0f}", "tiny LoRA, skewed lengths, 4 ex/step", ""))
        rows.append(("training tokens/s, packing", f"{packed:,.0f}", "same, 4 packed rows (512 wide)/step, alternating", f"{ratio:.2f}x (target >= 1.5x)"))

        one, n_records = build_rate(work / "build1", 1, args.seeds)
        two, _ = build_rate(work / "build2", 2, args.seeds)
        figures.update(build_records_s_1=one, build_records_s_2=two, build_ratio=two / one, build_records=n_records)
        rows.append(("data build records/s, 1 worker", f"{one:.1f}", f"{args.seeds} generated seeds, {n_records} records", ""))
        rows.append(("data build records/s, 2 workers", f"{two:.1f}", "same seeds", f"{two / one:.2f}x"))
        if args.gpu:
            rows += gpu_lora_step()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    widths = [max(len(r[i]) for r in rows + [("what", "value", "setup", "ratio")]) for i in range(4)]
    header = ("what", "value", "setup", "ratio")
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("-|-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths)))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
