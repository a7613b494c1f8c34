"""What a trace contains: lines, changed locals (rebinding and mutation), loop iterations,
call depth, returns, exceptions, output, literals, and isolation between runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from semcoder_inference.errors import SemcoderError
from semcoder_inference.tracer import Limits, Tracer, render_monologue, render_table


@pytest.fixture(scope="module")
def tracer():
    with Tracer(workers=2) as t:
        yield t


def line_events(trace, function=None):
    return [e for e in trace["events"] if e["kind"] == "line" and (function is None or e["function"] == function)]


def changes_by_line(trace, function=None):
    """line → what it changed (the last time it ran; in `function`, where given)."""
    return {e["line"]: e["changes"] for e in line_events(trace, function)}


def test_lines_changes_iterations_and_return(tracer):
    source = "def f(nums):\n    output = []\n    for n in nums:\n        output.append(n * 2)\n    return output\n"
    trace = tracer.trace_call(source, "f([1, 2])", filename="/work/x.py")
    assert trace["status"] == "ok" and trace["schema"] == "semcoder.trace/1"
    assert trace["function"] == "f" and trace["call"] == "f([1, 2])"
    assert trace["events"][0] == {"line": 1, "depth": 0, "function": "f", "iteration": None,
                                  "changes": {"nums": "[1, 2]"}, "kind": "call"}
    lines = [(e["line"], e["iteration"], e["changes"]) for e in line_events(trace)]
    assert lines == [
        (2, None, {"output": "[]"}),
        (3, 1, {"n": "1"}),
        (4, 1, {"output": "[2]"}),          # mutation, not rebinding
        (3, 2, {"n": "2"}),
        (4, 2, {"output": "[2, 4]"}),
        (3, 3, {}),                         # the check that ends the loop
        (5, None, {}),
    ]
    assert trace["events"][-1]["kind"] == "return" and trace["events"][-1]["value"] == "[2, 4]"
    assert trace["return"] == {"repr": "[2, 4]", "literal": True}
    assert trace["exception"] is None and not any(trace["truncated"].values())


def test_mutation_without_rebinding_is_detected(tracer):
    source = "def f():\n    xs = []\n    d = {}\n    xs.append(1)\n    d['k'] = xs\n    xs.append(2)\n    return 0\n"
    trace = tracer.trace_call(source, "f()")
    changes = changes_by_line(trace)
    assert changes[4] == {"xs": "[1]"}
    assert changes[5] == {"d": "{'k': [1]}"}
    # xs and d share the list: mutating it changes both.
    assert changes[6] == {"xs": "[1, 2]", "d": "{'k': [1, 2]}"}


def test_every_kind_of_in_place_change_to_a_container_shows(tracer):
    """A small container of atoms that holds the same objects is not shown again (nothing
    changed); any change to what it holds is, even to an equal value with another repr,
    and a change inside a nested container or a large one too."""
    source = (
        "def f():\n"
        "    xs = [1, 0.0, 'a']\n"
        "    d = {'a': 1, 'b': 2}\n"
        "    s = {1, 2}\n"
        "    nested = [[1], [2]]\n"
        "    big = [0] * 1500\n"
        "    xs[0] = True\n"           # 7: equal to 1, another repr
        "    xs[1] = -0.0\n"           # 8: equal to 0.0, another repr
        "    d['a'] = d.pop('a')\n"    # 9: same key and value, new order
        "    s.add(3)\n"               # 10
        "    nested[1].append(3)\n"    # 11: inside a nested list
        "    big[1] = 1\n"             # 12: a list too large to compare part by part
        "    xs[2] = 'a'\n"            # 13: the same string object: no change
        "    d['c'] = d.pop('a')\n"    # 14: another key, the same value objects in the same order
        "    return 0\n")
    trace = tracer.trace_call(source, "f()")
    changes = changes_by_line(trace)
    assert changes[7] == {"xs": "[True, 0.0, 'a']"}
    assert changes[8] == {"xs": "[True, -0.0, 'a']"}
    assert changes[9] == {"d": "{'b': 2, 'a': 1}"}
    assert changes[10] == {"s": "{1, 2, 3}"}
    assert changes[11] == {"nested": "[[1], [2, 3]]"}
    assert list(changes[12]) == ["big"] and changes[12]["big"].startswith("[0, 1, 0, 0")
    assert changes[13] == {}
    assert changes[14] == {"d": "{'b': 2, 'c': 1}"}


def test_nested_calls_have_depth_and_returns(tracer):
    source = "def g(x):\n    y = x + 1\n    return y\n\ndef f(a):\n    b = g(a)\n    return g(b)\n"
    trace = tracer.trace_call(source, "f(1)")
    calls = [(e["function"], e["depth"], e["line"]) for e in trace["events"] if e["kind"] == "call"]
    assert calls == [("f", 0, 5), ("g", 1, 1), ("g", 1, 1)]
    returns = [(e["function"], e["value"]) for e in trace["events"] if e["kind"] == "return"]
    assert returns == [("g", "2"), ("g", "3"), ("f", "3")]
    assert [e["changes"] for e in line_events(trace, "f")][0] == {"b": "2"}


def test_exception_with_user_only_traceback(tracer):
    source = "import json\n\ndef g(x):\n    return json.loads(x)\n\ndef f():\n    return g('{bad')\n"
    trace = tracer.trace_call(source, "f()", filename="/work/mod.py")
    assert trace["status"] == "exception"
    exc = trace["exception"]
    assert exc["type"] == "JSONDecodeError" and exc["line"] == 4
    # json's own frames are not user code and are left out.
    assert [(t["line"], t["function"], t["text"]) for t in exc["traceback"]] == [
        (7, "f", "return g('{bad')"), (4, "g", "return json.loads(x)")]
    assert "JSONDecodeError" in trace["message"] and "line 4" in trace["message"]
    assert any(e["kind"] == "exception" and e["line"] == 4 for e in trace["events"])
    assert trace["return"] is None


def test_the_time_the_module_itself_took_is_reported(tracer):
    slow = tracer.trace_call("import time\ntime.sleep(0.2)\n\ndef f():\n    return 1\n", "f()")
    assert slow["module_s"] >= 0.2 and slow["duration_s"] < 0.2  # the call's own time excludes it
    failed = tracer.trace_call("raise ValueError('at import')\ndef f():\n    return 1\n", "f()")
    assert failed["status"] == "exception" and "module_s" not in failed


def test_exception_messages_keep_their_quotes(tracer):
    missing = tracer.trace_call("import not_installed_anywhere\ndef f():\n    return 1\n", "f()")
    assert missing["exception"]["message"] == "No module named 'not_installed_anywhere'"
    assert missing["message"] == "ModuleNotFoundError: No module named 'not_installed_anywhere' at line 1"
    # KeyError's text is its key's repr, and it keeps its quotes, as in Python's traceback:
    # bare, the key '1' would read as the int 1 (this once expected "KeyError: k").
    assert tracer.trace_call("def f():\n    return {}['k']\n", "f()")["message"] == "KeyError: 'k' at line 2"


def test_stdout_stderr_captured(tracer):
    source = "import sys\ndef f():\n    print('hello', 1)\n    print('oops', file=sys.stderr)\n    return None\n"
    trace = tracer.trace_call(source, "f()")
    assert trace["stdout"] == "hello 1\n" and trace["stderr"] == "oops\n"
    assert trace["return"] == {"repr": "None", "literal": True}
    assert "module_output" not in trace  # the module printed nothing


def test_what_the_module_printed_before_the_call_is_told_apart(tracer):
    """A loader's output comes first in stdout and stderr; module_output says how many of
    their characters it is (a doctest of the call compares only the rest)."""
    source = ("import sys\n\ndef load():\n    print('loading dätä')\n    print('warn ✓', file=sys.stderr)\n"
              "    return [7]\n\nDATA = load()\n\ndef get():\n    print('got')\n    return DATA[0]\n")
    trace = tracer.trace_call(source, "get()")
    assert trace["stdout"] == "loading dätä\ngot\n" and trace["stderr"] == "warn ✓\n"
    assert trace["module_output"] == {"stdout": len("loading dätä\n"), "stderr": len("warn ✓\n")}


def test_return_literal_flag(tracer):
    source = "class P:\n    def __init__(self, x):\n        self.x = x\n    def __repr__(self):\n        return f'P({self.x})'\n\ndef f(k):\n    return P(k) if k else {1: (2, 'a')}\n"
    assert tracer.trace_call(source, "f(0)")["return"] == {"repr": "{1: (2, 'a')}", "literal": True}
    assert tracer.trace_call(source, "f(3)")["return"] == {"repr": "P(3)", "literal": False}


def test_helpers_imports_and_classes_of_the_module_resolve(tracer, tmp_path):
    (tmp_path / "helper_mod.py").write_text("SCALE = 3\n")
    source = "import helper_mod\nfrom collections import Counter\nLIMIT = 2\n\nclass Box:\n    def __init__(self, v):\n        self.v = v\n\ndef f(s):\n    return Box(Counter(s).most_common(LIMIT)).v, helper_mod.SCALE\n"
    trace = tracer.trace_call(source, "f('aab')", filename=str(tmp_path / "main.py"))
    assert trace["status"] == "ok", trace["message"]
    assert trace["return"]["repr"] == "([('a', 2), ('b', 1)], 3)"


EVERYDAY_IMPORTS = """import asyncio
import subprocess
import numpy as np

