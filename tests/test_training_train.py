"""Fine-tuning on the tiny model: response-only loss, packing without cross-attention,
exact resume, and a 2-process torchrun run that matches a single process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from semcoder_inference.errors import SemcoderError
from semcoder_training.data.build import BuildConfig, build
from semcoder_training.train import (
    IGNORE,
    collate,
    cosine_with_warmup,
    load_config,
    pack,
    read_records,
    response_loss_sum,
    tokenize_examples,
    train,
)

from conftest import REPO_ROOT

RECIPE = REPO_ROOT / "training" / "recipes" / "tiny_cpu.yaml"


@pytest.fixture(scope="module")
def data_file(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("train-data")
    build(BuildConfig(out_dir=out, generated_seeds=10, workers=1, progress=False, holdout=0.0))
    return out / "pyx.jsonl"


def _config(data_file: Path, out: Path, *overrides: str) -> dict:
    return load_config(RECIPE, [f"data={data_file}", f"output_dir={out}", "max_seq_len=768", "threads=1", *overrides])


def test_prompt_gets_bos_and_no_loss_response_gets_eos(tiny_model, data_file):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model.hf_dir)
    rows = read_records([str(data_file)])
    examples, _ = tokenize_examples(tok, rows[:5], 4096)
    for ex, (kind, instruction, response) in zip(examples, rows):
        assert ex.input_ids[0] == tok.bos_token_id and ex.input_ids[-1] == tok.eos_token_id
        n_prompt = sum(1 for label in ex.labels if label == IGNORE)
        assert ex.labels[n_prompt:] == ex.input_ids[n_prompt:]  # loss on every response token + EOS
        assert tok.decode(ex.input_ids[1:n_prompt]) .endswith("\n")  # the template's prompt ends in \n
        assert tok.decode(ex.input_ids[n_prompt:-1]) == response


def test_packed_loss_equals_unpacked_loss(tiny_model, data_file):
    """No attention across packed examples: the summed loss is the same packed or one by one."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    import contextlib

    tok = AutoTokenizer.from_pretrained(tiny_model.hf_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model.hf_dir, dtype=torch.float32).eval()
    examples, _ = tokenize_examples(tok, read_records([str(data_file)])[:6], 4096)
    rows = pack(examples, 4096)
    assert len(rows) < len(examples)  # really packed
    with torch.no_grad():
        packed, n_packed = response_loss_sum(model, collate(rows, tok.eos_token_id), "cpu", contextlib.nullcontext)
        one_by_one = [response_loss_sum(model, collate([[e]], tok.eos_token_id), "cpu", contextlib.nullcontext) for e in examples]
        padded, n_padded = response_loss_sum(model, collate([[e] for e in examples], tok.eos_token_id), "cpu", contextlib.nullcontext)
    unpacked = sum(float(loss) for loss, _ in one_by_one)
    assert n_packed == n_padded == sum(n for _, n in one_by_one)
    assert float(packed) == pytest.approx(unpacked, rel=1e-5)
    assert float(padded) == pytest.approx(unpacked, rel=1e-5)
    # and the check has teeth: one causal mask over the whole packed row changes the loss by
    # at least ten times the tolerance above (the random tiny model leans little on context)
    batch = collate(rows, tok.eos_token_id)
    with torch.no_grad():
        out = model(input_ids=batch["input_ids"], use_cache=False)
    logits, targets = out.logits[:, :-1], batch["labels"][:, 1:]
    leaky = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=IGNORE, reduction="sum")
    assert abs(float(leaky) - unpacked) > 1e-4 * unpacked


def test_cosine_schedule_with_warmup():
    values = [cosine_with_warmup(s, 2, 10, 0.1) for s in range(10)]
    assert values[0] == 0.5 and values[1] == 1.0 and values[2] == 1.0
    assert all(a >= b for a, b in zip(values[2:], values[3:]))
    assert values[-1] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + __import__("math").cos(__import__("math").pi * 7 / 8)))


