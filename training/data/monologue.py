"""Monologues rendered from real traces.

Forward monologues of PyX records come from the tracer's `render_monologue` (see
records.py); this module renders the backward monologues and the execution simulation of
PyX-R answers (which name lines by number: the repair prompt's code has no labels).

Every sentence here states a fact read off the trace dict (schema `semcoder.trace/1`): the
line that ran, the values variables took, the value returned. Long runs are shortened by
omitting steps, never by summarising them in words that could be wrong.
"""

from __future__ import annotations

import ast
import re
from typing import NamedTuple

from semcoder_inference.formats import LabeledCode, swap_string_quotes

MAX_STEPS = 40  # steps shown before the middle of a long run is left out
TAIL_STEPS = 6
# The most characters of an exception's message a trace keeps (the tracer's
# safe_repr.MESSAGE_LEN): a longer one ends in "..." there.
MESSAGE_LEN = 1000


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


# Texts the tracer puts in place of a value it could not show whole: a __repr__ that ran out
# of time (or failed), an int too big to print, an object deeper than it shows attributes.
_NOT_WHOLE = re.compile(r"<repr (?:timed out|skipped|failed|returned)|<int with \d+ bits>|<[A-Za-z_][\w.]* object>")


def may_be_cut(text: str, limit: int) -> bool:
    """Whether the tracer may have cut `text`, a value's repr traced with `max_repr=limit`
    (so that it is not the value: `'abc...xyz'` and `[0, 1, ..., 59]` read as other values).
    A cut text is about `limit` characters long or holds "..." (the end of a long value, the
    middle of a list, a container deeper than the tracer goes), or is one of the tracer's
    markers (`<repr timed out>`). Conservative: a whole value that looks like that (a string
    holding "...", Ellipsis) counts as cut too; it is not stated, nothing false is."""
    return len(text) >= limit - 8 or "..." in text or _NOT_WHOLE.search(text) is not None


def cut_values(trace: dict, limit: int) -> list[str]:
    """The values a monologue of `trace` may state (the function's own steps: arguments,
    changes, module globals, the values it returns or yields, the exceptions that pass
    through it; the run's return value and exception) whose text the tracer may have cut
    (see may_be_cut); [] when every one is whole. `limit`: the trace's `max_repr`."""
    found: list[str] = []
    for event in _top_events(trace):
        for values in (event.get("changes"), event.get("globals")):
            found += [v for v in (values or {}).values() if may_be_cut(str(v), limit)]
        value = event.get("value")
        if value is not None:
            # An exception's "Type: message": its message is cut at MESSAGE_LEN, or its
            # argument's repr at `limit`.
            if may_be_cut(str(value), min(limit, MESSAGE_LEN) if event.get("kind") == "exception" else limit):
                found.append(str(value))
    ret = trace.get("return")
    if ret is not None and (trace.get("truncated") or {}).get("return"):
        found.append(str(ret.get("repr")))
    exc = trace.get("exception")
    if exc and may_be_cut(str(exc.get("message", "")), min(limit, MESSAGE_LEN)):
        found.append(str(exc.get("message")))
    return found


def model_quotes(text: str) -> str:
    """Code spans of a monologue in the quote style the model reads (double quotes)."""
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
        raised = f"`{exc.get('type')}: {exc.get('message')}`" if exc.get("message") else f"`{exc.get('type')}`"
        # The line of the function under test the exception left it from: the line its
        # steps name. The trace's own `line` is the innermost frame's, which is another
        # call's where the exception came from a call the function made (a helper's line).
        left = [e for e in _top_events(trace) if e.get("kind") == "exception"]
        line = left[-1].get("line") if left else exc.get("line")
        where = f" at line {line}" if line else ""
        if left and exc.get("line") and exc.get("line") != line:
            where += f" (from a call made there; it was raised at line {exc.get('line')})"
        return f"the code raises {model_quotes(raised)}{where}"
    return f"the run ends with status `{status}` ({trace.get('message', '')})"


class _Loop(NamedTuple):
    kind: str  # "for" or "while"
    header_end: int  # the header's last line (several when its target or test is in parentheses)
    first: int  # the body's lines
    last: int

    @property
    def shared(self) -> bool:
        """The body starts on the header's line: an event there holds the body's work too."""
        return self.first <= self.header_end


def _loops(source: str) -> dict[int, _Loop]:
    """The loops of `source` by the first line of their header."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    loops = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.For, ast.AsyncFor, ast.While)):
            header = [node.test] if isinstance(node, ast.While) else [node.target, node.iter]
            loops[node.lineno] = _Loop("while" if isinstance(node, ast.While) else "for",
                                       max(n.end_lineno or n.lineno for n in header), node.body[0].lineno,
                                       node.body[-1].end_lineno or node.body[-1].lineno)
    return loops


def _loop_at(line, loops: dict[int, _Loop]) -> _Loop | None:
    """The loop whose header holds `line` (the innermost, for loops on one line)."""
    if not isinstance(line, int):
        return None
    found = [(start, lp) for start, lp in loops.items() if start <= line <= lp.header_end]
    return max(found, key=lambda item: item[0])[1] if found else None


def _loop_step(events: list[dict], index: int, loop: _Loop) -> str | None:
    """What the step of events[index], a line of `loop`'s header, is: "iteration" (the
    header starts iteration `event["iteration"]`: the run goes on into the body), "ends"
    (the run left the loop from its header: the for loop's items, or the while loop's
    condition, are exhausted), or None (neither can be told: a header line before the
    header's last, a header that raised, a loop with its body on the header's line, a trace
    that ends there). The tracer numbers every pass through the header, the last one too,
    that ends the loop: one more than the iterations that ran."""
    if loop.shared or index + 1 >= len(events):
        return None
    line = events[index].get("line") or 0
    following = events[index + 1]
    next_line = following.get("line") or 0
    kind = following.get("kind")
    if kind == "line" and line < next_line <= loop.header_end:
        return None  # the header goes on on its next line: that step tells
    if kind == "line" and loop.first <= next_line <= loop.last:
        return "iteration"
    if kind == "line" or (kind == "return" and not following.get("yield")):
        return "ends"  # to a line past the loop (its `else` too), or out of the function
    return None  # an exception raised by the header itself, ...


def _steps(trace: dict, labels: LabeledCode | None, source: str = "") -> list[str]:
    steps: list[str] = []
    loops = _loops(source)
    events = _top_events(trace)
    for index, event in enumerate(events):
        kind = event.get("kind", "line")
        where = _where(event.get("line", 0), labels)
        changes = event.get("changes") or {}
        iteration = event.get("iteration")
        loop = f" (iteration {iteration})" if iteration else ""
        ends = ""
        header = _loop_at(event.get("line"), loops) if kind == "line" and iteration else None
        if header is not None:
            # A header's number counts its last pass too, the one that ends the loop: it is
            # said only where the run goes on into the body.
            what = _loop_step(events, index, header)
            if what != "iteration":
                loop = ""
            if what == "ends":
                ends = "the loop condition is false, so the loop ends" if header.kind == "while" else "the loop ends"
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
            after = f"after this line runs, {_describe_changes(changes, event.get('globals'))}"
            steps.append(f"{where}{loop}: {after}; {ends}." if ends else f"{where}{loop}: {after}.")
        elif ends:
            steps.append(f"{where}: {ends}.")
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
    for number, step in enumerate(_steps(trace, labels, source), 1):
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
