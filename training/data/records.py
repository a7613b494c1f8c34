"""PyX and PyX-R records built from real traces.

Each record's instruction is the text the model sees between its template's header and
the response, built with the same `semcoder_inference.formats` functions the server uses
at inference time, so `training_prompt(kind, instruction) + response` starts with exactly
the prompt the server sends. Monologues are rendered from the real trace: every value they
state is a value the program really had.
"""

from __future__ import annotations

from semcoder_inference import formats

from .monologue import backward_monologue, forward_monologue, model_quotes, shorten, trace_summary


def _instruction_from_prompt(kind: str, prompt_text: str, tail: str) -> str:
    """The instruction that makes `training_prompt(kind, instruction) + tail == prompt_text`.

    `tail` is what the response must start with (e.g. "[MONOLOGUE]\\n"): the server's prompt
    ends inside the response part of the template."""
    prefix = formats.training_prompt(kind, "")[:-1]  # the template up to "{instruction}"
    body = prompt_text[len(prefix):len(prompt_text) - len(tail)]
    instruction = body[:-1]
    if not prompt_text.startswith(prefix) or formats.training_prompt(kind, instruction) + tail != prompt_text:
        raise ValueError(f"the {kind} inference prompt does not have the training template's shape")
    return instruction


def pyx_row(kind: str, instruction: str, response: str, **meta) -> dict:
    row = {"nl": None, "fwd_mnl": None, "bwd_mnl": None, "response": response}
    row[kind] = instruction
    row.update(meta)
    return row


def nl_record(seed, **meta) -> dict | None:
    if not seed.description.strip():
        return None
    return pyx_row("nl", seed.description.strip(), seed.source.rstrip("\n") + "\n", **meta)


def forward_record(source: str, call: str, trace: dict, monologue: str | None = None, **meta) -> dict:
    """Output prediction with a forward monologue. `monologue` replaces the rendered one
    (teacher-written text, already checked against the real run)."""
    prompt = formats.forward_prompt(source, call)
    # The inference prompt ends "[MONOLOGUE]\n": that marker is part of the instruction.
    tail = ""
    instruction = _instruction_from_prompt("fwd_mnl", prompt.text, tail)
    if monologue is None:
        # The tracer's own narration of the run, with [Lk] labels as the prompt numbers lines.
        from semcoder_inference.tracer import render_monologue

        function = trace.get("function")
        monologue = shorten(model_quotes(render_monologue(trace, source.replace("\r\n", "\n").rstrip(), function)))
    answer = formats.swap_string_quotes(f"assert {call} == {trace['return']['repr']}")
    response = monologue.strip("\n") + "\n[/MONOLOGUE]\n[ANSWER]\n" + answer + "\n" + formats.ANSWER_STOP
    return pyx_row("fwd_mnl", instruction, response, **meta)


def backward_record(source: str, function: str, args: str, trace: dict, **meta) -> dict:
    """Input prediction with a backward monologue: from the output back to one input."""
    output = trace["return"]["repr"]
    prompt_text = formats.backward_prompt(source, output, function)
    tail = ""
    instruction = _instruction_from_prompt("bwd_mnl", prompt_text, tail)
    monologue = backward_monologue(source, function, args, trace)
    answer = formats.swap_string_quotes(f"assert {function}({args}) == {output}")
    response = monologue.strip("\n") + "\n[/MONOLOGUE]\n[ANSWER]\n" + answer + "\n" + formats.ANSWER_STOP
    return pyx_row("bwd_mnl", instruction, response, **meta)


def repair_record(problem: str, buggy: str, fixed: str, function: str, args: str, expected: str,
                  buggy_trace: dict, bug, **meta) -> dict:
    """PyX-R: the failing test and the real failing trace in the instruction's problem
    statement and answer, the fixed program between [Refined] and [/Refined]."""
    failed_test = f"retv = {function}({args})\nassert retv == {expected}"
    instruction = formats.repair_instruction(problem or f"Implement `{function}` so that the failed test passes.", buggy.rstrip("\n"), failed_test)
    outcome = trace_summary(buggy_trace)
    simulation = forward_monologue(buggy, f"{function}({args})", buggy_trace, formats.label_lines(buggy), labelled=False)
    response = (
        "### Execution Simulation\n"
        f"{simulation.strip()}\n\n"
        "### Root Cause Analysis\n"
        # Code spans in the simulation's quote style (double quotes), as everywhere in the answer.
        f"The test expects {model_quotes(f'`{expected}`')}, but {outcome}. "
        f"{_where(bug)}: {model_quotes(bug.description)}.\n\n"
        "### Bug Fixing\n"
        "Undoing that change gives the corrected program:\n"
        "[Refined]\n```python\n" + fixed.rstrip("\n") + "\n```\n" + formats.REFINED_STOP
    )
    return {"fault": instruction, "response": response, "function": function, **meta}


def _where(bug) -> str:
    if bug.kind == "dropped_statement":
        return f"The cause is just before line {bug.buggy_line} of the buggy solution"
    return f"The cause is on line {bug.buggy_line} of the buggy solution"
