"""`semcoder trace` as a user meets it (review 27): the outcome of a long run, a --call that
is not a call, a failed --expect, --record/--watch options, limits given as flags, Ctrl-C.
Every test runs the real command in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHAPES = REPO / "examples" / "shapes.py"

LOOPS = """def total(n):
    s = 0
    for i in range(n):
        s += i
    return s

def bad(n):
    s = 0
    for i in range(n):
        s += i
    return s / 0

def loop():
    while True:
        pass
"""


def trace(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "semcoder_inference.cli", "trace", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)


@pytest.fixture
def loops(tmp_path) -> Path:
    path = tmp_path / "loops.py"
    path.write_text(LOOPS)
    return path


def _usage_error(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, done.stderr


def test_the_outcome_of_a_long_run_is_never_cut_from_the_table(loops):
    done = trace(str(loops), "--call", "bad(50)")
    assert done.returncode == 1
    rows = done.stdout.splitlines()
    assert len(rows) <= 2 + 40 + 1  # header, at most 40 rows, the cut row
    # the exception, where it was raised and as the run's status, ends the table
    assert rows[-2] == "| 11 | raises `ZeroDivisionError: division by zero` |"
    assert rows[-1].endswith("**exception**: ZeroDivisionError: division by zero at line 11 |")
    cut = [row for row in rows if row.startswith("| … |")]
    assert len(cut) == 1 and "more steps left out here (lines 9–10)" in cut[0], cut
    # the steps just before the outcome are shown too, after the cut
    assert rows.index(cut[0]) < rows.index("| 10 `s += i` | `s = 1225` (iteration 50) |")

    ok = trace(str(loops), "--call", "total(50)")
    assert ok.returncode == 0
    assert ok.stdout.splitlines()[-1] == "| 5 | return `1225` |"


def test_a_call_of_a_builtin_shows_its_value_and_an_expression_is_no_call():
    done = trace(str(SHAPES), "--call", "len([1, 2])")
    assert done.returncode == 0
    assert "**returned**: `2`" in done.stdout
    # trace and predict agree on what --call may be, and say it with the same words
    refused = trace(str(SHAPES), "--call", "1+2")
    _usage_error(refused, "--call '1+2' is not a call; write it as \"f(1, 2)\".")
    predicted = subprocess.run([sys.executable, "-m", "semcoder_inference.cli", "predict", str(SHAPES), "--call", "1+2"],
                               capture_output=True, text=True, timeout=120, cwd=REPO)
    _usage_error(predicted, "--call '1+2' is not a call; write it as \"f(1, 2)\".")


def test_a_failed_expectation_says_what_was_expected_and_what_came(loops):
    done = trace(str(loops), "--call", "total(3)", "--expect", "4")
    assert done.returncode == 1
    assert "**assertion FAILED**: expected 4, got 3" in done.stdout
    assert "assertion FAILED: expected 4, got 3" in done.stdout.splitlines()[-1]
    raised = trace(str(loops), "--call", "total(3)", "--expect", "nosuch", "--monologue")
    assert raised.returncode == 1
    assert raised.stdout.rstrip().endswith(
        "The expectation fails: the expectation raised NameError: name 'nosuch' is not defined.")


def test_record_says_why_it_failed_and_refuses_odd_counts():
    done = trace(str(SHAPES), "--record", "circle_area")
    assert done.returncode == 1 and done.stdout == "circle_area(2, 'm')\n"
    assert "AssertionError: a == c should be isosceles" in done.stderr
    for count in ("0", "-3"):
        _usage_error(trace(str(SHAPES), "--record", "circle_area", "--max-calls", count), "--max-calls must be at least 1")
    schema_help = subprocess.run([sys.executable, "-m", "semcoder_inference.cli", "trace", "--help"],
                                 capture_output=True, text=True, timeout=60).stdout
    assert "--record --json prints {calls, status, message}" in " ".join(schema_help.split())


def test_watch_and_call_refuse_options_they_would_ignore():
    _usage_error(trace(str(SHAPES), "--watch", "triangle_kind", "--from-line", "9999"),
                 "--from-line 9999 is not a line of", "(it has 61 lines)")
    _usage_error(trace(str(SHAPES), "--watch", "triangle_kind", "--from-line", "-1"), "--from-line -1 is not a line")
    for extra in (["--entry", "main()"], ["--max-calls", "3"], ["--from-line", "3"]):
        _usage_error(trace(str(SHAPES), "--call", "to_cm(1, 'm')", *extra), f"{extra[0]} goes with")
    # a line that makes no call of it: the message does not claim the function was never called
    done = trace(str(SHAPES), "--watch", "triangle_kind", "--from-line", "59")
    assert done.returncode == 1
    assert "before triangle_kind was called from line 59" in done.stdout


@pytest.mark.parametrize("flag, value", [
    ("--timeout", "nan"), ("--timeout", "inf"), ("--timeout", "1e300"), ("--cpu-seconds", "nan"),
    ("--cpu-seconds", "inf"), ("--cpu-seconds", "1e300"), ("--recursion-limit", "1"), ("--memory-mb", "0"),
])
def test_limits_are_checked_up_front_and_named_by_their_flags(flag, value):
    done = trace(str(SHAPES), "--call", "to_cm(1, 'm')", flag, value)
    _usage_error(done, f"The tracer limit {flag} must be")
    assert "_s=" not in done.stderr and "crashed" not in done.stdout


def test_binary_files_and_missing_workspaces_are_refused(tmp_path):
    nul = tmp_path / "nul.py"
    nul.write_bytes(b"def f(x):\n    return x\n\x00\n")
    _usage_error(trace(str(nul), "--call", "f(1)"), "holds a NUL byte")
    _usage_error(trace(str(SHAPES), "--call", "to_cm(1, 'm')", "--workspace", str(tmp_path / "nowhere")),
                 "is not a folder")


@pytest.mark.parametrize("to_group", [True, False])
def test_ctrl_c_stops_a_trace_at_once(loops, to_group):
    """SIGINT (to the process group, as a terminal's Ctrl-C, or to the CLI alone) ends the run
    now, the sandbox's processes with it, with `semcoder: interrupted` and exit status 130."""
    psutil = pytest.importorskip("psutil")
    proc = subprocess.Popen([sys.executable, "-m", "semcoder_inference.cli", "trace", str(loops), "--call", "loop()",
                             "--timeout", "30", "--cpu-seconds", "30"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        sandbox = []
        while time.monotonic() < deadline:  # wait for the run itself to be going
            sandbox = psutil.Process(proc.pid).children(recursive=True)
            if len(sandbox) >= 2:  # the zygote and the run (and, with namespaces, the process between)
                break
            time.sleep(0.1)
        time.sleep(1.0)
        sent = time.monotonic()
        if to_group:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=25)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, (out, err)
    assert err.strip().endswith("semcoder: interrupted") and "timeout" not in out
    assert took < 1.8, took  # (closing the sandbox politely took 2 s and more)
    time.sleep(0.3)
    assert not [p for p in sandbox if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
