"""All 800 CRUXEval samples: the traced return value equals the expected output, every
trace has the shape of the JSON Schema, every line's changes are what a naive tracer sees,
and every condition a monologue states is what the condition evaluates to.

The comparison runs inside the sandbox (`expect=`): the expected output is evaluated there
as a Python value and compared with `==` to what the call returned; the return value's repr
must also read back as a literal equal to the expected output here, in the test process.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

import jsonschema

from conftest import CRUXEVAL
from semcoder_inference.tracer import Limits, Tracer, render_monologue, schema
from semcoder_inference.tracer.line_tracer import loop_table


def _load():
    assert CRUXEVAL.is_file(), f"CRUXEval data missing at {CRUXEVAL}"
    return [json.loads(line) for line in CRUXEVAL.read_text().splitlines() if line.strip()]


@pytest.mark.slow
def test_all_cruxeval_samples_return_the_expected_output():
    rows = _load()
    assert len(rows) == 800
    with Tracer(workers=2) as tracer:
        def run(row):
            return tracer.trace_call(row["code"], f"f({row['input']})", filename=f"/cruxeval/{row['id']}.py",
                                     expect=row["output"])

        with ThreadPoolExecutor(2) as pool:
            traces = list(pool.map(run, rows))
    failures = []
    validator = jsonschema.Draft202012Validator(schema.json_schema())
    for row, trace in zip(rows, traces):
        for error in validator.iter_errors(trace):  # the documented shape (docs/trace-schema.md)
            failures.append((row["id"], "schema", f"{list(error.absolute_path)}: {error.message}"[:120]))
        assertion = trace.get("assertion") or {}
        if trace["status"] != "ok" or not assertion.get("passed"):
            failures.append((row["id"], trace["status"], trace["message"][:120]))
            continue
        # Independently of the sandbox's own `==`: the repr is a literal equal to the output.
        if not trace["return"]["literal"] or ast.literal_eval(trace["return"]["repr"]) != ast.literal_eval(row["output"]):
            failures.append((row["id"], "repr", trace["return"]["repr"][:120]))
        if not any(e["kind"] == "line" for e in trace["events"]):
            failures.append((row["id"], "no line events", ""))
    assert failures == [], f"{len(failures)} samples failed, first: {failures[:5]}"


_LISTED_AT_ONCE = frozenset(("<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>", "<lambda>", "<module>"))


def _naive_changes(source: str, call: str) -> Counter:
    """What every line changes, by the plainest tracer there is, in this process: full
    reprs of every local at every event of the function's frames, compared with the last
    event's (same object and same repr, or it changed), attributed to the line that ran
    in between. No sandbox, no shortcuts, no cut reprs. (function, line, name, repr) → count."""
    filename = "<naive>"
    namespace: dict = {}
    exec(compile(source, filename, "exec"), namespace)
    seen: Counter = Counter()
    frames: dict = {}

    def record(frame, line, before):
        now = {name: (value, repr(value)) for name, value in frame.f_locals.items()}
        for name, (value, text) in now.items():
            old = before.get(name)
            if old is None or old[0] is not value or old[1] != text:
                seen[(frame.f_code.co_qualname, line, name, text)] += 1
        return now

    def local(frame, event, arg):
        line, before = frames[frame]
        frames[frame] = (frame.f_lineno, record(frame, line, before))
        if event == "return":
            del frames[frame]
        return local

    def on_call(frame, event, arg):
        if frame.f_code.co_filename != filename or frame.f_code.co_name in _LISTED_AT_ONCE:
            return None
        frames[frame] = (frame.f_lineno, record(frame, frame.f_lineno, {}))
        return local

    sys.settrace(on_call)
    try:
        eval(call, namespace)
    finally:
        sys.settrace(None)
    return seen


def _comparable(text: str | None) -> str | None:
    """A repr as both processes write it: no addresses, a set's items in one order (string
    hashes, and so set orders, differ between processes)."""
    if text is None:
        return None
    text = re.sub(r" at 0x[0-9a-f]+", "", text)
    if text.startswith("{") and text.endswith("}") and ":" not in text:
        try:
            return "{" + ", ".join(sorted(map(repr, ast.literal_eval(text)))) + "}"
        except (ValueError, SyntaxError, TypeError):
            pass
    return text


@pytest.mark.slow
def test_every_change_a_trace_reports_is_what_a_naive_tracer_sees():
    """The sandboxed tracer's changes per line, with all its shortcuts (atoms skipped,
    small containers compared by identity, reprs cut at max_repr), against _naive_changes
    on all 800 samples: the same names on the same lines with the same values. The one
    documented difference: a `for` header starting an iteration always lists its loop
    variables, even when they are bound to the same object again."""
    rows = _load()
    limits = Limits(max_events=100_000)
    differ = []
    with Tracer(workers=2, limits=limits) as tracer:
        cut = tracer.limits.max_repr
        for row in rows:
            call = f"f({row['input']})"
            trace = tracer.trace_call(row["code"], call)
            assert not any(trace["truncated"].values()), row["id"]
            naive = Counter()
            for (function, line, name, text), n in _naive_changes(row["code"], call).items():
                naive[(function, line, name, _comparable(text if len(text) <= cut else None))] += n
            ours = Counter()
            for event in trace["events"]:
                for name, text in event["changes"].items():
                    shown = None if len(text) > cut or text.endswith("...") else _comparable(text)
                    ours[(event["function"], event["line"], name, shown)] += 1
            loops, _ = loop_table(ast.parse(row["code"]))
            headers = {(header, name) for header, _, targets in loops for name in targets}
            extra = {key: n for key, n in (ours - naive).items() if (key[1], key[2]) not in headers}
            missing = dict(naive - ours)
            if extra or missing:
                differ.append((row["id"], "missing", list(missing)[:2], "extra", list(extra)[:2]))
    assert differ == [], f"{len(differ)} samples differ, first: {differ[:3]}"


def _naive_truths(source: str, call: str) -> dict[int, list]:
    """Each `if`, `elif` and `while` condition evaluated (on copies of the frame's values)
    every time its line runs, in this process: line → [True, False, ...]; None where it
    could not be evaluated again."""
    filename = "<naive>"
    namespace: dict = {}
    exec(compile(source, filename, "exec"), namespace)
    tests = {node.lineno: compile(ast.Expression(node.test), "<test>", "eval")
             for node in ast.walk(ast.parse(source)) if isinstance(node, (ast.If, ast.While))}
    truths: dict[int, list] = {}

    def local(frame, event, arg):
        if event == "line" and frame.f_lineno in tests:
            try:
                value = bool(eval(tests[frame.f_lineno], dict(frame.f_globals), copy.deepcopy(dict(frame.f_locals))))
            except Exception:
                value = None
            truths.setdefault(frame.f_lineno, []).append(value)
        return local

    def on_call(frame, event, arg):
        if frame.f_code.co_filename != filename or frame.f_code.co_name in _LISTED_AT_ONCE:
            return None
        return local

    sys.settrace(on_call)
    try:
        eval(call, namespace)
    finally:
        sys.settrace(None)
    return truths


_CONDITION = re.compile(r"\[L(\d+)\]: (?:The condition `.*` is (true|false)|The loop condition is (false), so "
                        r"the loop ends|Iteration \d+ of the loop (starts))")


@pytest.mark.slow
def test_every_condition_a_monologue_states_is_what_the_condition_evaluates_to():
    """"The condition `c` is true", "Iteration n of the loop starts" (of a `while`) and "The
    loop condition is false": on all 800 samples, each such statement, in order, is the
    value the condition has when evaluated again in a naive in-process tracer at that step.
    A condition is stated where the run's next step shows it (its line changed nothing);
    where it cannot (a one-line body that changed nothing, without an else), nothing is."""
    rows = _load()
    wrong, stated = [], 0
    with Tracer(workers=2, limits=Limits(max_events=100_000)) as tracer:
        for row in rows:
            call = f"f({row['input']})"
            trace = tracer.trace_call(row["code"], call)
            text = render_monologue(trace, row["code"])
            whiles = {node.lineno for node in ast.walk(ast.parse(row["code"])) if isinstance(node, ast.While)}
            said: dict[int, list] = {}
            for m in _CONDITION.finditer(text):
                line = int(m.group(1)) - 4  # the [Lk] labels of SemCoder's prompt
                if m.group(4) and line not in whiles:
                    continue  # a `for` loop's iteration
                said.setdefault(line, []).append(m.group(2) == "true" or m.group(4) == "starts")
            truths = _naive_truths(row["code"], call)
            for line, claims in said.items():
                runs = [e for e in trace["events"] if e["kind"] == "line" and e["line"] == line]
                real = truths.get(line, [])
                assert len(real) == len(runs), (row["id"], line)
                if None in real:
                    continue
                # Narrated are the runs of the line that changed nothing (a `while`: all).
                told = real if line in whiles else [v for v, e in zip(real, runs) if not e["changes"]]
                remaining = iter(told)
                if not all(any(claim == value for value in remaining) for claim in claims):
                    wrong.append((row["id"], line, claims[:6], told[:6]))
                stated += len(claims)
    assert wrong == [], f"{len(wrong)} conditions misstated, first: {wrong[:3]}"
    assert stated > 2000  # the statements were found
