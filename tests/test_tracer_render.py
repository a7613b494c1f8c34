"""The renderers: the hover table and the forward monologue state only facts of the run."""

from __future__ import annotations

import re

import pytest

from semcoder_inference.formats import label_lines
from semcoder_inference.tracer import Limits, Tracer, render_monologue, render_table
from semcoder_inference.tracer.render import render_output

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


def _said_on(steps: list[str], label: str) -> list[str]:
    """The steps that name `label`, without their numbers."""
    return [step.split(". ", 1)[1] for step in steps if f"{label}:" in step]


def test_a_while_condition_over_several_lines_is_judged_past_its_last_line():
    source = ("def f(xs):\n"
              "    i = 0\n"
              "    while (i < len(xs) and\n"   # L7: reports line 3, then line 4, as it is evaluated
              "           xs[i] > 0):\n"
              "        i += 1\n"
              "    return i\n")
    with Tracer(workers=1) as tracer:
        trace = tracer.trace_call(source, "f([1, 2, -1])")
    steps = render_monologue(trace, source).splitlines()
    assert _said_on(steps, "[L7]") == [
        "[L7]: Iteration 1 of the loop starts.",
        "[L7]: Iteration 2 of the loop starts.",
        "[L7]: The loop condition is false, so the loop ends.",  # xs[2] > 0, on the next line, was false
    ]
    assert not _said_on(steps, "[L8]")


def test_a_for_target_over_several_lines_starts_its_iteration_with_what_it_binds():
    source = ("def f(pairs):\n"
              "    s = 0\n"
              "    for (a,\n"
              "         b) in pairs:\n"   # b is bound here, after line 3 has run
              "        s += a * b\n"
              "    return s\n")
    with Tracer(workers=1) as tracer:
        trace = tracer.trace_call(source, "f([(1, 2), (3, 4)])")
    # the header's first line lists b with its value of the iteration before
    assert [e["changes"] for e in trace["events"] if e["line"] == 3 and e["changes"]][1] == {"a": "3", "b": "2"}
    assert render_monologue(trace, source).splitlines()[2:7] == [
        "3. [L7]: Iteration 1 of the loop starts with `a = 1` and `b = 2`.",
        "4. [L9]: `s` is updated to `2`.",
        "5. [L7]: Iteration 2 of the loop starts with `a = 3` and `b = 4`.",
        "6. [L9]: `s` is updated to `14`.",
        "7. [L7]: The loop ends.",
    ]


def test_a_loop_on_one_line_says_no_values_at_the_start_of_its_iterations():
    """Header and body share the line: what an event lists is after the body ran."""
    source = ("def f(n):\n"
              "    while n < 3: n += 1\n"
              "    return n\n"
              "\n"
              "def g():\n"
              "    out = [1, 2, 3]\n"
              "    for x in [1, 2, 3]: out.append(x)\n"
              "    return out\n"
              "\n"
              "def h(n):\n"
              "    while n: break\n"
              "    while True: return n\n")
    with Tracer(workers=1) as tracer:
        traces = [tracer.trace_call(source, call) for call in ("f(0)", "g()", "h(1)")]
    f, g, h = (render_monologue(trace, source).splitlines() for trace in traces)
    assert _said_on(f, "[L6]") == [
        "[L6]: In iteration 1 of the loop, `n` is updated to `1`.",
        "[L6]: In iteration 2 of the loop, `n` is updated to `2`.",
        "[L6]: `n` is updated to `3`; the loop condition is false, so the loop ends.",
    ]
    assert _said_on(g, "[L11]") == [
        "[L11]: In iteration 1 of the loop, `out` is updated to `[1, 2, 3, 1]`; `x` is assigned `1`.",
        "[L11]: In iteration 2 of the loop, `out` is updated to `[1, 2, 3, 1, 2]`; `x` is updated to `2`.",
        "[L11]: In iteration 3 of the loop, `out` is updated to `[1, 2, 3, 1, 2, 3]`; `x` is updated to `3`.",
        "[L11]: The loop ends.",
    ]
    # n is 1: the loops end by their `break` and `return`, not by a false condition
    assert _said_on(h, "[L15]") == ["[L15]: The loop ends."]
    assert _said_on(h, "[L16]") == ["[L16]: The loop ends.", "[L16]: `h` returns `1`."]


