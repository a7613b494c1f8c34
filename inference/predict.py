"""High-level predictions: a function and a call in, a stream of events out.

`predict_output` asks SemCoder to simulate `function` on `call` (forward monologue),
`predict_input` asks for an input that produces an output (backward monologue), and
`predict_repair` asks for a fix of failing code. Each one

- cuts the function and its dependencies out of the module (`context.slice_function`), as
  much of them as fits the engine's context next to `max_tokens` of answer;
- builds the prompt in SemCoder's exact format (`formats`);
- streams from any `Engine` and yields PredictionEvents as the text arrives: every text
  delta, every completed monologue step (with the FILE lines it names), and one final event
  with the parsed answer.

Works with any engine (LlamaCppEngine, RemoteEngine, ReplayEngine).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Iterator

from .context import CodeSlice, slice_function
from .engine import CancelToken, Engine, GenerationParams, GenerationStats
from .errors import PromptTooLongError, SettingsError
from .formats import (
    ANSWER_STOP,
    REFINED_STOP,
    ForwardPrompt,
    backward_prompt,
    forward_prompt,
    repair_prompt,
    restore_string_quotes,
)
from .parsers import (
    AnswerParser,
    MonologueParser,
    MonologueStep,
    ParsedAnswer,
    RefinedParser,
    parse_input_answer,
    parse_output_answer,
)
from .validation import check_generation_params


@dataclass(frozen=True)
class PredictedStep:
    """A monologue step placed in the user's files.

    `lines` are 1-based lines of the module the function came from (what an editor shows);
    `locations` are (file path, line) for every line the step names, helpers in other
    workspace files included; `snippet_lines` are lines of the prompt's code snippet.
    """

    index: int
    text: str
    labels: list[int]
    snippet_lines: list[int]
    lines: list[int]
    locations: list[tuple[str, int]]
    mentions: list[tuple[str, str]]


@dataclass(frozen=True)
class PredictionEvent:
    """One thing that happened while predicting.

    kind "delta":   `text` is newly generated text.
    kind "step":    `step` is a newly completed monologue step.
    kind "answer":  the last event of predict_output/predict_input. `answer` is the text in
                    [ANSWER] (quotes restored to the program's style), `value` the predicted
                    output (predict_output) or call with the found input (predict_input),
                    `text` the whole generation; `complete` is False when generation ran out of
                    tokens, was cancelled, or ended (end of text, another stop string) before
                    `[/ANSWER]`. `value` is None unless the answer is complete and states a
                    value; `reason` then says why in words ("the model ran out of tokens
                    before [/ANSWER]", "the answer has nothing after `==`", ...).
    kind "refined": the last event of predict_repair; `code` is the fixed program.
    """

    kind: str
    text: str = ""
    step: PredictedStep | None = None
    answer: str | None = None
    value: str | None = None
    code: str | None = None
    complete: bool = False
    cancelled: bool = False
    stats: GenerationStats | None = None
    context: CodeSlice | None = None
    reason: str | None = None


@dataclass(frozen=True)
class OutputPrompt:
    """A forward prompt and the slice it was built from (what `predict_output` sends)."""

    prompt: ForwardPrompt
    context: CodeSlice

    @property
    def text(self) -> str:
        return self.prompt.text


@dataclass(frozen=True)
class InputPrompt:
    text: str
    context: CodeSlice
    function_name: str = field(default="f")


def _with_stop(params: GenerationParams | None, stop: str) -> GenerationParams:
    params = params or GenerationParams()
    check_generation_params(params)  # a nonsense max_tokens would make a nonsense budget
    if stop in params.stop:
        return params
    return dataclasses.replace(params, stop=tuple(params.stop) + (stop,))


def _prompt_budget(engine: Engine, params: GenerationParams) -> int:
    return engine.n_ctx - params.max_tokens


def _too_long(what: str, needed: int, engine: Engine, params: GenerationParams) -> PromptTooLongError:
    return PromptTooLongError(
        f"{what} needs {needed} prompt tokens, and with room for {params.max_tokens} tokens of "
        f"answer that is more than the model's context of {engine.n_ctx} tokens. "
        "Predict a shorter function, lower max tokens, or load the model with a larger context (n_ctx)."
    )


def _fitted_slice(
    engine: Engine,
    params: GenerationParams,
    source: str,
    function: str,
    build: Callable[[str], str],
    context: CodeSlice | None,
    path: str | None,
    workspace_root: str | None,
) -> CodeSlice:
    """The slice to prompt with: the given one, or a fresh one trimmed to the budget. Raises
    PromptTooLongError when even the function alone does not fit."""
    engine.load()
    budget = _prompt_budget(engine, params)

    def count(snippet: str) -> int:
        return engine.count_tokens(build(snippet))

    if context is None:
        context = slice_function(
            source, function, path=path, workspace_root=workspace_root, count_tokens=count, budget=budget
        )
        needed = context.tokens if context.tokens is not None else count(context.text)
    else:  # a caller's slice was counted (if at all) for some other prompt
        needed = count(context.text)
    if needed > budget:
        raise _too_long(f"The prompt for `{context.function}`", needed, engine, params)
    return context


def build_output_prompt(
    engine: Engine,
    source: str,
    function: str,
    call: str,
    params: GenerationParams | None = None,
    context: CodeSlice | None = None,
    *,
    path: str | None = None,
    workspace_root: str | None = None,
) -> OutputPrompt:
    """The forward prompt `predict_output` would send, fitted to the engine's context."""
    params = _with_stop(params, ANSWER_STOP)
    fitted = _fitted_slice(
        engine, params, source, function, lambda code: forward_prompt(code, call).text, context, path, workspace_root
    )
    return OutputPrompt(forward_prompt(fitted.text, call), fitted)


def _place_step(step: MonologueStep, context: CodeSlice) -> PredictedStep:
    locations = [context.line_map[line] for line in step.lines if line in context.line_map]
    return PredictedStep(
        index=step.index,
        text=step.text,
        labels=list(step.labels),
        snippet_lines=list(step.lines),
        lines=context.lines_in(context.path, step.lines),
        locations=locations,
        mentions=list(step.mentions),
    )


def _stream_monologue(
    engine: Engine,
    prompt: str,
    params: GenerationParams,
    cancel: CancelToken | None,
    label_to_line: dict[int, int],
    context: CodeSlice,
    answer_parser: AnswerParser,
) -> Iterator[PredictionEvent]:
    monologue = MonologueParser(label_to_line)
    for delta in engine.stream(prompt, params, cancel):
        if not delta:
            continue
        yield PredictionEvent("delta", text=delta)
        answer_parser.feed(delta)
        for step in monologue.feed(delta):
            yield PredictionEvent("step", step=_place_step(step, context))
    if engine.last_stats.cancelled or (cancel is not None and cancel.cancelled):
        return  # a line cut off by a cancel is not a step anyone asked to see
    for step in monologue.finish():
        yield PredictionEvent("step", step=_place_step(step, context))


def _final(
    engine: Engine,
    answer_parser: AnswerParser,
    context: CodeSlice,
    cancel: CancelToken | None,
    extract: Callable[[str], ParsedAnswer],
) -> PredictionEvent:
    stats = engine.last_stats
    cancelled = bool(stats.cancelled or (cancel is not None and cancel.cancelled))
    raw = answer_parser.answer
    answer = restore_string_quotes(raw) if raw else None
    # The engine cuts the stop string off, so "stop" usually means [/ANSWER] came. An engine
    # that says which stop matched (LlamaCppEngine: None for the end-of-text token) lets an
    # answer that ended otherwise count as unfinished.
    stopped_at_tag = stats.finish_reason == "stop" and stats.extra.get("stop", ANSWER_STOP) == ANSWER_STOP
    complete = bool(answer) and not cancelled and (answer_parser.complete or stopped_at_tag)
    value: str | None = None
    if cancelled:
        reason = "generation was cancelled"
    elif raw is None:
        reason = (
            "the model ran out of tokens before writing an [ANSWER] block"
            if stats.finish_reason == "length"
            else "the model did not write an [ANSWER] block"
        )
    elif not answer:
        reason = (
            "the model ran out of tokens before writing its answer"
            if stats.finish_reason == "length" and not answer_parser.complete
            else "the [ANSWER] block is empty"
        )
    elif not complete:
        reason = (
            "the model ran out of tokens before [/ANSWER]"
            if stats.finish_reason == "length"
            else "the model stopped before [/ANSWER]"
        )
    else:
        parsed = extract(answer)
        value, reason = parsed.value, parsed.problem
    return PredictionEvent(
        "answer",
        text=answer_parser.text,
        answer=answer,
        value=value,
        complete=complete,
        cancelled=cancelled,
        stats=stats,
        context=context,
        reason=reason,
    )


def predict_output(
    engine: Engine,
    source: str,
    function: str,
    call: str,
    params: GenerationParams | None = None,
    cancel: CancelToken | None = None,
    context: CodeSlice | None = None,
    *,
    path: str | None = None,
    workspace_root: str | None = None,
) -> Iterator[PredictionEvent]:
    """Predict what `call` (e.g. "f(1, 2)") returns, with a forward monologue.

    `source` is the module `function` lives in (`path` its file, for line mapping and relative
    imports); `context` may pass a precomputed slice instead. Yields "delta" and "step" events,
    then one "answer" event whose `value` is the predicted return value.
    """
    params = _with_stop(params, ANSWER_STOP)
    built = build_output_prompt(
        engine, source, function, call, params, context, path=path, workspace_root=workspace_root
    )
    answers = AnswerParser()
    yield from _stream_monologue(
        engine, built.text, params, cancel, built.prompt.labels.label_to_line, built.context, answers
    )
    yield _final(engine, answers, built.context, cancel, parse_output_answer)


def build_input_prompt(
    engine: Engine,
    source: str,
    function: str,
    output: str,
    params: GenerationParams | None = None,
    context: CodeSlice | None = None,
    *,
    path: str | None = None,
    workspace_root: str | None = None,
) -> InputPrompt:
    """The backward prompt `predict_input` would send, fitted to the engine's context."""
    params = _with_stop(params, ANSWER_STOP)
    check_input_function(function)
    name = function
    fitted = _fitted_slice(
        engine,
        params,
        source,
        function,
        lambda code: backward_prompt(code, output, name),
        context,
        path,
        workspace_root,
    )
    return InputPrompt(backward_prompt(fitted.text, output, name), fitted, name)


def check_input_function(function: str) -> None:
    """Input prediction is for top-level functions: SemCoder's backward format is
    `assert f(??) == output`, a call of a plain function, with no place for the instance a
    method needs. Raises SettingsError for `Class.method` (or any dotted name)."""
    if "." in function:
        raise SettingsError(
            f"Predicting an input works for top-level functions; `{function}` is a method.",
            hint="SemCoder's input-prediction format (`assert f(??) == output`) has no place for the "
            "instance a method is called on. Predict the output of a call instead "
            '(`semcoder predict FILE --call "Class(...).method(...)"`).',
        )


def predict_input(
    engine: Engine,
    source: str,
    function: str,
    output: str,
    params: GenerationParams | None = None,
    cancel: CancelToken | None = None,
    context: CodeSlice | None = None,
    *,
    path: str | None = None,
    workspace_root: str | None = None,
) -> Iterator[PredictionEvent]:
    """Find an input for which `function` returns `output`, with a backward monologue.

    Yields "delta" and "step" events (backward steps name no lines), then an "answer" event
    whose `value` is the call with the found input, e.g. "f(3)"; an answer that repeats the
    `f(??)` placeholder or calls another function gives no value (see `reason`). `function`
    must be a top-level function (SettingsError for `Class.method`: see check_input_function).
    """
    params = _with_stop(params, ANSWER_STOP)
    built = build_input_prompt(engine, source, function, output, params, context, path=path, workspace_root=workspace_root)
    answers = AnswerParser()
    yield from _stream_monologue(engine, built.text, params, cancel, {}, built.context, answers)
    yield _final(engine, answers, built.context, cancel, lambda answer: parse_input_answer(answer, built.function_name))


def predict_repair(
    engine: Engine,
    problem: str,
    code: str,
    failed_test: str,
    params: GenerationParams | None = None,
    cancel: CancelToken | None = None,
) -> Iterator[PredictionEvent]:
    """Ask for a fix of `code`, which fails `failed_test` ("retv = f(...)\\nassert retv == ...").

    Yields "delta" events (the simulation and root-cause analysis as they are written), then
    one "refined" event whose `code` is the program between [Refined] and [/Refined], or None
    if the model gave none.
    """
    params = _with_stop(params, REFINED_STOP)
    engine.load()
    prompt = repair_prompt(problem, code, failed_test)
    needed = engine.count_tokens(prompt)
    if needed > _prompt_budget(engine, params):
        raise _too_long("The repair prompt", needed, engine, params)
    refined = RefinedParser()
    for delta in engine.stream(prompt, params, cancel):
        if not delta:
            continue
        refined.feed(delta)
        yield PredictionEvent("delta", text=delta)
    stats = engine.last_stats
    cancelled = bool(stats.cancelled or (cancel is not None and cancel.cancelled))
    fixed = refined.code
    yield PredictionEvent(
        "refined",
        text=refined.text,
        code=fixed or None,
        complete=bool(fixed) and not cancelled and (refined.complete or stats.finish_reason == "stop"),
        cancelled=cancelled,
        stats=stats,
    )
