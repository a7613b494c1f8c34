"""Landlock (inference/tracer/write_guard.py): once a process has confined its writes to a
folder, the kernel refuses it, and every process it starts, any change outside that folder.
Checked in a process of its own, with no audit hook and no namespaces; the tracer's tests
check that its zygotes are confined this way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = r"""
import errno, json, os, socket, sys, time
from semcoder_inference.tracer.write_guard import confine_writes
sys.path.insert(0, sys.argv[-1])
from kernel_probes import outcome

root, outside = sys.argv[1], sys.argv[2]
existing = os.path.join(outside, "existing.txt")
# A process outside the sandbox, to signal. It ends when this probe's end of a pipe
# closes (at the exec below, or at its exit).
keep_r, keep_w = os.pipe()
bystander = os.fork()
if bystander == 0:
    os.close(keep_w)
    os.close(1)
    os.close(2)
    os.read(keep_r, 1)
    os._exit(0)
os.close(keep_r)
why = confine_writes(root)
assert why is None, why
got = {}


def write(path, mode="w"):
    with open(path, mode) as fh:
        fh.write("x")


def bind_at(path):
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(path)


o = lambda name: os.path.join(outside, name)
r = lambda name: os.path.join(root, name)
got["write a new file outside"] = outcome(lambda: write(o("new.txt")))
got["append to a file outside"] = outcome(lambda: write(existing, "a"))
got["truncate a file outside"] = outcome(lambda: os.truncate(existing, 0))
got["remove a file outside"] = outcome(lambda: os.remove(existing))
got["make a folder outside"] = outcome(lambda: os.mkdir(o("folder")))
got["make a link outside"] = outcome(lambda: os.symlink("/etc/passwd", o("link")))
got["make a FIFO outside"] = outcome(lambda: os.mkfifo(o("fifo")))
got["make a socket outside"] = outcome(lambda: bind_at(o("sock")))
got["move a file out of the folder"] = outcome(lambda: write(r("mine.txt")) or os.rename(r("mine.txt"), o("mine.txt")))
got["move a file into the folder"] = outcome(lambda: os.rename(existing, r("taken.txt")))
got["read a file outside"] = outcome(lambda: open(existing).read() == "keep" or 1 / 0)
got["write /dev/null"] = outcome(lambda: write(os.devnull))
got["write, rename and remove in the folder"] = outcome(
    lambda: write(r("a.txt")) or os.mkdir(r("sub")) or os.rename(r("a.txt"), r("sub/b.txt")) or os.remove(r("sub/b.txt")))
got["signal a process outside"] = outcome(lambda: os.kill(bystander, 0))
inside = os.fork()
if inside == 0:
    time.sleep(60)
    os._exit(0)
got["signal a process inside"] = outcome(lambda: os.kill(inside, 9))
os.waitpid(inside, 0)
got["landlock abi"] = __import__("ctypes").CDLL(None).syscall(444, None, 0, 1)
pid = os.fork()
if pid == 0:
    try:
        write(o("from-a-child.txt"))
        os._exit(0)
    except OSError as exc:
        os._exit(exc.errno)
got["a forked child writes outside"] = errno.errorcode.get(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), "allowed")
after_exec = "import os\ntry:\n    open(%r, 'w')\n    print('allowed')\nexcept OSError as exc:\n    print(exc.errno)\n"
os.execv(sys.executable, [sys.executable, "-c", "import json, sys; sys.stdout.write(json.dumps(%r) + '\\n')\n%s"
                          % (got, after_exec % o("after-exec.txt"))])
"""

REFUSED = ("write a new file outside", "append to a file outside", "truncate a file outside", "remove a file outside",
           "make a folder outside", "make a link outside", "make a FIFO outside", "make a socket outside",
           "move a file out of the folder", "move a file into the folder", "a forked child writes outside")
ALLOWED = ("read a file outside", "write /dev/null", "write, rename and remove in the folder")


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    if not sys.platform.startswith("linux"):
        pytest.fail("Landlock exists only on Linux")
    root, outside = tmp_path_factory.mktemp("runs"), tmp_path_factory.mktemp("users-files")
    (outside / "existing.txt").write_text("keep")
    result = subprocess.run([sys.executable, "-c", PROBE, str(root), str(outside), str(Path(__file__).parent)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    report, after_exec = result.stdout.splitlines()
    return json.loads(report), after_exec, outside


@pytest.mark.parametrize("change", REFUSED)
def test_the_kernel_refuses_changes_outside_the_folder(probed, change):
    # EACCES, or EXDEV for a rename across the folder's edge (the C library's rename
    # does not then copy: the kernel's answer stands)
    assert probed[0][change] in ("EACCES", "EXDEV")


@pytest.mark.parametrize("action", ALLOWED)
def test_reading_and_the_folder_itself_stay_open(probed, action):
    assert probed[0][action] == "allowed"


def test_signals_reach_only_processes_inside_from_landlock_abi_6(probed):
    assert probed[0]["signal a process inside"] == "allowed"
    if probed[0]["landlock abi"] >= 6:
        assert probed[0]["signal a process outside"] == "EPERM"


def test_the_confinement_outlives_exec_and_the_users_files_are_untouched(probed):
    assert probed[1] == "13"  # EACCES after exec too
    assert sorted(p.name for p in probed[2].iterdir()) == ["existing.txt"]
    assert (probed[2] / "existing.txt").read_text() == "keep"


def test_an_interpreter_without_ctypes_runs_unguarded_and_says_why(tmp_path):
    """Neither guard can be installed without ctypes; the zygote must still start."""
    script = ("import sys\nsys.modules['ctypes'] = None\n"
              "from semcoder_inference.tracer.write_guard import confine_writes\n"
              "from semcoder_inference.tracer.syscall_filter import lock_down\n"
              "print(confine_writes(sys.argv[1]))\n"
              "sys.modules['ctypes'] = None  # (forgotten again by confine_writes)\n"
              "print(lock_down())\n")
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    landlock, seccomp = result.stdout.splitlines()
    assert landlock == "could not install it: import of ctypes halted; None in sys.modules"
    if sys.platform.startswith("linux") and os.uname().machine == "x86_64":
        assert seccomp == "(None, 'could not install it: import of ctypes halted; None in sys.modules')"
