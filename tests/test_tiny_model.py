"""The tiny random models every other test stands on: built once, cached, complete, real."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent


def test_tiny_model_files_are_complete(tiny_model):
    for path in (tiny_model.gguf_f16, tiny_model.gguf_q8_0, tiny_model.gguf_q4_k_m):
        assert path.read_bytes()[:4] == b"GGUF"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert (tiny_model.hf_dir / name).is_file(), name
    # no leftovers from atomic writes
    assert not list(tiny_model.root.glob(".*.partial"))


def test_gguf_loads_in_llama_cpp_with_the_configured_shape(tiny_model):
    import llama_cpp

    llm = llama_cpp.Llama(str(tiny_model.gguf_q4_k_m), n_ctx=256, verbose=False, seed=1)
    config = json.loads((tiny_model.hf_dir / "config.json").read_text())
    assert llm.n_vocab() == config["vocab_size"]
    assert llm.n_embd() == config["hidden_size"] == 256
    assert int(llm.metadata["llama.context_length"]) == 4096
    assert llm.metadata["general.architecture"] == "llama"
    out = llm.create_completion("def add(a, b):", max_tokens=8, temperature=0.0)
    assert out["usage"]["completion_tokens"] >= 1


def test_hf_checkpoint_loads_in_transformers(tiny_model):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(str(tiny_model.hf_dir))
    assert config.rope_parameters["rope_theta"] == 100000.0
    assert config.rope_parameters["rope_type"] == "linear" and config.rope_parameters["factor"] == 4.0
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model.hf_dir), dtype=torch.float32)
    assert type(model).__name__ == "LlamaForCausalLM"
    with torch.no_grad():
        logits = model(torch.tensor([[0, 5, 6, 7]])).logits
    assert logits.shape == (1, 4, config.vocab_size) and torch.isfinite(logits).all()
    assert float(logits.std()) > 0.1  # random, not degenerate


def test_cached_model_is_reused_not_rebuilt(tiny_model):
    from semcoder_training.tiny import ensure_tiny_model

    before = tiny_model.gguf_f16.stat().st_mtime_ns
    again = ensure_tiny_model(tiny_model.root.parent, "bpe")
    assert again == tiny_model
    assert again.gguf_f16.stat().st_mtime_ns == before


def test_concurrent_builders_build_once(tmp_path):
    """Two processes asking for the same uncached model: one builds, the other waits and reuses it."""
    code = (
        "import sys, os; from semcoder_training.tiny import ensure_tiny_model;"
        "m = ensure_tiny_model(sys.argv[1], 'spm');"
        "print(os.stat(m.root / 'BUILD_INFO.json').st_ino, m.gguf_f16)"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        outputs.append(out.strip())
    assert outputs[0] == outputs[1]  # same inode: built once
    assert sorted(p.name for p in tmp_path.iterdir()) == [".spm-v1.lock", "spm-v1"]  # no staging left


def test_unknown_tokenizer_kind_is_a_clear_error(tmp_path):
    from semcoder_inference.errors import SemcoderError
    from semcoder_training.tiny import ensure_tiny_model

    with pytest.raises(SemcoderError, match="Unknown tokenizer kind 'wordpiece'"):
        ensure_tiny_model(tmp_path, "wordpiece")


def test_cli_build_tiny(tmp_path):
    out = tmp_path / "tiny"
    proc = subprocess.run([str(Path(sys.executable).parent / "semcoder"), "model", "build-tiny", str(out), "--tokenizer", "spm"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    paths = json.loads(proc.stdout)
    assert Path(paths["gguf_q4_k_m"]).read_bytes()[:4] == b"GGUF"
    assert (out / "hf" / "tokenizer.model").is_file()
    assert "export" in proc.stderr and "quantize" in proc.stderr  # progress went to stderr
    again = subprocess.run([str(Path(sys.executable).parent / "semcoder"), "model", "build-tiny", str(out)],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "not empty" in again.stderr and "Traceback" not in again.stderr


def test_build_random_llama_writes_loadable_k_quants(tmp_path):
    """The big-model builder on a small shape: GGUF straight from the tensor generator, then Q4_K_M."""
    import gguf
    import llama_cpp
    from semcoder_training.tiny import ensure_random_llama

    shape = dict(hidden=256, layers=2, heads=4, vocab=4096, intermediate=512, context=2048)
    model = ensure_random_llama(tmp_path, **shape)
    assert ensure_random_llama(tmp_path, **shape) == model  # cached
    q4 = model.quantized["q4_k_m"]
    types = {t.tensor_type.name for t in gguf.GGUFReader(str(q4)).tensors}
    assert "Q4_K" in types
    # logits_all: without it, llama-cpp-python 0.3 keeps no logits in `scores` (the row
    # read here was uninitialised memory, and the check failed now and then)
    llm = llama_cpp.Llama(str(q4), n_ctx=128, logits_all=True, verbose=False)
    assert llm.n_vocab() == 4096
    tokens = llm.tokenize(b"for i in range(10):")
    llm.eval(tokens)
    last = llm.scores[len(tokens) - 1]
    assert np.isfinite(last).all() and np.abs(last).max() > 0
