"""The prediction pipeline over a scripted engine: prompts, events, line mapping, budgets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from semcoder_inference.engine import CancelToken, GenerationParams
from semcoder_inference.errors import PromptTooLongError, SettingsError
from semcoder_inference.formats import ANSWER_STOP, REFINED_STOP, backward_prompt, repair_prompt
from semcoder_inference.predict import (
    build_output_prompt,
    predict_input,
    predict_output,
    predict_repair,
)
from semcoder_inference.replay_engine import ReplayEngine

SHAPES = Path(__file__).resolve().parents[1] / "examples" / "shapes.py"
SOURCE = SHAPES.read_text()
FILE_LINES = SOURCE.split("\n")


def file_line_of(text: str) -> int:
    return next(i for i, line in enumerate(FILE_LINES, start=1) if line.strip() == text)


def label_of(prompt: str, code: str) -> int:
    """The [Lk] label the prompt gave the line holding `code`."""
    for line in prompt.split("\n"):
        if code in line:
            return int(re.search(r"# \[L(\d+)\]$", line).group(1))
    raise AssertionError(f"{code!r} not in prompt")


def circle_script(prompt: str) -> str:
    """A monologue in SemCoder's style that names lines by the labels this prompt gave them."""
    conv = label_of(prompt, "r = to_cm(radius, unit)")
    ret = label_of(prompt, "return round(")
    scale = label_of(prompt, "return value * UNIT_SCALE[unit]")
    return (
        f"1. [L{conv}]: `to_cm` is called with `value = 2`, `unit = \"m\"`.\n"
        f"2. [L{scale}]: `UNIT_SCALE[\"m\"]` is `100.0`, so `r = 200.0`.\n"
        f"3. [L{ret}]: The function returns `125663.71`.\n"
        "[/MONOLOGUE]\n[ANSWER]\nassert circle_area(2, \"m\") == 125663.71\n[/ANSWER]\nnoise after the stop"
    )


def collect(events):
    events = list(events)
    deltas = [e.text for e in events if e.kind == "delta"]
    steps = [e.step for e in events if e.kind == "step"]
    return events, deltas, steps


def test_predict_output_streams_deltas_steps_and_answer():
    engine = ReplayEngine(circle_script)
    events, deltas, steps = collect(
        predict_output(engine, SOURCE, "circle_area", "circle_area(2, 'm')", path=str(SHAPES))
    )
    final = events[-1]
    assert final.kind == "answer" and all(e.kind != "answer" for e in events[:-1])
    # The prompt held the function and its dependencies, quotes swapped.
    (prompt,) = engine.prompts
    assert "assert circle_area(2, \"m\") == ??\n[/PYTHON]\n[MONOLOGUE]\n" in prompt
    assert "def to_cm(value, unit):" in prompt and "UNIT_SCALE = {" in prompt and "import math" in prompt
    assert "def polygon_perimeter" not in prompt
    # Deltas are the generated text, cut at the stop string.
    text = "".join(deltas)
    assert text == circle_script(prompt).split(ANSWER_STOP)[0]
    assert final.text == text
    # Steps name real lines of examples/shapes.py, not snippet lines.
    assert [s.index for s in steps] == [0, 1, 2]
    assert steps[0].lines == [file_line_of("r = to_cm(radius, unit)")]
    assert steps[1].lines == [file_line_of("return value * UNIT_SCALE[unit]")]
    assert steps[2].lines == [file_line_of("return round(math.pi * r * r, 2)")]
    assert steps[0].locations == [(str(SHAPES.resolve()), file_line_of("r = to_cm(radius, unit)"))]
    assert steps[0].mentions == [("value", "2"), ("unit", "'m'")]
    assert ("r", "200.0") in steps[1].mentions
    # The answer, in the program's own quote style, and the value alone.
    assert final.answer == "assert circle_area(2, 'm') == 125663.71"
    assert final.value == "125663.71"
    assert final.complete and not final.cancelled
    assert final.context.function == "circle_area"


def test_steps_arrive_before_the_stream_ends():
    """A step event is yielded as soon as its line is complete, not at the end."""
    engine = ReplayEngine(circle_script)
    seen_deltas_before_first_step = None
    deltas = 0
    for event in predict_output(engine, SOURCE, "circle_area", "circle_area(2, 'm')", path=str(SHAPES)):
        if event.kind == "delta":
            deltas += 1
        elif event.kind == "step" and seen_deltas_before_first_step is None:
            seen_deltas_before_first_step = deltas
    assert 0 < seen_deltas_before_first_step < deltas / 2


