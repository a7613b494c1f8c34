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
    # and the check has teeth: with one causal mask over the whole packed row, the answer
    # tokens of the examples after the first see the ones before, and their losses move
    # (token by token: summed, the random tiny model's changes may nearly cancel out)
    def token_losses(batch):
        with torch.no_grad():
            out = model(input_ids=batch["input_ids"], use_cache=False)
        logits, targets = out.logits[:, :-1], batch["labels"][:, 1:]
        losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, ignore_index=IGNORE, reduction="none")
        return losses[targets != IGNORE]  # (row by row, in order)

    leaky = token_losses(collate(rows, tok.eos_token_id))
    alone = torch.cat([token_losses(collate([[e]], tok.eos_token_id)) for row in rows for e in row])
    assert leaky.shape == alone.shape
    assert float((leaky - alone).abs().max()) > 1e-3


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


# ----------------------------------------------------------------------------- review fixes:
# resume against a changed config, config checking, absolute provenance, what a run reports


def test_resume_refuses_a_changed_config_and_allows_safe_changes(tmp_path, data_file):
    """The optimizer and schedule state keep the checkpoint's lr and max_steps, and a changed
    method or LoRA layout cannot load: resuming with such a change is a SemcoderError naming
    the keys, not a silent change or a torch traceback. Safe changes resume."""
    run = tmp_path / "run"
    train(_config(data_file, run, "max_steps=4", "save_every=2", "stop_after=2"))
    for overrides, named in [(["max_steps=6", "lr=0.1"], ["lr 0.003 in the checkpoint, 0.1 now", "max_steps 4"]),
                             (["max_steps=4", "method=full"], ["method 'lora'"]),
                             (["max_steps=4", "lora.targets=[q_proj]"], ["lora.targets"]),
                             (["max_steps=4", "seed=1", "packing=false"], ["seed 0", "packing True"]),
                             (["max_steps=4", "grad_accum=1"], ["micro_batch_size x grad_accum x processes", "4 rows", "2 now"])]:
        with pytest.raises(SemcoderError) as caught:
            train(_config(data_file, run, "save_every=2", *overrides))
        for text in named:
            assert text in str(caught.value), (overrides, str(caught.value))
        assert "checkpoint-000002" in str(caught.value)
    # other data (same path, other bytes) is refused too
    other = tmp_path / "other.jsonl"
    other.write_text("\n".join(data_file.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(SemcoderError, match=r"data: .*other.jsonl is not .*pyx.jsonl"):
        train(_config(other, run, "max_steps=4", "save_every=2"))
    assert not (run / "checkpoint-000004").exists()  # nothing trained by the refused attempts
    # allowed: how often to save and log, threads, and the same rows a step split otherwise
    resumed = train(_config(data_file, run, "max_steps=4", "save_every=1", "log_every=2", "micro_batch_size=1", "grad_accum=4"))
    assert resumed["resumed_from"] == 2 and [h["step"] for h in resumed["history"]] == [1, 2, 3, 4]
    assert (run / "checkpoint-000003").exists()

    # max_steps may grow when the schedule does not depend on it (constant after warm-up)
    const = tmp_path / "const"
    train(_config(data_file, const, "max_steps=2", "min_lr_ratio=1.0"))
    extended = train(_config(data_file, const, "max_steps=3", "min_lr_ratio=1.0"))
    straight = train(_config(data_file, tmp_path / "straight", "max_steps=3", "min_lr_ratio=1.0"))
    assert [h["step"] for h in extended["history"]] == [1, 2, 3]
    assert [h["loss"] for h in extended["history"]] == pytest.approx([h["loss"] for h in straight["history"]], rel=1e-6)
    assert [h["lr"] for h in extended["history"]] == pytest.approx([h["lr"] for h in straight["history"]])
    with pytest.raises(SemcoderError, match="max_steps 2 is below the checkpoint's step 3"):
        train(_config(data_file, const, "max_steps=2", "min_lr_ratio=1.0"))


@pytest.mark.parametrize("overrides, message", [
    (["lora.rnak=4"], "(?i)unknown key 'lora.rnak'"),
    (["lora={rnak: 4}"], "(?i)unknown key 'lora.rnak'"),
    (["lr=abc"], "lr must be a number > 0, not 'abc'"),
    (["seed=abc"], "seed must be an integer >= 0, not 'abc'"),
    (["save_every=0"], "save_every must be a positive integer, not 0"),
    (["log_every=0"], "log_every must be a positive integer, not 0"),
    (["lora=4"], "lora must be a mapping of rank, alpha, dropout, targets, not 4"),
    (["max_steps.x=3"], "max_steps is a single value, not a section"),
    (["packing='false'"], "packing must be true or false, not 'false'"),
    (["gradient_checkpointing=1"], "gradient_checkpointing must be true or false, not 1"),
    (["max_steps=true"], "max_steps must be a positive integer, not True"),
    (["lora.targets=[]"], "lora.targets must name at least one module"),
    (["lora.targets=[1, q_proj]"], "lora.targets must be a list of module names"),
    (["distributed=ddpp"], "distributed must be ddp or fsdp, not 'ddpp'"),
    (["min_lr_ratio=2"], "min_lr_ratio must be a number from 0 to 1, not 2"),
    (["lr=abc", "save_every=0"], "2 problems in the config: lr must be .*; save_every must be"),
])
def test_every_key_is_checked_with_a_readable_error(data_file, overrides, message):
    with pytest.raises(SemcoderError, match=message):
        load_config(RECIPE, [f"data={data_file}", *overrides])


def test_recipe_keys_are_checked_nested_and_typed(tmp_path, data_file):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"data: {data_file}\nlora: {{rnak: 4}}\npacking: \"false\"\n")
    with pytest.raises(SemcoderError) as caught:
        load_config(recipe)
    assert "unknown key 'lora.rnak' in" in str(caught.value).lower() and "packing must be true or false, not 'false'" in str(caught.value)
    recipe.write_text(f"data: {data_file}\nlr: 3e-3\nlora: {{rank: 4}}\n")  # PyYAML reads 3e-3 as text
    config = load_config(recipe)
    assert config["lr"] == 0.003 and config["lora"]["rank"] == 4 and config["lora"]["alpha"] == 16


def test_lora_targets_the_model_lacks_are_named_with_the_layers_it_has(tmp_path, data_file):
    with pytest.raises(SemcoderError) as caught:
        train(_config(data_file, tmp_path / "t", "lora.targets=[nope, q_proj]"))
    text = str(caught.value)
    assert "'nope'" in text and "q_proj, up_proj, v_proj" in text and "'q_proj'" not in text


def test_paths_are_absolute_and_export_leaves_the_checkpoint_alone(tmp_path, data_file, tiny_model, monkeypatch):
    """Relative model / data / output_dir are stored absolute; data hashes are taken at train
    time; export works from any directory and does not write into the checkpoint."""
    import gguf
    import hashlib
    import shutil

    from semcoder_training.export_run import export_run

    shutil.copytree(tiny_model.hf_dir, tmp_path / "mybase")
    (tmp_path / "d").mkdir()
    shutil.copy(data_file, tmp_path / "d" / "pyx.jsonl")
    monkeypatch.chdir(tmp_path)
    summary = train(_config(Path("d"), Path("run"), "model=mybase", "method=full", "max_steps=1", "lr=0.0005"))
    ckpt = tmp_path / "run" / "checkpoint-000001"
    assert summary["checkpoint"] == str(ckpt) and summary["output_dir"] == str(tmp_path / "run")
    meta = json.loads((ckpt / "meta.json").read_text())
    assert meta["base_model"] == str(tmp_path / "mybase") and meta["config"]["model"] == str(tmp_path / "mybase")
    assert meta["data"] == [str(tmp_path / "d")] and meta["config"]["output_dir"] == str(tmp_path / "run")
    digest = hashlib.sha256((tmp_path / "d" / "pyx.jsonl").read_bytes()).hexdigest()
    assert meta["data_files"] == [{"path": str(tmp_path / "d" / "pyx.jsonl"), "sha256": digest,
                                   "bytes": (tmp_path / "d" / "pyx.jsonl").stat().st_size}]

    (tmp_path / "d" / "pyx.jsonl").write_text("changed after training\n")  # provenance is what trained
    for f in (ckpt / "model").glob("tokenizer*"):  # as a checkpoint from before the tokenizer was saved with it
        f.unlink()
    before = sorted((p.relative_to(ckpt), p.read_bytes()) for p in ckpt.rglob("*") if p.is_file())
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    out = export_run(ckpt, tmp_path / "full.gguf", "f16")
    assert sorted((p.relative_to(ckpt), p.read_bytes()) for p in ckpt.rglob("*") if p.is_file()) == before
    fields = gguf.GGUFReader(str(out)).fields
    text = {k: bytes(fields[k].parts[-1]).decode() for k in ("semcoder.provenance.data", "semcoder.provenance.checkpoint")}
    assert json.loads(text["semcoder.provenance.data"]) == [{"path": str(tmp_path / "d" / "pyx.jsonl"), "sha256_16": digest[:16]}]
    assert text["semcoder.provenance.checkpoint"] == str(ckpt)
    # a checkpoint that stored a relative base model, exported from elsewhere: a clear error
    meta["base_model"] = "mybase"
    (ckpt / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(SemcoderError, match="'mybase' that .*meta.json names is not a folder here .*a relative path"):
        export_run(ckpt, tmp_path / "again.gguf", "f16")


def test_resumed_metrics_have_each_step_once_and_stop_after_reports_what_ran(tmp_path, data_file):
    common = ["--set", f"data={data_file}", "--set", f"output_dir={tmp_path / 'run'}", "--set", "max_steps=4",
              "--set", "save_every=2", "--set", "threads=1", "--set", "max_seq_len=768"]
    proc = subprocess.run([sys.executable, "-m", "semcoder_inference.cli", "train", str(RECIPE), *common, "--set", "stop_after=3"],
                          capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "stopped after step 3 of 4" in proc.stdout and "done: 4 steps" not in proc.stdout
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["steps"] == 3 and summary["max_steps"] == 4 and summary["finished"] is False
    assert summary["checkpoint"].endswith("checkpoint-000002")
    resumed = train(_config(data_file, tmp_path / "run", "max_steps=4", "save_every=2"))
    assert resumed["steps"] == 4 and resumed["finished"] and resumed["resumed_from"] == 2
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2, 3, 4]
    # the log line that docs/training.md shows has the format the run prints
    import re

    line = re.compile(r"step \d+/\d+ loss \d+\.\d{4} lr \d\.\d{2}e-\d\d tokens/s \d+")
    assert line.fullmatch(proc.stdout.splitlines()[0])
    doc = (REPO_ROOT / "docs" / "training.md").read_text()
    shown = re.search(r"\(`(step \d+/\d+ [^`]*)`\)", doc)
    assert shown and line.fullmatch(shown.group(1)), shown
