"""What a review of traced runs found differing from `python file.py`: the recursion limit
(a run got 1050, and met RecursionError 37 to 39 levels deeper than a script), Python 3.8
taken on and failing every import of the standard library as if the code had, a file
starting with a UTF-8 byte order mark refused as "invalid", and complex numbers whose
repr reads back with another sign called literals in a recorded call or a cut return."""

from __future__ import annotations

import ast
import glob
import os
import shutil
import subprocess
import sys

import pytest

from semcoder_inference.errors import SemcoderError
from semcoder_inference.tracer import Limits, Tracer, child
from test_tracer_interpreters import _interpreters


# ---------------------------------------------------------------- the recursion limit

RECURSIVE = """import sys

def d(n):
    try:
        return d(n + 1)
    except RecursionError:
        return n

def f():
    return d(0), sys.getrecursionlimit()

def g(limit):
    sys.setrecursionlimit(limit)
    return f()

def refused():
    out = []
    for bad in (0, 1.5, "7", 2 ** 40, 1):
        try:
            sys.setrecursionlimit(bad)
            out.append("ok")
        except Exception as exc:
            out.append("%s: %s" % (type(exc).__name__, exc))
    return out, sys.getrecursionlimit()

def r(n):
    return r(n + 1)

def done():
    pass
"""
SCRIPT = RECURSIVE + "\nprint(f())\nprint(refused())\nprint(g(300))\ndone()\n"


def _script_run(python, tmp_path, source):
    path = tmp_path / "script.py"
    path.write_text(source)
    return subprocess.run([python, "-I", str(path)], capture_output=True, text=True, timeout=60, cwd=tmp_path)


@pytest.mark.parametrize("python", _interpreters(oldest=9))
def test_a_run_meets_the_recursion_limit_where_a_script_run_does(python, tmp_path):
    """d(0) caught RecursionError at 1037 (1039 on 3.12+) where a script catches it at 997,
    and the run saw a limit of 1050. Now every mode matches the script run: the traced call,
    the module's own top level (untraced), a recorded script (under a profile function)
    and a watched call (profile and trace functions), with the code's own limit too."""
    real = _script_run(python, tmp_path, SCRIPT)
    assert real.returncode == 0, real.stderr
    first, refusals, own = real.stdout.splitlines()
    assert first == "(997, 1000)"
    with Tracer(python=python, workers=1, limits=Limits(timeout_s=10, cpu_s=10)) as tracer:
        assert tracer.trace_call(RECURSIVE, "f()")["return"]["repr"] == first
        assert tracer.trace_call(RECURSIVE, "g(300)")["return"]["repr"] == own
        assert tracer.trace_call(RECURSIVE, "refused()")["return"]["repr"] == refusals
        assert tracer.trace_call(RECURSIVE + "\nX = f()\n", "X")["return"]["repr"] == first
        assert tracer.record_calls(SCRIPT, "done") and tracer.last_record_result["stdout"] == real.stdout
        watched = tracer.watch_call(SCRIPT, "f")
        assert watched["status"] == "ok" and watched["return"]["repr"] == first
        assert "trace_stopped" not in watched

        # A runaway recursion: the same count of repeated lines as Python's traceback.
        runaway = tracer.trace_call(RECURSIVE, "r(0)")
    real = _script_run(python, tmp_path, RECURSIVE + "\nr(0)\n")
    repeated = [line.strip() for line in real.stderr.splitlines() if "Previous line repeated" in line]
    assert runaway["status"] == "exception" and runaway["exception"]["type"] == "RecursionError"
    assert [t["text"] for t in runaway["exception"]["traceback"] if t["line"] is None] == repeated
    # ...and the innermost frame is the call's line, as Python's (the tracer's own refused
    # "call" event of a frame that never began added the `def` line)
    line_of_call = RECURSIVE.splitlines().index("    return r(n + 1)") + 1
    innermost = [t["line"] for t in runaway["exception"]["traceback"] if t["line"] is not None][-1]
    assert runaway["exception"]["line"] == innermost == line_of_call
    assert f'line {line_of_call}, in r' in real.stderr


def test_the_message_and_the_code_s_own_limit(tmp_path):
    """The result names the limit the run had, its own where it set one (it said 1000, the
    tracer's setting); the stand-ins read and set it as the run counts, and look like
    Python's functions."""
    source = RECURSIVE + "\ndef k(limit):\n    sys.setrecursionlimit(limit)\n    return r(0)\n"
    with Tracer(workers=1, limits=Limits(recursion_limit=600)) as tracer:
        assert tracer.trace_call(RECURSIVE, "f()")["return"]["repr"] == "(597, 600)"
        runaway = tracer.trace_call(source, "k(400)")
        assert runaway["message"].startswith("recursion limit of 400 calls reached at line ")
        assert tracer.trace_call(source, "r(0)")["message"].startswith("recursion limit of 600 calls reached")
        names = tracer.trace_call("import sys\ndef f():\n    return sys.getrecursionlimit.__name__, "
                                  "sys.setrecursionlimit.__name__, sys.getrecursionlimit.__module__\n", "f()")
        assert names["return"]["repr"] == "('getrecursionlimit', 'setrecursionlimit', 'sys')"
        # a limit set at the top of the module holds for the call, with the room kept
        top = tracer.trace_call("import sys\nsys.setrecursionlimit(200)\n" + RECURSIVE, "f()")
        assert top["return"]["repr"] == "(197, 200)"


