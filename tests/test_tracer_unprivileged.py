"""The sandbox as most people run it: as a user other than root, to whom the kernel applies
RLIMIT_NPROC (root is exempt). It counts processes and threads alike, whatever route the
code takes: without namespaces a run gets 0 (no process, no thread); in the runs' own
user namespace, where the kernel counts only that namespace's processes, it leaves room
for RUN_THREADS threads. When the tests run as root, these checks run the tracer in a
child process as `nobody`, on a copy of the tracer's package that `nobody` can read."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import pytest

from semcoder_inference.tracer.sandbox import RUN_THREADS

REPO = Path(__file__).resolve().parent.parent
NOBODY = 65534

CHECK = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
from semcoder_inference.tracer import Tracer
POOL = ("from concurrent.futures import ThreadPoolExecutor\n"
        "def f():\n"
        "    with ThreadPoolExecutor(4) as pool:\n"
        "        return sorted(pool.map(lambda x: x * x, range(10)))\n")
# as many threads as it can start, all alive at once; then too many, uncaught
MOST = ("import threading\n"
        "def f(catch):\n"
        "    gate, started = threading.Event(), []\n"
        "    try:\n"
        "        for _ in range(100):\n"
        "            started.append(threading.Thread(target=gate.wait))\n"
        "            started[-1].start()\n"
        "    except RuntimeError:\n"
        "        if not catch:\n"
        "            raise\n"
        "    gate.set()\n"
        "    return len(started) - 1\n")
SPAWN = ("import _imp, os, sys\n"
         "def f():\n"
         "    spec = type(sys.modules['os'].__spec__)('_posixsubprocess', None, origin='built-in')\n"
         "    fork_exec = _imp.create_builtin(spec).fork_exec\n"
         "    r, w = os.pipe()\n"
         "    return fork_exec([b'/bin/sleep', b'4243'], [b'/bin/sleep'], True, (w,), None, None, -1, -1, -1, -1,"
         " -1, -1, r, w, True, True, -1, None, None, None, -1, None, False)\n")


def sleepers():
    found = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as fh:
                found += fh.read() == b"/bin/sleep\x004243\x00"
        except OSError:
            pass
    return found


POLICY = "import os\ndef f():\n    return os.sched_getscheduler(0) == os.SCHED_OTHER\n"
out = {}
for isolation in ("auto", "audit"):
    with Tracer(workers=1, isolation=isolation) as tracer:
        pool = tracer.trace_call(POOL, "f()")
        most = tracer.trace_call(MOST, "f(True)")
        too_many = tracer.trace_call(MOST, "f(False)")
        spawn = tracer.trace_call(SPAWN, "f()")
        info = tracer.isolation_info
        out[isolation] = {"pool": pool["message"], "most": most["message"], "too_many": too_many["message"],
                          "spawn": spawn["status"], "spawn_error": (spawn["exception"] or {}).get("type"),
                          "plain": tracer.trace_call("def f():\n    return 6 * 7\n", "f()")["message"],
                          "run_policy": tracer.trace_call(POLICY, "f()")["return"]["repr"],
                          "zygote_in_background": info["zygote_in_background"],
                          "sleepers": sleepers(), "namespaces": info["namespaces"],
                          "pid_namespace": info["pid_namespace"], "read_only_outside": info["read_only_outside"],
                          "own_proc": info["own_proc"], "own_proc_error": info["own_proc_error"],
                          "run_threads": info["run_threads"], "forks_refused": info["forks_refused"],
                          "syscall_filter": info["syscall_filter"],
                          "syscall_filter_error": info["syscall_filter_error"], "landlock": info["landlock"],
                          "landlock_error": info["landlock_error"]}
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


NO_THREAD = ("can't start new thread (the sandbox allows a run no new processes, and for users other than root "
             "the kernel counts threads as processes)")


@pytest.mark.parametrize("isolation", ["auto", "audit"])
def test_an_unprivileged_run_has_the_threads_its_isolation_allows_and_says_so(unprivileged, isolation):
    got = unprivileged[isolation]
    assert got["plain"] == "returned 42"
    if got["run_threads"] == 0:
        # no namespaces (or no PID namespace, or a kernel that counts all of the user's
        # processes): no thread at all, and the message says why
        assert isolation == "audit" or not (got["pid_namespace"] and got["read_only_outside"]), got
        assert got["pool"] == f"RuntimeError: {NO_THREAD} at line 4"
        assert got["most"] == "returned 0"
        assert got["too_many"] == f"RuntimeError: {NO_THREAD} at line 7"
        return
    assert isolation == "auto" and got["pid_namespace"] and got["read_only_outside"]
    assert got["run_threads"] == RUN_THREADS
    assert got["pool"] == "returned [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]"
    assert got["most"] == f"returned {RUN_THREADS}"  # all of them alive at once, and not one more
    assert got["too_many"] == (f"RuntimeError: can't start new thread (the sandbox allows a run at most "
                               f"{RUN_THREADS} threads, and each thread's stack counts towards its memory limit) "
                               "at line 7")


@pytest.mark.parametrize("isolation", ["auto", "audit"])
def test_an_unprivileged_zygote_waits_in_the_background_and_its_runs_do_not(unprivileged, isolation):
    """The zygote is SCHED_BATCH (it never preempts a run or the server on waking up);
    a run switches back to the normal policy, which an unprivileged process may."""
    got = unprivileged[isolation]
    assert got["zygote_in_background"] is True
    assert got["run_policy"] == "True"


def test_an_unprivileged_run_starts_no_program_that_outlives_it(unprivileged):
    """Past the hook (Debian's python3 has _posixsubprocess built in), a program needs a
    process: none where the run's own filter refuses forks (x86-64), nor without
    namespaces; elsewhere it may start, held there, and it is gone once the run has ended."""
    for isolation in ("auto", "audit"):
        got = unprivileged[isolation]
        assert got["forks_refused"] is (os.uname().machine == "x86_64"), got
        if got["spawn"] == "ok":
            assert got["run_threads"] > 0 and not got["forks_refused"], got  # only where RLIMIT_NPROC leaves room
        elif got["forks_refused"]:
            assert got["spawn_error"] in ("PermissionError", "ModuleNotFoundError", "ImportError"), got
        else:
            assert got["spawn_error"] in ("BlockingIOError", "ModuleNotFoundError", "ImportError"), got
        assert got["sleepers"] == 0


def test_an_unprivileged_zygote_installs_the_syscall_filter_and_landlock(unprivileged):
    """No privilege needed: the zygote sets no_new_privs first."""
    audit, auto = unprivileged["audit"], unprivileged["auto"]
    assert audit["syscall_filter"] is False and audit["landlock"] is False  # the audit hook and rlimits alone
    if os.uname().machine == "x86_64":
        assert auto["syscall_filter"] is True, auto["syscall_filter_error"]
    if _landlock_abi() > 0:
        assert auto["landlock"] is True, auto["landlock_error"]


def _landlock_abi() -> int:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return libc.syscall(ctypes.c_long(444), None, ctypes.c_size_t(0), ctypes.c_uint32(1))


def test_an_unprivileged_zygote_enters_a_pid_namespace_with_its_user_namespace(unprivileged):
    assert unprivileged["audit"]["namespaces"] is False and unprivileged["audit"]["pid_namespace"] is False
    assert unprivileged["auto"]["pid_namespace"] is unprivileged["auto"]["namespaces"]
    # and mounts the namespace's own /proc: no privilege needed for that either
    assert unprivileged["audit"]["own_proc"] is False
    assert unprivileged["auto"]["own_proc"] is unprivileged["auto"]["pid_namespace"], unprivileged["auto"]["own_proc_error"]


@pytest.mark.parametrize("release, per_namespace", [
    ("6.18.44-fc-v782", True), ("5.15.0-1053-azure", True), ("5.14.0", True), ("5.13.19-2-pve", False),
    ("4.19.0-26-amd64", False), ("6.1.0-rc7", True), ("5", False), ("garbage", False)])
def test_threads_are_allowed_only_on_kernels_that_count_processes_per_namespace(monkeypatch, release, per_namespace):
    from semcoder_inference.tracer import sandbox

    monkeypatch.setattr(os, "uname", lambda: types.SimpleNamespace(release=release))
    monkeypatch.setattr(sys, "platform", "linux")
    assert sandbox.counts_processes_per_namespace() is per_namespace
