"""Another process's working folder through /proc (review 27b). Review 27 refused listing
another process's /proc/<pid>/fd and reading its links; a run still changed folder into a
bystander's /proc/<pid>/cwd (or root, or a folder descriptor's fd/N) and read where it
leads with os.getcwd(), and listed it, in the audit-only mode. The hook now refuses
os.chdir there, and any path through such a link (the hook's resolution stops at another
process's /proc/<pid> links: an open, O_PATH included, or a listing through one is refused
as reading other processes)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from semcoder_inference.tracer import Limits, Tracer

LIMITS = Limits(timeout_s=10, cpu_s=10)
REFUSED = "the sandbox does not allow reading other processes"


@pytest.fixture(scope="module", params=["auto", "audit"])
def tracer(request):
    with Tracer(limits=LIMITS, workers=1, isolation=request.param) as t:
        yield t


@pytest.fixture
def bystander(tmp_path):
    private = tmp_path / "bystander_private_7f3a"
    (private / "sub").mkdir(parents=True)
    (private / "customers.csv").write_text("x")
    proc = subprocess.Popen([sys.executable, "-c", "import os, sys, time; fd = os.open('sub', os.O_RDONLY); "
                             "print(fd, flush=True); time.sleep(60)"], cwd=private, stdout=subprocess.PIPE, text=True)
    fd = int(proc.stdout.readline())
    try:
        yield proc.pid, fd, str(private)
    finally:
        proc.kill()
        proc.wait()


def test_chdir_into_another_process_is_refused(tracer, bystander):
    pid, fd, private = bystander
    source = '''
import os
def f(pid, fd):
    out = {}
    home = os.getcwd()
    for name, path in (("cwd", "/proc/%d/cwd" % pid), ("root", "/proc/%d/root" % pid),
                       ("fd", "/proc/%d/fd/%d" % (pid, fd)), ("below cwd", "/proc/%d/cwd/sub" % pid),
                       ("dotted", "/proc/self/../%d/cwd" % pid)):
        for how, call in (("chdir", lambda: os.chdir(path)),
                          ("open", lambda: os.close(os.open(path, os.O_RDONLY))),
                          ("O_PATH", lambda: os.close(os.open(path, os.O_PATH))),
                          ("listdir", lambda: os.listdir(path)),
                          ("fchdir", lambda: os.fchdir(os.open(path, os.O_RDONLY)))):
            try:
                call()
                out[name + " " + how] = os.getcwd()
                os.chdir(home)
            except PermissionError as e:
                out[name + " " + how] = str(e)
            except OSError as e:
                out[name + " " + how] = "kernel: %s" % e.strerror
    return out
'''
    trace = tracer.trace_call(source, f"f({pid}, {fd})")
    assert trace["status"] == "ok", trace
    out = eval(trace["return"]["repr"])
    assert private not in trace["return"]["repr"], out
    # With a PID namespace the bystander's pid is no process there: the kernel answers first.
    assert all(v == REFUSED or v.startswith("kernel: No such file") for v in out.values()), out


def test_the_runs_own_proc_entries_still_work(tracer):
    source = '''
import os
def f():
    here = os.getcwd()
    os.chdir("/proc/self/cwd")
    same = os.getcwd() == here
    fd = os.open(".", os.O_RDONLY)
    os.chdir("/")
    os.fchdir(fd)
    os.chdir("/proc/self/fd/%d" % fd)
    return same, os.getcwd() == here, sorted(os.listdir("/proc/self/cwd")) == sorted(os.listdir(here))
'''
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "ok", trace
    assert trace["return"]["repr"] == "(True, True, True)"
