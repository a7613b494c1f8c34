"""The seccomp filter the zygote and its runs live under (inference/tracer/syscall_filter.py),
checked system call by system call in a process of its own that installs it, with no audit
hook and no namespaces: what the kernel alone refuses. The tracer's own tests check that a
zygote runs under it."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from semcoder_inference.tracer import syscall_filter

PROBE = r"""
import ctypes, errno, fcntl, json, mmap, os, resource, socket, struct, sys, threading, time
from semcoder_inference.tracer.syscall_filter import FILES_OPEN_AT_ONCE, filter_mode, lock_down
sys.path.insert(0, sys.argv[-1])
from kernel_probes import outcome

libc = ctypes.CDLL(None, use_errno=True)  # loaded before: the filter forgets ctypes' modules only
bystander = os.fork()  # another process of the same user, to reach for
if bystander == 0:
    os.close(1)  # (the test reads this probe's output to its end)
    time.sleep(60)
    os._exit(0)
exec_fd, why = lock_down()
assert why is None, why
got = {"mode": filter_mode(), "exec_fd": exec_fd}


def raw(number, *args):
    args = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    return "allowed" if libc.syscall(ctypes.c_long(number), *args) >= 0 else errno.errorcode[ctypes.get_errno()]


def in_a_fork(action):
    # forks are allowed; what the child may do is the question
    pid = os.fork()
    if pid == 0:
        try:
            action()
        except OSError as exc:
            os._exit(exc.errno)
        os._exit(0)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def a_thread():
    box = []
    thread = threading.Thread(target=lambda: box.append(1))
    thread.start()
    thread.join()
    assert box == [1]


true = os.open("/bin/true", os.O_RDONLY)
got["execve"] = outcome(lambda: os.execv("/bin/true", ["true"]))
got["execveat, another descriptor"] = outcome(lambda: os.execve(true, ["true"], {}))
got["x32 execve"] = raw(0x40000000 | 520, b"/bin/true", None, None)
got["pidfd_open"] = outcome(lambda: os.close(os.pidfd_open(bystander)))
got["ptrace attach"] = raw(101, 16, bystander, 0, 0)
got["process_vm_readv"] = raw(310, bystander, 0, 0, 0, 0, 0)


class Range(ctypes.Structure):  # struct iovec
    _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]