try:
    from ctypes import c_int  # a module with a fallback for a missing ctypes takes it
except ImportError:
    c_int = None

async def doubled(n):
    await asyncio.sleep(0)
    return n * 2

def f(values):
    total = float(np.asarray(values, dtype=float).sum())
    return asyncio.run(doubled(total)), c_int
"""


def test_modules_everyday_code_imports_work_in_the_sandbox(tracer):
    # subprocess (imported by asyncio, pytest and much else) and ctypes (pandas imports it
    # for a Windows-only message) are stand-ins: importing works, using them is refused.
    trace = tracer.trace_call(EVERYDAY_IMPORTS, "f([1, 2, 3.5])")
    assert trace["status"] == "ok", trace["message"]
    assert trace["return"]["repr"] == "(13.0, None)"
    assert [e["line"] for e in line_events(trace, "f")] == [15, 16]
    # numpy's thread pools start one thread: a run may not start threads (RLIMIT_NPROC = 0)
    threads = tracer.trace_call("import os\ndef f():\n    return os.environ['OPENBLAS_NUM_THREADS']\n", "f()")
    assert threads["return"]["repr"] == "'1'"


def test_an_assert_on_an_async_function_compares_the_coroutine(tracer):
    # `assert fetch(3) == 6` fails in Python (the call gives a coroutine): a check says so
    # rather than awaiting it. Without an expected value the call is run to its end.
    source = "async def fetch(n):\n    return n * 2\n"
    checked = tracer.trace_call(source, "fetch(3)", expect="6")
    assert checked["status"] == "ok" and checked["assertion"]["passed"] is False and "awaited" not in checked
    assert checked["return"]["repr"] == "<coroutine object fetch>" and checked["events"] == []
    traced = tracer.trace_call(source, "fetch(3)")
    assert traced["awaited"] is True and traced["return"]["repr"] == "6"


def test_each_run_starts_fresh(tracer):
    """A module global mutated in one run is back to its initial value in the next."""
    source = "COUNT = [0]\ndef f():\n    COUNT[0] += 1\n    return COUNT[0]\n"
    assert [tracer.trace_call(source, "f()")["return"]["repr"] for _ in range(3)] == ["1", "1", "1"]
    patch = "import json\ndef f():\n    json.dumps = None\n    return 1\n"
    assert tracer.trace_call(patch, "f()")["status"] == "ok"
    check = "import json\ndef f():\n    return json.dumps([1])\n"
    assert tracer.trace_call(check, "f()")["return"]["repr"] == "'[1]'"


def test_expect_reports_the_assertion(tracer):
    source = "def f(x):\n    return x * 2\n"
    ok = tracer.trace_call(source, "f(2)", expect="4")
    assert ok["assertion"]["passed"] is True and ok["assertion"]["expected_repr"] == "4"
    bad = tracer.trace_call(source, "f(2)", expect="5")
    assert bad["assertion"]["passed"] is False and bad["assertion"]["actual_repr"] == "4"
    results = tracer.run_asserts(source, ["assert f(1) == 2", "assert f(1) == 3", "assert f(0) == 0 or True"])
    assert [r["passed"] for r in results] == [True, False, True]


def test_invalid_input_is_reported_not_raised(tracer):
    broken = tracer.trace_call("def f(:\n    pass\n", "f()")
    assert broken["status"] == "invalid" and "syntax error at line 1" in broken["message"]
    bad_call = tracer.trace_call("def f():\n    return 1\n", "f(")
    assert bad_call["status"] == "invalid" and "call expression" in bad_call["message"]
    with pytest.raises(SemcoderError):
        tracer.trace_call("def f():\n    return 1\n", "   ")
    with pytest.raises(SemcoderError):
        Limits(timeout_s=-1).validated()


def test_record_calls_from_main_block_and_entry(tracer):
    source = (
        "def f(x, ys, *rest, flag=False):\n    return x\n\n"
        "def main():\n    for i in range(10):\n        f(i, [i, 'a'], flag=i > 1)\n    f(object(), [])\n\n"
        "if __name__ == '__main__':\n    main()\n"
    )
    calls = tracer.record_calls(source, target="f", max_calls=3, filename="/work/script.py")
    assert [c["call"] for c in calls] == ["f(0, [0, 'a'], flag=False)", "f(1, [1, 'a'], flag=False)",
                                          "f(2, [2, 'a'], flag=True)"]
    assert all(c["literal"] for c in calls) and calls[0]["caller_line"] == 6
    assert calls[0]["args"][1] == {"name": None, "repr": "[0, 'a']", "literal": True}
    # An entry point instead of the __main__ block; an argument that is not a literal.
    odd = tracer.record_calls(source, target="f", max_calls=20, filename="/work/script.py", entry="f(object(), [])")
    assert len(odd) == 1 and odd[0]["literal"] is False and odd[0]["call"].startswith("f(<object object>")


def test_one_recording_keeps_the_calls_of_several_functions(tracer):
    source = ("class Box:\n    def put(self, x):\n        return [x]\n\n"
              "def f(a):\n    return a + 1\n\n"
              "def g(b):\n    return f(b) * 2\n\n"
              "if __name__ == '__main__':\n    for i in range(4):\n        g(i)\n        Box().put(i)\n    g(9)\n")
    also = [("f", 5), ("Box.put", 2), ("unused", None)]
    calls = tracer.record_calls(source, target="g", max_calls=3, filename="/work/script.py", also=also)
    # each call says whose it is; every function gets its own first three
    by_target = {}
    for c in calls:
        by_target.setdefault(c["target"], []).append(c["call"])
    assert by_target == {"g": ["g(0)", "g(1)", "g(2)"], "f": ["f(0)", "f(1)"],
                         "Box.put": ["put(<Box object>, 0)", "put(<Box object>, 1)"]}
    # the run ended as g's third call began: the third calls of f and Box.put had not come
    assert tracer.last_record_result["message"] == "recorded 7 calls"
    # with the target never called, the run goes to the end and every other one has its calls
    calls = tracer.record_calls(source, target="unused", max_calls=2, filename="/work/script.py",
                                also=[("g", 8), ("f", 5)])
    assert [(c["target"], c["call"]) for c in calls] == [("g", "g(0)"), ("f", "f(0)"), ("g", "g(1)"), ("f", "f(1)")]
    assert tracer.last_record_result["status"] == "ok"
    with pytest.raises(SemcoderError):
        tracer.record_calls(source, target="g", also=[("", None)])


def test_calls_recorded_before_a_limit_are_kept():
    source = "def f(x):\n    return x\n\nif __name__ == '__main__':\n    f(1)\n    f([2])\n    while True:\n        pass\n"
    with Tracer(workers=1, limits=Limits(timeout_s=0.5)) as tracer:
        calls = tracer.record_calls(source, target="f", filename="/work/script.py")
        result = tracer.last_record_result
    assert result["status"] == "timeout" and result["message"] in ("timed out after 0.5 s at line 7", "timed out after 0.5 s at line 8")
    assert [c["call"] for c in calls] == ["f(1)", "f([2])"]


def test_concurrent_runs_from_threads(tracer):
    from concurrent.futures import ThreadPoolExecutor

    source = "def f(n):\n    total = 0\n    for i in range(n):\n        total += i\n    return total\n"
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda n: tracer.trace_call(source, f"f({n})")["return"]["repr"], range(12)))
    assert results == [str(sum(range(n))) for n in range(12)]


def test_generators_yield_and_resume(tracer):
    source = "def g(n):\n    for i in range(n):\n        yield i * 2\n\ndef f():\n    return list(g(2))\n"
    trace = tracer.trace_call(source, "f()")
    g_events = [e for e in trace["events"] if e["function"] == "g"]
    yields = [e["value"] for e in g_events if e["kind"] == "return" and e.get("yield")]
    assert yields == ["0", "2"]
    assert [e["iteration"] for e in g_events if e["kind"] == "line" and e["line"] == 3] == [1, 2]
    assert sum(1 for e in g_events if e["kind"] == "call" and e.get("resumed")) == 2
    final = [e for e in g_events if e["kind"] == "return" and not e.get("yield")]
    assert len(final) == 1 and final[0]["value"] == "None"


def test_exception_leaving_a_frame_is_not_a_return(tracer):
    trace = tracer.trace_call("def g():\n    raise KeyError('k')\n\ndef f():\n    return g()\n", "f()")
    assert [e["kind"] for e in trace["events"]] == ["call", "line", "call", "line", "exception", "exception"]


def test_workspace_packages_resolve(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "consts.py").write_text("BASE = 40\n")
    (tmp_path / "pkg" / "sub").mkdir()
    user_file = tmp_path / "pkg" / "sub" / "use.py"
    source = "from pkg.consts import BASE\ndef f(x):\n    return BASE + x\n"
    with Tracer(workers=1, workspace_root=tmp_path) as tracer:
        trace = tracer.trace_call(source, "f(2)", filename=str(user_file))
    assert trace["status"] == "ok" and trace["return"]["repr"] == "42"
    assert "id" not in trace


def test_close_leaves_no_processes_or_folders():
    import os
    from concurrent.futures import ThreadPoolExecutor

    import psutil

    tracer = Tracer(workers=2)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda n: tracer.trace_call("def f(n):\n    return n\n", f"f({n})"), range(4)))
    zygotes = [psutil.Process(pid) for pid in tracer.worker_pids]
    # In a PID namespace, what the server started is each zygote's parent (runtime.become_pid_1).
    started = [psutil.Process(z.proc.pid) for z in tracer._all if z.proc.pid not in tracer.worker_pids]
    roots = [info["run_root"] for info in tracer.worker_info]
    assert len(zygotes) == 2 and all(os.path.isdir(root) for root in roots)
    # Each zygote forks its spare child once the last one has exited, so it may lag the reply a little.
    import time

    deadline = time.monotonic() + 10
    while True:
        family = zygotes + [c for z in zygotes for c in z.children(recursive=True)]
        if len(family) >= 4 or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert len(family) >= 4  # each zygote keeps a spare child forked
    tracer.close()
    _, alive = psutil.wait_procs(family + started, timeout=10)
    assert alive == []
    assert not any(os.path.exists(root) for root in roots)


def test_a_zygote_in_a_pid_namespace_dies_with_the_process_the_server_started():
    """The server kills a stuck worker by the pid it started; in a PID namespace that is the
    zygote's outer parent (runtime.become_pid_1), and the zygote and its spare must go too."""
    import time

    import psutil

    with Tracer(workers=1) as tracer:
        assert tracer.trace_call("def f():\n    return 1\n", "f()")["status"] == "ok"
        info = tracer.isolation_info
        started = tracer._all[0].proc
        if not info["pid_namespace"]:
            assert tracer.worker_pids == [started.pid]
            return
        zygote = psutil.Process(tracer.worker_pids[0])
        assert zygote.ppid() == started.pid and info["pid"] == 1
        time.sleep(0.2)  # the last child has exited, the next spare is forked
        family = [zygote] + zygote.children()
        assert len(family) == 2  # the zygote and its spare
        started.kill()
        _, alive = psutil.wait_procs(family, timeout=10)
        assert alive == []


