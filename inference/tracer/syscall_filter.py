"""A seccomp filter for the zygote and every run it forks (stdlib only, Python 3.9+).

The audit hook stops Python code; this stops system calls, whatever makes them: native
code, or a fresh copy of a built-in module that raises no audit event (Debian's python3
has `_posixsubprocess` built in). Refused with EPERM, for the zygote and its runs alike:

- starting programs: `execve`, `uselib`, and `execveat` except through one descriptor
  (below);
- holding up the user's programs or changing files past their permissions: `fcntl`'s
  `F_SETLEASE` and `F_NOTIFY`, and `ioctl`s that set a file's inode flags or attributes
  (`FS_IOC_SETFLAGS`, `FS_IOC_FSSETXATTR`, `FS_IOC_ENABLE_VERITY`, ...: see
  sandbox.INODE_IOCTL), which the kernel allows a file's owner on a read-only descriptor;
  and `fcntl`'s `F_SET_RW_HINT` and `F_SET_FILE_RW_HINT`, a hint kept in the file's inode
  past the run (sandbox.HINT_FCNTL);
- driving devices: every `ioctl` of the types 'L' (loop devices: LOOP_CTL_ADD, LOOP_SET_FD,
  ..., which root may use without capabilities, on a descriptor opened only to read) and
  'U' (uinput, usbdevfs), and TIOCSTI, TIOCLINUX (sandbox.DEVICE_IOCTL);
- reaching other processes: `ptrace`, `process_vm_*`, `pidfd_*`, `kcmp`, `move_pages`,
  `process_madvise` on anything but the caller itself (PIDFD_SELF_PROCESS: it may advise
  its own memory, as `madvise` may; see _prefault.c); and, where there is no PID
  namespace to hide them, `setpriority`, `sched_set*`, `prlimit64` on any process but
  the caller;
- changing the sandbox: mounts, `unshare`, `setns`, `clone` into new namespaces,
  `chroot`, the descriptor limit (`setrlimit`/`prlimit64` on RLIMIT_NOFILE);
- kernel surfaces a run never needs: `bpf`, `perf_event_open`, `userfaultfd`, `io_uring_*`
  (its requests would skip this filter), keyrings, module loading, `kexec`, `reboot`, ...;
- memory files of no folder (`memfd_create`, `memfd_secret`): the memory limit does not
  count what they hold, and native code can be loaded from one;
- the network: sockets of any family but Unix; and `connect`, `bind`, `sendmsg`,
  `sendmmsg` and `sendto` with an address, so that a Unix socket reaches no other process
  either (a pair of them, as asyncio makes, still works);
- 32-bit and x32 system calls.

Forks stay allowed: the zygote forks every run (the audit hook, RLIMIT_NPROC and the PID
namespace hold forks). `clone3` keeps its flags in memory, where a filter cannot look, so
it answers ENOSYS, and the C library falls back to `clone` (threads included).

A filter cannot be lifted, so it is installed once, in the process that then restarts
the interpreter as the zygote (runtime.enter_then_restart): it needs ctypes, which the
zygote itself never loads. That restart is the one exec the filter lets
through: `execveat` of a descriptor opened on the interpreter, numbered at or above the
descriptor limit it sets (and then forbids changing), so that nothing under the filter
can ever hold a descriptor with that number.

The system call numbers are x86-64's; elsewhere no filter is installed and the zygote
says why.
"""

from __future__ import annotations

import fcntl
import os
import resource
import struct
import sys

from .sandbox import (DEVICE_IOCTL, DEVICE_IOCTL_TYPES, FILE_FCNTL, FILES_OPEN_AT_ONCE, HINT_FCNTL, INODE_IOCTL,
                      SIGNALLING_FCNTL, SIGNALLING_IOCTL, _forget_ctypes, no_new_privileges)

_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000
_AT_EMPTY_PATH = 0x1000
_RLIMIT_NOFILE = 7
_PRIO_PROCESS = 0
_AF_UNIX = 1

