"""The in-process part of the tracer is standard-library-only Python 3.9+ syntax, so it runs
under the user's interpreter, whatever its version. This runs the same checks under this
Python and under every other CPython 3.9+ found on PATH (pyenv shims included; the tracer
refuses older ones)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from semcoder_inference.tracer import Limits, Tracer, render_monologue

_KERNEL = tuple(int(part) for part in os.uname().release.split("-")[0].split(".")[:2])


def _interpreters(oldest: int = 9) -> list[str]:
    """This Python and every other CPython 3.`oldest`+ found."""
    found = {sys.version_info[:2]: sys.executable}
    pyenv = Path.home() / ".pyenv" / "versions"
    for minor in range(8, 15):
        candidates = [shutil.which(f"python3.{minor}")] + sorted(str(p) for p in pyenv.glob(f"3.{minor}.*/bin/python3.{minor}"))
        for path in candidates:
            if not path or (3, minor) in found:
                continue
            try:
                ok = subprocess.run([path, "-c", "import sys; print(sys.version_info[:2] == (3, %d))" % minor],
                                    capture_output=True, text=True, timeout=20).stdout.strip() == "True"
            except (OSError, subprocess.TimeoutExpired):
                ok = False
            if ok:
                found[(3, minor)] = path
    return [found[key] for key in sorted(found) if key >= (3, oldest)]


SOURCE = (
    "def g(n):\n    for i in range(n):\n        yield i\n\n"
    "def h():\n    raise KeyError('k')\n\n"
    "def f(xs):\n    out = []\n    for x in xs:\n        if x > 1:\n            out.append(x)\n"
    "    try:\n        h()\n    except KeyError:\n        pass\n    return out, list(g(2))\n"
)


@pytest.mark.parametrize("python", _interpreters())
def test_same_trace_under_each_interpreter(python):
    with Tracer(python=python, workers=1, limits=Limits(timeout_s=2, memory_mb=256)) as tracer:
        trace = tracer.trace_call(SOURCE, "f([1, 2, 3])")
        assert trace["status"] == "ok" and trace["return"] == {"repr": "([2, 3], [0, 1])", "literal": True}
        f_lines = [(e["line"], e["iteration"], e["changes"]) for e in trace["events"]
                   if e["function"] == "f" and e["kind"] == "line"][:6]
        assert f_lines == [(9, None, {"out": "[]"}), (10, 1, {"x": "1"}), (11, 1, {}), (10, 2, {"x": "2"}),
                           (11, 2, {}), (12, 2, {"out": "[2]"})]
        g_returns = [(e["value"], bool(e.get("yield"))) for e in trace["events"] if e["function"] == "g" and e["kind"] == "return"]
        assert g_returns == [("0", True), ("1", True), ("None", False)]
        # h raised: no "return" event for it.
        assert [e["kind"] for e in trace["events"] if e["function"] == "h"] == ["call", "line", "exception"]
        timeout = tracer.trace_call("def f():\n    while True:\n        pass\n", "f()", limits=Limits(timeout_s=0.5))
        assert timeout["status"] == "timeout" and timeout["message"].startswith("timed out after 0.5 s at line")
        fork = tracer.trace_call("import os\ndef f():\n    os.fork()\n", "f()")
        assert fork["status"] == "exception" and fork["exception"]["type"] == "PermissionError"
        version = tuple(int(part) for part in tracer.isolation_info["python"].split(".")[:2])
        if sys.platform.startswith("linux") and _KERNEL >= (5, 14) and version >= (3, 9):
            # _prefault is built for the stable ABI of 3.9: every such interpreter's spares
            # copy their pages at once, not only the one that installed the package.
            planned = tracer.isolation_info["prefault"]
            assert planned["error"] is None and planned["pages"] > 100, planned


WATCHED = (
    "class Box:\n    def __init__(self, n):\n        self.n = n\n\n"
    "    def area(self):\n        return self.n * 2\n\n"
    "class Other:\n    def area(self):\n        return -1\n\n"
    "if __name__ == '__main__':\n    Other().area()\n    print(f([1, 2, 3]), Box(4).area())\n"
)


@pytest.mark.parametrize("python", _interpreters())
def test_a_watched_call_is_traced_as_a_replayed_one_under_each_interpreter(python):
    source = SOURCE + "\n" + WATCHED
    offset = SOURCE.count("\n") + 1
    with Tracer(python=python, workers=1, limits=Limits(timeout_s=2, memory_mb=256)) as tracer:
        replayed = tracer.trace_call(source, "f([1, 2, 3])")
        watched = tracer.watch_call(source, "f", filename="<source>")
        assert watched["status"] == "ok" and watched["call"] == "f([1, 2, 3])"
        assert watched["caller_line"] == offset + 14 and watched["events"] == replayed["events"]
        # a method, told from another class's of the same name by its first line before 3.11
        method = tracer.watch_call(source, "Box.area", target_line=offset + 5)
        assert method["status"] == "ok" and method["return"]["repr"] == "8"
        assert method["call"] == "Box.area(<Box n=4>)"
        # a call that raises, caught by its caller
        raising = tracer.watch_call(SOURCE, "h", entry="try:\n    f([1])\nexcept KeyError:\n    pass\n")
        assert raising["status"] == "exception" and raising["exception"]["type"] == "KeyError"
        assert raising["exception"]["line"] == 6 and raising["call"] == "h()"
        # a generator: traced across its yields, to its real end
        generator = tracer.watch_call(SOURCE, "g", entry="f([1])")
        assert generator["status"] == "ok" and generator["call"] == "g(2)"
        assert [e["value"] for e in generator["events"] if e["kind"] == "return"] == ["0", "1", "None"]


ASYNC_SOURCE = """import asyncio