def test_attribute_changes_of_plain_objects_show(tracer):
    source = "class Acc:\n    def __init__(self):\n        self.items = []\n\ndef f():\n    acc = Acc()\n    acc.items.append(5)\n    acc.total = 5\n    return acc.total\n"
    trace = tracer.trace_call(source, "f()")
    changes = {e["line"]: e["changes"] for e in trace["events"] if e["kind"] == "line" and e["function"] == "f"}
    assert changes[6] == {"acc": "<Acc items=[]>"}
    assert changes[7] == {"acc": "<Acc items=[5]>"}
    assert changes[8] == {"acc": "<Acc items=[5], total=5>"}


SLOTTED = """class Base:
    __slots__ = ("__secret",)

class Point(Base):
    __slots__ = ("x", "ys")

    def __init__(self, x):
        self.x = x

    def __getattribute__(self, name):  # never run by the tracer's repr
        raise RuntimeError("no")

def f():
    p = Point(1)
    object.__setattr__(p, "ys", [])
    object.__getattribute__(p, "ys").append(2)
    object.__setattr__(p, "_Base__secret", "s")
    return 0
"""


def test_slots_of_plain_objects_show_and_their_changes_too(tracer):
    trace = tracer.trace_call(SLOTTED, "f()")
    changes = {e["line"]: e["changes"] for e in trace["events"] if e["kind"] == "line" and e["function"] == "f"}
    assert changes[14] == {"p": "<Point x=1>"}  # a slot not set yet is left out
    assert changes[15] == {"p": "<Point x=1, ys=[]>"}
    assert changes[16] == {"p": "<Point x=1, ys=[2]>"}  # mutation inside a slot
    assert changes[17] == {"p": "<Point x=1, ys=[2], __secret='s'>"}


def test_run_folders_of_dead_zygotes_are_swept_at_start(tmp_path):
    """A zygote killed before its clean-up leaves its run folder behind (with namespaces a
    tmpfs mount point only the outside can remove); the next zygote removes it, and leaves
    the folders of live zygotes alone."""
    import os
    import subprocess
    import tempfile

    gone = subprocess.Popen(["true"])
    gone.wait()
    base = tempfile.gettempdir()
    stale = os.path.join(base, f"semcoder-sandbox-{gone.pid}-test")
    live = os.path.join(base, f"semcoder-sandbox-{os.getpid()}-test")
    for folder in (stale, live):
        os.makedirs(os.path.join(folder, "run"), exist_ok=True)
    try:
        with Tracer(workers=1) as fresh:
            assert fresh.trace_call("def f():\n    return 1\n", "f()")["status"] == "ok"
        assert not os.path.exists(stale)
        assert os.path.isdir(live)
    finally:
        import shutil

        shutil.rmtree(stale, ignore_errors=True)
        shutil.rmtree(live, ignore_errors=True)


