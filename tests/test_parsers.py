"""Incremental parsers: same result whatever the split, answers and monologue steps."""

from __future__ import annotations

import random

import pytest

from semcoder_inference.formats import forward_prompt
from semcoder_inference.parsers import (
    AnswerParser,
    MonologueParser,
    MonologueStep,
    RefinedParser,
    input_from_answer,
    mentions_in,
    output_from_answer,
    parse_input_answer,
    parse_output_answer,
)

# A monologue in the shape SemCoder writes them (numbered steps, [Lk] labels, backticks).
MONOLOGUE = (
    "Let's simulate the execution of `f([10.5, 3])` step by step.\n"
    "1. [L5]: The function `f` is called with `nums = [10.5, 3]`.\n"
    "2. [L6]: `energy_dict` is initialized as an empty dictionary.\n"
    "3. [L7]: The loop starts. For `idx = 0`, `energy = 10.5`.\n"
    "   - [L8]: `energy_dict[energy]` is set to `0`.\n"
    "4. [L7-L8]: The loop continues; the value of `idx` is `1`.\n"
    "\n"
    "5. [L9]: Final state of `energy_dict`: `{10.5: 0, 3: 1}`; `s` becomes `\"abc\"`.\n"
    "6. [L42]: A label the code does not have.\n"
    "The function returns `{10.5: 0, 3: 1}`.\n"
    "[/MONOLOGUE]\n"
    "[ANSWER]\n"
    "assert f([10.5, 3]) == {10.5: 0, 3: 1}\n"
)
LABELS = {5: 1, 6: 2, 7: 3, 8: 4, 9: 5}


def splits(text: str, rng: random.Random, count: int = 40):
    """Every single-point split, plus random multi-point splits and one char at a time."""
    for cut in range(len(text) + 1):
        yield [text[:cut], text[cut:]]
    for _ in range(count):
        cuts = sorted(rng.sample(range(len(text) + 1), k=min(len(text), rng.randint(2, 12))))
        pieces, last = [], 0
        for cut in cuts:
            pieces.append(text[last:cut])
            last = cut
        pieces.append(text[last:])
        yield pieces
    yield list(text)


def run_monologue(pieces: list[str]) -> list[MonologueStep]:
    parser = MonologueParser(LABELS)
    steps = []
    for piece in pieces:
        steps.extend(parser.feed(piece))
    steps.extend(parser.finish())
    assert steps == parser.steps
    return steps


def test_monologue_steps_labels_lines_and_mentions():
    steps = run_monologue([MONOLOGUE])
    assert [s.index for s in steps] == list(range(len(steps)))
    assert len(steps) == 9  # blank line and everything after [/MONOLOGUE] excluded
    assert steps[1].labels == [5] and steps[1].lines == [1]
    assert steps[1].mentions == [("nums", "[10.5, 3]")]
    assert steps[2].mentions == [("energy_dict", "{}")]
    assert steps[3].mentions == [("idx", "0"), ("energy", "10.5")]
    assert steps[4].text == "- [L8]: `energy_dict[energy]` is set to `0`."
    assert steps[4].mentions == [("energy_dict[energy]", "0")]
    assert steps[5].labels == [7, 8] and steps[5].lines == [3, 4]
    assert steps[5].mentions == [("idx", "1")]
    # Values come back in the program's own quote style.
    assert steps[6].mentions == [("energy_dict", "{10.5: 0, 3: 1}"), ("s", "'abc'")]
    assert steps[7].labels == [42] and steps[7].lines == []
    assert steps[8].text == "The function returns `{10.5: 0, 3: 1}`."


def test_monologue_same_result_for_every_split():
    expected = run_monologue([MONOLOGUE])
    rng = random.Random(7)
    for pieces in splits(MONOLOGUE, rng):
        assert run_monologue(pieces) == expected


def test_monologue_returns_steps_as_lines_complete():
    parser = MonologueParser(LABELS)
    assert parser.feed("1. [L5]: `x = 1`") == []  # line not finished yet
    steps = parser.feed(" and more\n2. [L6]")
    assert [s.text for s in steps] == ["1. [L5]: `x = 1` and more"]
    assert [s.text for s in parser.finish()] == ["2. [L6]"]
    assert parser.feed("3. later\n") == []


def test_monologue_ends_at_answer_without_closing_tag():
    parser = MonologueParser({})
    steps = parser.feed("step one\nlast words [ANSWER]\nassert f(1) == 2\n")
    assert [s.text for s in steps] == ["step one", "last words"]
    assert parser.done and parser.finish() == []


def test_monologue_labels_map_through_a_real_forward_prompt():
    prompt = forward_prompt("def f(x):\n\n    y = x + 1\n    return y", "f(1)")
    parser = MonologueParser(prompt.labels.label_to_line)
    (step,) = parser.feed("[L7]: `y = 2` and [L8] returns it\n")
    assert step.lines == [3, 4]