class RecordingEngine(ReplayEngine):
    """Remembers the generation settings it was asked for."""

    def stream(self, prompt, params=GenerationParams(), cancel=None):
        self.params = params
        return super().stream(prompt, params, cancel)


def test_prompt_matches_build_output_prompt_and_the_stop_is_added():
    engine = RecordingEngine(circle_script)
    params = GenerationParams(max_tokens=200, temperature=0.0, stop=("\n\n\n",))
    built = build_output_prompt(engine, SOURCE, "circle_area", "circle_area(2, 'm')", params, path=str(SHAPES))
    list(predict_output(engine, SOURCE, "circle_area", "circle_area(2, 'm')", params, path=str(SHAPES)))
    assert engine.prompts[-1] == built.text
    assert engine.params.stop == ("\n\n\n", ANSWER_STOP)
    assert engine.params.max_tokens == 200 and engine.params.temperature == 0.0
    # Every snippet line the prompt labelled maps to the identical line of the file.
    for label, snippet_line in built.prompt.labels.label_to_line.items():
        path, file_line = built.context.line_map[snippet_line]
        snippet_text = built.context.text.split("\n")[snippet_line - 1]
        assert FILE_LINES[file_line - 1] == snippet_text


def test_method_prediction_maps_lines_in_the_class():
    def script(prompt: str) -> str:
        area = label_of(prompt, "return self.width * self.height")
        return f"1. [L{area}]: `self.width = 2` and the area is `6`.\n[ANSWER]\nassert Rectangle(2, 3).describe() == \"2x3 (6 cm2)\""

    engine = ReplayEngine(script)
    events, _, steps = collect(
        predict_output(engine, SOURCE, "Rectangle.describe", "Rectangle(2, 3).describe()", path=str(SHAPES))
    )
    assert steps[0].lines == [file_line_of("return self.width * self.height")]
    assert events[-1].value == "'2x3 (6 cm2)'"
    assert events[-1].complete  # stream ended by "stop" with an answer, though no closing tag


def test_dependencies_are_trimmed_to_fit_then_too_long_is_an_error():
    script = "[ANSWER]\nassert circle_area(2) == 12.57\n[/ANSWER]"
    params = GenerationParams(max_tokens=20)
    full = build_output_prompt(ReplayEngine(script), SOURCE, "circle_area", "circle_area(2)", params, path=str(SHAPES))
    tight_ctx = ReplayEngine(script).count_tokens(full.text) + params.max_tokens - 5
    engine = ReplayEngine(script, n_ctx=tight_ctx)
    events = list(predict_output(engine, SOURCE, "circle_area", "circle_area(2)", params, path=str(SHAPES)))
    prompt = engine.prompts[-1]
    assert "def circle_area" in prompt and "UNIT_SCALE = {" not in prompt  # the farthest went first
    assert "UNIT_SCALE" in events[-1].context.dropped
    assert engine.count_tokens(prompt) <= tight_ctx - params.max_tokens
    assert events[-1].value == "12.57"

    tiny = ReplayEngine(script, n_ctx=60)
    with pytest.raises(PromptTooLongError, match=r"prompt for `circle_area` needs \d+ prompt tokens.*context of 60"):
        list(predict_output(tiny, SOURCE, "circle_area", "circle_area(2)", params, path=str(SHAPES)))
    assert tiny.prompts == []  # nothing was sent


def test_cancel_stops_the_stream_and_is_reported():
    engine = ReplayEngine(circle_script)
    cancel = CancelToken()
    events = []
    for event in predict_output(engine, SOURCE, "circle_area", "circle_area(2, 'm')", cancel=cancel, path=str(SHAPES)):
        events.append(event)
        if event.kind == "step":
            cancel.cancel()
    final = events[-1]
    assert final.kind == "answer" and final.cancelled and not final.complete
    assert final.answer is None
    assert sum(e.kind == "step" for e in events) == 1


def test_running_out_of_tokens_gives_an_incomplete_answer():
    engine = ReplayEngine("thinking\n[ANSWER]\nassert circle_area(2) == [1, 2, 3, 4, 5")
    params = GenerationParams(max_tokens=8)
    final = list(predict_output(engine, SOURCE, "circle_area", "circle_area(2)", params, path=str(SHAPES)))[-1]
    assert engine.last_stats.finish_reason == "length"
    assert final.answer is not None and not final.complete


