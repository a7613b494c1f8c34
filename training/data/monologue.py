"""Monologues rendered from real traces.

Forward monologues of PyX records come from the tracer's `render_monologue` (see
records.py); this module renders the backward monologues and the execution simulation of
PyX-R answers (which name lines by number: the repair prompt's code has no labels).

Every sentence here states a fact read off the trace dict (schema `semcoder.trace/1`): the
line that ran, the values variables took, the value returned. Long runs are shortened by
omitting steps, never by summarising them in words that could be wrong.
"""

from __future__ import annotations

from semcoder_inference.formats import LabeledCode, swap_string_quotes

MAX_STEPS = 40  # steps shown before the middle of a long run is left out
TAIL_STEPS = 6


def _top_events(trace: dict) -> list[dict]:
    """Events of the function under test itself (not of helpers it calls, nor of threads it
    starts, which may run the same function)."""
    events = [e for e in trace.get("events") or [] if not e.get("thread")]
    function = trace.get("function")
    own = [e for e in events if e.get("function") == function] or events
    if not own:
        return []
    depth = min(e.get("depth", 0) for e in own)
    return [e for e in own if e.get("depth", 0) == depth]


def model_quotes(text: str) -> str:
    """Code spans of a monologue in the quote style the model reads (double quotes)."""
    import re

    return re.sub(r"`([^`\n]*)`", lambda m: "`" + swap_string_quotes(m.group(1)) + "`", text)


def shorten(monologue: str, keep_head: int = MAX_STEPS - TAIL_STEPS, keep_tail: int = TAIL_STEPS) -> str:
    """Leave out the middle steps of a long monologue, saying how many (step numbers keep
    their values, so the gap is visible)."""
    lines = monologue.split("\n")
    if len(lines) <= keep_head + keep_tail + 1:
        return monologue
    omitted = len(lines) - keep_head - keep_tail
    return "\n".join(lines[:keep_head] + [f"({omitted} more steps of the run are left out here.)"] + lines[-keep_tail:])


def _q(text: str) -> str:
    """Code in backticks, in the quote style the model reads (double quotes)."""
    return "`" + swap_string_quotes(str(text)) + "`"


def _where(line: int, labels: LabeledCode | None) -> str:
    if labels is not None:
        label = labels.line_to_label.get(line)
        if label is not None:
            return f"[L{label}]"
    return f"line {line}"


def _describe_changes(changes: dict, globals_: dict | None = None) -> str:
    return ", ".join([f"{_q(name)} is {_q(value)}" for name, value in changes.items()]
                     + [f"the global {_q(name)} is {_q(value)}" for name, value in (globals_ or {}).items()])


def _describe_arguments(changes: dict) -> str:
    return ", ".join(_q(f"{name} = {value}") for name, value in changes.items())


def trace_summary(trace: dict) -> str:
    """What the run ended with, as a clause: "it returns `3`", "it raises ...", ..."""
    status = trace.get("status")
    if status == "ok" and trace.get("return") is not None:
        return f"the code returns {_q(trace['return']['repr'])}"
    if status == "exception" and trace.get("exception"):
        exc = trace["exception"]
        return f"the code raises `{exc.get('type')}: {exc.get('message')}` at line {exc.get('line')}"
    return f"the run ends with status `{status}` ({trace.get('message', '')})"


def _steps(trace: dict, labels: LabeledCode | None) -> list[str]:
    steps: list[str] = []
    for event in _top_events(trace):
        kind = event.get("kind", "line")
        where = _where(event.get("line", 0), labels)
        changes = event.get("changes") or {}
        iteration = event.get("iteration")
        loop = f" (iteration {iteration})" if iteration else ""
        if kind == "call" and event.get("resumed"):
            # a generator going on after a `yield`; what it changes is the value sent in
            received = f"; {_describe_changes(changes)}" if changes else ""
            steps.append(f"{where}: the function resumes after its `yield`{received}.")
        elif kind == "call":
            if changes:
                steps.append(f"{where}: the function is called with {_describe_arguments(changes)}.")
            else:
                steps.append(f"{where}: the function is called.")
        elif kind == "return":
            ret = trace.get("return") or {}
            if changes:
                steps.append(f"{where}{loop}: {_describe_changes(changes)}.")
            # The event's own value: the run's return value is another function's when the
            # call wraps this one (`list(f(2))`).
            value = event.get("value", ret.get("repr"))
            if value is not None:
                verb = "yields" if event.get("yield") else "returns"
                steps.append(f"{where}: the function {verb} {_q(str(value))}.")
        elif kind == "exception":
            # The event's own exception ("Type: message"): one raised and caught inside the
            # function is not the run's final one.
            raised = str(event.get("value") or "").partition(":")[0]
            raised = raised or (trace.get("exception") or {}).get("type")
            steps.append(f"{where}: `{raised}` is raised." if raised else f"{where}: an exception is raised.")
        elif changes or event.get("globals"):
            steps.append(f"{where}{loop}: after this line runs, {_describe_changes(changes, event.get('globals'))}.")
        else:
            steps.append(f"{where}{loop}: this line runs; no variable changes.")
    if len(steps) > MAX_STEPS:
        omitted = len(steps) - MAX_STEPS
        steps = steps[: MAX_STEPS - TAIL_STEPS] + [f"({omitted} more steps of the run are left out here.)"] + steps[-TAIL_STEPS:]
    return steps


def forward_monologue(source: str, call: str, trace: dict, labels: LabeledCode | None, labelled: bool = True) -> str:
    """A forward monologue: the run of `call`, step by step, then the value it returns."""
    labels = labels if labelled else None
    lines = [f"Let's simulate the execution of {_q(call)} step by step, following the run.", ""]
    for number, step in enumerate(_steps(trace, labels), 1):
        lines.append(f"{number}. {step}")
    lines.append("")
    lines.append(f"So {trace_summary(trace)} for {_q(call)}.".replace("So the code", "So the function"))
    return "\n".join(lines)


def backward_monologue(source: str, function: str, args: str, trace: dict) -> str:
    """A backward monologue: from the output back through the last values that produced it,
    to one input that gives it. Lines are named by number (the prompt has no labels)."""
    output = trace["return"]["repr"]
    events = _top_events(trace)
    lines = [f"The output is {_q(output)}. Let's work backwards to an input that produces it.", ""]
    returns = [e for e in events if e.get("kind") == "return"]
    if returns:
        lines.append(f"- The function returns {_q(output)} from line {returns[-1].get('line')}.")
    # The last value each variable held, latest first: the state the return was computed from.
    last_values: dict[str, tuple[int, str]] = {}
    for event in events:
        for name, value in (event.get("changes") or {}).items():
            last_values[name] = (event.get("line", 0), value)
    call_event = next((e for e in events if e.get("kind") == "call"), None)
    params = dict(call_event.get("changes") or {}) if call_event else {}
    for name, (line, value) in sorted(last_values.items(), key=lambda kv: -kv[1][0]):
        if name in params and params[name] == value:
            continue
        lines.append(f"- Just before returning, {_q(name)} is {_q(value)} (last set at line {line}).")
    if params:
        lines.append(f"- Those values come from the arguments {_describe_arguments(params)}.")
    lines.append("")
    lines.append(f"So one input that leads to {_q(output)} is {_q(f'{function}({args})')}.")
    return "\n".join(lines)
