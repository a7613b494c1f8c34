"""Asserts whose condition does more with the call than `==` a value or take its truth:
`len(f(3)) == 3`, `f(x) is None`, `4 in f(4)`, `0 < f(2) < 1`, `math.isclose(f(1), 0.3)`,
`f(3) != [0, 2]`. They had no verdict at all (a failing one was missed). Now the whole
condition is evaluated in the sandbox with the call's value, as Python's assert evaluates
it, and its failure says which condition was false and what the call returned; a repair
of such a failure is verified against the same condition."""

from __future__ import annotations

import asyncio

from lsprotocol import types

from lsp_helpers import (
    EXEC_ON,
    diagnostics_for,
    hover,
    line_of,
    open_document,
    python_failing_asserts,
    replay_env,
    request,
    running_server,
    wait_for,
)
from semcoder_inference.tracer import Limits, Tracer
from semcoder_lsp.calls import analyse
from semcoder_lsp.code_actions import failed_test
from semcoder_lsp.results import CALLED, CONDITION

CONDITIONS = '''import math


def evens(n):
    return [i for i in range(0, n, 2)]


def third(x):
    return x / 3


def find(items, key):
    for item in items:
        if item == key:
            return item


assert len(evens(6)) == 3
assert len(evens(7)) == 3
assert find([1, 2], 3) is None
assert find([1, 2], 2) is not None
assert 4 in evens(4)
assert 0 < third(2) < 1
assert math.isclose(third(1), 0.3)
assert evens(3) != [0, 2]
assert len(find([1], 1)) == 1
assert (len(evens(2))  # one even number
        == 1)
assert [evens(i) for i in range(3)]
'''


async def test_a_condition_around_the_call_is_judged_as_python_judges_it(tmp_path):
    """Each failing condition gets a diagnostic naming the condition and the value the call
    returned (a condition that raises says what it raised); the passing ones say so on
    hover; a comprehension, which makes the call many times, gets no verdict. Python fails
    exactly the same asserts."""
    path = tmp_path / "conditions.py"
    path.write_text(CONDITIONS)
    expected = [
        (line_of(CONDITIONS, "len(evens(7))"),
         "assert failed: len(evens(7)) == 3 is false (evens(7) returned [0, 2, 4, 6])"),
        (line_of(CONDITIONS, "4 in evens(4)"), "assert failed: 4 in evens(4) is false (evens(4) returned [0, 2])"),
        (line_of(CONDITIONS, "math.isclose"),
         "assert failed: math.isclose(third(1), 0.3) is false (third(1) returned 0.3333333333333333)"),
        (line_of(CONDITIONS, "evens(3) !="), "assert failed: evens(3) != [0, 2] is false (evens(3) returned [0, 2])"),
        (line_of(CONDITIONS, "len(find([1], 1))"),
         "assert failed: find([1], 1) returned 1, and evaluating len(find([1], 1)) == 1 raised "
         "TypeError: object of type 'int' has no len()"),
    ]
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        await wait_for(lambda: len(diagnostics_for(client, uri)) == len(expected), timeout=30)
        assert [(d.range.start.line, d.message) for d in diagnostics_for(client, uri)] == expected
        for needle, call, shown in [("len(evens(6))", "evens(", "len(evens(6)) == 3"),
                                    ("is None", "find(", "find([1, 2], 3) is None"),
                                    ("is not None", "find(", "find([1, 2], 2) is not None"),
                                    ("0 < third", "third(", "0 < third(2) < 1"),
                                    ("len(evens(2))", "evens(", "len(evens(2)) == 1")]:
            line = line_of(CONDITIONS, needle)
            text = await hover(client, uri, line, CONDITIONS.splitlines()[line].index(call) + 1)
            assert f"✓ the assert passes: `{shown}` is true" in text, (needle, text)
            assert f"expected: `{shown}` to be true" in text, text
        text = await hover(client, uri, line_of(CONDITIONS, "evens(i) for"), 9)
        assert "the assert passes" not in text and "assert failed" not in text, text
    assert python_failing_asserts(tmp_path, path.name) == [line for line, _ in expected]


def test_the_repair_prompt_states_the_condition():
    """The model is shown the failing check as code it can read: the condition with the
    call's value named `retv`, as the `==` checks are shown."""
    assert failed_test("evens(4)", CONDITION + f"4 in {CALLED}") == "retv = evens(4)\nassert 4 in retv"
    assert failed_test("evens(2)", CONDITION + f"(len({CALLED})  # one\n        == 1)") == \
        "retv = evens(2)\nassert len(retv) == 1"


