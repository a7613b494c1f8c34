"""LoRA merge: a real peft adapter on the tiny model, merged without torch, must reproduce
peft's own logits, and the merged checkpoint must export to a GGUF llama.cpp runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _weights_helpers import CODE_PROMPT, hf_logits, hf_model, hf_tokens, llama_logits

from semcoder_inference.errors import SemcoderError

SEMCODER = str(Path(sys.executable).parent / "semcoder")


def _make_adapter(base_dir: Path, out_dir: Path, **lora_kwargs):
    """A peft LoRA adapter with non-zero random B (a fresh adapter is a no-op)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    lora_kwargs.setdefault("target_modules", ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    config = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, task_type="CAUSAL_LM", **lora_kwargs)
    peft_model = get_peft_model(base, config)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name or "lora_A" in name:
                param.copy_(torch.randn_like(param) * 0.05)
    peft_model.eval()
    peft_model.save_pretrained(str(out_dir))
    return peft_model


def _peft_logits(peft_model, ids):
    import torch

    with torch.no_grad():
        return peft_model(input_ids=torch.tensor([ids])).logits[0].float().numpy()


@pytest.mark.parametrize("variant", [
    {},
    {"use_rslora": True, "rank_pattern": {"down_proj": 4}, "alpha_pattern": {"q_proj": 32}},
    {"target_modules": ["embed_tokens", "v_proj"]},  # embedding adapters merge as (B·A)ᵀ
], ids=["plain", "rslora-patterns", "embedding"])
def test_merged_checkpoint_matches_peft_and_exports(tiny_model, tmp_path, variant):
    from semcoder_training.gguf_export import export_gguf
    from semcoder_training.lora import merge_lora

    adapter_dir = tmp_path / "adapter"
    peft_model = _make_adapter(tiny_model.hf_dir, adapter_dir, **variant)
    assert (adapter_dir / "adapter_model.safetensors").is_file()
    ids = hf_tokens(tiny_model.hf_dir, CODE_PROMPT)
    expected = _peft_logits(peft_model, ids)
    base = hf_logits(hf_model(tiny_model.hf_dir), ids)
    assert float(np.abs(expected - base).max()) > 0.5  # the adapter really changes the model

    merged_dir = merge_lora(tiny_model.hf_dir, adapter_dir, tmp_path / "merged")
    merged = hf_logits(hf_model(merged_dir), ids)
    # merged weights are rounded back to the base's float16, hence a small tolerance
    assert float(np.abs(merged - expected).max()) < 2e-2
    assert (merged.argmax(1) == expected.argmax(1)).mean() >= 0.98
    assert json.loads((merged_dir / "config.json").read_text())["architectures"] == ["LlamaForCausalLM"]
    assert (merged_dir / "tokenizer.json").is_file()

    gguf = export_gguf(merged_dir, tmp_path / "merged-f16.gguf", dtype="f16")
    got = llama_logits(gguf, ids)
    assert float(np.abs(got - expected).max()) < 2e-2
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.98


def test_dora_adapter_is_refused_with_a_reason(tiny_model, tmp_path):
    from semcoder_training.lora import merge_lora

    adapter_dir = tmp_path / "dora"
    _make_adapter(tiny_model.hf_dir, adapter_dir, use_dora=True)
    with pytest.raises(SemcoderError, match="DoRA"):
        merge_lora(tiny_model.hf_dir, adapter_dir, tmp_path / "merged")


def test_adapter_that_does_not_fit_the_base_is_refused(tiny_model, tmp_path):
    import shutil

    from semcoder_inference.errors import ModelError
    from semcoder_training.lora import merge_lora
    from semcoder_training.safetensors_io import checkpoint_tensors, write_safetensors

    adapter_dir = tmp_path / "adapter"
    _make_adapter(tiny_model.hf_dir, adapter_dir)
    # a base with one layer fewer than the model the adapter was trained on
    smaller = tmp_path / "smaller"
    shutil.copytree(tiny_model.hf_dir, smaller)
    kept = {n: e for n, e in checkpoint_tensors(tiny_model.hf_dir).items() if ".layers.1." not in n}
    write_safetensors(smaller / "model.safetensors", [(n, e.dtype, e.shape, e.raw) for n, e in kept.items()])
    with pytest.raises(ModelError, match="model.layers.1.*does not have"):
        merge_lora(smaller, adapter_dir, tmp_path / "merged")
    (tmp_path / "not-an-adapter").mkdir()
    with pytest.raises(ModelError, match="not a peft adapter folder"):
        merge_lora(tiny_model.hf_dir, tmp_path / "not-an-adapter", tmp_path / "merged")


def test_cli_merge_lora_and_export(tiny_model, tmp_path):
    adapter_dir = tmp_path / "adapter"
    _make_adapter(tiny_model.hf_dir, adapter_dir)
    gguf = tmp_path / "merged.gguf"
    proc = subprocess.run([SEMCODER, "model", "merge-lora", str(tiny_model.hf_dir), str(adapter_dir), "--out-dir",
                           str(tmp_path / "merged"), "--gguf", str(gguf)], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert gguf.read_bytes()[:4] == b"GGUF" and "merge LoRA" in proc.stderr
