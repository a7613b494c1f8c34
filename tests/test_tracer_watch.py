"""Tracer.watch_call: the first call of a function traced where the run makes it, whatever
its arguments (objects the run built), with the same sandbox and limits as any run."""

from __future__ import annotations

import json
import re

import pytest

from conftest import BASKET, CRUXEVAL, SHARE
from semcoder_inference.tracer import Limits, Tracer
from semcoder_inference.tracer.schema import conform

SHOP = BASKET + "\n\n" + SHARE + """

if __name__ == "__main__":
    b = Basket([10, 20, 30])
    print("before")
    print(share(b, 2))
    print(share(b, 3))
    print("after")
"""


@pytest.fixture(scope="module")
def tracer():
    with Tracer(workers=1) as t:
        yield t


def test_a_call_with_an_object_is_traced_where_main_makes_it(tracer):
    trace = tracer.watch_call(SHOP, "share", filename="/work/shop.py")
    assert trace["status"] == "ok" and trace["message"] == "returned 30.0"
    assert trace["call"] == "share(<Basket prices=[10, 20, 30]>, 2)" and trace["function"] == "share"
    assert trace["caller_line"] == 20
    assert trace["return"] == {"repr": "30.0", "literal": True}
    assert [(e["kind"], e["line"], e["depth"], e["function"]) for e in trace["events"]] == [
        ("call", 12, 0, "share"),
        ("line", 13, 0, "share"),
        ("call", 5, 1, "Basket.total"),
        ("line", 6, 1, "Basket.total"), ("line", 7, 1, "Basket.total"), ("line", 8, 1, "Basket.total"),
        ("line", 7, 1, "Basket.total"), ("line", 8, 1, "Basket.total"), ("line", 7, 1, "Basket.total"),
        ("line", 8, 1, "Basket.total"), ("line", 7, 1, "Basket.total"), ("line", 9, 1, "Basket.total"),
        ("return", 9, 1, "Basket.total"),
        ("line", 14, 0, "share"),
        ("return", 14, 0, "share"),
    ]
    assert trace["events"][0]["changes"] == {"basket": "<Basket prices=[10, 20, 30]>", "people": "2"}
    assert trace["events"][1]["changes"] == {"each": "30.0"}
    # The run stops when the call returns: nothing after it runs (not even the print of it).
    assert trace["stdout"] == "before\n"
    assert conform(trace) == trace


def test_a_method_by_its_qualified_name_and_a_call_from_one_line(tracer):
    trace = tracer.watch_call(SHOP, "Basket.total", filename="/work/shop.py")
    assert trace["status"] == "ok" and trace["call"] == "Basket.total(<Basket prices=[10, 20, 30]>)"
    assert trace["caller_line"] == 13  # share calls it
    assert trace["stdout"] == "before\n"
    assert [e["changes"] for e in trace["events"] if e["line"] == 8] == [{"t": "10"}, {"t": "30"}, {"t": "60"}]
    # A method's name alone is another function: nothing of that name is called.
    missing = tracer.watch_call(SHOP, "total", filename="/work/shop.py")
    assert missing["status"] == "invalid" and missing["message"] == "running the module never called total"
    # The second call, from its own line: the first one ran untraced.
    second = tracer.watch_call(SHOP, "share", filename="/work/shop.py", from_line=21)
    assert second["call"] == "share(<Basket prices=[10, 20, 30]>, 3)" and second["return"]["repr"] == "20.0"
    assert second["caller_line"] == 21 and second["stdout"] == "before\n30.0\n"
    assert {e["function"] for e in second["events"]} == {"share", "Basket.total"}
    assert second["events"][0]["changes"]["people"] == "3"


