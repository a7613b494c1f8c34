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
    # The random model's noise holds no answer: exit status 1 says so (0 needs an answer).
    assert first.returncode in (0, 1) and "Traceback" not in first.stderr, first.stderr
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
    assert second.stdout == first.stdout and second.returncode == first.returncode


@pytest.mark.slow
def test_default_model_is_the_labelled_tiny_model(tiny_model):
    cache = Path(tiny_model.gguf_q8_0).parents[2]
    result = run_cli(
        ["predict-input", str(SHAPES), "--function", "polygon_perimeter", "--output", "12",
         "--max-tokens", "12", "--seed", "3"],
        env_extra={"SEMCODER_CACHE": str(cache)},
    )
    assert result.returncode in (0, 1) and "Traceback" not in result.stderr, result.stderr  # 1: no answer in the noise
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
    # Exit status 1: the command ran but gave no answer (as `semcoder trace` for a failing run).
    assert cli.main(["predict", str(SHAPES), "--call", "polygon_perimeter([1])"]) == 1
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


# ---------------------------------------------------------------------------------------------
# Answers that are not final, or state no value, are said to be so (exit status 1)


def run_scripted(monkeypatch, capsys, script: str, args: list[str]) -> tuple[int, str, str]:
    monkeypatch.setattr(cli_predict, "_make_engine", lambda a: ReplayEngine(script))
    code = cli.main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_an_answer_cut_off_by_max_tokens_is_said_to_be_incomplete(monkeypatch, capsys):
    script = "[ANSWER]\nassert polygon_perimeter([1]) == [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n[/ANSWER]"
    code, out, _ = run_scripted(
        monkeypatch, capsys, script, ["predict", str(SHAPES), "--call", "polygon_perimeter([1])", "--max-tokens", "8"]
    )
    last = out.rstrip("\n").split("\n")[-1]
    assert code == 1
    assert last.startswith("answer: (incomplete: the model ran out of tokens before [/ANSWER]")
    assert "--max-tokens 8" in last and "assert polygon_perimeter([1]) == [1," in last
    assert last != "answer: [1,"


def test_predict_input_cut_off_is_incomplete_too(monkeypatch, capsys):
    script = "[ANSWER]\nassert polygon_perimeter([3, 4, 5]) == 12\n[/ANSWER]"
    args = ["predict-input", str(SHAPES), "--function", "polygon_perimeter", "--output", "12", "--max-tokens", "3"]
    code, out, _ = run_scripted(monkeypatch, capsys, script, args)
    assert code == 1
    assert out.rstrip("\n").split("\n")[-1].startswith("answer: (incomplete: the model ran out of tokens")


def test_running_out_of_tokens_before_any_answer_says_so(monkeypatch, capsys):
    code, out, _ = run_scripted(
        monkeypatch, capsys, "a b c d e f", ["predict", str(SHAPES), "--call", "polygon_perimeter([1])", "--max-tokens", "2"]
    )
    assert code == 1
    assert out.endswith(
        "answer: (none: the model ran out of tokens before writing an [ANSWER] block "
        "(--max-tokens 2; raise it for a longer answer))\n"
    )


@pytest.mark.parametrize(
    "script,expected",
    [
        ("[ANSWER]\nassert polygon_perimeter([1]) == \n[/ANSWER]",
         "answer: (unparsed: the answer has nothing after `==`; the model wrote: assert polygon_perimeter([1]) ==)"),
        ("[ANSWER]\nassert polygon_perimeter([1])\n[/ANSWER]",
         "answer: (unparsed: the answer's assertion has no `== value`; the model wrote: assert polygon_perimeter([1]))"),
        ("[ANSWER][/ANSWER]", "answer: (none: the [ANSWER] block is empty)"),
    ],
)
def test_an_answer_without_a_value_is_not_called_missing(monkeypatch, capsys, script, expected):
    code, out, _ = run_scripted(monkeypatch, capsys, script, ["predict", str(SHAPES), "--call", "polygon_perimeter([1])"])
    assert code == 1
    assert out.rstrip("\n").split("\n")[-1] == expected


def test_a_value_over_several_lines_is_printed_on_one(monkeypatch, capsys):
    script = "[ANSWER]\nassert polygon_perimeter([1]) == [\n  1,\n  2]  # a list\n[/ANSWER]"
    code, out, _ = run_scripted(monkeypatch, capsys, script, ["predict", str(SHAPES), "--call", "polygon_perimeter([1])"])
    assert code == 0 and out.endswith("\nanswer: [1, 2]\n")


@pytest.mark.parametrize(
    "answer,reason",
    [
        ("assert triangle_kind(??) == 'equilateral'", "repeats the `??` placeholder instead of an input"),
        ("assert polygon_perimeter([3]) == 'equilateral'", "calls `polygon_perimeter`, not `triangle_kind`"),
    ],
)
def test_predict_input_refuses_answers_that_give_no_input(monkeypatch, capsys, answer, reason):
    script = f"[ANSWER]\n{answer}\n[/ANSWER]"
    args = ["predict-input", str(SHAPES), "--function", "triangle_kind", "--output", "'equilateral'"]
    code, out, _ = run_scripted(monkeypatch, capsys, script, args)
    last = out.rstrip("\n").split("\n")[-1]
    assert code == 1
    assert last.startswith("answer: (no input: the answer ") and reason in last


