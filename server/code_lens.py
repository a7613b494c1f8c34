"""Code lenses (a call for each function, or a prompt to supply one) and backward
prediction: the model proposes an input for a desired output (semcoder/predictInput),
checked by running it when execution is enabled."""

from __future__ import annotations

import logging
from typing import Callable

from lsprotocol import types

from semcoder_inference.engine import CancelToken, GenerationParams
from semcoder_inference.errors import SemcoderError
from semcoder_inference.formats import ANSWER_STOP, backward_prompt
from semcoder_inference.parsers import AnswerParser, parse_input_answer

from .calls import CallSite, is_test
from .results import expectation_failure
from .tracing import Target, example_call

log = logging.getLogger(__name__)


def register(server) -> None:
    @server.feature(types.TEXT_DOCUMENT_CODE_LENS)
    def on_code_lens(ls, params: types.CodeLensParams) -> list[types.CodeLens]:
        uri = params.text_document.uri
        try:
            info = ls.documents.analysis(uri)
        except SemcoderError:
            return []
        lenses = []
        for fn in info.functions.values():
            rng = types.Range(start=types.Position(line=fn.def_line, character=0),
                              end=types.Position(line=fn.def_line, character=0))
            known = ls.tracing.known_calls(uri, info, fn)
            # Running the file (on a hover) found only a call with other values: it is traced
            # where the file makes it, so the lens names no call for the client to send back.
            watched = None if known or not ls.settings.execution.enabled else ls.tracing.watched_call(uri, info, fn)
            if known:
                call = known[0]
                lenses.append(types.CodeLens(range=rng, command=types.Command(
                    title=f"SemCoder: {call.call}", command="semcoder.showTrace",
                    arguments=[{"uri": uri, "function": fn.name, "call": call.call, "line": fn.def_line}])))
            elif watched is not None:
                lenses.append(types.CodeLens(range=rng, command=types.Command(
                    title=f"SemCoder: traced {_where_called(info, fn, watched)}",
                    command="semcoder.showTrace",
                    arguments=[{"uri": uri, "function": fn.name, "line": fn.def_line}])))
            elif not fn.is_method and fn.takes_no_arguments:
                # `f()` is a call of it as good as any (a test function, a `main`): the hover's.
                lenses.append(types.CodeLens(range=rng, command=types.Command(
                    title=f"SemCoder: {fn.name}()", command="semcoder.showTrace",
                    arguments=[{"uri": uri, "function": fn.name, "call": f"{fn.name}()", "line": fn.def_line}])))
            elif is_test(fn, info):
                continue  # (pytest gives its arguments: no call to supply)
            else:
                lenses.append(types.CodeLens(range=rng, command=types.Command(
                    title="SemCoder: supply a call…", command="semcoder.supplyCall",
                    arguments=[{"uri": uri, "function": fn.name, "line": fn.def_line, "example": example_call(fn)}])))
        return lenses


# Where a watched call is made, by what ran the file (as the hover's title says it).
_RUNS = {"main": "where the file calls it", "tests": "where the file's tests call it",
         "asserts": "where the file's asserts call it"}


def _where_called(info, fn, watched: CallSite) -> str:
    """`where the file calls it, line 24`: the caller's line, as running the file reported
    it. A call made from no line of the file (the asserts' conditions run as code of their
    own) has none: the recorded site then carries the function's `def` line, which is not
    where it was called from, so no line is named rather than a wrong one."""
    known = 0 <= watched.line < len(info.lines) and watched.line != fn.def_line
    where = _RUNS.get(watched.origin, "where the file calls it")
    return f"{where}, line {watched.line + 1}" if known else where


async def predict_input(ls, uri: str, function: str, output: str,
                        on_text: Callable[[str], None] | None = None) -> dict:
    """Backward monologue: a call of `function` that should return `output`."""
    info = ls.documents.analysis(uri)
    fn = info.functions.get(function)
    if fn is None:
        raise SemcoderError(f"There is no top-level function or method named `{function}` in this file.")
    if fn.is_method:
        # SemCoder's backward format asks for the arguments of a function; a method's call
        # also needs an instance, which that format has no place for.
        raise SemcoderError(f"Predicting an input works for top-level functions; `{function}` is a method. "
                            "Supply its call with the code lens instead.")
    try:
        engine = await ls.models.ensure_loaded()
    except SemcoderError as exc:
        return {"call": None, "input": None, "verified": None, "monologue": "", "message": str(exc)}
    prompt = backward_prompt(fn.source, output, function)
    parser = AnswerParser()
    text: list[str] = []

    def on_delta(delta: str) -> None:
        text.append(delta)
        parser.feed(delta)
        if on_text:
            on_text(delta)

    s = ls.settings.model
    params = GenerationParams(max_tokens=s.maxTokens, temperature=s.temperature, stop=(ANSWER_STOP,))
    cancel = CancelToken()
    await ls.worker.stream(engine, prompt, params, cancel, on_delta)
    answer = parser.answer
    if not answer:
        return {"call": None, "input": None, "verified": None, "monologue": "".join(text),
                "message": "The model gave no [ANSWER]."}
    parsed = parse_input_answer(answer, function)  # (refuses `f(??)` copied back, or another function)
    if parsed.value is None:
        return {"call": None, "input": None, "verified": None, "monologue": "".join(text),
                "message": f"The model's answer gives no input: {parsed.problem}."}
    call = parsed.value
    args = call[len(function) + 1 : -1] if call.startswith(function + "(") and call.endswith(")") else None
    verified = None
    if ls.settings.execution.enabled:
        # Checked as the assert `call == output` would be: Python's ==, in the sandbox.
        site = CallSite(function, call, "explicit", fn.def_line, expected=output)
        trace = await ls.tracing.actual_trace(Target(uri, info, fn, site))
        verified = trace.get("status") == "ok" and expectation_failure(trace, output) is None
        if verified:
            ls.tracing.explicit_calls[(uri, function)] = call
    return {"call": call, "input": args, "verified": verified, "monologue": "".join(text), "message": None}