async def fetch(n):
    await asyncio.sleep(0)
    doubled = n * 2
    return doubled

async def ticks(n):
    for i in range(n):
        await asyncio.sleep(0)
        yield i

async def collect(n):
    out = []
    async for tick in ticks(n):
        out.append(tick)
    return out

def inner():
    yield 1
    yield 2

def outer():
    got = yield from inner()
    return got

def first(items):
    try:
        return next(iter(items))
    except StopIteration:
        return None

async def halve(n):
    await asyncio.sleep(0)
    return n // 2

async def fetch_half(n):
    half = await halve(n)
    return half
"""


def _kinds(trace, function):
    return [(e["kind"], e["line"]) for e in trace["events"] if e["function"] == function]


@pytest.mark.parametrize("python", _interpreters())
def test_async_functions_and_delegation_read_like_plain_calls_under_each_interpreter(python):
    with Tracer(python=python, workers=1, limits=Limits(timeout_s=5, memory_mb=256)) as tracer:
        # An async function's call is run to its end; its awaits are no yields, no resumed
        # calls, and the StopIteration that ends each await is no exception.
        trace = tracer.trace_call(ASYNC_SOURCE, "fetch(3)")
        assert trace["status"] == "ok" and trace["awaited"] is True and trace["return"]["repr"] == "6"
        assert _kinds(trace, "fetch") == [("call", 3), ("line", 4), ("line", 5), ("line", 6), ("return", 6)]
        # An async generator yields its own values (not the wrapper around them), and an
        # `async for` ends without a StopAsyncIteration.
        trace = tracer.trace_call(ASYNC_SOURCE, "collect(2)")
        assert trace["return"]["repr"] == "[0, 1]"
        assert [e for e in trace["events"] if e["kind"] == "exception" or e.get("resumed") and e["function"] == "collect"] == []
        assert [(e["value"], e["depth"]) for e in trace["events"] if e.get("yield")] == [("0", 1), ("1", 1)]
        assert [e["changes"]["out"] for e in trace["events"] if e["line"] == 16 and "out" in e["changes"]] \
            == ["[0]", "[0, 1]"]
        # What a line that awaits assigns is that line's change, though the frame
        # suspended in it: the `async for` header's target, `x = await ...`'s name.
        # (How the loop's end reads differs: 3.9 reports line 16 once more after it.)
        assert [(e["line"], e["iteration"], e["changes"]) for e in trace["events"]
                if e["function"] == "collect" and e["kind"] == "line"][:5] == [
            (14, None, {"out": "[]"}), (15, 1, {"tick": "0"}), (16, 1, {"out": "[0]"}),
            (15, 2, {"tick": "1"}), (16, 2, {"out": "[0, 1]"})]
        trace = tracer.trace_call(ASYNC_SOURCE, "fetch_half(8)")
        awaiting = ASYNC_SOURCE.splitlines().index("    half = await halve(n)") + 1
        assert [(e["line"], e["changes"]) for e in trace["events"]
                if e["function"] == "fetch_half" and e["kind"] == "line"] == [(awaiting, {"half": "4"}), (awaiting + 1, {})]
        # `yield from` suspends its generator (3.9 and 3.10 stop one instruction before it)
        trace = tracer.trace_call(ASYNC_SOURCE, "list(outer())")
        assert trace["return"]["repr"] == "[1, 2]" and "awaited" not in trace
        outer = [(e["kind"], e.get("value"), bool(e.get("resumed"))) for e in trace["events"]
                 if e["function"] == "outer" and e["kind"] != "line"]
        assert outer == [("call", None, False), ("return", "1", False), ("call", None, True),
                         ("return", "2", False), ("call", None, True), ("return", "None", False)]
        # A StopIteration the code raises itself is still one.
        trace = tracer.trace_call(ASYNC_SOURCE, "first([])")
        # (no ": " after an empty message, as Python writes it)
        assert [e["value"] for e in trace["events"] if e["kind"] == "exception"] == ["StopIteration"]


SEND_SOURCE = """def running_total():
    total = 0
    while True:
        x = yield total
        total += x

def f():
    g = running_total()
    next(g)
    g.send(5)
    return g.send(7)