@pytest.mark.parametrize(
    "line,expected",
    [
        ("`x` is `3`", [("x", "3")]),
        ("the value of `total` is `12`", [("total", "12")]),
        ("`self.count` is updated to `4`", [("self.count", "4")]),
        ("`result` becomes `[1, 2]`", [("result", "[1, 2]")]),
        ("`s` is now `\"ab\"`", [("s", "'ab'")]),
        ("`x == 3` is `True`", []),  # a comparison is not an assignment
        ("`nums.count(1)` returns `4`", []),  # a call is not a variable
        ("`a += 1`", []),
        ("`words` is initialized to an empty list", [("words", "[]")]),
        ("plain text, no values", []),
    ],
)
def test_mentions(line, expected):
    assert mentions_in(line) == expected


ANSWER_TEXT = "...monologue...\n[/MONOLOGUE]\n[ANSWER]\nassert f(\"a==b\", [1]) == \"x\"\n[/ANSWER]\ntrailing"


def run_answer(pieces: list[str]) -> tuple[str | None, bool]:
    parser = AnswerParser()
    for piece in pieces:
        parser.feed(piece)
    return parser.answer, parser.complete


def test_answer_parser_any_split():
    expected = ('assert f("a==b", [1]) == "x"', True)
    assert run_answer([ANSWER_TEXT]) == expected
    for pieces in splits(ANSWER_TEXT, random.Random(3)):
        assert run_answer(pieces) == expected


def test_answer_parser_partial_states():
    parser = AnswerParser()
    parser.feed("thinking about [ANS")
    assert parser.answer is None and not parser.complete
    parser.feed("WER]\nassert f(1) == 2\n[/ANS")
    assert parser.answer == "assert f(1) == 2" and not parser.complete  # half a stop tag hidden
    # The engine stops at [/ANSWER] without returning it: the answer is still there.
    parser2 = AnswerParser()
    parser2.feed("[ANSWER]\nassert f(1) == 2\n")
    assert parser2.answer == "assert f(1) == 2" and not parser2.complete


def test_answer_parser_takes_the_last_answer():
    parser = AnswerParser()
    parser.feed("[ANSWER]one[/ANSWER] then [ANSWER]two[/ANSWER]")
    assert parser.answer == "two" and parser.complete
    parser.feed(" and [ANSWER]thr")
    assert parser.answer == "thr" and not parser.complete


@pytest.mark.parametrize(
    "answer,output,inp",
    [
        ("assert f(1) == 2", "2", "f(1)"),
        ('assert f("a==b") == "c==d"', '"c==d"', 'f("a==b")'),
        ("assert f([1, 2] == [1]) == False", "False", "f([1, 2] == [1])"),
        ("assert f(1) == {'a': (1, 2)}\nassert f(2) == 3", "{'a': (1, 2)}", "f(1)"),
        ("[1, 2]", "[1, 2]", "[1, 2]"),
        ("assert f(1) == [1, 2", "[1, 2", "f(1)"),  # cut off: plain split
        ("assertion_fn(1) == 2", "2", "assertion_fn(1)"),
    ],
)
def test_output_and_input_from_answer(answer, output, inp):
    assert output_from_answer(answer) == output
    assert input_from_answer(answer) == inp


REFINED_TEXT = (
    "### Execution Simulation\n...\n### Root Cause Analysis\n...\n"
    "[Refined]\n```python\ndef total(xs):\n    return sum(xs)\n```\n[/Refined]\n"
)


def test_refined_parser_any_split():
    expected = "def total(xs):\n    return sum(xs)"
    for pieces in splits(REFINED_TEXT, random.Random(5)):
        parser = RefinedParser()
        for piece in pieces:
            parser.feed(piece)
        assert parser.code == expected and parser.complete


def test_refined_parser_without_fences_and_unterminated():
    parser = RefinedParser()
    assert parser.code is None
    parser.feed("[Refined]\ndef g():\n    return 1\n")
    assert parser.code == "def g():\n    return 1" and not parser.complete


# ---------------------------------------------------------------------------------------------
# Answers parsed with `ast`: the value alone, whatever its shape, or no value with a reason


