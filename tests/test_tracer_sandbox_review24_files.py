"""What a run could do to the user's files through a descriptor opened only to read them
(review 24): take a lease (F_SETLEASE), which held up the editor's writes to the file until
the run ended; set the file's inode flags (FS_IOC_SETFLAGS), which the kernel allows the
file's owner on any descriptor; lock it (flock, lockf, F_SETLK) against the user's programs.
The hook refuses all of them, in both modes; the syscall filter refuses leases, change
notices (F_NOTIFY) and the inode ioctls too, whatever makes the call."""

from __future__ import annotations

import array
import ast
import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from semcoder_inference.tracer import Limits, Tracer

FAST = Limits(timeout_s=5.0, cpu_s=5, memory_mb=256, max_events=200, max_output_bytes=2000)
FS_IOC_GETFLAGS, FS_IOC_SETFLAGS, FS_IOC_FSSETXATTR = 0x80086601, 0x40086602, 0x401C5820
FS_NODUMP_FL = 0x40


@pytest.fixture(scope="module", params=["auto", "audit"])
def tracer(request):
    with Tracer(limits=FAST, workers=1, isolation=request.param) as t:
        yield t


@pytest.fixture
def users_file(tmp_path):
    path = tmp_path / "users_file.txt"
    path.write_text("the user's\n")
    return path


def _returned(trace):
    assert trace["status"] == "ok", (trace["status"], trace.get("message"))
    return ast.literal_eval(trace["return"]["repr"])


ON_A_READ_ONLY_DESCRIPTOR = """import fcntl, os, struct, array

def f(path, what):
    fd = os.open(path, os.O_RDONLY)
    try:
        if what == "lease":
            fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
        elif what == "notify":
            fcntl.fcntl(fd, fcntl.F_NOTIFY, fcntl.DN_MODIFY)
        elif what == "flock":
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        elif what == "lockf":
            fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        elif what == "setlk":
            fcntl.fcntl(fd, fcntl.F_SETLK, struct.pack("hhqqi", fcntl.F_RDLCK, 0, 0, 0, 0))
        elif what == "setflags":
            flags = array.array("l", [0])
            fcntl.ioctl(fd, 0x80086601, flags, True)
            flags[0] |= 0x40
            fcntl.ioctl(fd, 0x40086602, flags, True)
        elif what == "fssetxattr":
            fcntl.ioctl(fd, 0x401C5820, bytes(28))
        return "done"
    except OSError as exc:
        return type(exc).__name__ + ": " + str(exc)
    finally:
        os.close(fd)
"""


def _flags(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        flags = array.array("l", [0])
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, flags, True)
        return flags[0]
    except OSError:
        return None  # a file system without inode flags
    finally:
        os.close(fd)


def test_a_lease_on_a_users_file_is_refused(tracer, users_file):
    got = _returned(tracer.trace_call(ON_A_READ_ONLY_DESCRIPTOR, f"f({str(users_file)!r}, 'lease')"))
    assert got.startswith("PermissionError: the sandbox does not allow leases"), got


def test_change_notices_on_a_users_folder_are_refused(tracer, users_file):
    got = _returned(tracer.trace_call(ON_A_READ_ONLY_DESCRIPTOR, f"f({str(users_file.parent)!r}, 'notify')"))
    assert got.startswith("PermissionError: the sandbox does not allow leases"), got


@pytest.mark.parametrize("what", ["flock", "lockf", "setlk"])
def test_locking_a_users_file_is_refused(tracer, users_file, what):
    got = _returned(tracer.trace_call(ON_A_READ_ONLY_DESCRIPTOR, f"f({str(users_file)!r}, {what!r})"))
    assert got.startswith("PermissionError: the sandbox does not allow locking files outside"), got


def test_locking_a_file_of_the_run_s_own_still_works(tracer):
    source = ("import fcntl, os\n\ndef f():\n    with open('mine.lock', 'w') as handle:\n"
              "        fcntl.flock(handle, fcntl.LOCK_EX)\n        fcntl.lockf(handle, fcntl.LOCK_EX)\n"
              "        fcntl.flock(handle, fcntl.LOCK_UN)\n    r, w = os.pipe()\n"
              "    fcntl.flock(r, fcntl.LOCK_SH)  # (a pipe names no file)\n    return 'locked'\n")
    assert _returned(tracer.trace_call(source, "f()")) == "locked"


@pytest.mark.parametrize("what", ["setflags", "fssetxattr"])
def test_a_users_file_s_inode_flags_are_not_changed(tracer, users_file, what):
    before = _flags(users_file)
    got = _returned(tracer.trace_call(ON_A_READ_ONLY_DESCRIPTOR, f"f({str(users_file)!r}, {what!r})"))
    assert got.startswith("PermissionError: the sandbox does not allow changing a file's flags"), got
    assert _flags(users_file) == before


# The syscall filter alone, in a process of its own that installs it (no audit hook there):
# each call once before (to show that it would have worked here) and once after.
PROBE = r"""
import array, errno, fcntl, json, os, sys
from semcoder_inference.tracer.syscall_filter import lock_down
path, folder = sys.argv[1], sys.argv[2]


def outcome(action):
    try:
        action()
        return "allowed"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))


def lease(fd):
    fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
    fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)


def notify(fd):
    fcntl.fcntl(fd, fcntl.F_NOTIFY, fcntl.DN_MODIFY)
    fcntl.fcntl(fd, fcntl.F_NOTIFY, 0)


def setflags(fd):
    flags = array.array("l", [0])
    fcntl.ioctl(fd, 0x80086601, flags, True)
    fcntl.ioctl(fd, 0x40086602, flags, True)  # (the same flags again: nothing changes)


got = {}
file_fd = os.open(path, os.O_RDONLY)
folder_fd = os.open(folder, os.O_RDONLY)
for when in ("before", "after"):
    if when == "after":
        exec_fd, why = lock_down()
        assert why is None, why
    got[when] = {"lease": outcome(lambda: lease(file_fd)), "notify": outcome(lambda: notify(folder_fd)),
                 "setflags": outcome(lambda: setflags(file_fd)),
                 "fssetxattr": outcome(lambda: fcntl.ioctl(file_fd, 0x401C5820, bytes(28)))}
print(json.dumps(got))
"""

ON_X86_64 = sys.platform.startswith("linux") and os.uname().machine == "x86_64"


@pytest.mark.skipif(not ON_X86_64, reason="the filter exists for Linux on x86-64 only")
def test_the_syscall_filter_refuses_leases_notices_and_inode_ioctls(users_file):
    result = subprocess.run([sys.executable, "-c", PROBE, str(users_file), str(users_file.parent)],
                            capture_output=True, text=True, timeout=60, start_new_session=True,
                            cwd=str(Path(__file__).parent))
    assert result.returncode == 0, result.stderr[-3000:]
    got = json.loads(result.stdout)
    assert got["before"]["lease"] == "allowed" and got["before"]["notify"] == "allowed", got  # here, unfiltered
    assert got["after"] == dict.fromkeys(got["after"], "EPERM"), got


def test_the_inode_ioctl_numbers_are_the_kernel_s():
    """_IOW('f', 2, long), _IOW('X', 32, struct fsxattr), _IOW('f', 133, struct
    fsverity_enable_arg), as <linux/fs.h> and <linux/fsverity.h> define them on 64-bit."""
    from semcoder_inference.tracer.sandbox import INODE_IOCTL

    assert FS_IOC_SETFLAGS in INODE_IOCTL and FS_IOC_FSSETXATTR in INODE_IOCTL and 0x40806685 in INODE_IOCTL