"""


@pytest.mark.parametrize("python", _interpreters())
def test_a_value_sent_into_a_generator_belongs_to_its_yield_line_under_each_interpreter(python):
    with Tracer(python=python, workers=1, limits=Limits(timeout_s=5, memory_mb=256)) as tracer:
        trace = tracer.trace_call(SEND_SOURCE, "f()")
        assert trace["status"] == "ok" and trace["return"]["repr"] == "12"
        gen = [e for e in trace["events"] if e["function"] == "running_total"]
        # `x = yield total` assigns x once resumed: the resumed step of line 4 says so, and
        # line 5 shows only what it changes itself.
        assert [(e["line"], e["changes"]) for e in gen if e.get("resumed")][:2] == [(4, {"x": "5"}), (4, {"x": "7"})]
        assert [e["changes"] for e in gen if e["kind"] == "line" and e["line"] == 5] == [{"total": "5"}, {"total": "12"}]
        # When f's end closes the generator, GeneratorExit leaves it from its `yield`
        # (3.13 no longer raises it there): that is no yield of None.
        assert [e["value"] for e in gen if e.get("yield")] == ["0", "5", "12"]
        assert [e["kind"] for e in gen][-1] in ("exception", "return")
        assert not any(e["kind"] == "return" and not e.get("yield") for e in gen)


LOOP_ENDS_SOURCE = """def numbers(n):
    for i in range(n):
        yield i
    return "done"

def f(grid):
    seen = []
    for value in numbers(2):
        seen.append(value)
    for row in grid:
        for cell in row:
            if cell < 0:
                break
        else:
            seen.append(row)
    return seen
"""


@pytest.mark.parametrize("python", _interpreters())
def test_loops_end_without_exceptions_and_their_else_is_no_iteration_under_each_interpreter(python):
    with Tracer(python=python, workers=1, limits=Limits(timeout_s=5, memory_mb=256)) as tracer:
        trace = tracer.trace_call(LOOP_ENDS_SOURCE, "f([[1], [-1]])")
        assert trace["status"] == "ok" and trace["return"]["repr"] == "[0, 1, [1]]"
        # A generator that returns a value ends the `for` over it: no StopIteration event.
        assert [e for e in trace["events"] if e["kind"] == "exception"] == []
        # The inner loop's last check (row [1] done) binds nothing; the `else` line that
        # follows belongs to the outer loop's first iteration.
        f = [(e["line"], e["iteration"], e["changes"]) for e in trace["events"] if e["function"] == "f" and e["kind"] == "line"]
        end_of_inner = f.index((15, 1, {"seen": "[0, 1, [1]]"}))
        assert f[end_of_inner - 1] == (11, 2, {})


@pytest.mark.parametrize("python", _interpreters())
def test_script_runs_find_calls_in_their_threads_under_each_interpreter(python):
    from kernel_probes import threads_refused_here
    from test_tracer_threads import SCRIPT

    with Tracer(python=python, workers=1, limits=Limits(timeout_s=5, memory_mb=256)) as tracer:
        calls = tracer.record_calls(SCRIPT, "f", max_calls=10)
        if threads_refused_here(tracer, tracer.last_record_result):
            pytest.skip("this user may start no threads here")
        assert sorted(c["call"] for c in calls) == ["f(1)", "f(100)", "f(2)", "f(3)"]
        trace = tracer.watch_call(SCRIPT, "g")
        assert trace["status"] == "ok" and trace["return"]["repr"] == "7"
        assert [(e["function"], e.get("thread")) for e in trace["events"] if e["kind"] == "call"] == [("g", None), ("helper", 1)]


MULTI_LINE_HEADERS = (
    "def f(n):\n"
    "    t = 0\n"
    "    for x in range(0,\n"
    "                   n):\n"
    "        t += x\n"
    "    i = 0\n"
    "    while (i < n and\n"
    "           i < 100):\n"
    "        i += 1\n"
    "    return t, i\n")


@pytest.mark.parametrize("python", _interpreters())
def test_a_header_over_several_lines_counts_each_iteration_once_under_each_interpreter(python):
    """Every Python returns to a `for` header's first line (FOR_ITER) after its later lines
    before the first iteration, and 3.9 does that for a `while` condition each time: that
    return is the same check going on, not another iteration (it counted 1, 2, 4, 6)."""
    with Tracer(python=python, workers=1) as tracer:
        trace = tracer.trace_call(MULTI_LINE_HEADERS, "f(3)")
    assert trace["status"] == "ok" and trace["return"]["repr"] == "(3, 3)"
    for header, last in ((3, 4), (7, 8)):
        counted = [e["iteration"] for e in trace["events"] if e["kind"] == "line" and e["line"] == header]
        assert counted == [1, 2, 3, 4], (header, counted)  # three iterations, then the check that ends it
        inside = [e["iteration"] for e in trace["events"] if e["kind"] == "line" and header < e["line"] <= last + 1]
        assert set(inside) <= {1, 2, 3, 4}
    monologue = render_monologue(trace, MULTI_LINE_HEADERS)
    assert "Iteration 1 of the loop starts with `x = 0`." in monologue
    assert "Iteration 3 of the loop starts with `x = 2`." in monologue and "Iteration 4" not in monologue