def test_an_entry_point_instead_of_main(tracer):
    trace = tracer.watch_call(SHOP, "share", filename="/work/shop.py", entry="share(Basket([4]), 4)")
    assert trace["status"] == "ok" and trace["call"] == "share(<Basket prices=[4]>, 4)"
    assert trace["caller_line"] is None  # called from the entry point, not from the file
    assert trace["return"]["repr"] == "1.0" and trace["stdout"] == ""
    # The call describes the values, each cut at max_repr characters as in events.
    big = tracer.watch_call(SHOP, "share", filename="/work/shop.py", entry="share(Basket(list(range(10 ** 4))), 1)")
    assert big["status"] == "ok" and big["call"].startswith("share(<Basket prices=[0, 1, 2,")
    assert len(big["call"]) <= len("share(, 1)") + Limits().max_repr


def test_a_call_that_raises_reports_the_exception_even_when_the_caller_catches_it(tracer):
    caught = "    try:\n        share(b, 0)\n    except ZeroDivisionError:\n        pass\n"
    source = SHOP.replace("    print(share(b, 2))\n", caught)
    trace = tracer.watch_call(source, "share", filename="/work/shop.py")
    assert trace["status"] == "exception"
    assert trace["message"] == "ZeroDivisionError: division by zero at line 13"
    assert trace["exception"]["type"] == "ZeroDivisionError" and trace["exception"]["line"] == 13
    assert [f["function"] for f in trace["exception"]["traceback"]] == ["share"]
    assert trace["events"][-1]["kind"] == "exception" and trace["events"][-1]["function"] == "share"


def test_exceptions_inside_the_call_that_it_handles_are_not_its_result(tracer):
    source = ("def f(box):\n    try:\n        box['missing']\n    except KeyError:\n        pass\n"
              "    return len(box)\n\nf(dict(a=1))\n")
    trace = tracer.watch_call(source, "f", filename="/work/m.py")
    assert trace["status"] == "ok" and trace["return"]["repr"] == "1" and trace["exception"] is None
    assert [e["kind"] for e in trace["events"]].count("exception") == 1


def test_never_called_and_failing_before_the_call(tracer):
    source = "def f(x):\n    return x\n\nif __name__ == '__main__':\n    print('no call')\n"
    trace = tracer.watch_call(source, "f", filename="/work/m.py")
    assert trace["status"] == "invalid" and trace["message"] == "running the module never called f"
    assert trace["stdout"] == "no call\n" and trace["call"] is None and trace["caller_line"] is None
    trace = tracer.watch_call(source, "f", filename="/work/m.py", entry="print('entry')")
    assert trace["message"] == "running the entry point never called f"
    trace = tracer.watch_call(source, "f", filename="/work/m.py", from_line=5)
    assert trace["message"] == "running the module never called f from line 5"
    failing = source.replace("print('no call')", "{}['k']\n    f(object())")
    trace = tracer.watch_call(failing, "f", filename="/work/m.py")
    # (the key keeps its quotes, as in Python's traceback: see test_tracer_messages.py)
    assert trace["status"] == "exception" and trace["message"] == "KeyError: 'k' at line 5, before f was called"


def test_a_script_sees_no_arguments_of_ours_and_its_exit_is_said(tracer):
    script = ("import argparse, sys\n\ndef f(n):\n    return n * 2\n\nif __name__ == '__main__':\n"
              "    print(sys.argv)\n    parser = argparse.ArgumentParser()\n"
              "    parser.add_argument('--n', type=int, default=3)\n    print(f(parser.parse_args().n))\n")
    trace = tracer.watch_call(script, "f", filename="/work/tool.py")
    assert trace["status"] == "ok" and trace["call"] == "f(3)" and trace["stdout"] == "['/work/tool.py']\n"
    assert [c["call"] for c in tracer.record_calls(script, "f", filename="/work/tool.py")] == ["f(3)"]
    required = script.replace("'--n', type=int, default=3", "'n', type=int")
    trace = tracer.watch_call(required, "f", filename="/work/tool.py")
    assert trace["message"] == "running the module never called f; it exited with code 2"
    assert trace["exited"] == "code 2"
    assert "the following arguments are required: n" in trace["stderr"]
    assert tracer.record_calls(required, "f", filename="/work/tool.py") == []
    assert tracer.last_record_result["message"] == "recorded 0 calls; it exited with code 2"
    assert tracer.last_record_result["status"] == "ok" and tracer.last_record_result["exited"] == "code 2"
    quiet = script.replace("    print(sys.argv)\n", "    sys.exit()\n")
    clean = tracer.watch_call(quiet, "f", filename="/work/tool.py")
    assert clean["message"] == "running the module never called f" and "exited" not in clean
    assert tracer.record_calls(quiet, "f", filename="/work/tool.py") == []
    assert "exited" not in tracer.last_record_result


