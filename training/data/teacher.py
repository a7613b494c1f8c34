"""Optional teacher monologues from an OpenAI-compatible completions endpoint.

The teacher gets the same forward prompt the server sends. Its monologue is kept only when
the answer it ends with equals the real run's return value; otherwise the rendered
monologue (always true) is all the record set has for that input.
"""

from __future__ import annotations

import ast

from semcoder_inference import formats

from .records import forward_record

_ENGINES: dict[tuple[str, str | None], object] = {}


def _engine(url: str, model: str | None):
    from semcoder_inference.remote_engine import RemoteEngine

    key = (url, model)
    if key not in _ENGINES:
        engine = RemoteEngine(url, model=model, timeout_s=120)
        engine.load()
        _ENGINES[key] = engine
    return _ENGINES[key]


def extract_answer(text: str) -> str | None:
    """The assertion between the last [ANSWER] and [/ANSWER] (the stop string may be cut)."""
    from semcoder_inference.parsers import AnswerParser

    parser = AnswerParser()
    parser.feed(text if formats.ANSWER_STOP in text else text + formats.ANSWER_STOP)
    return parser.answer


def same_value(candidate: str, real_repr: str) -> bool:
    """Whether the teacher's literal equals the real value (as values, not as text)."""
    candidate = formats.restore_string_quotes(candidate.strip())
    try:
        return ast.literal_eval(candidate) == ast.literal_eval(real_repr)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return candidate == real_repr.strip()


def teacher_forward_record(url: str, model: str | None, source: str, call: str, trace: dict, meta: dict) -> dict | None:
    from semcoder_inference.engine import GenerationParams
    from semcoder_inference.parsers import output_from_answer

    prompt = formats.forward_prompt(source, call)
    params = GenerationParams(max_tokens=768, temperature=0.0, stop=(formats.ANSWER_STOP,))
    text = "".join(_engine(url, model).stream(prompt.text, params))
    answer = extract_answer(text)
    if answer is None or not same_value(output_from_answer(answer), trace["return"]["repr"]):
        return None
    monologue = text.split(formats.MONOLOGUE_STOP)[0] if formats.MONOLOGUE_STOP in text else None
    if not monologue or not monologue.strip():
        return None
    return forward_record(source, call, trace, monologue=monologue, generator="teacher", **meta)
