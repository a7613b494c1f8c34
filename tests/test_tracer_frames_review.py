"""What the tracer says of a run must be what CPython does in it: asyncio tasks are calls
made from within the coroutine that awaits them, a comprehension Python 3.12+ inlines is
still one step of its line, and the tracer's own reading of values (an exception's text, a
`__repr__` of the traced file's) does not run the traced file's code again and again. A
change that a local's cut text hides is named even where another change of the line shows."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from semcoder_inference.tracer import Limits, Tracer, render_monologue, render_table


def _python(minor: int) -> str | None:
    """A CPython 3.`minor` (this one, one on PATH, or pyenv's), or None."""
    if sys.version_info[:2] == (3, minor):
        return sys.executable
    pyenv = Path.home() / ".pyenv" / "versions"
    found = sorted(str(p) for p in pyenv.glob(f"3.{minor}.*/bin/python3.{minor}"))
    for path in [shutil.which(f"python3.{minor}")] + found:
        if path and subprocess.run([path, "-c", f"import sys; sys.exit(sys.version_info[:2] != (3, {minor}))"],
                                   capture_output=True, timeout=20).returncode == 0:
            return path
    return None


def _trace(python: str | None, source: str, call: str, **limits) -> dict:
    if python is None:
        pytest.skip("that Python is not installed here")
    with Tracer(python=python, workers=1, limits=Limits(**limits) if limits else None) as tracer:
        trace = tracer.trace_call(source, call)
    assert trace["status"] in ("ok", "exception"), trace["message"]
    return trace


def _steps(trace: dict, source: str) -> list[str]:
    return [step.split(". ", 1)[1] for step in render_monologue(trace, source).splitlines()]


def _real(source: str, call: str):
    namespace: dict = {"__name__": "real"}
    exec(compile(source, "<real>", "exec"), namespace)
    value = eval(call, namespace)
    return asyncio.run(value) if asyncio.iscoroutine(value) else value


AWAITED_TASK = (
    "import asyncio\n"
    "async def g(x): return x\n"
    "async def f():\n"
    "    out = []\n"
    "    if await asyncio.create_task(g(1)):\n"
    "        out.append('yes')\n"
    "    return out\n")

GATHERED = (
    "import asyncio\n"
    "async def g(x): return x\n"
    "async def f():\n"
    "    r = await asyncio.gather(g(10), g(20))\n"
    "    s = 0\n"
    "    for v in await asyncio.gather(g(1), g(2)):\n"
    "        s += v\n"
    "    return r, s\n")


@pytest.mark.parametrize("minor", [9, sys.version_info[1], 13])
def test_tasks_an_awaiting_coroutine_runs_are_calls_made_from_within_it(minor):
    """A task's coroutine has only the event loop's frames above it: at the awaiting
    function's depth, its steps read as that function's next ones (the condition `await
    task` "is false" though its body ran, `r` assigned before g was called, the loop's first
    iteration told as an assignment). One deeper, f's steps are told as they happened."""
    python = _python(minor)
    trace = _trace(python, AWAITED_TASK, "f()")
    assert _real(AWAITED_TASK, "f()") == ["yes"] and trace["return"]["repr"] == "['yes']"
    assert {(e["function"], e["depth"]) for e in trace["events"]} == {("f", 0), ("g", 1)}
    assert _steps(trace, AWAITED_TASK) == [
        "The function `f` is called with no arguments.",
        "[L8]: `out` is assigned `[]`.",
        "The function `g` is called with `x = 1`.",
        "[L6]: `g` returns `1`.",
        "[L9]: The condition `await asyncio.create_task(g(1))` is true.",
        "[L10]: `out` is updated to `['yes']`.",
        "[L11]: `f` returns `['yes']`.",
        "The return value of `await f()` is `['yes']`.",
    ]
    trace = _trace(python, GATHERED, "f()")
    assert _real(GATHERED, "f()") == ([10, 20], 3) and trace["return"]["repr"] == "([10, 20], 3)"
    assert _steps(trace, GATHERED) == [
        "The function `f` is called with no arguments.",
        "The function `g` is called with `x = 10`.",
        "[L6]: `g` returns `10`.",
        "The function `g` is called with `x = 20`.",
        "[L6]: `g` returns `20`.",
        "[L8]: `r` is assigned `[10, 20]`.",
        "[L9]: `s` is assigned `0`.",
        "The function `g` is called with `x = 1`.",
        "[L6]: `g` returns `1`.",
        "The function `g` is called with `x = 2`.",
        "[L6]: `g` returns `2`.",
        "[L10]: Iteration 1 of the loop starts with `v = 1`.",
        "[L11]: `s` is updated to `1`.",
        "[L10]: Iteration 2 of the loop starts with `v = 2`.",
        "[L11]: `s` is updated to `3`.",
        "[L10]: The loop ends.",
        "[L12]: `f` returns `([10, 20], 3)`.",
        "The return value of `await f()` is `([10, 20], 3)`.",
    ]
    rows = render_table(trace, GATHERED).splitlines()
    assert rows.index("| 2 | · call `g` with `x = 20` |") < rows.index(
        "| 4 `r = await asyncio.gather(g(10), g(20))` | `r = [10, 20]` |")


def test_tasks_that_interleave_are_told_in_the_order_they_ran():
    """Tasks of one `gather` run at the same depth, taking turns at their awaits; h's `t`
    changes once the task it awaits has run, and the call that runs the event loop itself
    (`main`) is the caller of f, whose tasks are deeper still."""
    source = (
        "import asyncio\n"
        "async def g(x):\n"
        "    await asyncio.sleep(0)\n"
        "    y = x * 2\n"
        "    return y\n"
        "async def h():\n"
        "    t = asyncio.create_task(g(5))\n"
        "    done = await t\n"
        "    return done\n"
        "async def f():\n"
        "    a, b = await asyncio.gather(g(1), h())\n"
        "    return a + b\n"
        "def main():\n"
        "    return asyncio.run(f())\n")
    trace = _trace(sys.executable, source, "main()")
    assert trace["return"]["repr"] == repr(_real(source, "main()")) == "12"
    depths = {e["function"]: e["depth"] for e in trace["events"]}
    assert depths == {"main": 0, "f": 1, "g": 2, "h": 2}
    steps = _steps(trace, source)
    awaited = next(index for index, step in enumerate(steps)
                   if step.startswith("[L12]: ") and "`done` is assigned `10`" in step)
    assert awaited > steps.index("[L9]: `g` returns `10`.") and steps[awaited - 1] == "[L9]: `g` returns `10`."
    assert steps.index("[L15]: `a` is assigned `2`; `b` is assigned `10`.") > steps.index("[L13]: `h` returns `10`.")


COMPREHENSION = (
    "def f(xs):\n"
    "    x = 100\n"
    "    ys = [x * 2 for x in xs]\n"
    "    y = x\n"
    "    return ys, y\n")


@pytest.mark.parametrize("minor", [12, 13])
def test_an_inlined_comprehension_is_one_step_and_leaves_the_functions_locals_alone(minor):
    """PEP 709 runs a comprehension in its function's frame (3.12+): its loop reports a line
    per item and its `x` shows over the function's own while it runs. As CPython 3.11 shows
    it, and as the code means: one step, `ys` assigned, the function's `x` never changed."""
    python = _python(minor)
    trace = _trace(python, COMPREHENSION, "f([1, 2])")
    assert _real(COMPREHENSION, "f([1, 2])") == ([2, 4], 100) and trace["return"]["repr"] == "([2, 4], 100)"
    assert [(e["line"], e["kind"], e["changes"]) for e in trace["events"]] == [
        (1, "call", {"xs": "[1, 2]"}), (2, "line", {"x": "100"}), (3, "line", {"ys": "[2, 4]"}),
        (4, "line", {"y": "100"}), (5, "line", {}), (5, "return", {})]
    assert "| 3 `ys = [x * 2 for x in xs]` | `ys = [2, 4]` |" in render_table(trace, COMPREHENSION)
    assert not any("`x`" in step for step in _steps(trace, COMPREHENSION)[2:])
    # Without an `x` of its own, the function never has one.
    source = "def f(xs):\n    ys = {x: x * x for x in xs}\n    return ys\n"
    trace = _trace(python, source, "f([1, 2])")
    assert [(e["line"], e["changes"]) for e in trace["events"] if e["kind"] == "line"] == [
        (2, {"ys": "{1: 1, 2: 4}"}), (3, {})]
    # One that raises: the exception is the line's last event, and no item is a change.
    source = "def f(xs):\n    zs = [1 // (x - 1) for x in xs]\n    return zs\n"
    trace = _trace(python, source, "f([2, 1])")
    assert trace["status"] == "exception" and trace["exception"]["type"] == "ZeroDivisionError"
    assert [(e["line"], e["kind"], e["changes"]) for e in trace["events"]] == [
        (1, "call", {"xs": "[2, 1]"}), (2, "line", {}), (2, "exception", {})]
    # A closure's cell in one comprehension, then another that raises (CPython 3.13.0 crashed
    # when the tracer read the function's locals inside the second one).
    source = ("def f(xs):\n    fs = [lambda: x for x in xs]\n    try:\n"
              "        bad = [1 // (x - 1) for x in xs]\n    except ZeroDivisionError:\n        bad = None\n"
              "    return [g() for g in fs], bad\n")
    trace = _trace(python, source, "f([1, 2])")
    assert trace["return"]["repr"] == repr(_real(source, "f([1, 2])")) == "([2, 2], None)"
    assert [e["line"] for e in trace["events"] if e["kind"] == "line"] == [2, 3, 4, 5, 6, 7]


def test_a_caught_exceptions_own_str_is_not_run_by_the_tracer():
    """The text of an "exception" event is made without the `__str__` the traced file gives
    the exception's class: that code changed the run (here: what f returns), and the trace
    pinned its effect on the `except` line."""
    source = (
        "N = [0]\n"
        "class E(Exception):\n"
        "    def __str__(self):\n"
        "        N[0] += 1\n"
        "        return 'e'\n"
        "def f():\n"
        "    try:\n"
        "        raise E()\n"
        "    except E:\n"
        "        pass\n"
        "    try:\n"
        "        raise E('boom', 2)\n"
        "    except E:\n"
        "        pass\n"
        "    return N[0]\n")
    trace = _trace(sys.executable, source, "f()")
    assert _real(source, "f()") == 0 and trace["return"]["repr"] == "0"
    assert [e["value"] for e in trace["events"] if e["kind"] == "exception"] == ["E", "E: ('boom', 2)"]
    assert not any(e.get("globals") for e in trace["events"])
    # A builtin exception's own text stays as Python's traceback writes it.
    source = "def f():\n    try:\n        {}['k']\n    except KeyError:\n        return 1\n"
    trace = _trace(sys.executable, source, "f()")
    assert [e["value"] for e in trace["events"] if e["kind"] == "exception"] == ["KeyError: 'k'"]


def test_a_repr_of_the_traced_file_runs_only_for_a_state_of_its_object_not_shown_yet():
    """A `__repr__` the traced file defines shows its object, but runs only when the object
    is new to the trace or what it holds changed: not on each line for each local that holds
    it, nor for `self` at each method call (here it records its calls; it ran 5 times for a
    run that makes it run none, and `r` was "updated" on lines that do not touch it)."""
    source = (
        "CALLS = []\n"
        "class R:\n"
        "    def __init__(self, k):\n"
        "        self.k = k\n"
        "    def __repr__(self):\n"
        "        CALLS.append(self.k)\n"
        "        return 'R(%d)' % self.k\n"
        "    def same(self):\n"
        "        return self.k\n"
        "def f():\n"
        "    r = R(1)\n"
        "    x = 1\n"
        "    y = r.same()\n"
        "    r.k = 2\n"
        "    z = x + y\n"
        "    return list(CALLS)\n")
    trace = _trace(sys.executable, source, "f()")
    assert _real(source, "f()") == []
    # Once for each state shown: R(1) once its __init__ has set k (before, it raised), R(2).
    assert trace["return"]["repr"] == "[1, 2]"
    f_changes = [(e["line"], e["changes"]) for e in trace["events"] if e["function"] == "f" and e["kind"] == "line"]
    assert f_changes == [(11, {"r": "R(1)"}), (12, {"x": "1"}), (13, {"y": "1"}), (14, {"r": "R(2)"}),
                         (15, {"z": "2"}), (16, {})]
    steps = _steps(trace, source)
    # (What the `__repr__` itself did shows where it ran: `CALLS` is watched, as a global f names.)
    assert [step.split(";")[0].rstrip(".") for step in steps if "`r` is" in step] == [
        "[L15]: `r` is assigned `R(1)`", "[L18]: `r` is updated to `R(2)`"]


def test_a_change_the_cut_text_hides_is_listed_though_another_of_the_line_shows():
    """`xs[10], xs[20] = xs[20], xs[10]` in a list of 100: the new text shows xs[10] (among
    the first items), not xs[20]; listing the local alone lost xs[20] = 10. Where every
    place that changed shows, the local is listed, as before."""
    source = (
        "def f():\n"
        "    xs = list(range(100))\n"
        "    xs[10], xs[20] = xs[20], xs[10]\n"
        "    xs[0], xs[1] = xs[1], xs[0]\n"
        "    grid = [[0] * 10 for _ in range(10)]\n"
        "    grid[0][0], grid[5][5] = 1, 2\n"
        "    return xs, grid\n")
    trace = _trace(sys.executable, source, "f()")
    xs, grid = _real(source, "f()")
    changes = {e["line"]: e["changes"] for e in trace["events"] if e["kind"] == "line"}
    assert changes[3] == {"xs[10]": repr(xs[10]), "xs[20]": repr(xs[20])} == {"xs[10]": "20", "xs[20]": "10"}
    assert list(changes[4]) == ["xs"] and changes[4]["xs"].startswith("[1, 0, 2, 3, ") and "..." in changes[4]["xs"]
    assert changes[6] == {"grid[0][0]": repr(grid[0][0]), "grid[5][5]": repr(grid[5][5])}
    assert "[L7]: `xs[10]` is updated to `20`; `xs[20]` is updated to `10`." in render_monologue(trace, source)