_SYS_EXECVEAT, _SYS_SETRLIMIT, _SYS_PRLIMIT64, _SYS_SETPRIORITY, _SYS_SOCKET = 322, 160, 302, 141, 41
_SYS_CLONE, _SYS_CLONE3, _SYS_SENDTO, _SYS_PROCESS_MADVISE = 56, 435, 44, 440
_SYS_FCNTL, _SYS_IOCTL = 72, 16
# process_madvise's pidfd for the caller itself (PIDFD_SELF_PROCESS, Linux 6.15+): the
# low 32 bits, as the kernel reads an int argument.
_PIDFD_SELF_PROCESS = -10001 & 0xFFFFFFFF
# CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID,
# CLONE_NEWNET: a fork or thread needs none of them.
_CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
# sched_setparam, sched_setscheduler, sched_setaffinity, sched_setattr: pid is the first argument.
_SELF_ONLY = (142, 144, 203, 314)
_REFUSED = {
    "connect": 42, "sendmsg": 46, "bind": 49, "execve": 59, "ptrace": 101, "syslog": 103, "uselib": 134, "vhangup": 153, "pivot_root": 155, "chroot": 161,
    "acct": 163, "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169, "iopl": 172, "ioperm": 173,
    "init_module": 175, "delete_module": 176, "quotactl": 179, "lookup_dcookie": 212, "kexec_load": 246,
    "add_key": 248, "request_key": 249, "keyctl": 250, "ioprio_set": 251, "migrate_pages": 256, "unshare": 272,
    "move_pages": 279, "perf_event_open": 298, "fanotify_init": 300, "open_by_handle_at": 304, "setns": 308,
    "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "finit_module": 313, "kexec_file_load": 320,
    "bpf": 321, "userfaultfd": 323, "pidfd_send_signal": 424, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
    "fsmount": 432, "fspick": 433, "pidfd_open": 434, "pidfd_getfd": 438,
    "mount_setattr": 442, "process_mrelease": 448, "open_tree_attr": 467, "sendmmsg": 307,
    # Memory in a file of no folder: RLIMIT_AS does not count it (a run with a 32 MB limit
    # held 900 MB in 57 of them), and native code can be loaded from one.
    "memfd_create": 319, "memfd_secret": 447,
}

# Classic BPF, as seccomp runs it over struct seccomp_data: nr at 0, arch at 4, the
# instruction pointer at 8, then six 64-bit arguments (little-endian: low half first).
_LOAD, _JEQ, _JGE, _JSET, _RETURN, _AND = 0x20, 0x15, 0x35, 0x45, 0x06, 0x54
_ALLOW, _EPERM, _ENOSYS = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38
_NR, _ARCH = 0, 4


def _low(arg):
    return 16 + 8 * arg


def _high(arg):
    return 20 + 8 * arg


def program(exec_fd, guard_pids=True):
    """The filter as bytes (an array of struct sock_filter). `exec_fd`: the one descriptor
    `execveat` may run (with AT_EMPTY_PATH). `guard_pids`: refuse priorities, affinities,
    scheduling and limits of any pid but 0; not needed in a PID namespace, where no other
    process has a pid (and a run may then name its own)."""
    code = []  # (opcode, jump if true, jump if false, constant); jumps name labels

    def load(offset):
        code.append((_LOAD, None, None, offset))

    def unless(value, target, op=_JEQ):  # go on when A == value (or >= for _JGE), else go to target
        code.append((op, None, target, value))

    def when(value, target, op=_JEQ):
        code.append((op, target, None, value))

    def label(name):
        code.append(name)

    load(_ARCH)
    unless(_AUDIT_ARCH_X86_64, "refuse")
    load(_NR)
    when(_X32_SYSCALL_BIT, "refuse", _JGE)
    for number in sorted(_REFUSED.values()):
        when(number, "refuse")
    when(_SYS_EXECVEAT, "execveat")
    when(_SYS_SETRLIMIT, "setrlimit")
    when(_SYS_PRLIMIT64, "prlimit64")
    when(_SYS_SOCKET, "socket")
    when(_SYS_SENDTO, "sendto")
    when(_SYS_CLONE, "clone")
    when(_SYS_CLONE3, "clone3")
    when(_SYS_PROCESS_MADVISE, "process_madvise")
    when(_SYS_FCNTL, "fcntl")
    when(_SYS_IOCTL, "ioctl")
    if guard_pids:
        when(_SYS_SETPRIORITY, "setpriority")
        for number in _SELF_ONLY:
            when(number, "first argument is 0")
    code.append((_RETURN, None, None, _ALLOW))

    label("execveat")  # only the restart: execveat(exec_fd, "", argv, envp, AT_EMPTY_PATH)
    load(_low(0))
    unless(exec_fd, "refuse")
    load(_low(4))
    unless(_AT_EMPTY_PATH, "refuse")
    code.append((_RETURN, None, None, _ALLOW))

    label("setrlimit")
    load(_low(0))
    when(_RLIMIT_NOFILE, "refuse")
    code.append((_RETURN, None, None, _ALLOW))

    label("prlimit64")  # the caller's own limits (pid 0), and the descriptor limit only read
    if guard_pids:
        load(_low(0))
        unless(0, "refuse")
    load(_low(1))
    unless(_RLIMIT_NOFILE, "allow")
    load(_low(2))
    unless(0, "refuse")
    load(_high(2))
    unless(0, "refuse")
    code.append((_RETURN, None, None, _ALLOW))

    label("setpriority")  # setpriority(PRIO_PROCESS, 0, ...): the caller only
    load(_low(0))
    unless(_PRIO_PROCESS, "refuse")
    load(_low(1))
    unless(0, "refuse")
    code.append((_RETURN, None, None, _ALLOW))

    label("socket")
    load(_low(0))
    unless(_AF_UNIX, "refuse")
    code.append((_RETURN, None, None, _ALLOW))

    label("sendto")  # on a connected socket (a pair), with no address of its own
    load(_low(4))
    unless(0, "refuse")
    load(_high(4))
    unless(0, "refuse")
    code.append((_RETURN, None, None, _ALLOW))

    label("clone")  # forks and threads, not into new namespaces
    load(_low(0))
    when(_CLONE_NAMESPACES, "refuse", _JSET)
    code.append((_RETURN, None, None, _ALLOW))

    label("clone3")
    code.append((_RETURN, None, None, _ENOSYS))

    label("process_madvise")  # the caller's own memory only (see _prefault.c)
    load(_low(0))
    unless(_PIDFD_SELF_PROCESS, "refuse")
    code.append((_RETURN, None, None, _ALLOW))

    label("fcntl")  # no signals sent on a descriptor's events, no leases, no write-life hints
    load(_low(1))   # (see SIGNALLING_FCNTL, FILE_FCNTL, HINT_FCNTL)
    for command in SIGNALLING_FCNTL + FILE_FCNTL + HINT_FCNTL:
        when(command, "refuse")
    code.append((_RETURN, None, None, _ALLOW))

    label("ioctl")  # nor by ioctl; no inode flags or attributes changed (see INODE_IOCTL); no
    load(_low(1))   # devices driven (DEVICE_IOCTL: loop devices, uinput, a terminal's input)
    for request in SIGNALLING_IOCTL + INODE_IOCTL + DEVICE_IOCTL:
        when(request, "refuse")
    code.append((_AND, None, None, 0xFF00))  # the request's type, whatever its direction and size
    for kind in DEVICE_IOCTL_TYPES:
        when(kind << 8, "refuse")
    code.append((_RETURN, None, None, _ALLOW))

    label("first argument is 0")  # pid 0: the caller
    load(_low(0))
    unless(0, "refuse")
    label("allow")
    code.append((_RETURN, None, None, _ALLOW))
    label("refuse")
    code.append((_RETURN, None, None, _EPERM))
    return _assemble(code)