def _refined(code: str) -> str:
    return f"### Root Cause Analysis\nThe function is wrong.\n[Refined]\n```python\n{code}```\n[/Refined]\n"


EVENS_UPTO = '''def evens_upto(n):
    """The even numbers from 0 to n, n included."""
    return list(range(0, n, 2))


def test_evens_upto():
    assert 4 in evens_upto(4)
'''


async def test_a_repair_of_a_failing_condition_is_verified_against_that_condition(tmp_path):
    """A repair that makes the condition true is verified; one that changes the value but
    leaves the condition false is not."""
    fixed = _refined('def evens_upto(n):\n    """The even numbers from 0 to n, n included."""\n'
                     "    return list(range(0, n + 1, 2))\n")
    still_wrong = _refined('def evens_upto(n):\n    """The even numbers from 0 to n, n included."""\n'
                           "    return list(range(1, n + 1, 2))\n")
    line = line_of(EVENS_UPTO, "assert 4 in")
    for answer, title, status in [(fixed, "Repair with SemCoder (verified)", "passed"),
                                  (still_wrong, "Repair with SemCoder (unverified)", "failed")]:
        async with running_server(tmp_path, init_options=EXEC_ON, env=replay_env(tmp_path, answer)) as client:
            uri = open_document(client, tmp_path / "test_evens.py", EVENS_UPTO)
            await wait_for(lambda: diagnostics_for(client, uri))
            (diag,) = diagnostics_for(client, uri)
            assert diag.message == "assert failed: 4 in evens_upto(4) is false (evens_upto(4) returned [0, 2])"
            actions = await client.text_document_code_action_async(types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri), range=diag.range,
                context=types.CodeActionContext(diagnostics=[diag])))
            resolved = await client.code_action_resolve_async(actions[0])
            assert resolved.title == title, resolved.title
            result = await request(client, "semcoder/repair", {
                "textDocument": {"uri": uri}, "position": {"line": line, "character": 16}})
            verification = result["candidates"][0]["verification"]
            assert verification["status"] == status, verification
            if status == "failed":
                assert verification["message"] == \
                    "assert failed: 4 in evens_upto(4) is false (evens_upto(4) returned [1, 3])", verification


SOURCE = "def f(n):\n    return list(range(n))\n"


def test_a_check_runs_in_the_sandbox_on_the_calls_value():
    """Tracer.trace_call's `check`: a function of the returned value whose truth is the
    verdict, evaluated in the run (under its audit hook: it may not write files either);
    an error in it, or a check that does not compile, says so."""
    with Tracer(workers=1) as tracer:
        passed = tracer.trace_call(SOURCE, "f(3)", check="lambda v: len(v) == 3")
        assert passed["assertion"] == {"passed": True, "actual_repr": "[0, 1, 2]"}
        failed = tracer.trace_call(SOURCE, "f(3)", check="lambda v: 3 in v")
        assert failed["assertion"] == {"passed": False, "actual_repr": "[0, 1, 2]"}
        raised = tracer.trace_call(SOURCE, "f(3)", check="lambda v: v.shape")
        assert raised["assertion"] == {"passed": False, "expected_repr": None,
                                       "error": "AttributeError: 'list' object has no attribute 'shape'"}
        writing = tracer.trace_call(SOURCE, "f(3)", check="lambda v: open('/tmp/semcoder-check-write', 'w')")
        assert writing["assertion"]["passed"] is False and "PermissionError" in writing["assertion"]["error"]
        broken = tracer.trace_call(SOURCE, "f(3)", check="lambda v: (")
        assert broken["status"] == "invalid" and broken["message"].startswith("the check 'lambda v: (' has a syntax error")


def _conditions(source: str) -> list[tuple[str, str | None]]:
    return [(c.call, c.expected) for c in analyse(source).calls]


ORDER = '''DEBUG = False
calls = []


def validate(n):
    raise ValueError("no")


def record(x):
    calls.append(x)
    return 1


def gen():
    yield 1


'''