# ---------------------------------------------------------------- interpreters older than 3.9

def _python_3_8():
    """A Python 3.8 interpreter (pyenv's own, not its shim, which needs pyenv's variables)."""
    found = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.8*/bin/python3.8"))) + [shutil.which("python3.8")]
    for path in found:
        if path and subprocess.run([path, "-c", "import sys; assert sys.version_info[:2] == (3, 8)"],
                                   capture_output=True, timeout=20).returncode == 0:
            return path
    return None


@pytest.mark.skipif(_python_3_8() is None, reason="no Python 3.8 installed")
def test_python_3_8_is_refused_with_a_message_that_names_it():
    """On 3.8 every import the zygote had not made (typing, dataclasses, asyncio) failed in
    the run: "exception PermissionError: the sandbox does not allow building code objects
    by hand at line 1", blamed on the user's code. The tracer now says it cannot use it."""
    python = _python_3_8()
    with Tracer(python=python, workers=1) as tracer:
        with pytest.raises(SemcoderError) as raised:
            tracer.trace_call("import typing\n\ndef f():\n    return 1\n", "f()")
    message = str(raised.value)
    assert python in message and "3.8." in message and "3.9 or newer" in message
    assert tracer.worker_pids == []  # its zygote is gone


# ---------------------------------------------------------------- a byte order mark

BOM_SOURCE = ("\ufeffdef f(x):\n    y = x + 1\n    return y\n\n"
              "if __name__ == '__main__':\n    print(f(1))\n")


def test_a_source_with_a_byte_order_mark_runs_as_python_runs_it(tmp_path):
    """A file saved with a UTF-8 byte order mark runs under `python file.py`; the tracer
    said "invalid" (the source has a syntax error at line 1: invalid non-printable
    character U+FEFF). The mark is no part of the program: the lines stay as they are."""
    path = tmp_path / "marked.py"
    path.write_bytes(BOM_SOURCE.encode("utf-8"))
    real = subprocess.run([sys.executable, "-I", str(path)], capture_output=True, text=True, timeout=60)
    assert real.returncode == 0 and real.stdout == "2\n", real.stderr
    with Tracer(workers=1) as tracer:
        plain = tracer.trace_call(BOM_SOURCE[1:], "f(1)")
        for filename in (None, str(path)):
            traced = tracer.trace_call(BOM_SOURCE, "f(1)", filename=filename)
            assert traced["status"] == "ok" and traced["return"]["repr"] == "2", traced["message"]
            assert traced["events"] == plain["events"]
            calls = tracer.record_calls(BOM_SOURCE, "f", filename=filename)
            assert [(c["call"], c["caller_line"]) for c in calls] == [("f(1)", 6)]
            watched = tracer.watch_call(BOM_SOURCE, "f", filename=filename)
            assert watched["status"] == "ok" and watched["caller_line"] == 6 and watched["stdout"] == ""
            assert watched["events"] == plain["events"]


# ---------------------------------------------------------------- complex literals

# Expressions (their reprs would not do: `(-0-1j)` is another number than -1j).
COMPLEX = ["complex(-0.0, -1.0)", "complex(-0.0, 1.0)", "complex(0.0, -1.0)", "complex(-4.0, -0.0)",
           "complex(1.0, -0.0)", "complex(-0.0, -0.0)", "complex(0.0, -0.0)", "1 + 2j", "0j", "1j",
           "complex(-1.5, 0.0)", "complex(2.5, -3.0)", "-1j"]


def _literal_by_definition(value):
    """Its repr reads back (ast.literal_eval) as an equal value of the same type that prints
    the same: the rule for floats, whose reprs keep their signs. A complex part of -0.0
    reads back as 0.0 (or the other way round) in some places: `(-0-1j)` is 0 - 1j."""
    back = ast.literal_eval(repr(value))
    return type(back) is type(value) and back == value and repr(back) == repr(value)


def test_complex_values_are_literals_by_one_rule_everywhere():
    """A return's `literal` said false for -1j (its repr `(-0-1j)` reads back as
    complex(0.0, -1.0), whose repr is `-1j`), but a cut return of the same values and a
    recorded call's argument said true: replayed, `f((-4-0j))` calls f with
    complex(-4.0, 0.0), on the other side of cmath's branch cuts. All three now agree."""
    values = {text: eval(text) for text in COMPLEX}
    expected = {text: _literal_by_definition(value) for text, value in values.items()}
    assert not expected["complex(-0.0, -1.0)"] and not expected["-1j"] and expected["1 + 2j"]
    for text, value in values.items():
        assert child.is_literal(value) is expected[text], text
        assert child.is_literal([1, value]) is expected[text], text
        assert child.reads_back(value, repr(value), lambda back: repr(back) == repr(value)) is expected[text], text
    source = "def f(v):\n    return v\n\ndef many(v):\n    return [v] * 40\n"
    with Tracer(workers=1, limits=Limits(max_return_repr=64)) as tracer:
        for text in COMPLEX:
            whole = tracer.trace_call(source, f"f({text})")
            assert whole["return"]["literal"] is expected[text], (text, whole["return"])
            cut = tracer.trace_call(source, f"many({text})")
            assert cut["truncated"]["return"] and cut["return"]["literal"] is expected[text], (text, cut["return"])
            calls = tracer.record_calls(source + f"\nf({text})\n", "f")
            assert [(c["literal"], c["args"][0]["literal"]) for c in calls] == [(expected[text], expected[text])], text