page = mmap.mmap(-1, mmap.PAGESIZE, flags=mmap.MAP_PRIVATE)
own_page = ctypes.byref(Range(ctypes.addressof(ctypes.c_char.from_buffer(page)), mmap.PAGESIZE))
# process_madvise(pidfd, ranges, 1, MADV_POPULATE_WRITE, 0): on this process itself, as
# named by PIDFD_SELF_PROCESS (how a spare copies its pages, see _prefault.c), and on
# anything a descriptor could name.
got["process_madvise, itself"] = raw(440, -10001, own_page, 1, 23, 0)
got["process_madvise, a descriptor"] = raw(440, true, own_page, 1, 23, 0)
# Each would be harmless here if it were let through (a probe that fails must not change
# this machine): an unshare of nothing, a mount on a folder that does not exist, the
# priority of this probe's own process group (a session of its own).
got["unshare"] = raw(272, 0)
# into a new user namespace, with CLONE_FS, which the kernel refuses with EINVAL
got["clone into a namespace"] = raw(56, 0x10000000 | 0x200 | 17, 0, 0, 0, 0)
got["clone3"] = raw(435, None, 0)  # a size of 0: EINVAL, were it let through
got["mount"] = raw(165, b"none", b"/nonexistent-semcoder-probe", b"tmpfs", 0, None)
got["io_uring_setup"] = raw(425, 1, ctypes.create_string_buffer(120))
got["bpf"] = raw(321, 0, 0, 0)
got["memfd_create"] = outcome(lambda: os.close(os.memfd_create("semcoder-probe")))
got["setpriority, another process"] = outcome(lambda: os.setpriority(os.PRIO_PROCESS, bystander, 19))
got["setpriority, a process group"] = outcome(lambda: os.setpriority(os.PRIO_PGRP, 0, 19))
got["setpriority, itself"] = outcome(lambda: os.setpriority(os.PRIO_PROCESS, 0, 3))
got["nice"] = outcome(lambda: os.nice(1))
got["sched_setaffinity, another process"] = outcome(lambda: os.sched_setaffinity(bystander, {0}))
got["sched_setaffinity, itself"] = outcome(lambda: os.sched_setaffinity(0, os.sched_getaffinity(0)))
got["sched_setscheduler, itself"] = outcome(lambda: os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0)))
got["prlimit, another process"] = outcome(lambda: resource.prlimit(bystander, resource.RLIMIT_CPU, (5, 5)))
got["setrlimit, CPU"] = outcome(lambda: resource.setrlimit(resource.RLIMIT_CPU, (50, 50)))
got["setrlimit, descriptors"] = outcome(lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (32, 32)))
got["getrlimit, descriptors"] = resource.getrlimit(resource.RLIMIT_NOFILE)
got["a descriptor numbered like the exec one"] = outcome(lambda: os.dup2(true, exec_fd))
got["netlink socket"] = outcome(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0).close())
owned = socket.socketpair()[0]  # a descriptor whose owner would be signalled on its events
got["fcntl F_SETOWN"] = outcome(lambda: fcntl.fcntl(owned, fcntl.F_SETOWN, bystander))
got["fcntl F_SETSIG"] = outcome(lambda: fcntl.fcntl(owned, 10, 9))
got["fcntl F_SETOWN_EX"] = outcome(lambda: fcntl.fcntl(owned, 15, struct.pack("ii", 1, bystander)))
got["ioctl FIOSETOWN"] = outcome(lambda: fcntl.ioctl(owned, 0x8901, struct.pack("i", bystander)))
got["fcntl F_GETFL"] = outcome(lambda: fcntl.fcntl(owned, fcntl.F_GETFL))
got["packet socket"] = outcome(lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close())
got["IPv4 socket"] = outcome(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close())
got["IPv6 socket"] = outcome(lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close())
unix = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
got["Unix socket connect"] = outcome(lambda: unix.connect("/nonexistent-semcoder-probe.sock"))
got["Unix socket bind"] = outcome(lambda: unix.bind("\0semcoder-probe-%d" % os.getpid()))
got["Unix socket sendto an address"] = outcome(lambda: unix.sendto(b"x", "/nonexistent-semcoder-probe.sock"))
pair = socket.socketpair()
got["sendmsg on a socket pair"] = outcome(lambda: pair[0].sendmsg([b"x"]))
got["send and receive on a socket pair"] = outcome(lambda: pair[0].sendall(b"ping") or pair[1].recv(4) == b"ping" or 1 / 0)
got["thread"] = outcome(a_thread)
got["fork, then execve"] = errno.errorcode.get(in_a_fork(lambda: os.execv("/bin/true", ["true"])), "exited")
os.kill(bystander, 9)
os.waitpid(bystander, 0)
sys.stdout.write(json.dumps(got) + "\n")
sys.stdout.flush()
# The one exec it lets through: the restart, through the descriptor it opened.
os.execve(exec_fd, [sys.executable, "-c", "print('restarted under filter mode', "
                    "open('/proc/self/status').read().split('Seccomp:')[1].split()[0])"], dict(os.environ))