def test_predict_input_backward_prompt_and_answer():
    def script(prompt: str) -> str:
        return (
            "The output is `12`, so the sides must add up to `12`.\n"
            "[/MONOLOGUE]\n[ANSWER]\nassert polygon_perimeter([3, 4, 5]) == 12\n[/ANSWER]"
        )

    engine = ReplayEngine(script)
    events, _, steps = collect(predict_input(engine, SOURCE, "polygon_perimeter", "12", path=str(SHAPES)))
    code = "def polygon_perimeter(sides):\n    total = 0\n    for length in sides:\n        total += length\n    return total"
    assert engine.prompts == [backward_prompt(code, "12", "polygon_perimeter")]
    assert steps[0].text.startswith("The output is `12`") and steps[0].lines == []
    assert events[-1].value == "polygon_perimeter([3, 4, 5])" and events[-1].complete


def test_predict_input_restores_quotes_in_the_found_input():
    engine = ReplayEngine('[ANSWER]\nassert triangle_kind(1, 1, 1) == "equilateral"\n[/ANSWER]')
    final = list(predict_input(engine, SOURCE, "triangle_kind", "'equilateral'", path=str(SHAPES)))[-1]
    assert 'assert triangle_kind(??) == "equilateral"' in engine.prompts[0]
    assert final.answer == "assert triangle_kind(1, 1, 1) == 'equilateral'"
    assert final.value == "triangle_kind(1, 1, 1)"


def test_predict_repair_yields_the_refined_code():
    code = "def total(xs):\n    s = 0\n    for x in xs[1:]:\n        s += x\n    return s"
    test = "retv = total([1, 2])\nassert retv == 3"
    script = (
        "### Execution Simulation\nThe loop skips `1`.\n### Root Cause Analysis\nThe slice drops the first item.\n"
        "[Refined]\n```python\ndef total(xs):\n    return sum(xs)\n```\n[/Refined]\nmore"
    )
    engine = ReplayEngine(script)
    events = list(predict_repair(engine, "Sum a list.", code, test))
    assert engine.prompts == [repair_prompt("Sum a list.", code, test)]
    final = events[-1]
    assert final.kind == "refined" and final.code == "def total(xs):\n    return sum(xs)"
    assert final.complete and REFINED_STOP not in final.text
    assert "".join(e.text for e in events[:-1]) == script.split(REFINED_STOP)[0]
    with pytest.raises(PromptTooLongError, match="repair prompt"):
        list(predict_repair(ReplayEngine(script, n_ctx=40), "Sum a list.", code, test))


@pytest.mark.slow
def test_real_engine_prompt_is_fitted_with_its_own_tokenizer(tiny_model):
    """Through llama.cpp on the tiny GGUF: token counts come from the real tokenizer, the
    dependencies are trimmed to fit, and generation streams into the same events."""
    from semcoder_inference.llama_engine import LlamaCppEngine

    params = GenerationParams(max_tokens=16, temperature=0.0, seed=0)
    call = "circle_area(2, 'm')"
    with LlamaCppEngine(str(tiny_model.gguf_q8_0), n_ctx=4096, n_threads=2) as roomy:
        full = build_output_prompt(roomy, SOURCE, "circle_area", call, params, path=str(SHAPES))
        full_tokens = roomy.count_tokens(full.text)
        assert full.context.dropped == ()
    tight_ctx = full_tokens + params.max_tokens - 1  # one token short of the whole slice
    with LlamaCppEngine(str(tiny_model.gguf_q8_0), n_ctx=tight_ctx, n_threads=2) as engine:
        events = list(predict_output(engine, SOURCE, "circle_area", call, params, path=str(SHAPES)))
        final = events[-1]
        assert final.kind == "answer" and final.context.dropped
        assert "def circle_area" in final.context.text
        stats = engine.last_stats
        assert stats.prompt_tokens <= tight_ctx - params.max_tokens
        assert 0 < stats.generated_tokens <= params.max_tokens
        assert "".join(e.text for e in events if e.kind == "delta") == final.text
    with LlamaCppEngine(str(tiny_model.gguf_q8_0), n_ctx=48, n_threads=2) as small:
        with pytest.raises(PromptTooLongError, match="context of 48"):
            list(predict_output(small, SOURCE, "circle_area", call, params, path=str(SHAPES)))


# ---------------------------------------------------------------------------------------------
# The answer event: a value only for a finished answer that states one, else a reason