SCRIPT = """def solve(lines):
    total = 0
    for line in lines:
        total += int(line)
    return total

if __name__ == "__main__":
    print(open("data/note.txt").read().strip())
    open("result.txt", "w").write("a new file")
    print(open("result.txt").read())
    try:
        open("input.txt", "a").write("clobbered")
    except PermissionError as exc:
        print(exc)
    print(solve(open("input.txt").read().split()))
"""


@pytest.mark.parametrize("isolation", ["auto", "audit"])
def test_a_script_reads_its_folder_and_cannot_change_it(tmp_path, isolation):
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "input.txt").write_text("1\n2\n3\n")
    (project / "data" / "note.txt").write_text("from the project")
    (project / "solve.py").write_text(SCRIPT)
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    with Tracer(workers=1, isolation=isolation) as tracer:
        trace = tracer.watch_call(SCRIPT, "solve", filename=str(project / "solve.py"))
        assert trace["status"] == "ok" and trace["call"] == "solve(['1', '2', '3'])"
        assert trace["stdout"].splitlines() == [
            "from the project", "a new file",
            "the sandbox does not allow writing outside its temporary working directory "
            "(input.txt: the project's file, which runs may only read)"]
        assert [c["call"] for c in tracer.record_calls(SCRIPT, "solve", filename=str(project / "solve.py"))] \
            == ["solve(['1', '2', '3'])"]
        # A replayed call sees the same files, read-only, in a folder of its own.
        replayed = tracer.trace_call(SCRIPT, "solve(open('input.txt').read().split())",
                                     filename=str(project / "solve.py"))
        assert replayed["status"] == "ok" and replayed["return"]["repr"] == "6"
        replayed = tracer.trace_call(SCRIPT, "open('input.txt', 'w')", filename=str(project / "solve.py"))
        assert replayed["status"] == "exception" and replayed["exception"]["type"] == "PermissionError"
        assert "input.txt: the project's file, which runs may only read" in replayed["exception"]["message"]
        replayed = tracer.trace_call(SCRIPT, "open('scratch.txt', 'w').write('x')", filename=str(project / "solve.py"))
        assert replayed["status"] == "ok" and replayed["return"]["repr"] == "1"
        # without a file of its own (a bare source), a run's folder starts empty
        assert tracer.trace_call(SCRIPT, "open('input.txt').read()")["exception"]["type"] == "FileNotFoundError"
    # The project is as it was: nothing written, nothing removed with the run's folder.
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before
    assert (project / "input.txt").read_text() == "1\n2\n3\n"


def test_a_generator_is_traced_across_its_yields(tracer):
    source = ("def gen(items):\n    for item in items:\n        yield item.upper()\n\n"
              "words = iter(['a', 'b'])\nprint(list(gen(words)))\nprint('end')\n")
    trace = tracer.watch_call(source, "gen", filename="/work/g.py")
    assert trace["status"] == "ok" and trace["call"].startswith("gen(<list_iterator")
    yields = [e["value"] for e in trace["events"] if e["kind"] == "return" and e.get("yield")]
    assert yields == ["'A'", "'B'"] and trace["return"]["repr"] == "None"
    assert trace["stdout"] == ""  # it finished inside list(): the print after it did not run
    # resumed, it still reports how it ended
    failing = source.replace("item.upper()", "item.upper() + (1 if item == 'b' else '')")
    trace = tracer.watch_call(failing, "gen", filename="/work/g.py")
    assert trace["status"] == "exception" and trace["exception"]["type"] == "TypeError"
    assert trace["exception"]["line"] == 3 and trace["exception"]["traceback"][0]["function"] == "gen"
    unfinished = source.replace("print(list(gen(words)))", "print(next(gen(words)))")
    trace = tracer.watch_call(unfinished, "gen", filename="/work/g.py")
    assert trace["status"] == "invalid"
    assert trace["message"] == "the call of gen had not finished when the module ended"
    assert trace["stdout"] == "A\nend\n"


