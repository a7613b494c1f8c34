"""Quantization through llama.cpp's quantizer: quality against the HF reference, atomic output,
progress, and clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from _weights_helpers import CODE_PROMPT, hf_logits, hf_model, hf_tokens, llama_logits

from semcoder_inference.errors import ModelError, SemcoderError

SEMCODER = str(Path(sys.executable).parent / "semcoder")


def test_q8_0_top1_agreement_with_transformers(tiny_model):
    ids = hf_tokens(tiny_model.hf_dir, CODE_PROMPT * 3)
    assert len(ids) >= 300
    ref = hf_logits(hf_model(tiny_model.hf_dir), ids)
    got = llama_logits(tiny_model.gguf_q8_0, ids)
    agreement = float((got.argmax(1) == ref.argmax(1)).mean())
    assert agreement >= 0.95, f"top-1 agreement {agreement:.3f} over {len(ids)} positions"


def test_quantized_tensor_types(tiny_model):
    import gguf

    def types(path):
        return {t.name: t.tensor_type.name for t in gguf.GGUFReader(str(path)).tensors}

    q8 = types(tiny_model.gguf_q8_0)
    assert q8["blk.0.attn_q.weight"] == "Q8_0" and q8["blk.0.ffn_down.weight"] == "Q8_0"
    q4 = types(tiny_model.gguf_q4_k_m)
    assert q4["blk.0.attn_q.weight"] == "Q4_K"  # real k-quants: row lengths are multiples of 256
    assert q4["output.weight"] == "Q6_K"
    assert tiny_model.gguf_q4_k_m.stat().st_size < 0.45 * tiny_model.gguf_f16.stat().st_size


def test_quantize_rejects_bad_input_clearly(tmp_path):
    from semcoder_training.quantize import quantize

    not_gguf = tmp_path / "notes.txt"
    not_gguf.write_text("hello")
    with pytest.raises(ModelError, match="not a GGUF file"):
        quantize(not_gguf, tmp_path / "out.gguf", "q8_0")
    with pytest.raises(ModelError, match="does not exist"):
        quantize(tmp_path / "missing.gguf", tmp_path / "out.gguf", "q8_0")
    with pytest.raises(SemcoderError, match="Unknown quantization type 'q3'"):
        quantize(not_gguf, tmp_path / "out.gguf", "q3")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_truncated_gguf_fails_without_output(tiny_model, tmp_path):
    from semcoder_training.quantize import quantize

    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(tiny_model.gguf_f16.read_bytes()[:200_000])
    with pytest.raises(ModelError, match="failed"):
        quantize(truncated, tmp_path / "out.gguf", "q4_k_m")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["truncated.gguf"]  # no output, no temporary file


def test_llama_cpp_logging_is_restored_after_quantize(tiny_model, tmp_path, capfd):
    import llama_cpp
    from semcoder_training.quantize import quantize

    quantize(tiny_model.gguf_f16, tmp_path / "a.gguf", "q8_0")
    assert capfd.readouterr().err == ""  # quantizer logs were captured, not printed
    llama_cpp.Llama(str(tmp_path / "a.gguf"), vocab_only=True, verbose=False)  # still works, no crash


def test_cli_quantize(tiny_model, tmp_path):
    out = tmp_path / "q.gguf"
    proc = subprocess.run([SEMCODER, "model", "quantize", str(tiny_model.gguf_f16), "--out", str(out), "--type", "q8_0"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:4] == b"GGUF"
    assert "quantize q.gguf (q8_0)" in proc.stderr and "21/21" in proc.stderr
    bad = subprocess.run([SEMCODER, "model", "quantize", str(tiny_model.hf_dir / "config.json"), "--out", str(out)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "not a GGUF file" in bad.stderr and "Traceback" not in bad.stderr


def test_output_path_problems_are_explained(tiny_model, tmp_path):
    from semcoder_training.quantize import quantize

    with pytest.raises(SemcoderError, match="is a folder"):
        quantize(tiny_model.gguf_f16, tmp_path, "q8_0")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SemcoderError, match="Cannot create"):
        quantize(tiny_model.gguf_f16, blocker / "sub" / "out.gguf", "q8_0")
