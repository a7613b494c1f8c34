"""`semcoder predict` / `predict-input`: end to end on the real tiny GGUF through llama.cpp,
and the output format and errors over a scripted engine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from semcoder_inference import cli, cli_predict
from semcoder_inference.errors import SettingsError
from semcoder_inference.replay_engine import ReplayEngine

REPO = Path(__file__).resolve().parents[1]
SHAPES = REPO / "examples" / "shapes.py"
SEMCODER = [sys.executable, "-m", "semcoder_inference.cli"]


def run_cli(args, env_extra=None, timeout=240):
    env = {k: v for k, v in os.environ.items() if k != "SEMCODER_MODEL"}
    env.update(env_extra or {})
    return subprocess.run(SEMCODER + args, capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO)


@pytest.mark.slow
def test_predict_streams_from_the_tiny_model_and_prints_an_answer_line(tiny_model):
    args = ["predict", str(SHAPES), "--call", "circle_area(2, 'm')", "--model", str(tiny_model.gguf_q8_0),
            "--max-tokens", "24", "--temperature", "0", "--threads", "2", "--show-prompt"]
    first = run_cli(args)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.rstrip("\n").split("\n")
    assert lines[-1].startswith("answer: ")
    assert len(first.stdout) > len(lines[-1]) + 10  # generated text came before the answer
    # The prompt (on stderr, not stdout) holds the function and its helper, labelled.
    assert "def to_cm(value, unit): # [L" in first.stderr
    assert 'assert circle_area(2, "m") == ??' in first.stderr
    assert "def to_cm" not in first.stdout
    assert "tiny model" not in first.stderr  # an explicit --model gets no tiny-model label
    # Greedy decoding through the real engine is repeatable.
    second = run_cli(args)
    assert second.stdout == first.stdout


@pytest.mark.slow
def test_default_model_is_the_labelled_tiny_model(tiny_model):
    cache = Path(tiny_model.gguf_q8_0).parents[2]
    result = run_cli(
        ["predict-input", str(SHAPES), "--function", "polygon_perimeter", "--output", "12",
         "--max-tokens", "12", "--seed", "3"],
        env_extra={"SEMCODER_CACHE": str(cache)},
    )
    assert result.returncode == 0, result.stderr
    assert "tiny model" in result.stderr and "random weights" in result.stderr
    assert "semcoder model pull tensorblock/semcoder_s_1030-GGUF:semcoder_s_1030-Q4_K_M.gguf" in result.stderr
    assert result.stdout.rstrip("\n").split("\n")[-1].startswith("answer: ")


def test_bad_inputs_are_one_line_errors(tiny_model):
    model = str(tiny_model.gguf_q8_0)
    missing = run_cli(["predict", "no/such/file.py", "--call", "f(1)", "--model", model])
    assert missing.returncode == 2 and "There is no file no/such/file.py" in missing.stderr
    unknown = run_cli(["predict", str(SHAPES), "--call", "nope(1)", "--model", model])
    assert unknown.returncode == 2
    assert "no function `nope`" in unknown.stderr and "circle_area" in unknown.stderr
    not_a_call = run_cli(["predict", str(SHAPES), "--call", "1 +", "--model", model])
    assert not_a_call.returncode == 2 and "not a Python expression" in not_a_call.stderr
    bad_tokens = run_cli(["predict", str(SHAPES), "--call", "to_cm(1, 'm')", "--max-tokens", "0", "--model", model])
    assert bad_tokens.returncode == 2 and "max_tokens" in bad_tokens.stderr
    for result in (missing, unknown, not_a_call, bad_tokens):
        assert "Traceback" not in result.stderr
        assert result.stdout == ""


def test_output_format_over_a_scripted_engine(monkeypatch, capsys):
    script = (
        "1. [L5]: `value = 2`\n2. The function returns `200.0`.\n"
        "[/MONOLOGUE]\n[ANSWER]\nassert to_cm(2, \"m\") == 200.0\n[/ANSWER]"
    )
    engine = ReplayEngine(script)
    monkeypatch.setattr(cli_predict, "_make_engine", lambda args: engine)
    code = cli.main(["predict", str(SHAPES), "--call", "to_cm(2, 'm')"])
    out = capsys.readouterr().out
    assert code == 0
    assert out == script.split("[/ANSWER]")[0] + "answer: 200.0\n"  # the text ended with a newline
    assert 'assert to_cm(2, "m") == ??' in engine.prompts[0]


def test_predict_input_output_format(monkeypatch, capsys):
    engine = ReplayEngine("[ANSWER]\nassert triangle_kind(1, 1, 1) == \"equilateral\"\n[/ANSWER]")
    monkeypatch.setattr(cli_predict, "_make_engine", lambda args: engine)
    code = cli.main(["predict-input", str(SHAPES), "--function", "triangle_kind", "--output", "'equilateral'"])
    assert code == 0
    assert capsys.readouterr().out.endswith("\nanswer: triangle_kind(1, 1, 1)\n")


def test_no_answer_is_said_plainly(monkeypatch, capsys):
    monkeypatch.setattr(cli_predict, "_make_engine", lambda args: ReplayEngine("just noise"))
    assert cli.main(["predict", str(SHAPES), "--call", "polygon_perimeter([1])"]) == 0
    assert capsys.readouterr().out == "just noise\nanswer: (none: the model did not write an [ANSWER] block)\n"


def test_without_training_installed_the_error_says_how_to_get_a_model(monkeypatch, capsys):
    monkeypatch.delenv("SEMCODER_MODEL", raising=False)
    monkeypatch.setitem(sys.modules, "semcoder_training.tiny", None)  # import fails
    assert cli.main(["predict", str(SHAPES), "--call", "polygon_perimeter([1])"]) == 2
    err = capsys.readouterr().err
    assert "semcoder model pull tensorblock/semcoder_s_1030-GGUF" in err
    assert "pip install -e '.[train]'" in err and "Traceback" not in err


def test_model_resolution_order(monkeypatch):
    monkeypatch.setenv("SEMCODER_MODEL", "/models/from-env.gguf")
    assert cli_predict.resolve_model_spec("/models/explicit.gguf") == ("/models/explicit.gguf", False)
    assert cli_predict.resolve_model_spec(None) == ("/models/from-env.gguf", False)


@pytest.mark.parametrize(
    "call,expected",
    [
        ("circle_area(2)", "circle_area"),
        ("Rectangle(2, 3).describe()", "Rectangle.describe"),
        ("Rectangle.area(r)", "Rectangle.area"),
    ],
)
def test_function_from_call(call, expected):
    assert cli_predict.function_from_call(call, SHAPES.read_text()) == expected


def test_function_from_call_needs_help_for_unknown_objects():
    with pytest.raises(SettingsError, match="--function"):
        cli_predict.function_from_call("shape.area()", SHAPES.read_text())