def test_resume_continues_exactly(tmp_path, data_file):
    full = train(_config(data_file, tmp_path / "full", "max_steps=4", "save_every=2"))
    interrupted = train(_config(data_file, tmp_path / "cut", "max_steps=4", "save_every=2", "stop_after=3"))
    assert [h["step"] for h in interrupted["history"]] == [1, 2, 3]
    resumed = train(_config(data_file, tmp_path / "cut", "max_steps=4", "save_every=2"))
    assert [h["step"] for h in resumed["history"]] == [1, 2, 3, 4]  # step 3 was lost and redone
    assert [h["loss"] for h in resumed["history"]] == pytest.approx([h["loss"] for h in full["history"]], rel=1e-6)
    assert full["history"][-1]["loss"] < full["history"][0]["loss"]
    metrics = [json.loads(line) for line in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2, 3, 4] and all(m["tokens_per_s"] > 0 for m in metrics)
    ckpt = tmp_path / "full" / "checkpoint-000004"
    assert (ckpt / "adapter" / "adapter_config.json").exists() and (ckpt / "trainer_state.pt").exists()


def test_full_fine_tuning_with_gradient_checkpointing_matches_without(tmp_path, data_file):
    plain = train(_config(data_file, tmp_path / "a", "method=full", "max_steps=2", "lr=0.0005"))
    ckpt = train(_config(data_file, tmp_path / "b", "method=full", "max_steps=2", "lr=0.0005", "gradient_checkpointing=true"))
    assert [h["loss"] for h in ckpt["history"]] == pytest.approx([h["loss"] for h in plain["history"]], rel=1e-5)
    assert (tmp_path / "b" / "checkpoint-000002" / "model" / "config.json").exists()


def test_two_processes_match_one(tmp_path, data_file):
    """torchrun --nproc_per_node=2 (gloo, CPU) with the same global batch as one process:
    the loss per step agrees within 1e-4 relative (float summation order differs)."""
    common = [f"data={data_file}", "max_seq_len=768", "max_steps=3", "save_every=3", "threads=1"]
    single = train(load_config(RECIPE, common + [f"output_dir={tmp_path / 'one'}", "micro_batch_size=2", "grad_accum=2"]))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "semcoder_training.train",
           str(RECIPE)] + [f"--set={item}" for item in common + [f"output_dir={tmp_path / 'two'}", "micro_batch_size=1", "grad_accum=2"]]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=400, env=env, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    double = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert double["world"] == 2
    assert [h["loss"] for h in double["history"]] == pytest.approx([h["loss"] for h in single["history"]], rel=1e-4)
    assert "step 3/3 loss" in proc.stdout  # rank 0 logs to stdout


def test_config_errors_are_clear(tmp_path, data_file):
    with pytest.raises(SemcoderError, match="unknown key 'max_stpes'"):
        load_config(RECIPE, ["max_stpes=3"])
    with pytest.raises(SemcoderError, match="method must be"):
        load_config(RECIPE, ["method=dora", f"data={data_file}"])
    with pytest.raises(SemcoderError, match="names no data"):
        load_config(RECIPE, [])
    if not torch.cuda.is_available():
        with pytest.raises(SemcoderError, match="QLoRA needs a CUDA GPU"):
            train(_config(data_file, tmp_path / "q", "method=qlora"))
        with pytest.raises(SemcoderError, match="needs a GPU"):
            train(_config(data_file, tmp_path / "p", "precision=bf16"))


def test_cli_train_with_set_overrides(tmp_path, data_file):
    proc = subprocess.run([sys.executable, "-m", "semcoder_inference.cli", "train", str(RECIPE), "--set", f"data={data_file}",
                           "--set", f"output_dir={tmp_path / 'run'}", "--set", "max_steps=2", "--set", "lora.rank=4",
                           "--set", "threads=1", "--set", "max_seq_len=768"],
                          capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "step 2/2 loss" in proc.stdout and "done: 2 steps" in proc.stdout
    adapter = json.loads((tmp_path / "run" / "checkpoint-000002" / "adapter" / "adapter_config.json").read_text())
    assert adapter["r"] == 4
    bad = subprocess.run([sys.executable, "-m", "semcoder_inference.cli", "train", str(tmp_path / "nope.yaml")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "does not exist" in bad.stderr and "Traceback" not in bad.stderr
