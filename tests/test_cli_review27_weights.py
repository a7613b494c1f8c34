"""`semcoder model export | quantize | info | pull` as a user meets them (review 27): outputs
that would overwrite their inputs or create folders, unknown pre-tokenizers, a load failure's
hint, `model info --json`'s numbers, and pull's .gguf-only specs."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def semcoder(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SEMCODER_MODEL"}
    return subprocess.run([sys.executable, "-m", "semcoder_inference.cli", *args], capture_output=True, text=True,
                          timeout=300, env=env, cwd=REPO)


def _usage_error(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stdout[-500:], done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, done.stderr


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_quantize_refuses_to_overwrite_its_input_or_create_folders(tiny_model, tmp_path):
    source = tmp_path / "model-f16.gguf"
    shutil.copyfile(tiny_model.gguf_f16, source)
    before = _digest(source)
    _usage_error(semcoder("model", "quantize", str(source), "--out", str(source), "--quiet"), "is the input file")
    # the same file by another name
    _usage_error(semcoder("model", "quantize", str(source), "--out", str(tmp_path / "." / "model-f16.gguf"), "--quiet"),
                 "is the input file")
    assert _digest(source) == before
    missing = tmp_path / "no" / "such" / "folder"
    _usage_error(semcoder("model", "quantize", str(source), "--out", str(missing / "q.gguf"), "--quiet"),
                 "does not exist", "mkdir -p")
    assert not (tmp_path / "no").exists()


def test_export_refuses_outputs_inside_the_checkpoint_and_unknown_pre_tokenizers(tiny_model, tmp_path):
    checkpoint = tmp_path / "hf"
    shutil.copytree(tiny_model.hf_dir, checkpoint)
    config = checkpoint / "config.json"
    before = _digest(config)
    _usage_error(semcoder("model", "export", str(checkpoint), "--out", str(config), "--quiet"),
                 "inside the input checkpoint folder")
    _usage_error(semcoder("model", "export", str(checkpoint), "--out", str(checkpoint / "model.gguf"), "--quiet"),
                 "inside the input checkpoint folder")
    assert _digest(config) == before and not (checkpoint / "model.gguf").exists()
    _usage_error(semcoder("model", "export", str(checkpoint), "--out", str(tmp_path / "nowhere" / "m.gguf"), "--quiet"),
                 "does not exist")
    assert not (tmp_path / "nowhere").exists()
    out = tmp_path / "bogus.gguf"
    _usage_error(semcoder("model", "export", str(checkpoint), "--out", str(out), "--pre-tokenizer", "bogus", "--quiet"),
                 "'bogus' is not a pre-tokenizer llama.cpp knows", "deepseek-coder", "llama-bpe")
    assert not out.exists()
    helps = semcoder("model", "export", "--help").stdout + semcoder("model", "quantize", "--help").stdout
    assert "default f16" in helps and "default q4_k_m" in helps


def test_a_file_llama_cpp_refuses_for_its_tokenizer_gets_no_memory_hint(tiny_model, tmp_path):
    from semcoder_inference.errors import ModelError
    from semcoder_inference.llama_engine import LlamaCppEngine

    data = Path(tiny_model.gguf_q8_0).read_bytes()
    assert data.count(b"deepseek-coder") >= 1
    odd = tmp_path / "odd-pre.gguf"
    odd.write_bytes(data.replace(b"deepseek-coder", b"deepseek-codex", 1))  # same length: the header stays valid
    assert semcoder("model", "info", str(odd)).returncode == 0  # the header check cannot tell
    engine = LlamaCppEngine(str(odd), n_ctx=128, n_threads=1)
    with pytest.raises(ModelError) as info:
        engine.load()
    engine.close()
    message = str(info.value)
    assert "deepseek-codex" in message and "pre-tokenizer" in message
    assert "memory" not in message and "n_ctx needs" not in message


def test_model_info_json_gives_numbers_and_the_reason_of_a_failed_check(tiny_model, tmp_path):
    done = semcoder("model", "info", str(tiny_model.gguf_q8_0), "--json")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["file size bytes"] == Path(tiny_model.gguf_q8_0).stat().st_size
    assert isinstance(info["parameter count"], int) and info["parameter count"] > 100_000
    # a header llama.cpp would refuse: the JSON says why, as stderr does
    data = bytearray(Path(tiny_model.gguf_q8_0).read_bytes())
    odd = tmp_path / "odd-arch.gguf"
    odd.write_bytes(bytes(data).replace(b"llama.block_count", b"llama.block_xount", 1))
    failed = semcoder("model", "info", str(odd), "--json")
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    described = json.loads(failed.stdout)
    assert described["header check"] == "failed"
    assert described["header check error"] and described["header check error"] in failed.stderr
    # its errors name its own argument, not predict's --model
    text = tmp_path / "notes.gguf"
    text.write_text("just some text\n")
    _usage_error(semcoder("model", "info", str(text)), "semcoder model info")
    assert "--model" not in semcoder("model", "info", str(text)).stderr


def test_pull_takes_gguf_files_only():
    _usage_error(semcoder("model", "pull", "owner/repo:file.bin"), "'file.bin' is not a .gguf file")
