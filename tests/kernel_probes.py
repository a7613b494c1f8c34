"""What the kernel checks of the tracer's tests share. The probe processes of
test_tracer_syscall_filter and test_tracer_write_guard import this module from the tests
folder (given as their last argument) and report each call's outcome by name; a traced
run reaches for another process by pid with REACH_BY_PID."""

from __future__ import annotations

import errno
import os


def outcome(action) -> str:
    """"allowed", or the errno name the call failed with."""
    try:
        action()
        return "allowed"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    except ValueError as exc:  # how the resource module reports EPERM
        return "EPERM" if str(exc) == "not allowed to raise maximum limit" else repr(exc)


# A run's source: `f(pid)` tries to reach process `pid` through calls that raise no audit
# event (a fresh posix module has the pid file descriptor calls the sandbox removed from
# os) and says, per call, "reached" or the exception that stopped it.
REACH_BY_PID = """import _imp, os, sys

def f(pid):
    posix = _imp.create_builtin(type(sys.modules["os"].__spec__)("posix", None, origin="built-in"))
    got = {}
    for name, reach in (("pidfd_open", lambda: os.close(posix.pidfd_open(pid))),
                        ("setpriority", lambda: os.setpriority(os.PRIO_PROCESS, pid, 19)),
                        ("sched_setaffinity", lambda: os.sched_setaffinity(pid, os.sched_getaffinity(0)))):
        try:
            reach()
            got[name] = "reached"
        except OSError as exc:
            got[name] = type(exc).__name__
    return got
"""


def threads_refused_here(tracer, trace) -> bool:
    """Whether a run's thread was refused because this user may start none here (not root,
    without the runs' namespaces: docs/sandbox.md); asserts that this is the reason."""
    if trace["status"] == "exception" and "can't start new thread" in trace["message"]:
        assert os.geteuid() != 0 and tracer.isolation_info["run_threads"] == 0, trace["message"]
        return True
    return False
