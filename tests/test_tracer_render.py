"""The renderers: the hover table and the forward monologue state only facts of the run."""

from __future__ import annotations

import re

import pytest

from semcoder_inference.formats import label_lines
from semcoder_inference.tracer import Tracer, render_monologue, render_table

SOURCE = (
    "def f(nums):\n"
    "    output = []\n"
    "    for n in nums:\n"
    "        if n > 1:\n"
    "            output.append(n * 10)\n"
    "    return output\n"
)


@pytest.fixture(scope="module")
def trace():
    with Tracer(workers=1) as tracer:
        yield tracer.trace_call(SOURCE, "f([1, 2])")


def test_table_is_compact_markdown(trace):
    table = render_table(trace, SOURCE)
    rows = table.splitlines()
    assert rows[:2] == ["| line | values |", "| ---: | --- |"]
    assert rows[2] == "| 1 | call `f` with `nums = [1, 2]` |"
    assert "| 2 `output = []` | `output = []` |" in rows
    assert "| 3 `for n in nums:` | `n = 2` (iteration 2) |" in rows
    assert "| 5 `output.append(n * 10)` | `output = [20]` (iteration 2) |" in rows
    assert rows[-1] == "| 6 | return `[20]` |"
    # Lines that changed nothing are left out of the hover.
    assert not any(row.startswith("| 4 ") for row in rows)


def test_table_escapes_pipes_and_marks_failures():
    trace = {"status": "timeout", "message": "timed out after 1 s at line 3", "truncated": {"events": True},
             "events": [{"line": 2, "depth": 0, "function": "f", "iteration": None,
                         "changes": {"s": "'a|b`c'"}, "kind": "line"}]}
    table = render_table(trace)
    assert "| 2 | `` s = 'a\\|b`c' `` |" in table
    assert "**timeout**: timed out after 1 s at line 3" in table
    assert table.endswith("| … | trace cut short: events limit |")


def test_monologue_steps_are_true_of_the_run(trace):
    text = render_monologue(trace, SOURCE)
    steps = text.splitlines()
    assert steps == [
        "1. The function `f` is called with `nums = [1, 2]`.",
        "2. [L6]: `output` is assigned `[]`.",
        "3. [L7]: Iteration 1 of the loop starts with `n = 1`.",
        "4. [L8]: The condition `n > 1` is false.",
        "5. [L7]: Iteration 2 of the loop starts with `n = 2`.",
        "6. [L8]: The condition `n > 1` is true.",
        "7. [L9]: `output` is updated to `[20]`.",
        "8. [L7]: The loop ends.",
        "9. [L10]: `f` returns `[20]`.",
        "10. The return value of `f([1, 2])` is `[20]`.",
    ]
    # Every [Lk] label is the one SemCoder's prompt puts on that line.
    labelled = label_lines(SOURCE).text.splitlines()
    for step in steps:
        for label in re.findall(r"\[L(\d+)\]", step):
            assert any(line.endswith(f"# [L{label}]") for line in labelled)


def test_monologue_of_a_failing_run_says_so():
    with Tracer(workers=1) as tracer:
        trace = tracer.trace_call("def f(x):\n    y = x - 1\n    return 1 / y\n", "f(1)")
    text = render_monologue(trace, "def f(x):\n    y = x - 1\n    return 1 / y\n", with_answer=True)
    assert "[L6]: `y` is assigned `0`." in text
    assert "[L7]: `ZeroDivisionError: division by zero` is raised in `f`." in text
    assert text.splitlines()[-1].startswith("4. The run did not return: ZeroDivisionError")
    assert "[ANSWER]" not in text


def test_monologue_for_one_function_and_answer():
    source = "def g(a):\n    return a + 1\n\ndef f(x):\n    y = g(x)\n    return y * 2\n"
    with Tracer(workers=1) as tracer:
        trace = tracer.trace_call(source, "f(1)")
    text = render_monologue(trace, source, function="f", with_answer=True)
    assert "`g`" not in text.split("[ANSWER]")[0].replace("`y` is assigned `2`", "")
    assert "[L9]: `y` is assigned `2`." in text
    assert text.endswith("[ANSWER]\nassert f(1) == 4\n[/ANSWER]")


def test_monologue_of_an_async_function_states_the_awaited_value():
    source = "import asyncio\n\nasync def f(x):\n    await asyncio.sleep(0)\n    y = x + 1\n    return y\n"
    with Tracer(workers=1) as tracer:
        trace = tracer.trace_call(source, "f(1)")
    text = render_monologue(trace, source, with_answer=True)
    assert "resumes" not in text and "yields" not in text and "StopIteration" not in text
    assert "`y` is assigned `2`." in text and "The return value of `await f(1)` is `2`." in text
    # the answer is a statement Python agrees with: f(1) itself gives a coroutine
    assert text.endswith("[ANSWER]\nassert asyncio.run(f(1)) == 2\n[/ANSWER]")
    namespace: dict = {}
    exec(source + "\n" + text.split("[ANSWER]\n")[1].split("\n[/ANSWER]")[0], namespace)


