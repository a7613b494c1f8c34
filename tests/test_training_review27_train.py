"""Review 27, fine-tuning: LoRA's frozen base in bf16, pack_width bounded, epochs reported,
output_dir and warm-up problems said in semcoder's words."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
import torch

from semcoder_inference.errors import SemcoderError
from semcoder_training.train import Dist, build_model, collate, load_config, main, response_loss_sum, train, Example, IGNORE

from conftest import REPO_ROOT

RECIPE = REPO_ROOT / "training" / "recipes" / "tiny_cpu.yaml"


@pytest.fixture(scope="module")
def data_file(tmp_path_factory) -> Path:
    """Six small forward records, written by hand (no tracer needed)."""
    path = tmp_path_factory.mktemp("data27t") / "pyx.jsonl"
    rows = []
    for i in range(6):
        code = f"def f(x):\n    return x + {i}\nassert f({i}) == ??"
        rows.append({"nl": None, "fwd_mnl": code, "bwd_mnl": None,
                     "response": f"[ANSWER]\nassert f({i}) == {2 * i}\n[/ANSWER]"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _config(data_file: Path, out: Path, *overrides: str) -> dict:
    return load_config(RECIPE, [f"data={data_file}", f"output_dir={out}", "threads=1", *overrides])


# ----------------------------------------------------------------------------- finding 2


def test_lora_base_loads_in_bf16_with_fp32_adapters_and_trains(tiny_model, tmp_path, data_file):
    """A bf16 run: the frozen base in bf16 (half the memory of fp32), the adapters in fp32,
    the gradients only in the adapters, and two optimizer steps lower the loss."""
    torch.manual_seed(0)
    config = _config(data_file, tmp_path / "run")
    model = build_model(config, Path(tiny_model.hf_dir), Dist(), torch.bfloat16)
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    frozen = {n: p for n, p in model.named_parameters() if not p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    assert {p.dtype for p in trainable.values()} == {torch.float32}
    assert {p.dtype for p in frozen.values() if p.is_floating_point()} == {torch.bfloat16}
    optimizer = torch.optim.AdamW(list(trainable.values()), lr=1e-2)
    ids = list(range(5, 45))
    batch = collate([[Example(ids, [IGNORE] * 10 + ids[10:])]], 0)
    losses = []
    for _ in range(3):
        total, n = response_loss_sum(model, batch, "cpu", contextlib.nullcontext)
        loss = total / n
        loss.backward()
        assert all(p.grad is None for p in frozen.values())
        assert all(p.grad is not None and p.grad.dtype == torch.float32 for n, p in trainable.items() if "lora_B" in n)
        assert any(float(p.grad.abs().sum()) > 0 for p in trainable.values())
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[2] < losses[0], losses


def test_fp32_runs_keep_an_fp32_base(tiny_model, tmp_path, data_file):
    config = _config(data_file, tmp_path / "run")
    model = build_model(config, Path(tiny_model.hf_dir), Dist(), torch.float32)
    assert {p.dtype for p in model.parameters()} == {torch.float32}


# ----------------------------------------------------------------------------- finding 4


def test_pack_width_above_max_seq_len_is_refused_before_loading(data_file, tmp_path):
    with pytest.raises(SemcoderError, match=r"pack_width must be at most max_seq_len \(1024\), not 100000"):
        _config(data_file, tmp_path / "run", "pack_width=100000")
    assert _config(data_file, tmp_path / "run", "pack_width=512")["pack_width"] == 512  # narrower is fine


def test_max_seq_len_above_the_models_context_is_refused(tiny_model, data_file, tmp_path):
    context = json.loads((Path(tiny_model.hf_dir) / "config.json").read_text())["max_position_embeddings"]
    config = _config(data_file, tmp_path / "run", f"max_seq_len={context + 1}")
    with pytest.raises(SemcoderError, match=rf"max_seq_len={context + 1} exceeds the context .*\({context} tokens"):
        train(config)
    assert not list((tmp_path / "run").glob("checkpoint-*"))


# ----------------------------------------------------------------------------- findings 5 and 6


def test_epochs_are_reported_and_many_passes_warned_about(tiny_model, data_file, tmp_path, capsys):
    # 6 examples, not packed, 2 rows a step: 3 steps a pass; 10 steps make 3.33 passes.
    config = _config(data_file, tmp_path / "run", "packing=false", "micro_batch_size=1", "grad_accum=2",
                     "max_steps=10", "save_every=10", "tensorboard=false")
    summary = train(config)
    out, err = capsys.readouterr()
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["pass"] for m in metrics] == [1, 1, 1, 2, 2, 2, 3, 3, 3, 4]
    assert [m["epoch"] for m in metrics][:4] == [pytest.approx(1 / 3, abs=1e-4), pytest.approx(2 / 3, abs=1e-4), 1.0,
                                                 pytest.approx(4 / 3, abs=1e-4)]
    assert [m["step"] for m in metrics if "new_pass" in m] == [1, 4, 7, 10]
    assert "epoch 2 (pass 2 over 6 examples, 6 rows a pass) began in step 4" in out
    saved = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert saved["epochs"] == pytest.approx(10 / 3, abs=1e-4) and saved["rows_per_epoch"] == 3 * 2
    assert saved["planned_epochs"] == pytest.approx(10 / 3, abs=1e-4) and summary["epochs"] == saved["epochs"]
    assert "3.3 passes over 6 examples" in err and "may memorise" in err


def test_warmup_longer_than_the_run_is_warned_about(tiny_model, data_file, tmp_path, capsys):
    train(_config(data_file, tmp_path / "run", "max_steps=1", "warmup_steps=50", "tensorboard=false"))
    err = capsys.readouterr().err
    assert "warmup_steps=50 is more than max_steps=1" in err and "never reaches lr=0.003" in err
    capsys.readouterr()
    train(_config(data_file, tmp_path / "run2", "max_steps=2", "warmup_steps=2", "tensorboard=false"))
    assert "warmup_steps" not in capsys.readouterr().err  # peak reached at the last step: nothing to say


def test_an_output_dir_that_cannot_be_made_is_a_semcoder_error(data_file, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    rc = main([str(RECIPE), "--set", f"data={data_file}", "--set", f"output_dir={blocker / 'x'}"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("semcoder: output_dir ") and "cannot be created" in err and "Traceback" not in err