@pytest.mark.parametrize(
    "answer,value",
    [
        ("assert f(1) == [\n  1,\n  2]", "[1, 2]"),  # a value over several lines, on one
        ("assert f(1) == 3  # because", "3"),  # a comment is not part of it
        ('assert f(1) == 3, "msg"', "3"),  # nor is the assertion's message
        ("assert f(1) == {'a': [1,\n 2]}\nassert f(2) == 5", "{'a': [1, 2]}"),  # the first assertion
        ('assert f("a==b") == "c==d"', '"c==d"'),  # as written, quotes kept
        ("```python\nassert f(1) == 3\n```", "3"),
        ("  assert f(1) == 3\nThat is all.", "3"),  # indented, prose after it
        ("[1, 2]", "[1, 2]"),  # a bare value
        ("f(1) == 4", "4"),
    ],
)
def test_parse_output_answer_values(answer, value):
    assert parse_output_answer(answer).value == value
    assert parse_output_answer(answer).problem is None
    assert output_from_answer(answer) == value


@pytest.mark.parametrize(
    "answer,problem",
    [
        ("assert f(1)", "has no `== value`"),
        ("assert f(1) is None", "compares with `is`, not `==`"),
        ("assert f(1) != 2", "compares with `!=`, not `==`"),
        ("assert f(1) == 2 == 3", "chains several comparisons"),
        ("assert f(1) == ", "has nothing after `==`"),
        ("assert f(1) == [1, 2", "is not a Python assertion"),  # cut off
        ("assert f(1) == ??", "repeats the `??` placeholder"),
        ("The function returns three.", "is not a Python assertion"),
        ("", "is empty"),
    ],
)
def test_parse_output_answer_without_a_value(answer, problem):
    parsed = parse_output_answer(answer)
    assert parsed.value is None and problem in parsed.problem


def test_output_from_answer_states_no_value_for_assertions_without_one():
    assert output_from_answer("assert f(1)") == ""
    assert output_from_answer("assert f(1) is None") == ""
    assert output_from_answer("assert f(1) == ") == ""


@pytest.mark.parametrize(
    "answer,call",
    [
        ("assert f(3) == [3, 4]", "f(3)"),
        ("f(3)", "f(3)"),
        ('assert f(x="a==b") == 1', 'f(x="a==b")'),
        ("assert f([\n  1,\n  2]) == 3  # sum", "f([1, 2])"),
        ('assert f(1, 2) == 3, "msg"\nassert f(0) == 0', "f(1, 2)"),
    ],
)
def test_parse_input_answer_calls(answer, call):
    parsed = parse_input_answer(answer, "f")
    assert (parsed.value, parsed.problem) == (call, None)
    assert input_from_answer(answer) == call


@pytest.mark.parametrize(
    "answer,problem",
    [
        ("assert f(??) == [3, 4]", "repeats the `??` placeholder instead of an input"),
        ("assert f(??, 2) == 1", "repeats the `??` placeholder"),
        ("assert g(3) == [3, 4]", "calls `g`, not `f`"),
        ("assert obj.f(3) == [3, 4]", "calls `obj.f`, not `f`"),
        ("assert [3] == [3, 4]", "is not a call of the function"),
        ("assert f(3)", "has no `== value`"),
        ("assert f(3 == [3, 4]", "is not a Python assertion"),
        ("", "is empty"),
    ],
)
def test_parse_input_answer_refuses_answers_that_give_no_input(answer, problem):
    parsed = parse_input_answer(answer, "f")
    assert parsed.value is None and problem in parsed.problem


MULTILINE_ANSWER = "steps...\n[ANSWER]\nassert f(1) == [\n    1,  # one\n    2,\n]\n[/ANSWER]\nmore"


def test_multiline_answer_same_value_for_every_split():
    for pieces in splits(MULTILINE_ANSWER, random.Random(11)):
        parser = AnswerParser()
        for piece in pieces:
            parser.feed(piece)
        assert parse_output_answer(parser.answer).value == "[1, 2]"
        assert parse_input_answer(parser.answer, "f").value == "f(1)"


@pytest.mark.parametrize(
    "text",
    [
        "[Refined]\n    def f():\n        return 1\n[/Refined]",
        "[Refined]\n    ```python\n    def f():\n        return 1\n    ```\n[/Refined]",
        "[Refined]\n```python\n    def f():\n        return 1\n```\n[/Refined]",
    ],
)
def test_refined_code_is_dedented_so_it_compiles(text):
    for pieces in splits(text, random.Random(13), count=10):
        parser = RefinedParser()
        for piece in pieces:
            parser.feed(piece)
        assert parser.code == "def f():\n    return 1"
    compile(parser.code, "<refined>", "exec")


def test_a_question_mark_string_is_an_input_not_the_placeholder():
    assert parse_input_answer('assert f("??") == 1', "f").value == 'f("??")'


def test_input_from_answer_stays_lenient():
    """The plain-text helper (used by callers that check the call themselves) keeps the call
    of an assertion without `== output`, but now parses it whole."""
    assert input_from_answer("assert f(3)") == "f(3)"
    assert input_from_answer("assert f(3) is None  # hm") == "f(3)"
    assert input_from_answer("assert f(\n  [1, 2]) == 3") == "f([1, 2])"
