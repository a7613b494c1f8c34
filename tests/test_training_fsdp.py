"""Full fine-tuning sharded with FSDP2 over 2 CPU processes (gloo): same losses as one
process with the same global batch, and a resumed sharded run continues exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from semcoder_training.data.build import BuildConfig, build
from semcoder_training.train import load_config, train

from conftest import REPO_ROOT

RECIPE = REPO_ROOT / "training" / "recipes" / "tiny_cpu.yaml"


def _torchrun(settings: list[str]) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "semcoder_training.train", str(RECIPE)] + [f"--set={s}" for s in settings]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=400, cwd=REPO_ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_fsdp_matches_one_process_and_resumes(tmp_path):
    build(BuildConfig(out_dir=tmp_path / "data", generated_seeds=6, workers=1, progress=False, holdout=0.0))
    common = [f"data={tmp_path / 'data' / 'pyx.jsonl'}", "method=full", "lr=0.0005", "max_seq_len=768",
              "max_steps=4", "save_every=2", "threads=1"]
    single = train(load_config(RECIPE, common + [f"output_dir={tmp_path / 'one'}", "micro_batch_size=2"]))
    sharded = common + [f"output_dir={tmp_path / 'fsdp'}", "micro_batch_size=1", "distributed=fsdp"]
    first = _torchrun(sharded + ["stop_after=3"])  # "crashes" after step 3; the last checkpoint is step 2
    assert first.returncode == 0, first.stderr[-3000:]
    assert not (tmp_path / "fsdp" / "checkpoint-000003").exists()
    second = _torchrun(sharded)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resumed from" in second.stderr and "checkpoint-000002" in second.stderr
    summary = json.loads((tmp_path / "fsdp" / "summary.json").read_text())
    assert summary["world"] == 2
    assert [h["loss"] for h in summary["history"]] == pytest.approx([h["loss"] for h in single["history"]], rel=1e-4)
    # the gathered full checkpoint is an ordinary HF folder that export can use
    assert (tmp_path / "fsdp" / "checkpoint-000004" / "model" / "model.safetensors").exists()