ASYNC_SCRIPT = """import asyncio

class Box:
    def __init__(self, n):
        self.n = n

async def bump(box):
    await asyncio.sleep(0)
    box.n += 1
    return box.n * 2

async def main():
    box = Box(3)
    print(await bump(box))

if __name__ == "__main__":
    asyncio.run(main())
"""


def test_an_async_function_is_watched_across_its_awaits(tracer):
    # The event loop resumes the outer coroutine (main) after each await: it is not part
    # of the watched call, and is not traced.
    trace = tracer.watch_call(ASYNC_SCRIPT, "bump", filename="/work/a.py")
    assert trace["status"] == "ok" and trace["call"] == "bump(<Box n=3>)" and trace["caller_line"] == 14
    assert {e["function"] for e in trace["events"]} == {"bump"}
    assert [(e["kind"], e["line"]) for e in trace["events"]] == [("call", 7), ("line", 8), ("line", 9),
                                                                ("line", 10), ("return", 10)]
    assert trace["return"]["repr"] == "8"


def test_limits_hold_inside_the_watched_call():
    source = "def spin(box):\n    n = 0\n    while True:\n        n += 1\n\nspin(object())\n"
    with Tracer(workers=1, limits=Limits(timeout_s=0.5, cpu_s=5)) as tracer:
        trace = tracer.watch_call(source, "spin", filename="/work/spin.py")
    assert trace["status"] == "timeout" and trace["message"].startswith("timed out after 0.5 s at line")
    assert trace["call"] == "spin(<object object>)" and trace["events"]
    # Past the event limit tracing stops, but how the call ended is still known.
    source = ("def burn(box):\n    for i in range(1000):\n        box.append(i)\n    raise ValueError('late')\n\n"
              "try:\n    burn([])\nexcept ValueError:\n    pass\n")
    with Tracer(workers=1, limits=Limits(max_events=50)) as tracer:
        trace = tracer.watch_call(source, "burn", filename="/work/burn.py")
        assert trace["status"] == "exception" and trace["truncated"]["events"] and len(trace["events"]) == 50
        # and writing outside the run's folder is refused as in any run
        refused = tracer.watch_call("def w(p):\n    open(p, 'w')\n\nw('/tmp/semcoder-watch-x')\n", "w",
                                    filename="/work/w.py")
    assert refused["status"] == "exception" and refused["exception"]["type"] == "PermissionError"


def test_watching_a_literal_call_gives_the_replayed_trace_on_all_of_cruxeval(tracer):
    """Traced where it happens or replayed, a call gives the same events: for each CRUXEval
    sample, watch_call with the call as the entry point against trace_call (one zygote, so
    set orders agree; object addresses differ between runs)."""
    address = re.compile(r"0x[0-9a-f]+")
    rows = [json.loads(line) for line in CRUXEVAL.read_text().splitlines() if line.strip()]
    assert len(rows) == 800
    differing = []
    for row in rows:
        call = f"f({row['input']})"
        replayed = tracer.trace_call(row["code"], call, filename="/cruxeval/x.py")
        watched = tracer.watch_call(row["code"], "f", filename="/cruxeval/x.py", entry=call)
        same = (address.sub("0x", json.dumps(replayed["events"])) == address.sub("0x", json.dumps(watched["events"]))
                and replayed["return"] == watched["return"] and replayed["status"] == watched["status"] == "ok")
        if not same:
            differing.append(row["id"])
    assert differing == []
