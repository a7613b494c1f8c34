"""Another process's /proc/<pid> through listings and links (review 27): the hook refused
opening another process's /proc files, however the path was spelt, but os.listdir and
os.readlink raised no event it checked, and a run in the audit-only mode listed a
bystander's open descriptors and read where each led (file paths), its working folder
and its executable. Listing (os.listdir, os.scandir) and reading a link (os.readlink, and
so pathlib's readlink and os.path.realpath) in another process's /proc/<pid> are now
refused the same way; the run's own /proc/self is not."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from semcoder_inference.tracer import Limits, Tracer

LIMITS = Limits(timeout_s=5, cpu_s=5)
REFUSED = "the sandbox does not allow reading other processes"


@pytest.fixture(scope="module", params=["auto", "audit"])
def tracer(request):
    with Tracer(limits=LIMITS, workers=1, isolation=request.param) as t:
        yield t


@pytest.fixture(scope="module")
def bystander(tmp_path_factory):
    """A process of the user's holding a file open, with no capabilities (as an editor
    would be), so that the kernel lets a process of the same user read its /proc."""
    folder = tmp_path_factory.mktemp("bystander")
    command = [sys.executable, "-c", "import time; f = open('customer-secret-r27.txt', 'w'); time.sleep(120)"]
    if os.geteuid() == 0 and shutil.which("setpriv"):
        command = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"] + command
    victim = subprocess.Popen(command, cwd=folder)
    time.sleep(0.3)
    yield victim.pid
    victim.kill()
    victim.wait()


ATTEMPTS = r'''
import os, pathlib
def f(pid):
    base = "/proc/%d/" % pid
    os.symlink(base, "there")
    proc = os.open("/proc", os.O_RDONLY)
    tries = {
        "listdir": lambda: os.listdir(base + "fd"),
        "listdir bytes": lambda: os.listdir((base + "fd").encode()),
        "scandir": lambda: [e.name for e in os.scandir(base + "fd")],
        "readlink cwd": lambda: os.readlink(base + "cwd"),
        "readlink exe": lambda: os.readlink(base + "exe"),
        "readlink fd": lambda: os.readlink(base + "fd/0"),
        "readlink through a link": lambda: os.readlink("there/cwd"),
        "readlink dir_fd": lambda: os.readlink("%d/cwd" % pid, dir_fd=proc),
        "readlink spelt oddly": lambda: os.readlink("/proc/self/../%d/cwd" % pid),
        "pathlib readlink": lambda: str(pathlib.Path(base + "cwd").readlink()),
        "pathlib iterdir": lambda: [str(p) for p in pathlib.Path(base + "fd").iterdir()],
        "listdir from there": lambda: (os.chdir(base), os.listdir("fd")),
    }
    out = {}
    for name, attempt in tries.items():
        try:
            out[name] = repr(attempt())
        except OSError as e:
            out[name] = str(e)
    return out
'''


def test_another_process_s_links_and_listings_are_refused(tracer, bystander):
    trace = tracer.trace_call(ATTEMPTS, f"f({bystander})")
    assert trace["status"] == "ok", trace
    outcomes = eval(trace["return"]["repr"])
    assert "customer-secret" not in trace["return"]["repr"]
    # (chdir there is refused too, review 27b, before the kernel would find no such pid in
    # the runs' own /proc)
    assert all(outcome == REFUSED for outcome in outcomes.values()), outcomes


def test_the_run_s_own_links_and_listings_still_work(tracer):
    source = ("import os, pathlib\ndef f():\n    os.symlink('target', 'link')\n"
              "    own = os.readlink('/proc/self/cwd') == os.getcwd()\n"
              "    return (own, os.readlink('link'), os.readlink(b'link'), str(pathlib.Path('link').readlink()),\n"
              "            len(os.listdir('/proc/self/fd')) > 0, sorted(os.listdir()),\n"
              "            os.readlink('link', dir_fd=os.open('.', os.O_RDONLY)), os.readlink.__name__)\n")
    trace = tracer.trace_call(source, "f()")
    assert trace["status"] == "ok", trace
    assert trace["return"]["repr"] == "(True, 'target', b'target', 'target', True, ['link'], 'target', 'readlink')"