def test_a_value_sent_into_a_generator_shows_on_its_yield_line():
    source = ("def running_total():\n    total = 0\n    while True:\n        x = yield total\n        total += x\n\n"
              "def f():\n    g = running_total()\n    next(g)\n    g.send(5)\n    return g.send(7)\n")
    with Tracer(workers=1) as tracer:
        trace = tracer.trace_call(source, "f()")
    rows = render_table(trace, source).splitlines()
    sent = rows.index("| 4 `x = yield total` | · `x = 5` |")
    assert rows[sent - 1] == "| 4 | · yield `0` |" and rows[sent + 1] == "| 5 `total += x` | · `total = 5` (iteration 1) |"
    assert "| 4 `x = yield total` | · `x = 7` |" in rows
    assert "yield `None`" not in "\n".join(rows)  # closing the generator at f's end yields nothing
    text = render_monologue(trace, source)
    assert "[L8]: `running_total` resumes after its `yield`; `x` is assigned `5`.\n" \
           "8. [L9]: `total` is updated to `5`." in text
    assert "`running_total` resumes after its `yield`; `x` is updated to `7`." in text


def test_a_monologue_states_a_condition_only_where_the_run_shows_it():
    source = ("def f(xs, limit):\n"
              "    i = 1\n"
              "    for x in xs:\n"
              "        if x > limit: i = 1\n"          # L8: one line, no else: the run cannot tell
              "        if x < 0: i = 1\n"              # L9: one line with an else: it can
              "        else: i = 2\n"
              "        if (x > 0 and\n"                # L11: a condition over two lines
              "                x < 10):\n"
              "            i = 3\n"
              "    return i\n")
    with Tracer(workers=1) as tracer:
        trace = tracer.trace_call(source, "f([-1, 20, 4], 5)")
    steps = render_monologue(trace, source).splitlines()
    assert not any("[L8]" in step for step in steps)  # true for 20, false for -1 and 4: i unchanged
    assert [step.split(". ", 1)[1] for step in steps if "[L9]" in step or "[L11]" in step] == [
        "[L9]: The condition `x < 0` is true.",
        "[L11]: The condition `x > 0 and x < 10` is false.",  # x > 0 was false
        "[L9]: The condition `x < 0` is false.",
        "[L11]: The condition `x > 0 and x < 10` is false.",  # x < 10, on the next line, was false
        "[L9]: The condition `x < 0` is false.",
        "[L11]: The condition `x > 0 and x < 10` is true.",
    ]
    loop_raises = "def f(n):\n    while n > 0 / n:\n        n -= 1\n    return n\n"
    with Tracer(workers=1) as tracer:
        trace = tracer.trace_call(loop_raises, "f(1)")
    text = render_monologue(trace, loop_raises)
    assert trace["status"] == "exception" and "ZeroDivisionError" in text
    assert "The loop condition is false" not in text  # it raised, it was not false


def test_what_a_line_did_is_told_after_the_calls_it_made():
    source = "def g(x):\n    return x + 1\n\ndef f(n):\n    a = g(n)\n    return a\n"
    with Tracer(workers=1) as tracer:
        trace = tracer.trace_call(source, "f(1)")
    assert render_monologue(trace, source).splitlines() == [
        "1. The function `f` is called with `n = 1`.",
        "2. The function `g` is called with `x = 1`.",
        "3. [L6]: `g` returns `2`.",
        "4. [L9]: `a` is assigned `2`.",
        "5. [L10]: `f` returns `2`.",
        "6. The return value of `f(1)` is `2`.",
    ]
    assert render_table(trace, source).splitlines()[2:] == [
        "| 4 | call `f` with `n = 1` |",
        "| 1 | · call `g` with `x = 1` |",
        "| 2 | · return `2` |",
        "| 5 `a = g(n)` | `a = 2` |",
        "| 6 | return `2` |",
    ]


def test_a_closures_free_variables_are_no_arguments_and_a_loop_variable_is_known():
    source = ("def make(start):\n    count = start\n    def bump(step):\n        nonlocal count\n"
              "        count += step\n        return count\n    return bump\n\n"
              "def f(boxes):\n    bump = make(10)\n    for box in boxes:\n        box.append(bump(1))\n    return boxes\n")
    with Tracer(workers=1) as tracer:
        trace = tracer.trace_call(source, "f([[]])")
    text = render_monologue(trace, source)
    assert "The function `make.<locals>.bump` is called with `step = 1` (its closure holds `count = 10`)." in text
    # `box` was bound by the loop: its change on line 12 is an update, not a first assignment
    assert "[L16]: `boxes` is updated to `[[11]]`; `box` is updated to `[11]`." in text


def test_what_yield_from_gives_is_told_after_the_delegate_returns():
    source = ("def inner():\n    got = yield 1\n    return got * 2\n\n"
              "def outer():\n    first = yield from inner()\n    return first\n\n"
              "def f():\n    gen = outer()\n    next(gen)\n    try:\n        gen.send(5)\n    except StopIteration as stop:\n"
              "        return stop.value\n")
    with Tracer(workers=1) as tracer:
        trace = tracer.trace_call(source, "f()")
    steps = [step.split(". ", 1)[1] for step in render_monologue(trace, source).splitlines()]
    resumed = steps.index("[L10]: `outer` resumes after its `yield`.")
    assert steps[resumed + 1:resumed + 4] == [
        "[L6]: `inner` resumes after its `yield`; `got` is assigned `5`.",
        "[L7]: `inner` returns `10`.",
        "[L10]: `first` is assigned `10`.",
    ]
    # a for header that binds two names lists them in the header's order, rebound or not
    pairs = "def f(pairs):\n    for a, b in pairs:\n        pass\n    return b\n"
    with Tracer(workers=1) as tracer:
        trace = tracer.trace_call(pairs, "f([(1, 2), (1, 3)])")
    assert [list(e["changes"]) for e in trace["events"] if e["line"] == 2 and e["changes"]] == [["a", "b"], ["a", "b"]]