def test_a_condition_is_judged_only_where_the_check_evaluates_what_python_does():
    """The check makes the call first, then evaluates the condition: so no verdict where
    Python might not make the call (a later operand of `or`/`and`, a branch of `if`/`else`,
    a later link of a chained comparison) or makes something else first that calls
    (`len(calls) < record(1)`); nor with `__name__` (the replay's module is no script),
    `is` with a literal a separately compiled check holds another object of, `yield` or
    `await`. What stays: the call made first, whatever follows."""
    refused = ["not DEBUG or validate(3)", "True and validate(4)", "validate(5) if DEBUG else True",
               "0 < 1 < validate(2)", "len(calls) < record(1)", 'validate(1) is "a b"', "validate(1) is 123456789",
               'validate(1) is (1, "x")', '__name__ == "__main__" and validate(2) == 4']
    for condition in refused:
        assert _conditions(ORDER + f"assert {condition}\n") == [], condition
    kept = [("validate(3) or DEBUG", f"{CALLED} or DEBUG"), ("0 < validate(2) < 5", f"0 < {CALLED} < 5"),
            ("validate(1) is 3", f"{CALLED} is 3"), ("validate(1) is None", f"{CALLED} is None"),
            ("len(validate(1)) < len(calls)", f"len({CALLED}) < len(calls)")]
    for condition, checked in kept:
        call = "validate(" + condition.split("validate(")[1].split(")")[0] + ")"
        assert _conditions(ORDER + f"assert {condition}\n") == [(call, CONDITION + checked)], condition
    helper = ORDER + "def helper():\n    assert (yield validate(3)) == 5\n"
    assert _conditions(helper) == []


def test_the_repair_prompt_names_the_value_apart_from_the_files_names():
    assert failed_test("f(2)", CONDITION + f"{CALLED} < retv") == "returned_value = f(2)\nassert returned_value < retv"
    assert failed_test("f(2)", "1 if X else 2") == "retv = f(2)\nassert retv == (1 if X else 2)"
    assert failed_test("f(2)", "not X") == "retv = f(2)\nassert retv == (not X)"
    assert failed_test("f(2)", "-1") == "retv = f(2)\nassert retv == -1"


REPLAYED = '''import os

ITEMS = [1, 2]
ITEMS.append(3)


def count():
    return 3


def three():
    return 3


assert count() <= len(ITEMS)
assert count() == len(ITEMS)
assert three() and open(os.path.join("..", "escaped.txt"), "w")
assert three() == 4
'''


async def test_no_verdict_where_the_replay_has_not_what_the_condition_reads_or_the_sandbox_refuses(tmp_path):
    """`len(ITEMS)` after `ITEMS.append(3)`: a replayed call runs what its call needs, so
    ITEMS there is [1, 2] (it said `expected len(ITEMS) (2)`, and `count() <= len(ITEMS)`
    false): no verdict. A condition that does what the sandbox refuses gets none either
    (Python, outside it, would have written the file)."""
    path = tmp_path / "replayed.py"
    path.write_text(REPLAYED)
    failing = (line_of(REPLAYED, "three() == 4"), "assert failed: three() returned 3, expected 4")
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        await wait_for(lambda: diagnostics_for(client, uri))
        await asyncio.sleep(1.0)  # (every check has run: the last publication)
        assert [(d.range.start.line, d.message) for d in diagnostics_for(client, uri)] == [failing]
        for needle in ("count() <=", "count() =="):
            text = await hover(client, uri, line_of(REPLAYED, needle), 9)
            assert "returned `3`" in text and "the assert passes" not in text and "⚠" not in text, text
    assert not (tmp_path.parent / "escaped.txt").exists()


def test_a_condition_that_runs_past_the_time_limit_says_so():
    """The call had returned: the limit was met evaluating the condition, not at the
    function's last line."""
    source = "import itertools\n\ndef three():\n    return 3\n"
    with Tracer(workers=1, limits=Limits(timeout_s=1, cpu_s=1)) as tracer:
        trace = tracer.trace_call(source, "three()", check="lambda v: v < sum(1 for _ in itertools.count())")
    assert trace["status"] == "timeout", trace["message"]
    assert trace["message"] == "timed out after 1 s evaluating the assert's condition"


def test_a_call_written_over_lines_is_named_on_one():
    from semcoder_lsp.results import judge

    trace = {"status": "ok", "call": "evens(\n    7)", "return": {"repr": "[0, 2, 4, 6]", "literal": True},
             "assertion": {"passed": False, "actual_repr": "[0, 2, 4, 6]"}}
    assert judge(trace, CONDITION + f"len({CALLED}) == 3") == (
        False, "assert failed: len(evens(7)) == 3 is false (evens(7) returned [0, 2, 4, 6])")