def _assemble(code):
    """Resolve labels into the relative (forward, at most 255) jumps BPF has."""
    where, index = {}, 0
    for item in code:
        if isinstance(item, str):
            where[item] = index
        else:
            index += 1
    out, index = [], 0
    for item in code:
        if isinstance(item, str):
            continue
        op, true, false, value = item
        jumps = []
        for target in (true, false):
            offset = 0 if target is None else where[target] - index - 1
            if not 0 <= offset <= 255:
                raise ValueError("jump to %s out of range" % target)
            jumps.append(offset)
        out.append(struct.pack("=HBBI", op, jumps[0], jumps[1], value & 0xFFFFFFFF))
        index += 1
    return b"".join(out)


def lock_down(guard_pids=True):
    """Install the filter on this (single-threaded) process (`guard_pids`: see program).
    Returns (exec_fd, None) with the descriptor to restart the interpreter through
    (`os.execve(exec_fd, argv, env)`), or (None, why not). The descriptor limit may be lowered to FILES_OPEN_AT_ONCE either
    way (the zygote lowers it anyway)."""
    if not sys.platform.startswith("linux"):
        return None, "seccomp exists only on Linux"
    if os.uname().machine != "x86_64" or sys.maxsize < 2 ** 32:
        return None, "the filter knows only x86-64's system calls, not %s's" % os.uname().machine
    exec_fd = None
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft <= FILES_OPEN_AT_ONCE < hard:  # room for the exec descriptor's number
            resource.setrlimit(resource.RLIMIT_NOFILE, (FILES_OPEN_AT_ONCE + 1, hard))
        interpreter = os.open(sys.executable, os.O_RDONLY | os.O_CLOEXEC)
        try:
            exec_fd = fcntl.fcntl(interpreter, fcntl.F_DUPFD_CLOEXEC, FILES_OPEN_AT_ONCE)
        finally:
            os.close(interpreter)
        resource.setrlimit(resource.RLIMIT_NOFILE, (FILES_OPEN_AT_ONCE, FILES_OPEN_AT_ONCE))
        why = _install(program(exec_fd, guard_pids))
    except Exception as exc:  # an interpreter without ctypes, say: run without the filter, and say why
        why = "could not install it: %s" % exc
    if why is not None and exec_fd is not None:
        os.close(exec_fd)
        exec_fd = None
    return exec_fd, why


def _install(filter_bytes):
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)

        class SockFprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]

        prog = SockFprog(len(filter_bytes) // 8, filter_bytes)
        why = no_new_privileges(ctypes, libc)
        if why is not None:
            return why
        if libc.prctl(22, 2, ctypes.byref(prog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
            return "prctl(PR_SET_SECCOMP) failed: %s" % os.strerror(ctypes.get_errno())
        return None
    finally:
        _forget_ctypes()


def filter_mode():
    """The calling process's seccomp mode from /proc (0 none, 2 filter), or None."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Seccomp:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None
