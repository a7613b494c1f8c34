"""`semcoder predict` / `predict-input` errors as a user meets them (review 27): one
paragraph and the documented exit status, no traceback, and no model load for a typo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHAPES = REPO / "examples" / "shapes.py"


def semcoder(*args: str, env_extra: dict | None = None, drop=("SEMCODER_MODEL",)) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "semcoder_inference.cli", *args], capture_output=True, text=True,
                          timeout=240, env=env, cwd=REPO)


def _usage_error(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stdout[-500:], done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, done.stderr


NO_MODEL = "/nonexistent/model.gguf"  # a load would fail with "There is no model file"


def test_a_file_python_cannot_parse_for_its_depth_is_a_clear_error(tmp_path):
    long = tmp_path / "longline.py"
    long.write_text("def f(x):\n    return " + "+".join(["x"] * 20000) + "\n")
    _usage_error(semcoder("predict", str(long), "--call", "f(2)", "--model", NO_MODEL), "nested too deeply")


def test_a_file_with_a_nul_byte_is_refused(tmp_path):
    nul = tmp_path / "nul.py"
    nul.write_bytes(b"def f(x):\n    return x\n\x00\n")
    _usage_error(semcoder("predict", str(nul), "--call", "f(2)", "--model", NO_MODEL), "holds a NUL byte")


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_a_cache_folder_that_cannot_be_used_is_a_clear_error(tmp_path, kind):
    cache = Path("/proc/semcoder-nope") if kind == "missing" else tmp_path / "cachefile"
    if kind == "file":
        cache.write_text("not a folder")
    done = semcoder("predict", str(SHAPES), "--call", "to_cm(1, 'm')", env_extra={"SEMCODER_CACHE": str(cache)})
    _usage_error(done, "The tiny test model is built in", "SEMCODER_CACHE")


def test_a_blank_model_variable_is_refused_as_an_empty_model_option_is():
    done = semcoder("predict", str(SHAPES), "--call", "to_cm(1, 'm')", env_extra={"SEMCODER_MODEL": "   "})
    _usage_error(done, "$SEMCODER_MODEL is set but blank")
    assert "tiny model" not in done.stderr
    # (set to nothing, it is unset, as the shell's habit is: the tiny model, with its notice)
    done = semcoder("predict", str(SHAPES), "--call", "to_cm(1, 'm')", env_extra={"SEMCODER_MODEL": ""})
    assert "is set but" not in done.stderr, done.stderr
    _usage_error(semcoder("predict", str(SHAPES), "--call", "to_cm(1, 'm')", "--model="), "--model is empty")


def test_an_unknown_function_is_refused_before_a_model_is_loaded():
    # the model does not exist: an error about the function, not the model, shows it was checked first
    done = semcoder("predict", str(SHAPES), "--call", "nosuch(3)", "--model", NO_MODEL)
    _usage_error(done, "There is no function `nosuch` at the top level of shapes.py")
    assert "model" not in done.stderr.split("Functions there")[0].lower()
    # predict-input takes no methods: its suggestion does not offer one
    backward = semcoder("predict-input", str(SHAPES), "--function", "nosuch", "--output", "3", "--model", NO_MODEL)
    _usage_error(backward, "There is no function `nosuch`", "Name a top-level function.")
    assert "Class.method" not in backward.stderr and "Rectangle.area" not in backward.stderr


def test_a_prompt_too_long_hint_names_the_real_setting(tiny_model):
    from semcoder_inference.engine import GenerationParams
    from semcoder_inference.errors import PromptTooLongError
    from semcoder_inference.llama_engine import LlamaCppEngine

    engine = LlamaCppEngine(str(tiny_model.gguf_q8_0), n_ctx=64, n_threads=1)
    try:
        with pytest.raises(PromptTooLongError) as info:
            list(engine.stream("def f(x):\n    return x\n" * 40, GenerationParams(max_tokens=4)))
    finally:
        engine.close()
    assert "semcoder.model.contextSize" in str(info.value) and "semcoder.nCtx" not in str(info.value)


@pytest.mark.slow
def test_max_tokens_past_the_context_is_capped_as_documented(tiny_model):
    done = semcoder("predict", str(SHAPES), "--call", "circle_area(2, 'm')", "--model", str(tiny_model.gguf_q8_0),
                    "--max-tokens", "100000", "--n-ctx", "512", "--temperature", "0", "--threads", "2")
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr
    assert "note: --max-tokens 100000 capped to" in done.stderr
    assert "predict a shorter function" not in done.stderr.lower()
    assert done.stdout.rstrip("\n").split("\n")[-1].startswith("answer: ")
