"""What the zygote asks of the kernel through _confine (inference/tracer/_confine.c), checked
call by call in probe processes of their own, with no audit hook and no namespaces: what
the kernel alone then refuses. test_tracer_limits checks that zygotes and runs are held so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from semcoder_inference.tracer import _confine

ON_X86_64 = sys.platform.startswith("linux") and os.uname().machine == "x86_64"

NO_FORKS = r"""
import ctypes, json, os, subprocess, sys, threading
from semcoder_inference.tracer import _confine
sys.path.insert(0, sys.argv[-1])
from kernel_probes import outcome

libc = ctypes.CDLL(None, use_errno=True)


def raw(number, *args):
    result = libc.syscall(ctypes.c_long(number), *[ctypes.c_long(a) for a in args])
    if result == 0:  # a new process, were it let through: it must not go on as this probe
        os._exit(0)
    if result > 0:
        os.waitpid(result, 0)
        return "allowed"
    return __import__("errno").errorcode[ctypes.get_errno()]


def fork():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)


def a_thread():
    box = []
    thread = threading.Thread(target=lambda: box.append(1))
    thread.start()
    thread.join()
    assert box == [1]


got = {"before: fork": outcome(fork)}
_confine.no_forks()
got["fork"] = outcome(fork)
got["clone, as fork does"] = raw(56, 17, 0, 0, 0, 0)  # SIGCHLD: a new process
got["clone, as posix_spawn does"] = raw(56, 0x100 | 0x4000 | 17, 0, 0, 0, 0)  # CLONE_VM | CLONE_VFORK
got["fork system call"] = raw(57)
got["x32 fork"] = raw(0x40000000 | 57)
got["clone3"] = raw(435, 0, 0)  # a size of 0: EINVAL, were it let through
got["posix_spawn"] = outcome(lambda: os.posix_spawn("/bin/true", ["true"], {}))
got["subprocess"] = outcome(lambda: subprocess.run(["/bin/true"]))
got["thread"] = outcome(a_thread)
print(json.dumps(got))
"""

UNDUMPABLE = r"""
import json, os, sys
from semcoder_inference.tracer import _confine


def from_a_child():
    # A process of the same user, without capabilities as this one now (a run and its
    # zygote), reads this one's descriptor 0.
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(os.open("/proc/%d/fd/0" % os.getppid(), os.O_RDONLY))
            said = "allowed"
        except OSError as exc:
            said = __import__("errno").errorcode[exc.errno]
        fields = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
        said += " " + ",".join(fields[name].strip() for name in ("CapPrm", "CapEff", "CapInh", "CapAmb", "CapBnd"))
        os.write(write, said.encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    return os.read(read, 1000).decode().split(" ")


fields = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
setpcap = bool(int(fields["CapPrm"], 16) & (1 << 8))
_confine.drop_capabilities()  # as the zygote does first (the kernel lets a process with
# fewer capabilities than another reach it only with CAP_SYS_PTRACE)
got = {"dumpable": from_a_child()}
_confine.undumpable()
got["undumpable"] = from_a_child()
got["had CAP_SETPCAP"] = setpcap
print(json.dumps(got))
"""


def _probe(source: str) -> dict:
    result = subprocess.run([sys.executable, "-c", source, str(Path(__file__).parent)], capture_output=True,
                            text=True, timeout=60, start_new_session=True, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


@pytest.mark.skipif(not ON_X86_64, reason="the fork filter knows x86-64's system calls only")
def test_a_process_that_refused_itself_forks_makes_no_new_process_but_keeps_its_threads():
    assert _confine.has_no_forks() is True
    got = _probe(NO_FORKS)
    assert got.pop("before: fork") == "allowed"
    assert got.pop("clone3") == "ENOSYS"  # so that the C library falls back to clone
    assert got.pop("thread") == "allowed"
    assert got == {"fork": "EPERM", "clone, as fork does": "EPERM", "clone, as posix_spawn does": "EPERM",
                   "fork system call": "EPERM", "x32 fork": "EPERM", "posix_spawn": "EPERM",
                   "subprocess": "EPERM"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and capabilities are Linux's")
def test_a_process_without_capabilities_cannot_open_an_undumpable_process_s_files():
    got = _probe(UNDUMPABLE)
    # Its own user's process, dumpable: readable (this is what runs could do to the zygote).
    assert got["dumpable"][0] == "allowed"
    assert got["undumpable"][0] == "EACCES"
    permitted, effective, inheritable, ambient, bounding = got["undumpable"][1].split(",")
    assert int(permitted, 16) == int(effective, 16) == int(inheritable, 16) == int(ambient, 16) == 0
    if got["had CAP_SETPCAP"]:  # root (here, or in a user namespace) gives up the bounding set too
        assert int(bounding, 16) == 0


SHIELD = r"""
import ctypes, sys
from semcoder_inference.tracer import Tracer

with Tracer(workers=1, isolation=sys.argv[1]) as tracer:
    info = tracer.isolation_info
    assert tracer.trace_call("def f():\n    return 1\n", "f()")["status"] == "ok"
    own = bool(info["pid_namespace"] and info["own_proc"])
    print(own, ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))  # PR_GET_DUMPABLE
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and the dumpable flag are Linux's")
@pytest.mark.parametrize("isolation", ["auto", "audit"])
def test_the_server_hides_itself_from_runs_that_see_its_proc(isolation):
    """Runs without a PID namespace and a /proc of their own see the server's /proc/<pid>:
    its memory, environment and descriptors (the editor's messages on its stdin). The
    process that starts the zygotes then makes itself non-dumpable, which closes them to
    processes of its user without capabilities (every run)."""
    result = subprocess.run([sys.executable, "-c", SHIELD, isolation], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    own, dumpable = result.stdout.split()
    assert dumpable == ("1" if own == "True" else "0"), result.stdout
    if isolation == "audit":
        assert own == "False" and dumpable == "0"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_a_run_ends_with_its_zygote_even_without_a_pid_namespace():
    """Without a PID namespace nothing ended a run whose zygote was killed: it lived on,
    the child of init, for as long as it liked. Every run now dies with its zygote."""
    import signal
    import threading
    import time

    from semcoder_inference.tracer import Limits, Tracer

    import psutil

    tracer = Tracer(workers=1, isolation="audit", limits=Limits(timeout_s=10))
    try:
        assert tracer.trace_call("def f():\n    return 1\n", "f()")["status"] == "ok"
        zygote = tracer.worker_pids[0]
        def run() -> None:
            try:
                tracer.trace_call("import time\ndef f():\n    time.sleep(8)\n", "f()")
            except Exception:
                pass  # (the tracer is closed under it)

        started = threading.Thread(target=run, daemon=True)
        started.start()
        deadline = time.monotonic() + 5
        runs: list[str] = []
        while not runs and time.monotonic() < deadline:
            time.sleep(0.1)
            runs = [str(child.pid) for child in psutil.Process(zygote).children()]
        assert runs, "no run started"
        os.kill(zygote, signal.SIGKILL)
        time.sleep(0.5)

        def alive(pid: str) -> bool:
            try:
                return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
            except OSError:
                return False

        assert not [pid for pid in runs if alive(pid)]
    finally:
        tracer.close()