def test_run_folders_are_removed_however_a_run_left_them(tmp_path):
    """What the zygote does with a finished run's folder: deeper than PATH_MAX, a folder
    with its permissions taken away, links to the outside (removed, never followed)."""
    import os

    from semcoder_inference.tracer.sandbox import remove_tree

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    root = tmp_path / "run-1"
    root.mkdir()
    fd = os.open(root, os.O_RDONLY)
    for level in range(300):  # 300 * 20 characters: far past PATH_MAX (4096)
        name = f"nested-folder-{level:05d}"
        os.mkdir(name, dir_fd=fd)
        deeper = os.open(name, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = deeper
        os.close(os.open("data.txt", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    os.symlink(outside, "link-out", dir_fd=fd)
    os.close(fd)
    (root / "locked" / "inner").mkdir(parents=True)
    (root / "locked" / "inner" / "a.txt").write_text("x")
    os.chmod(root / "locked" / "inner", 0)
    os.chmod(root / "locked", 0)
    (root / "top-link").symlink_to(outside)

    remove_tree(root)

    assert not root.exists()
    assert (outside / "keep.txt").read_text() == "mine"
    remove_tree(tmp_path / "never-existed")  # nothing to do, no error


def test_every_run_of_a_zygote_gets_its_folder_afresh():
    """A zygote's runs work in one folder (its audit hook is built once, before any run),
    made anew for each: what a run left there is gone for the next."""
    source = ("import os\n\ndef f(leave):\n    found = sorted(os.listdir('.'))\n"
              "    if leave:\n        open('left.txt', 'w').write('x')\n        os.mkdir('made')\n"
              "    return (os.getcwd(), os.environ['HOME'] == os.getcwd() == os.environ['TMPDIR'], found)\n")
    with Tracer(workers=1) as tracer:
        first = eval(tracer.trace_call(source, "f(True)")["return"]["repr"])
        second = eval(tracer.trace_call(source, "f(False)")["return"]["repr"])
    assert first[1] and second[1]
    assert first[2] == [] and second[2] == []
    assert first[0] == second[0]


def test_a_run_folder_left_behind_gives_the_next_run_a_private_new_one(tmp_path, monkeypatch):
    """Where the zygote's usual run folder could not be removed, the next spare gets an
    unguessable new folder (and builds its own hook); the usual folder's hook, built once,
    holds writes to that folder."""
    import os
    import tempfile

    from semcoder_inference.tracer import runtime

    monkeypatch.setenv("HOME", os.environ.get("HOME", "/"))
    monkeypatch.setenv("TMPDIR", os.environ.get("TMPDIR", "/tmp"))
    monkeypatch.setattr(tempfile, "tempdir", tempfile.tempdir)
    monkeypatch.setattr(runtime, "_RUN_FOLDER", [None, None])
    root = str(tmp_path)
    runtime.prepare_run_folder(root, os.path.realpath(root))
    usual = os.path.join(root, "run")
    assert os.environ["HOME"] == os.environ["TMPDIR"] == tempfile.tempdir == usual

    assert runtime._new_workdir(root) == usual
    other = runtime._new_workdir(root)  # the usual one is still there
    assert other != usual and os.path.basename(other).startswith("run-") and len(os.path.basename(other)) == 16
    assert os.stat(other).st_mode & 0o777 == 0o700 and os.listdir(other) == []

    hook = runtime._RUN_FOLDER[1]
    hook("open", (os.path.join(usual, "data.txt"), "w", os.O_WRONLY))
    for outside in (os.path.join(other, "data.txt"), str(tmp_path / "data.txt")):
        with pytest.raises(PermissionError, match="writing outside"):
            hook("open", (outside, "w", os.O_WRONLY))


def test_the_zygote_waits_in_the_background_and_its_runs_do_not():
    """The zygote is SCHED_BATCH, so that waking up (as a run starts and ends) it never
    takes the CPU from the run or the server; runs have the normal policy."""
    import os

    source = "import os\n\ndef f():\n    return os.sched_getscheduler(0)\n"
    with Tracer(workers=1) as tracer:
        policy = tracer.trace_call(source, "f()")["return"]["repr"]
        assert tracer.isolation_info["zygote_in_background"] is True
        assert os.sched_getscheduler(tracer.worker_pids[0]) == os.SCHED_BATCH
    assert int(policy) == os.SCHED_OTHER


def test_a_zygote_whose_spares_keep_failing_stops_instead_of_forking_forever():
    """A spare that ends before reading its request is replaced. Should every spare do so,
    the zygote stops after a few, saying why, rather than fork them forever: nothing else
    would end it, not even the server going away."""
    import struct
    import subprocess
    import sys

    script = (
        "import os, sys\n"
        "from semcoder_inference.tracer import runtime\n"
        "runtime.Spare._child = lambda self, *args: os._exit(5)\n"
        "sys.exit(runtime.main(['launch.py', 'audit', 'off', '']))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        size = struct.unpack(">I", proc.stdout.read(4))[0]
        assert b'"ready": true' in proc.stdout.read(size)
        assert proc.wait(timeout=30) == 0  # by itself: the server (this test) is still there
    finally:
        proc.kill()
        proc.wait()
    stderr = proc.stderr.read().decode()
    assert "5 spare processes in a row ended before their request (the last with status 5); stopping" in stderr


def test_zygotes_that_died_while_idle_are_replaced_without_failing_a_run():
    """Both workers die between runs (killed, or stopped as above): the next runs get new
    ones and their own results, not "the run broke its sandbox worker"."""
    import time

    with Tracer(workers=2) as tracer:
        deadline = time.monotonic() + 60
        while len(tracer._all) < 2 and time.monotonic() < deadline:  # the second starts in the background
            tracer.trace_call("def f():\n    return 0\n", "f()")
            time.sleep(0.05)
        dead = list(tracer._all)
        assert len(dead) == 2
        for zygote in dead:
            zygote.proc.kill()
            zygote.proc.wait()
        for n in range(4):
            trace = tracer.trace_call("def f(n):\n    return n + 1\n", f"f({n})")
            assert trace["status"] == "ok" and trace["return"]["repr"] == str(n + 1), trace["message"]
        assert not set(map(id, tracer._all)) & set(map(id, dead))


def test_workers_end_when_the_server_is_killed_without_closing_its_tracer():
    """An editor may kill its language server outright: no close(), no goodbye. Each
    zygote's spare then reads the end of the server's pipe, and the zygote, its spare and
    whatever the zygote's outer parent is (in a PID namespace) all exit by themselves."""
    import json as json_module
    import subprocess
    import sys

    import psutil

    script = (
        "import json, sys, time\n"
        "from semcoder_inference.tracer import Tracer\n"
        "tracer = Tracer(workers=2)\n"
        "deadline = time.monotonic() + 60\n"
        "while len(tracer._all) < 2 and time.monotonic() < deadline:\n"
        "    tracer.trace_call('def f():\\n    return 1\\n', 'f()')\n"
        "    time.sleep(0.05)\n"
        "time.sleep(0.3)\n"  # each zygote has forked its next spare
        "print(json.dumps([tracer.worker_pids, [z.proc.pid for z in tracer._all]]), flush=True)\n"
        "time.sleep(600)\n"
    )
    server = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        zygote_pids, started_pids = json_module.loads(server.stdout.readline())
        zygotes = [psutil.Process(pid) for pid in zygote_pids]
        family = zygotes + [c for z in zygotes for c in z.children(recursive=True)]
        family += [psutil.Process(pid) for pid in started_pids if pid not in zygote_pids]
        assert len(zygotes) == 2 and len(family) >= 4  # two zygotes, each with a spare
    finally:
        server.kill()
        server.wait()
    _, alive = psutil.wait_procs(family, timeout=15)
    assert alive == []


def test_a_worker_that_gives_up_says_why_in_the_result_and_the_log(tmp_path, monkeypatch, caplog):
    """Through a Tracer: zygotes whose spares all fail stop (runtime.serve), the run is tried
    on a second one, and the result says what the worker said, not that the run broke it."""
    import logging

    from semcoder_inference.tracer import pool

    wrapper = tmp_path / "failing_runtime.py"
    wrapper.write_text(
        "import os, runpy, sys\n"
        f"runtime = runpy.run_path({str(pool.LAUNCHER)!r}, run_name='failing_runtime')['load_runtime']()\n"
        "runtime.Spare._child = lambda self, *args: os._exit(5)\n"
        "sys.exit(runtime.main(sys.argv))\n"
    )
    monkeypatch.setattr(pool, "LAUNCHER", wrapper)
    caplog.set_level(logging.WARNING, logger="semcoder_inference.tracer.pool")
    with Tracer(workers=1, isolation="audit") as tracer:
        trace = tracer.trace_call("def f():\n    return 1\n", "f()")
    said = "5 spare processes in a row ended before their request (the last with status 5); stopping"
    assert trace["status"] == "crashed"
    assert "its worker stopped" in trace["message"] and said in trace["message"]
    assert "broke its sandbox worker" not in trace["message"]
    assert said in caplog.text


def _heap_kb(pid: int) -> int:
    """Resident anonymous memory of a process's malloc heap, in KB (Linux)."""
    total, in_heap = 0, False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        if line[:1] in "0123456789abcdef" and "-" in line.split(" ", 1)[0]:
            in_heap = line.rstrip().endswith("[heap]")
        elif in_heap and line.startswith("Anonymous:"):
            total += int(line.split()[1])
    return total


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/smaps (Linux)")
def test_the_zygote_holds_no_compiler_garbage():
    """The zygote is started by a stub script (launch.py) and imports runtime.py as a module,
    from its cached bytecode: compiling runtime.py as the script left about 1.5 MB of freed
    compiler memory in its heap, which every fork and exit then paid for. Its heap is about
    that of an interpreter that only loads the same modules."""
    from semcoder_inference.tracer import pool

    reference = subprocess.Popen(
        [sys.executable, "-I", "-c",
         f"import runpy, sys\nrunpy.run_path({str(pool.LAUNCHER)!r}, run_name='reference')['load_runtime']()\n"
         "print('ready', flush=True)\nsys.stdin.read()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert reference.stdout.readline().strip() == "ready"
        with Tracer(workers=1) as tracer:
            assert tracer.trace_call("def f():\n    return 1\n", "f()")["status"] == "ok"
            zygote_kb = _heap_kb(tracer.worker_pids[0])
        reference_kb = _heap_kb(reference.pid)
    finally:
        reference.kill()
        reference.wait()
    assert zygote_kb < reference_kb + 768, (zygote_kb, reference_kb)


def test_a_change_past_where_a_repr_is_cut_still_shows(tracer):
    """A long list, dict or str shows its first and last items, `[0, 1, ..., 38, 39]`, within
    max_repr characters: what a loop appends shows. A change between the two is listed under
    its place (`xs[20]`), unless what the place holds is equal and reads the same (another
    object of an equal string)."""
    source = (
        "def f():\n"
        "    xs = [str(i) + 'x' for i in range(40)]\n"
        "    xs[20] = 'Z'\n"                      # 3: in the middle, not shown
        "    xs[21] = ''.join(['2', '1', 'x'])\n"  # 4: another string object, equal: no change
        "    xs[20] = 1\n"                        # 5: another type
        "    fs = [0.0] * 40\n"
        "    fs[20] = -0.0\n"          # 7: equal, but reads differently
        "    d = dict.fromkeys(range(40), 0)\n"
        "    d[20] = 1\n"              # 9
        "    box = Box()\n"
        "    box.last = 1\n"            # 11: an object's attribute past the cut
        "    box.last = 1\n"            # 12: the same value again: no change
        "    xs.append('end')\n"        # 13: at the end: shows
        "    text = 'a' * 100\n"
        "    text += 'Z'\n"             # 15: at the end of a long string: shows
        "    return 0\n"
        "\n"
        "class Box:\n"
        "    def __init__(self):\n"
        "        for i in range(30):\n"
        "            setattr(self, 'field%d' % i, i)\n"
        "        self.last = 0\n")
    trace = tracer.trace_call(source, "f()", limits=Limits(max_repr=60))
    changes = changes_by_line(trace)
    assert changes[2] == {"xs": "['0x', '1x', '2x', '3x', ..., '37x', '38x', '39x']"}
    assert changes[3] == {"xs[20]": "'Z'"} and changes[5] == {"xs[20]": "1"}
    assert changes[4] == {}
    assert changes[7] == {"fs[20]": "-0.0"} and changes[9] == {"d[20]": "1"}
    assert changes[13] == {"xs": "['0x', '1x', '2x', '3x', ..., '38x', '39x', 'end']"}
    assert changes[15] == {"text": "'" + 'a' * 27 + '...' + 'a' * 26 + "Z'"}
    assert changes[11] == {"box.last": "1"} and changes[12] == {}


def test_an_object_whose_repr_is_cut_shows_the_attributes_a_line_changed(tracer):
    """Its first attributes are all a cut repr shows; a line that changes later ones lists
    those, by their names: rebound, added, or a list, dict or set it holds grown or shrunk."""
    source = (
        "class Cart:\n"
        "    def __init__(self):\n"
        "        self.owner = 'ann'\n"
        "        self.address = '221B Baker Street, London'\n"
        "        self.items = []\n"
        "        self.total = 0\n"
        "\n"
        "def f():\n"
        "    cart = Cart()\n"
        "    cart.items.append('pen')\n"     # 10: grown in place
        "    cart.total += 3\n"              # 11: rebound
        "    cart.note = 'gift'\n"           # 12: added
        "    cart.total = 3\n"               # 13: the same value again: no change
        "    cart.owner = 'bo'\n"            # 14: shown by the cut repr itself
        "    return cart.total\n")
    trace = tracer.trace_call(source, "f()", limits=Limits(max_repr=60))
    changes = changes_by_line(trace, "f")
    assert changes[9]["cart"].startswith("<Cart owner='ann', address=") and changes[9]["cart"].endswith("...")
    assert changes[10] == {"cart.items": "['pen']"}
    assert changes[11] == {"cart.total": "3"}
    assert changes[12] == {"cart.note": "'gift'"}
    assert changes[13] == {}
    assert list(changes[14]) == ["cart"] and changes[14]["cart"].startswith("<Cart owner='bo', address=")


def test_a_change_deep_inside_a_cut_value_is_listed_under_its_place(tracer):
    """Where a local's cut text does not show what a line changed inside it, the change is
    listed under the place's own name, as the line would write it: an item of a grid, a
    key's list in a dict, an item of a tuple's list, an attribute of an object in a list. A
    container changed in more places than a few is listed whole; so is a local whose keys
    were removed, or whose change has no name (an item of a set). A part replaced by another
    that reads the same is no change. The hover table and the monologue say the same."""
    source = (
        "class Node:\n"
        "    def __init__(self, value):\n"
        "        self.value = value\n"
        "\n"
        "def f():\n"
        "    grid = [[0] * 10 for _ in range(10)]\n"
        "    grid[5][2] += 1\n"                     # 7
        "    graph = {k: [] for k in 'abcdefghijklmnop'}\n"
        "    graph['h'].append('a')\n"             # 9: the list's new text
        "    graph['z'] = ['h']\n"                 # 10: a key added at the end: shows
        "    rows = [(k, [k, k]) for k in range(20)]\n"
        "    rows[10][1][0] = 'x'\n"               # 12: inside a tuple
        "    nodes = [Node(k) for k in range(12)]\n"
        "    nodes[6].value = -1\n"                # 14: an object's attribute
        "    grid[3][:] = [7] * 10\n"              # 15: a whole row: the row
        "    grid[6][6], grid[8][8] = 4, 4\n"       # 16: two places
        "    for i in range(2, 8):\n"
        "        grid[i][5] = 9\n"                 # 18: one place each time
        "    grid[4][0:6] = [1] * 6\n"             # 19: six places: the row
        "    del graph['a']\n"                     # 20: a key removed: the whole dict
        "    bags = {k: {k} for k in range(30)}\n"
        "    bags[15].add(99)\n"                   # 22: the set, as a place
        "    bags[15].discard(15)\n"               # 23: the set again
        "    nodes[6] = Node(-1)\n"                # 24: another object that reads the same
        "    graph['h'] = list(graph['h'])\n"      # 25: another list, equal
        "    return grid[5][2]\n")
    trace = tracer.trace_call(source, "f()", limits=Limits(max_repr=60))
    changes = changes_by_line(trace, "f")
    assert changes[7] == {"grid[5][2]": "1"}
    assert changes[9] == {"graph['h']": "['a']"}
    assert list(changes[10]) == ["graph"] and changes[10]["graph"].endswith(", 'z': ['h']}")
    assert changes[12] == {"rows[10][1][0]": "'x'"}
    assert changes[14] == {"nodes[6].value": "-1"}
    assert changes[15] == {"grid[3]": "[7, 7, 7, 7, 7, 7, 7, 7, 7, 7]"}
    assert changes[16] == {"grid[6][6]": "4", "grid[8][8]": "4"}
    assert [e["changes"] for e in line_events(trace, "f") if e["line"] == 18] == [
        {f"grid[{i}][5]": "9"} for i in range(2, 8)]
    assert changes[19] == {"grid[4]": "[1, 1, 1, 1, 1, 1, 0, 0, 0, 0]"}
    assert list(changes[20]) == ["graph"] and changes[20]["graph"].startswith("{'b': [], 'c': []")
    assert changes[22] == {"bags[15]": "{99, 15}"} or changes[22] == {"bags[15]": "{15, 99}"}
    assert changes[23] == {"bags[15]": "{99}"}
    assert changes[24] == {} and changes[25] == {}
    table = render_table(trace, source)
    assert "| 7 `grid[5][2] += 1` | `grid[5][2] = 1` |" in table
    monologue = render_monologue(trace, source, "f")
    assert "[L11]: `grid[5][2]` is updated to `1`." in monologue
    assert "[L13]: `graph['h']` is updated to `['a']`." in monologue


def test_what_a_repr_of_the_traced_file_leaves_out_is_listed_under_its_place(tracer):
    """Objects whose `__repr__` the traced file defines are walked like those with the
    default repr: a change their text does not show is listed under its place, at any depth
    and through aliases; changed in more places than are listed, the object shows its
    attributes. While its __init__ has not set what its repr reads, it shows what it holds
    so far. A library's objects (here a Logger, whose repr leaves out `propagate`) are not
    walked: their internals would be noise."""
    source = (
        "import logging\n"
        "\n"
        "class Node:\n"
        "    def __init__(self, value):\n"
        "        self.value = value\n"                      # 5
        "        self.children = []\n"                      # 6
        "\n"
        "    def __repr__(self):\n"
        "        return f'Node({self.value})'\n"
        "\n"
        "    def add(self, child):\n"
        "        self.children.append(child)\n"             # 12
        "\n"
        "    def reset(self):\n"
        "        self.a, self.b, self.c, self.d = 1, 2, 3, 4\n"  # 15
        "\n"
        "def f():\n"
        "    root = Node(1)\n"                               # 18
        "    root.children.append(Node(2))\n"                # 19
        "    root.children[0].children.append(Node(3))\n"    # 20
        "    root.value = 10\n"                              # 21: its text shows it
        "    nodes = [Node(5), root]\n"                      # 22
        "    root.add(Node(4))\n"                            # 23: seen through both names
        "    nodes[0].reset()\n"                             # 24: four places: the object
        "    nodes[0] = Node(5)\n"                           # 25: another one that reads the same
        "    log = logging.getLogger('semcoder-test')\n"     # 26
        "    log.propagate = False\n"                        # 27: a library's object: not walked
        "    return root\n")
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "ok", trace["message"]
    changes = changes_by_line(trace, "f")
    assert changes[18] == {"root": "Node(1)"}
    assert changes[19] == {"root.children": "[Node(2)]"}
    assert changes[20] == {"root.children[0].children": "[Node(3)]"}
    assert changes[21] == {"root": "Node(10)"}
    assert changes[23] == {"root.children": "[Node(2), Node(4)]", "nodes[1].children": "[Node(2), Node(4)]"}
    assert changes[24] == {"nodes[0]": "<Node value=5, children=[], a=1, b=2, c=3, d=4>"}
    assert changes[25] == {"nodes[0]": "Node(5)"}
    assert changes[27] == {}
    inits = [e for e in trace["events"] if e["function"] == "Node.__init__"]
    assert inits[0]["kind"] == "call" and inits[0]["changes"] == {"self": "<Node object>", "value": "1"}
    assert [e["changes"] for e in inits[1:3]] == [{"self": "Node(1)"}, {"self.children": "[]"}]
    added = [e["changes"] for e in trace["events"] if e["function"] == "Node.add" and e["kind"] == "line"]
    assert added == [{"self.children": "[Node(2), Node(4)]"}]
    reset = tracer.trace_call(source.replace("    nodes[0].reset()\n", "    root.reset()\n"), "f()")
    changes = changes_by_line(reset, "f")
    whole = "<Node value=10, children=[Node(2), Node(4)], a=1, b=2, c=3, d=4>"
    assert changes[24] == {"root": whole, "nodes[1]": whole}
    table = render_table(trace, source)
    assert "| 19 `root.children.append(Node(2))` | `root.children = [Node(2)]` |" in table
    monologue = render_monologue(trace, source, "f")
    assert "[L23]: `root.children` is updated to `[Node(2)]`." in monologue


def test_arrays_and_bytearrays_are_compared_by_their_bytes(tracer):
    """numpy arrays, bytearrays and array.arrays: a change their (cut, or reformatted) text
    does not show is listed by the index of the items that changed; more than three, a new
    shape or size: the array, whole. One that did not change is not listed, however its
    text is cut (numpy's own "..." included), and a view shows what a change to its base
    did. An array numpy cannot export (of objects) is read by its text alone."""
    source = (
        "import array\n"
        "import numpy as np\n"
        "\n"
        "def f():\n"
        "    a = np.zeros(100)\n"
        "    a[50] = 1.5\n"                        # 6: numpy respaces its text; the item tells
        "    g = np.zeros((20, 20), dtype=np.int64)\n"
        "    g[3, 4] = 7\n"                        # 8
        "    g[3] += 1\n"                          # 9: twenty items: the array
        "    view = g[3]\n"
        "    g[3, 0] = -2\n"                       # 11: the view too
        "    flags = np.zeros(500, dtype=bool)\n"
        "    flags[[7, 9]] = True\n"               # 13: two items
        "    half = np.full(300, 0.1, dtype=np.float32)\n"
        "    half[299] = 0.2\n"                    # 15: as numpy shows a float32
        "    b = bytearray(300)\n"
        "    b[150] = 65\n"                        # 17
        "    nums = array.array('i', range(200))\n"
        "    nums[100] = -1\n"                     # 19
        "    nums.append(5)\n"                     # 20: a new size: the array
        "    big = np.zeros(5000)\n"
        "    g.shape = (40, 10)\n"                 # 22: a new shape
        "    objs = np.array([[1], [2]] * 100, dtype=object)\n"
        "    small = np.arange(5)\n"
        "    small[2] = 9\n"                       # 25: its text shows it
        "    return int(g.sum())\n")
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "ok", trace["message"]
    changes = changes_by_line(trace, "f")
    assert changes[6] == {"a[50]": "1.5"}
    assert changes[8] == {"g[3, 4]": "7"}
    assert list(changes[9]) == ["g"]
    assert changes[11]["g[3, 0]"] == "-2" and changes[11]["view"].startswith("array([-2,  1,  1,  1,  8,")
    assert changes[13] == {"flags[7]": "True", "flags[9]": "True"}
    assert changes[15] == {"half[299]": "0.2"}
    assert changes[17] == {"b[150]": "65"}
    assert changes[19] == {"nums[100]": "-1"}
    assert list(changes[20]) == ["nums"] and changes[20]["nums"].endswith("...")
    assert list(changes[22]) == ["g"]
    assert changes[25] == {"small": "array([0, 1, 9, 3, 4])"}
    # Listed on the lines that made them only:
    for local, line in (("a", 5), ("g", 7), ("b", 16), ("nums", 18), ("big", 21), ("objs", 23)):
        assert [n for n, c in sorted(changes.items()) if any(k == local or k.startswith(local + "[") for k in c)][0] == line
    assert [n for n, c in changes.items() if "big" in c] == [21] and [n for n, c in changes.items() if "objs" in c] == [23]
    assert [n for n, c in changes.items() if "b" in c] == [16]


def test_a_librarys_long_repr_is_cut_with_a_marker_and_not_listed_again_unchanged(tracer):
    source = (
        "from collections import deque, defaultdict\n"
        "\n"
        "def f():\n"
        "    q = deque(range(100))\n"
        "    d = defaultdict(list, {i: [i] for i in range(50)})\n"
        "    t = 0\n"
        "    for i in range(3):\n"
        "        t += i\n"
        "    q.append(-1)\n"                       # 9: its text shows nothing new (cut)
        "    return t\n")
    trace = tracer.trace_call(source, "f()", limits=Limits(max_repr=60))
    events = line_events(trace, "f")
    assert events[0]["changes"]["q"] == "deque([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, ..."
    assert events[1]["changes"]["d"].endswith("...") and len(events[1]["changes"]["d"]) == 60
    listed = [e["line"] for e in events if "q" in e["changes"] or "d" in e["changes"]]
    assert listed == [4, 5]  # (a library's object is not walked: line 9's append is unseen)


def test_module_globals_a_function_changes_are_listed_apart_from_its_locals(tracer):
    """A line that changes a module global the function's code names (with `global`, or a
    list or dict it mutates, or a callee it calls) lists it under `globals`; the values a
    call finds them with are no change, and functions, classes and modules are not watched.
    A long global's change shows by its place. The table and the monologue say `global`."""
    source = (
        "import math\n"
        "CACHE = {}\n"
        "calls = 0\n"
        "BOARD = [[0] * 10 for _ in range(10)]\n"
        "\n"
        "def square(n):\n"
        "    global calls\n"
        "    calls += 1\n"                           # 8
        "    CACHE[n] = n * n\n"                     # 9
        "    BOARD[n][n] = math.floor(n * n)\n"      # 10
        "    return CACHE[n]\n"
        "\n"
        "def f(n):\n"
        "    total = square(n) + square(n + 1)\n"    # 14: the callee changed calls
        "    return total, calls\n")
    trace = tracer.trace_call(source, "f(3)")
    assert trace["return"]["repr"] == "(25, 2)"
    events = trace["events"]
    assert all("globals" not in e for e in events if e["kind"] == "call")
    listed = [(e["function"], e["line"], e["changes"], e.get("globals")) for e in events if e["kind"] == "line"]
    assert listed == [
        ("f", 14, {"total": "25"}, {"calls": "2"}),
        ("square", 8, {}, {"calls": "1"}),
        ("square", 9, {}, {"CACHE": "{3: 9}"}),
        ("square", 10, {}, {"BOARD[3][3]": "9"}),
        ("square", 11, {}, None),
        ("square", 8, {}, {"calls": "2"}),
        ("square", 9, {}, {"CACHE": "{3: 9, 4: 16}"}),
        ("square", 10, {}, {"BOARD[4][4]": "16"}),
        ("square", 11, {}, None),
        ("f", 15, {}, None),
    ]
    table = render_table(trace, source)
    assert "| 8 `calls += 1` | · `global calls = 1` |" in table
    assert "`total = 25`, `global calls = 2`" in table
    monologue = render_monologue(trace, source, "square")
    assert "[L13]: The global `CACHE` is updated to `{3: 9}`." in monologue


def test_odd_values_keep_the_run_going_and_their_places_named(tracer):
    """A list that holds itself, tuple keys, slots set late, and an object whose class is
    changed to one with a repr of its own: the run goes on undisturbed (the tracer's own
    reading of a value must never raise in the user's code) and places are named where
    they can be."""
    source = (
        "class Plain:\n"
        "    pass\n"
        "\n"
        "class Fancy:\n"
        "    def __repr__(self):\n"
        "        return 'Fancy!'\n"
        "\n"
        "class Slotted:\n"
        "    __slots__ = ('a', 'b')\n"
        "\n"
        "def f():\n"
        "    a = [0] * 30\n"
        "    a.append(a)\n"
        "    a[20] = -1\n"                                  # 14
        "    d = {(i, i): [i] for i in range(30)}\n"
        "    d[(7, 7)].append(1)\n"                         # 16
        "    p = Plain()\n"
        "    p.__dict__.update({'x%d' % i: i for i in range(30)})\n"
        "    p.x20 = 'changed'\n"                           # 19
        "    p.__class__ = Fancy\n"                         # 20
        "    p.x21 = 0\n"                                   # 21: behind its own repr
        "    s = [Slotted() for _ in range(20)]\n"
        "    s[12].b = [1]\n"                               # 23
        "    s[12].b.append(2)\n"                           # 24
        "    q = Plain()\n"
        "    q.__class__ = Other\n"                          # 26: the same attributes, another class
        "    return len(a)\n"
        "\n"
        "class Other:\n"
        "    pass\n")
    trace = tracer.trace_call(source, "f()", limits=Limits(max_repr=60))
    assert trace["status"] == "ok" and trace["return"]["repr"] == "31", trace["message"]
    changes = changes_by_line(trace, "f")
    assert changes[26] == {"q": "<Other object>"}
    assert changes[14] == {"a[20]": "-1"}
    assert changes[16] == {"d[(7, 7)]": "[7, 1]"}
    assert changes[19] == {"p.x20": "'changed'"} and changes[20] == {"p": "Fancy!"}
    assert changes[21] == {"p.x21": "0"}  # (Fancy's __repr__ is the traced file's: see below)
    assert changes[23] == {"s[12].b": "[1]"} and changes[24] == {"s[12].b": "[1, 2]"}


def test_a_tracer_that_fails_stops_recording_and_leaves_the_run_alone():
    """Whatever goes wrong inside the trace function (here: the repr of one value raises,
    as a bug of ours would) must not become an exception of the user's code: the tracer
    stops recording, the call returns its own value, and the result says why the trace
    stops early. The run's own limits (MemoryError, RecursionError) still pass through."""
    import ast as ast_module

    from semcoder_inference.tracer import child, line_tracer

    source = "def f(n):\n    a = n + 1\n    b = 'boom'\n    c = a * 2\n    return c\n"
    namespace = {"__name__": "m"}
    exec(compile(source, "<t>", "exec"), namespace)

    def traced(failure):
        state = child.RunState({"limits": Limits().as_request(), "filename": "<t>", "mode": "call"}, "/", -1)
        state.loops = line_tracer.loop_map(line_tracer.loop_table(ast_module.parse(source)))
        real = state.repr

        class Broken:
            budget, max_len = real.budget, real.max_len

            def __call__(self, value, max_len=None):
                if value == "boom":
                    raise failure
                return real(value, max_len)

            def ends(self, value):
                return self(value)

        state.repr = Broken()
        tracer = line_tracer.LineTracer(state)
        sys.settrace(tracer.on_call)
        try:
            value = eval("f(1)", namespace)
        finally:
            sys.settrace(None)
        return state, value

    state, value = traced(TypeError("a bug of ours"))
    assert value == 4  # the call ran to its end, untraced once line 3's change was to be read
    assert [(e["line"], e["changes"]) for e in state.events if e["kind"] == "line"] == [(2, {"a": "2"}), (3, {})]
    result = state.result("ok", "returned 4")
    assert result["trace_stopped"] == "the tracer could not go on (TypeError: a bug of ours); the run went on untraced"
    assert "| | **trace stopped early**: the tracer could not go on" in render_table(result).replace("|  |", "| |")
    with pytest.raises(MemoryError):
        traced(MemoryError())


def test_a_metaclass_that_answers_for_its_classes_changes_nothing(tracer):
    """A metaclass whose `__getattribute__` refuses `__repr__`, `__name__`, `__mro__` and
    `__dict__`: the tracer reads a class through `type`'s own descriptors, so the run is
    traced as any other (before, the metaclass's error became the run's)."""
    source = (
        "class Meta(type):\n"
        "    def __getattribute__(cls, name):\n"
        "        if name in ('__repr__', '__name__', '__mro__', '__dict__'):\n"
        "            raise ValueError('no ' + name)\n"
        "        return super().__getattribute__(name)\n"
        "\n"
        "class Odd(metaclass=Meta):\n"
        "    __slots__ = ('__secret', 'b')\n"
        "\n"
        "    def __init__(self):\n"
        "        self.__secret = 1\n"
        "        self.b = [2]\n"
        "\n"
        "def f():\n"
        "    o = Odd()\n"
        "    o.b.append(3)\n"
        "    return 1\n")
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "ok" and "trace_stopped" not in trace, trace["message"]
    changes = changes_by_line(trace, "f")
    assert changes[15] == {"o": "<Odd __secret=1, b=[2]>"} and changes[16] == {"o": "<Odd __secret=1, b=[2, 3]>"}


def test_a_local_holding_many_containers_remembers_only_its_first_ones(tracer):
    """A local's nodes are bounded (4500 elements, each container counting 30 more), so a
    line's diff stays cheap however many containers it holds: a dict of 500 one-item lists
    remembers its first 128. A change in one of those is listed by its place; one in a list
    past them goes unseen while the dict's text does not show it. A flat list of 1000 atoms
    is remembered whole; so is a 50 x 50 grid, every cell of which a line may change."""
    source = (
        "def f():\n"
        "    d = {k: [k] for k in range(500)}\n"
        "    d[20].append(-20)\n"              # 3: remembered
        "    d[400].append(-400)\n"             # 4: past the budget, not in the text
        "    xs = list(range(1000))\n"
        "    xs[500] = -1\n"                    # 6
        "    return len(d)\n")
    trace = tracer.trace_call(source, "f()")
    changes = changes_by_line(trace, "f")
    assert changes[3] == {"d[20]": "[20, -20]"} and changes[4] == {}
    assert changes[6] == {"xs[500]": "-1"}
    grid = ("def f(n):\n    dp = [[0] * n for _ in range(n)]\n    for i in range(n):\n        dp[i][i] = i + 1\n"
            "    dp[n - 1][0] = -7\n    return dp[n - 1]\n")
    trace = tracer.trace_call(grid, "f(50)")
    cells = [e["changes"] for e in line_events(trace, "f") if e["line"] == 4]
    assert list(cells[0]) == ["dp"]  # (the first row, which the cut text shows)
    assert cells[1:] == [{f"dp[{i}][{i}]": str(i + 1)} for i in range(1, 50)]
    assert changes_by_line(trace, "f")[5] == {"dp[49][0]": "-7"}


def test_a_deleted_name_is_forgotten_and_its_object_goes_when_the_code_lets_it_go(tracer):
    """`del x` leaves the snapshot too: the name bound again to an equal value is a change,
    and the object is not kept alive by the trace (its `__del__` runs where it would, before
    the next line's own output)."""
    source = ("class D:\n    def __del__(self):\n        print('deleted')\n\n"
              "def f():\n    b = 3\n    del b\n    b = 3\n    d = D()\n    del d\n    print('after del')\n    return b\n\n"
              "g = 1\n\ndef h():\n    global g\n    g = 5\n    del g\n    g = 5\n    return 1\n")
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "ok", trace["message"]
    changes = changes_by_line(trace)
    assert changes[6] == {"b": "3"} and changes[8] == {"b": "3"}
    assert trace["stdout"] == "deleted\nafter del\n"
    globals_trace = tracer.trace_call(source, "h()")
    rebound = {e["line"]: e.get("globals") for e in line_events(globals_trace)}
    assert rebound[18] == {"g": "5"} and rebound[20] == {"g": "5"}, rebound


def test_a_caught_recursion_error_leaves_the_rest_of_the_call_traced(tracer):
    """At the recursion limit the trace function's own calls cross it first. Raised there,
    the error turned tracing off for good (the interpreter does that to a trace function
    that raises): nothing after the `except` was traced, and the code caught the tracer's
    error ("... in comparison"), not its own. Now the frames too deep to trace go untraced,
    as past max_depth, and the code meets the limit itself."""
    source = ("def deep(n):\n    return deep(n + 1)\n\n"
              "class T:\n    def go(self, n):\n        return self.go(n + 1)\n\n"
              "def f(which):\n    try:\n        deep(0) if which == 0 else T().go(0)\n"
              "    except RecursionError as e:\n        msg = str(e)\n    x = 1\n    y = [x]\n    return msg, y\n")
    for which in (0, 1):
        for limit in (300, 1000):
            trace = tracer.trace_call(source, f"f({which})", limits=Limits(recursion_limit=limit))
            assert trace["status"] == "ok", trace["message"]
            assert trace["return"]["repr"] == "('maximum recursion depth exceeded', [1])"
            changes = changes_by_line(trace, "f")
            assert changes[13] == {"x": "1"} and changes[14] == {"y": "[1]"}, changes
            assert trace["events"][-1]["kind"] == "return" and trace["events"][-1]["depth"] == 0
            assert trace["truncated"]["depth"] is True and "trace_stopped" not in trace


def test_the_standard_library_s_containers_are_walked_like_the_builtins(tracer):
    """A deque, OrderedDict, defaultdict or Counter has a library's repr, cut at its end: a
    change past the cut (a BFS queue's append, the 30th key's list) went unseen. They are
    walked like lists and dicts now, so such a change is listed by its place."""
    source = (
        "from collections import Counter, OrderedDict, defaultdict, deque\n"
        "def f():\n"
        "    q = deque(range(40))\n"
        "    q.append(99)\n"                          # 4: appended, past the cut text
        "    q[35] = -5\n"                            # 5
        "    o = OrderedDict((i, i) for i in range(40))\n"
        "    o[20] = 'x'\n"                           # 7
        "    g = defaultdict(list)\n"
        "    for k in range(30):\n"
        "        g[k].append(k)\n"
        "    g[29].append(-1)\n"                      # 11
        "    c = Counter({i: 100 - i for i in range(40)})\n"
        "    c[35] -= 1\n"                            # 13: its order stays, past the cut
        "    return len(q)\n")
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "ok", trace["message"]
    changes = changes_by_line(trace, "f")
    assert changes[4] == {"q[40]": "99"} and changes[5] == {"q[35]": "-5"}
    assert changes[7] == {"o[20]": "'x'"}
    assert changes[11] == {"g[29]": "[29, -1]"}
    assert changes[13] == {"c[35]": "64"}


def test_tracing_turned_off_by_the_code_is_said_not_passed_over(tracer):
    """`sys.settrace(None)` in the traced code (or a trace function of its own) ends the
    trace there: the result says so, rather than read as a call whose last lines did
    nothing."""
    source = ("import sys\n\ndef f():\n    a = 1\n    sys.settrace(None)\n    b = 2\n    return a + b\n\n"
              "def g():\n    sys.settrace(lambda *args: None)\n    c = 3\n    return c\n")
    for call in ("f()", "g()"):
        trace = tracer.trace_call(source, call)
        assert trace["status"] == "ok", trace["message"]
        assert trace["trace_stopped"].startswith("tracing was turned off during the call"), call
    assert [e["line"] for e in line_events(tracer.trace_call(source, "f()"))] == [4, 5]
    plain = tracer.trace_call("def h():\n    return 1\n", "h()")
    assert "trace_stopped" not in plain


def test_a_generator_function_s_call_is_drawn_so_its_body_shows(tracer):
    """Calling a generator function runs none of its body: the trace showed only that a
    generator was made. Now it is drawn as list() would draw it (up to DRAWN_MAX items: one
    may never end), and the trace shows the body's steps and what it yielded. An assert's
    call keeps its own value, the generator, as the assert compares it."""
    import jsonschema

    from semcoder_inference.tracer import schema

    source = ("def squares(n):\n    for i in range(n):\n        sq = i * i\n        yield sq\n\n"
              "def naturals():\n    n = 0\n    while True:\n        yield n\n        n += 1\n")
    trace = tracer.trace_call(source, "squares(3)")
    assert trace["status"] == "ok" and trace["drawn"] == {"items": 3, "ended": True}
    assert trace["return"] == {"repr": "[0, 1, 4]", "literal": True} and trace["message"] == "yielded [0, 1, 4]"
    assert [e["value"] for e in trace["events"] if e.get("yield")] == ["0", "1", "4"]
    assert [e["changes"] for e in line_events(trace) if e["line"] == 3] == [{"sq": "0"}, {"sq": "1"}, {"sq": "4"}]
    assert render_monologue(trace, source).endswith("The return value of `list(squares(3))` is `[0, 1, 4]`.")
    assert render_table(trace, source).endswith("| | the generator, drawn with `list()`: `[0, 1, 4]` |".replace("| |", "|  |"))
    endless = tracer.trace_call(source, "naturals()")
    assert endless["status"] == "ok" and endless["drawn"] == {"items": 1000, "ended": False}
    assert endless["truncated"]["return"] is True and endless["message"].endswith(
        "and more (only its first 1000 items were drawn)")
    for run in (trace, endless):
        schema.check(run)
        jsonschema.validate(run, schema.json_schema())
    asserted = tracer.check_assert(source, "squares(3)", "[0, 1, 4]")
    assert "drawn" not in asserted and asserted["assertion"]["passed"] is False  # a generator is no list


def test_a_hash_seed_fixes_the_order_of_sets_of_strings(monkeypatch):
    source = ("import os, sys\n\ndef f():\n    return list({'apple', 'kiwi', 'plum', 'fig', 'pear', 'lime', 'date'})\n\n"
              "def flags():\n    return [sys.flags.no_user_site, sys.flags.ignore_environment,\n"
              "            sorted(k for k in os.environ if k.startswith('PYTHON')), [p for p in sys.path if 'evil' in p]]\n")
    # the server's own PYTHON* variables still never reach a run (nor the seed's: runs get an environment of their own)
    monkeypatch.setenv("PYTHONPATH", "/tmp/evil")
    monkeypatch.setenv("PYTHONSTARTUP", "/tmp/evil.py")
    orders = {}
    for seed in (7, 7, 8):
        with Tracer(workers=1, hash_seed=seed) as tracer:
            orders.setdefault(seed, []).append(tracer.trace_call(source, "f()")["return"]["repr"])
            assert tracer.trace_call(source, "flags()")["return"]["repr"] == "[1, 0, [], []]"
    assert orders[7][0] == orders[7][1] and orders[7][0] != orders[8][0]
    # without one, every zygote draws its own, as Python does, and the interpreter runs with -I
    with Tracer(workers=1) as tracer:
        assert tracer.trace_call(source, "flags()")["return"]["repr"] == "[1, 1, [], []]"
    for bad in (-1, 2**32, 1.5, True, "7"):
        with pytest.raises(SemcoderError, match="hash_seed must be a whole number"):
            Tracer(hash_seed=bad)


def test_closing_the_tracer_under_a_run_says_so():
    """A server shutting down closes its tracer while a run may be going on: that run
    raised OSError "Bad file descriptor" (logged as the tracer failing), or was reported as
    a broken worker being replaced. It says what happened, and no worker is started."""
    import threading
    import time

    from semcoder_inference.tracer import TracerError

    tracer = Tracer(workers=1)
    tracer.trace_call("def f():\n    return 1\n", "f()")
    outcome = {}

    def run():
        try:
            outcome["trace"] = tracer.trace_call("def f():\n    while True:\n        pass\n", "f()")
        except BaseException as exc:  # noqa: BLE001 (what is raised is what the test checks)
            outcome["raised"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.5)
    tracer.close()
    thread.join(15)
    raised = outcome.get("raised")
    assert isinstance(raised, TracerError) and str(raised) == "The tracer was closed while this run was going on."
    assert tracer.worker_pids == []
