"""The sandbox as most people run it: as a user other than root. The kernel then applies
RLIMIT_NPROC = 0 to a run (root is exempt), which refuses processes and threads alike,
whatever route the code takes. When the tests run as root, these checks run the tracer in
a child process as `nobody`, on a copy of the tracer's package that `nobody` can read."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOBODY = 65534

CHECK = """
import json, sys
sys.path.insert(0, sys.argv[1])
from semcoder_inference.tracer import Tracer
THREADS = "import threading\\ndef f():\\n    t = threading.Thread(target=print)\\n    t.start()\\n    t.join()\\n"
out = {}
for isolation in ("auto", "audit"):
    with Tracer(workers=1, isolation=isolation) as tracer:
        trace = tracer.trace_call(THREADS, "f()")
        info = tracer.isolation_info
        out[isolation] = {"status": trace["status"], "message": trace["message"],
                          "plain": tracer.trace_call("def f():\\n    return 6 * 7\\n", "f()")["message"],
                          "namespaces": info["namespaces"], "pid_namespace": info["pid_namespace"]}
print(json.dumps(out))
"""


def _readable_by_everyone(path: str) -> bool:
    """Whether every folder up to `path` can be searched, and the file read, by others."""
    target = Path(path).resolve()
    for part in [target, *target.parents]:
        mode = part.stat().st_mode
        if part.is_dir() and not mode & 0o001:
            return False
    return bool(target.stat().st_mode & 0o004)


def _interpreter_for_nobody() -> str:
    for candidate in (sys.executable, shutil.which("python3"), "/usr/bin/python3"):
        if candidate and os.path.exists(candidate) and _readable_by_everyone(candidate):
            return candidate
    raise AssertionError("no Python 3 interpreter that the user nobody can run (for example /usr/bin/python3); "
                         "this test runs the sandbox as an unprivileged user")


def _run_check() -> dict:
    if os.geteuid() != 0:  # unprivileged already: the installed package, this Python
        result = subprocess.run([sys.executable, "-c", CHECK, ""], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        return json.loads(result.stdout)
    python = _interpreter_for_nobody()
    folder = tempfile.mkdtemp(prefix="semcoder-unprivileged-")
    try:
        os.chmod(folder, 0o755)
        shutil.copytree(REPO / "inference", Path(folder) / "semcoder_inference",
                        ignore=shutil.ignore_patterns("__pycache__"))
        for root, dirs, files in os.walk(folder):
            for name in dirs + files:
                os.chmod(os.path.join(root, name), 0o755 if name in dirs else 0o644)

        def become_nobody() -> None:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)

        result = subprocess.run([python, "-c", CHECK, folder], capture_output=True, text=True, timeout=120,
                                cwd="/", env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                                preexec_fn=become_nobody)
        assert result.returncode == 0, result.stderr[-2000:]
        return json.loads(result.stdout)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def unprivileged() -> dict:
    return _run_check()


@pytest.mark.parametrize("isolation", ["auto", "audit"])
def test_an_unprivileged_run_can_start_no_thread_and_says_why(unprivileged, isolation):
    got = unprivileged[isolation]
    assert got["plain"] == "returned 42"
    assert got["status"] == "exception"
    assert got["message"] == (
        "RuntimeError: can't start new thread (the sandbox allows a run no new processes, and for users other "
        "than root the kernel counts threads as processes) at line 4")


def test_an_unprivileged_zygote_enters_a_pid_namespace_with_its_user_namespace(unprivileged):
    assert unprivileged["audit"]["namespaces"] is False and unprivileged["audit"]["pid_namespace"] is False
    assert unprivileged["auto"]["pid_namespace"] is unprivileged["auto"]["namespaces"]