# ---------------------------------------------------------------------------------------------
# Arguments


def test_predict_input_refuses_a_method_before_loading_a_model(monkeypatch, capsys):
    def no_engine(args):
        raise AssertionError("no model should be loaded for a refused method")

    monkeypatch.setattr(cli_predict, "_make_engine", no_engine)
    code = cli.main(["predict-input", str(SHAPES), "--function", "Rectangle.describe", "--output", "'2x3 (6 cm2)'"])
    err = capsys.readouterr().err
    assert code == 2
    assert "`Rectangle.describe` is a method" in err and "assert f(??) == output" in err
    assert "semcoder predict FILE --call" in err and "Traceback" not in err
    help_text = cli.build_parser()._subparsers._group_actions[0].choices["predict-input"].format_help()
    assert "Class.method" not in help_text and "not a method" in help_text


@pytest.mark.parametrize(
    "args,message",
    [
        (["predict", str(SHAPES), "--call", "polygon_perimeter([1])  # why"], "holds a comment"),
        (["predict", str(SHAPES), "--call", "polygon_perimeter([1])  # why", "--function", "polygon_perimeter"],
         "holds a comment"),
        (["predict", str(SHAPES), "--call", "polygon_perimeter([1]); 2", "--function", "polygon_perimeter"],
         "not a Python expression"),
        (["predict", str(SHAPES), "--call", "", "--function", "polygon_perimeter"], "--call is empty"),
        (["predict", str(SHAPES), "--call", "3", "--function", "polygon_perimeter"], "is not a call"),
        (["predict-input", str(SHAPES), "--function", "polygon_perimeter", "--output", ""], "--output is empty"),
        (["predict-input", str(SHAPES), "--function", "polygon_perimeter", "--output", "[1,"], "not a Python expression"),
        (["predict-input", str(SHAPES), "--function", "polygon_perimeter", "--output", "12  # sum"], "holds a comment"),
        (["predict", str(SHAPES), "--call", "polygon_perimeter([1])", "--model", ""], "--model is empty"),
        (["predict-input", str(SHAPES), "--function", "polygon_perimeter", "--output", "12", "--model", " "],
         "--model is empty"),
    ],
)
def test_odd_arguments_are_refused_before_loading_a_model(monkeypatch, capsys, args, message):
    def no_engine(a):
        raise AssertionError("no model should be loaded")

    monkeypatch.setattr(cli_predict, "_make_engine", no_engine)
    monkeypatch.delenv("SEMCODER_MODEL", raising=False)
    assert cli.main(args) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err
    assert captured.out == ""


def test_an_empty_model_is_not_the_tiny_model(monkeypatch):
    monkeypatch.delenv("SEMCODER_MODEL", raising=False)
    with pytest.raises(SettingsError, match="--model is empty"):
        cli_predict.resolve_model_spec("")


def test_log_level_is_checked_and_accepted_after_the_command(capsys):
    parser = cli.build_parser()
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--log-level", "loud", "predict", "f.py", "--call", "f(1)"])
    assert exit_info.value.code == 2
    assert "'loud' is not a log level" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["predict", "f.py", "--call", "f(1)", "--log-level", "loud"])
    assert "'loud' is not a log level" in capsys.readouterr().err
    assert parser.parse_args(["predict", "f.py", "--call", "f(1)"]).log_level == "WARNING"
    assert parser.parse_args(["--log-level", "info", "predict", "f.py", "--call", "f(1)"]).log_level == "INFO"
    assert parser.parse_args(["predict", "f.py", "--call", "f(1)", "--log-level", "debug"]).log_level == "DEBUG"
    assert parser.parse_args(["model", "info", "m.gguf", "--log-level", "DEBUG"]).log_level == "DEBUG"


def test_log_level_loud_is_a_usage_error_not_a_traceback():
    result = run_cli(["--log-level", "loud", "predict", str(SHAPES), "--call", "polygon_perimeter([1])"], timeout=60)
    assert result.returncode == 2
    assert "not a log level" in result.stderr and "Traceback" not in result.stderr


LATIN1_SCRIPT = r"""
import sys
from semcoder_inference import cli, cli_predict
from semcoder_inference.replay_engine import ReplayEngine
script = "1. The area is `12.57 cm²`, 世界.\n[ANSWER]\nassert circle_area(2) == '12.57 cm²'\n[/ANSWER]"
cli_predict._make_engine = lambda args: ReplayEngine(script)
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("encoding", ["latin-1", "ascii"])
def test_a_narrow_stdout_encoding_does_not_crash(encoding):
    env = {k: v for k, v in os.environ.items() if k != "SEMCODER_MODEL"}
    env["PYTHONIOENCODING"] = encoding
    result = subprocess.run(
        [sys.executable, "-c", LATIN1_SCRIPT, "predict", str(SHAPES), "--call", "circle_area(2)"],
        capture_output=True, env=env, timeout=60, cwd=REPO,
    )
    err = result.stderr.decode(encoding)
    assert result.returncode == 0, err
    assert "Traceback" not in err and "UnicodeEncodeError" not in err
    out = result.stdout.decode(encoding)
    assert "\\u4e16\\u754c" in out  # 世界, escaped
    assert out.rstrip("\n").split("\n")[-1].startswith("answer: '12.57 cm")