"""

REFUSED = ("execve", "execveat, another descriptor", "x32 execve", "pidfd_open", "ptrace attach", "process_vm_readv",
           "process_madvise, a descriptor",
           "unshare", "clone into a namespace", "mount", "io_uring_setup", "bpf", "memfd_create",
           "setpriority, another process",
           "setpriority, a process group", "sched_setaffinity, another process", "prlimit, another process",
           "setrlimit, descriptors", "netlink socket", "packet socket", "IPv4 socket", "IPv6 socket",
           "Unix socket connect", "Unix socket bind", "Unix socket sendto an address", "sendmsg on a socket pair",
           "fork, then execve", "fcntl F_SETOWN", "fcntl F_SETSIG", "fcntl F_SETOWN_EX", "ioctl FIOSETOWN")
ALLOWED = ("setpriority, itself", "nice", "sched_setaffinity, itself", "sched_setscheduler, itself", "setrlimit, CPU",
           "send and receive on a socket pair", "thread", "fcntl F_GETFL")


# The filter's numbers are x86-64's; on other machines it is not installed (see the last
# test), so there is nothing for the probe to check.
_KERNEL = tuple(int(part) for part in os.uname().release.split("-")[0].split(".")[:2])
ON_X86_64 = sys.platform.startswith("linux") and os.uname().machine == "x86_64"
x86_64_only = pytest.mark.skipif(not ON_X86_64, reason="the filter exists for Linux on x86-64 only")


@pytest.fixture(scope="module")
def probed():
    result = subprocess.run([sys.executable, "-c", PROBE, str(Path(__file__).parent)], capture_output=True, text=True,
                            timeout=60, start_new_session=True)
    assert result.returncode == 0, result.stderr[-3000:]
    report, restarted = result.stdout.splitlines()
    return json.loads(report), restarted


@pytest.mark.parametrize("call", REFUSED)
@x86_64_only
def test_the_filter_refuses(probed, call):
    assert probed[0][call] == "EPERM"


@x86_64_only
def test_process_madvise_reaches_the_callers_own_memory_only(probed):
    # The filter lets it through (refused, it would be EPERM); the kernel then names the
    # caller itself with PIDFD_SELF_PROCESS from Linux 6.15 (before, EBADF: no such
    # descriptor; before 5.10, ENOSYS: no process_madvise).
    expected = ("allowed",) if _KERNEL >= (6, 15) else ("EBADF", "ENOSYS")
    assert probed[0]["process_madvise, itself"] in expected
    assert probed[0]["process_madvise, a descriptor"] == "EPERM"


@x86_64_only
def test_clone3_answers_that_it_does_not_exist_so_that_threads_fall_back_to_clone(probed):
    assert probed[0]["clone3"] == "ENOSYS"
    assert probed[0]["thread"] == "allowed"


@pytest.mark.parametrize("call", ALLOWED)
@x86_64_only
def test_the_filter_allows_what_a_run_does_to_itself(probed, call):
    assert probed[0][call] == "allowed"


@x86_64_only
def test_the_filter_is_in_force_and_keeps_the_descriptor_limit_below_its_exec_descriptor(probed):
    got = probed[0]
    assert got["mode"] == 2
    assert got["getrlimit, descriptors"] == [syscall_filter.FILES_OPEN_AT_ONCE] * 2
    assert got["exec_fd"] >= syscall_filter.FILES_OPEN_AT_ONCE
    # no process under the filter can give another file that number
    assert got["a descriptor numbered like the exec one"] == "EBADF"


@x86_64_only
def test_the_restart_through_its_own_descriptor_is_the_one_exec_let_through(probed):
    assert probed[1] == "restarted under filter mode 2"  # the filter outlives the exec


def test_every_jump_of_the_program_lands_inside_it():
    """BPF jumps only forward, at most 255 instructions; the assembler checks both."""
    code = syscall_filter.program(77)
    assert len(code) % 8 == 0
    count = len(code) // 8
    for index in range(count):
        op, true, false, _ = struct.unpack_from("=HBBI", code, 8 * index)
        if op & 0x07 == 0x05:  # a jump
            assert index + 1 + max(true, false) < count
    last_op = struct.unpack_from("=HBBI", code, 8 * (count - 1))[0]
    assert last_op == 0x06  # the program ends in a return


def test_other_machines_get_no_filter_and_are_told_why(monkeypatch):
    """Checked here by pretending: lock_down gives up before it changes anything."""
    import types

    real = os.uname()
    monkeypatch.setattr(os, "uname", lambda: types.SimpleNamespace(machine="aarch64", release=real.release))
    monkeypatch.setattr(sys, "platform", "linux")
    assert syscall_filter.lock_down() == (None, "the filter knows only x86-64's system calls, not aarch64's")
    monkeypatch.setattr(sys, "platform", "darwin")
    assert syscall_filter.lock_down() == (None, "seccomp exists only on Linux")


@x86_64_only
def test_a_low_descriptor_limit_still_leaves_room_for_the_exec_descriptor():
    """A server started under `ulimit -n 64` (soft) still gets the filter."""
    script = ("import resource\nfrom semcoder_inference.tracer.syscall_filter import lock_down\n"
              "resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))\n"
              "print(lock_down())\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "(64, None)"