def final_output(script, params=None, engine=None):
    engine = engine or ReplayEngine(script)
    return list(predict_output(engine, SOURCE, "circle_area", "circle_area(2)", params, path=str(SHAPES)))[-1]


def test_an_answer_cut_off_by_max_tokens_has_no_value_and_says_why():
    final = final_output("[ANSWER]\nassert circle_area(2) == [1, 1, 1, 1, 1, 1]\n[/ANSWER]", GenerationParams(max_tokens=6))
    assert not final.complete and final.value is None
    assert final.answer == "assert circle_area(2) == [1, 1,"
    assert final.reason == "the model ran out of tokens before [/ANSWER]"
    # Cut off where the text happens to parse: still no value (`== 1` may have been `== 10`).
    final = final_output("[ANSWER]\nassert circle_area(2) == 10 [/ANSWER]", GenerationParams(max_tokens=5))
    assert final.answer == "assert circle_area(2) == 10"
    assert not final.complete and final.value is None


class EndOfTextEngine(ReplayEngine):
    """Reports, as LlamaCppEngine does, which stop string ended the text: None for the model's
    end-of-text token."""

    def stream(self, prompt, params=GenerationParams(), cancel=None):
        yield from super().stream(prompt, params, cancel)
        self.last_stats.extra["stop"] = next((stop for stop in params.stop if stop in self._script), None)


def test_a_model_that_stops_before_the_closing_tag_gives_an_incomplete_answer():
    engine = EndOfTextEngine("[ANSWER]\nassert circle_area(2) == [1,")
    final = final_output(None, engine=engine)
    assert engine.last_stats.finish_reason == "stop"
    assert not final.complete and final.value is None
    assert final.reason == "the model stopped before [/ANSWER]"
    # The closing tag seen in the text (or matched as the stop string) makes it finished.
    final = final_output(None, engine=EndOfTextEngine("[ANSWER]\nassert circle_area(2) == 12.57\n[/ANSWER]"))
    assert final.complete and final.value == "12.57" and final.reason is None


@pytest.mark.parametrize(
    "answer,value,reason",
    [
        ("assert circle_area(2) == [\n  1,\n  2]", "[1, 2]", None),
        ("assert circle_area(2) == 12.57  # because", "12.57", None),
        ('assert circle_area(2) == 12.57, "msg"', "12.57", None),
        ("assert circle_area(2)", None, "the answer's assertion has no `== value`"),
        ("assert circle_area(2) is None", None, "the answer compares with `is`, not `==`"),
        ("assert circle_area(2) == ", None, "the answer has nothing after `==`"),
    ],
)
def test_the_value_is_parsed_with_ast(answer, value, reason):
    final = final_output(f"[ANSWER]\n{answer}\n[/ANSWER]")
    assert final.complete and (final.value, final.reason) == (value, reason)


def test_no_answer_and_an_empty_answer_are_told_apart():
    assert final_output("no tags at all").reason == "the model did not write an [ANSWER] block"
    assert final_output("[ANSWER]\n[/ANSWER]").reason == "the [ANSWER] block is empty"
    final = final_output("thinking and thinking", GenerationParams(max_tokens=1))
    assert final.reason == "the model ran out of tokens before writing an [ANSWER] block"


@pytest.mark.parametrize(
    "answer,reason",
    [
        ("assert triangle_kind(??) == 'equilateral'", "the answer repeats the `??` placeholder instead of an input"),
        ("assert polygon_perimeter([1, 1]) == 'equilateral'", "the answer calls `polygon_perimeter`, not `triangle_kind`"),
    ],
)
def test_predict_input_refuses_answers_that_give_no_input(answer, reason):
    engine = ReplayEngine(f"[ANSWER]\n{answer}\n[/ANSWER]")
    final = list(predict_input(engine, SOURCE, "triangle_kind", "'equilateral'", path=str(SHAPES)))[-1]
    assert final.complete and final.value is None and final.reason == reason


def test_predict_input_refuses_a_method():
    engine = ReplayEngine("[ANSWER]\nassert describe(1) == 'x'\n[/ANSWER]")
    with pytest.raises(SettingsError, match=r"`Rectangle\.describe` is a method"):
        list(predict_input(engine, SOURCE, "Rectangle.describe", "'2x3 (6 cm2)'", path=str(SHAPES)))
    assert engine.prompts == []  # no `assert describe(??) == ...` prompt was sent