def test_a_monologue_says_where_the_trace_was_cut():
    source = "def f(n):\n    while n < 100:\n        n += 1\n    return n\n"
    with Tracer(workers=1) as tracer:
        cut = tracer.trace_call(source, "f(0)", limits=Limits(max_events=4))
        deep = tracer.trace_call("def f(n):\n    return n if n < 1 else f(n - 1) + 1\n", "f(5)",
                                 limits=Limits(max_depth=2))
        long = tracer.trace_call("def f(n):\n    return list(range(n))\n", "f(1000)",
                                 limits=Limits(max_return_repr=64))
    assert cut["truncated"]["events"] and cut["events"][-1]["line"] == 2  # cut after the loop's check
    assert render_monologue(cut, source).splitlines() == [
        "1. The function `f` is called with `n = 0`.",
        "2. [L6]: Iteration 1 of the loop starts.",
        "3. [L7]: `n` is updated to `1`.",
        # whether the check after it held, the trace does not show: nothing is said of it
        "4. The trace was cut short at the events limit: the steps after this one are not shown.",
        "5. The return value of `f(0)` is `100`.",
    ]
    assert deep["truncated"]["depth"]
    assert "The trace was cut short at the depth limit: the steps of calls nested deeper are not shown." \
        in render_monologue(deep, "def f(n):\n    return n if n < 1 else f(n - 1) + 1\n")
    assert long["truncated"]["return"]
    text = render_monologue(long, "def f(n):\n    return list(range(n))\n", with_answer=True)
    assert text.splitlines()[-1].endswith("(its text cut short at the return limit).")
    assert "[ANSWER]" not in text  # a cut text is no value to assert


def test_a_monologue_says_where_the_tracer_stopped():
    """As in test_tracer_runtime: the repr of one value fails, as a bug of ours would."""
    import ast as ast_module
    import sys

    from semcoder_inference.tracer import child, line_tracer

    source = "def f(n):\n    a = n + 1\n    b = 'boom'\n    c = a * 2\n    return c\n"
    namespace = {"__name__": "m"}
    exec(compile(source, "<t>", "exec"), namespace)
    state = child.RunState({"limits": Limits().as_request(), "filename": "<t>", "mode": "call"}, "/", -1)
    state.loops = line_tracer.loop_map(line_tracer.loop_table(ast_module.parse(source)))
    real = state.repr

    class Broken:
        budget, max_len = real.budget, real.max_len

        def __call__(self, value, max_len=None):
            if value == "boom":
                raise TypeError("a bug of ours")
            return real(value, max_len)

        def ends(self, value):
            return self(value)

    state.repr = Broken()
    sys.settrace(line_tracer.LineTracer(state).on_call)
    try:
        eval("f(1)", namespace)
    finally:
        sys.settrace(None)
    steps = render_monologue(state.result("ok", "returned 4"), source).splitlines()
    assert steps[1:3] == [
        "2. [L6]: `a` is assigned `2`.",
        "3. The trace stopped early here: the tracer could not go on (TypeError: a bug of ours); "
        "the run went on untraced.",
    ]


def test_render_output_shows_stderr_like_stdout():
    source = "import sys\n\ndef f():\n    print('out')\n    print('oops', file=sys.stderr)\n    return 1\n"
    with Tracer(workers=1) as tracer:
        trace = tracer.trace_call(source, "f()")
    assert render_output(trace) == "\nstdout:\nout\n\nstderr:\noops\n"
    assert render_output({**trace, "stdout": ""}) == "\nstderr:\noops\n"
    assert render_output({**trace, "stdout": "", "stderr": ""}) == ""


def test_values_with_backticks_get_a_longer_fence():
    source = ("def f(s):\n"
              "    t = s + '``'\n"
              "    if t.endswith('`'):\n"
              "        t = t + '!'\n"
              "    return t\n")
    with Tracer(workers=1) as tracer:
        trace = tracer.trace_call(source, "f('a`b')")
    steps = render_monologue(trace, source).splitlines()
    assert steps == [
        "1. The function `f` is called with `` s = 'a`b' ``.",
        "2. [L6]: `t` is assigned ``` 'a`b``' ```.",
        "3. [L7]: The condition `` t.endswith('`') `` is true.",
        "4. [L8]: `t` is updated to ``` 'a`b``!' ```.",
        "5. [L9]: `f` returns ``` 'a`b``!' ```.",
        "6. The return value of `` f('a`b') `` is ``` 'a`b``!' ```.",
    ]
    assert "| 2 ``` t = s + '``' ``` | ``` t = 'a`b``' ``` |" in render_table(trace, source).splitlines()
