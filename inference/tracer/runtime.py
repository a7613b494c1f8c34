"""The part of the tracer that runs inside the user's interpreter: the zygote.

Started by the user's own Python (3.9+) through the stub launch.py:
`python -I launch.py [auto|namespaces|audit] [REHEARSAL [PRELOAD [PREFAULT]]]` (see main).
It and its sibling modules (safe_repr, line_tracer, capture, sandbox, child, prefault) use
only the standard library (and, where it was built, prefault's optional C half); they are
loaded as the private package `_semcoder_tracer`, so nothing of ours can shadow a user
module.

The zygote imports what runs need, optionally enters new user+network namespaces, and
then keeps one *spare* child forked ahead of the next request. The spare reads the request
from the server's pipe itself (rehearsing a run while it waits, see
_rehearse_until_request), sandboxes itself, runs, writes its result straight back and
exits (see Spare). Forking from a warm process avoids interpreter start-up, and since every
run happens in a fresh child, nothing a run does (module globals, monkey-patching)
survives into the next.
"""

from __future__ import annotations

import _signal
import ast
import fcntl
import gc
import json
import linecache
import marshal
import os
import select
import signal
import struct
import sys
import time

from .child import SCHEMA, TRAILER_OK, Prepared, RunState, _return_info, encode_result, prepare_thread_starts, read_exact_fd, run_child, framed, write_all, write_frame
from .line_tracer import LineTracer, loop_table
from .safe_repr import SafeRepr
from .syscall_filter import filter_mode, lock_down
from .write_guard import confine_writes
from . import prefault
try:
    from . import _confine  # optional C half: see _confine.c
except ImportError:  # not built (no compiler), or not CPython
    _confine = None
from .sandbox import _proc_pid, apply_fixed_limits, capability_sets, make_audit_hook, clean_environment, counts_processes_per_namespace, die_with_parent, enter_namespaces, enter_pid_namespace, mount_own_proc, point_temp_folders, install_stand_ins, install_native_stand_ins, read_only_outside, remove_tree, RUN_THREADS, temp_base, unreachable_loaded, vm_bytes

# Imported here so children do not pay for them (user code often needs them). Modules that
# register fork handlers (random, hence tempfile; threading) are left out on purpose: every
# child would run them (random reseeds itself, ~0.15 ms and 45 copied pages per run).
import collections  # noqa: F401,E402
import functools  # noqa: F401,E402
import itertools  # noqa: F401,E402
import math  # noqa: F401,E402
import operator  # noqa: F401,E402
import re  # noqa: F401,E402
import string  # noqa: F401,E402

# The script that starts a zygote (and restarts it once it has entered the namespaces).
LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "launch.py")

# Grace period after the wall-clock limit before the zygote kills a child that did not
# stop itself (its Python-level timer cannot fire while it is stuck in native code).
_KILL_GRACE_S = 1.0

def _status_from_wait(status, elapsed, limits, cpu_used=None):
    """(status, message) of a child that died without a result, from its wait status and
    the CPU time it used (`cpu_used`, seconds, from wait4's rusage; None if unknown).
    RLIMIT_CPU's signals (SIGXCPU at the soft limit, SIGKILL at the hard one, a second
    later) come only once the run has used its CPU allowance: a SIGKILL before that is
    another's doing (the run's own `os.kill(os.getpid(), 9)`, the kernel's OOM killer),
    and was once reported as the CPU limit (a review)."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        if sig in (signal.SIGKILL, getattr(signal, "SIGXCPU", -1)):
            if cpu_used is None:  # (the status was read without rusage)
                reached = sig != signal.SIGKILL and elapsed < float(limits["timeout_s"])
            else:
                reached = cpu_used >= float(limits["cpu_s"])
            if reached:
                return "cpu_limit", "stopped by the CPU time limit of %g s (no partial trace)" % float(limits["cpu_s"])
            return "crashed", ("the traced process was killed by %s before it reached any limit (by itself, or by "
                               "the system: for want of memory, say)" % name)
        return "crashed", "the traced process was killed by %s" % name
    return "crashed", "the traced process exited (code %s) without a result" % os.WEXITSTATUS(status)


def _reap(pid, options=0):
    """os.waitpid with the CPU time the child used: (pid or 0, wait status, CPU seconds)."""
    reaped, status, usage = os.wait4(pid, options)
    return reaped, status, usage.ru_utime + usage.ru_stime


def _describe(exc):
    """A failure of the sandbox itself, in one line (no traceback module in the zygote)."""
    frames = []
    tb = exc.__traceback__ if exc is not None else None
    while tb is not None:
        frames.append("%s:%d" % (os.path.basename(tb.tb_frame.f_code.co_filename), tb.tb_lineno))
        tb = tb.tb_next
    return "%s: %s (at %s)" % (type(exc).__name__, exc, " < ".join(reversed(frames[-5:])))


_VM_CACHE = [0, 0]
_EXIT_NO_INPUT = 7
# What a child tells the zygote once it has read its request: b"S", timeout, CPU limit, id.
_START = struct.Struct(">cdd32s")


def _vm_base():
    """The zygote's address-space size (what a child starts with), re-read every 50 runs."""
    if _VM_CACHE[1] == 0:
        _VM_CACHE[0] = vm_bytes()
    _VM_CACHE[1] = (_VM_CACHE[1] + 1) % 50  # a small int: no new object each run
    return _VM_CACHE[0]


def make_private_dir(parent, prefix):
    """mkdtemp without the tempfile module: a new 0700 folder with an unguessable name.
    os.mkdir never adopts a folder that already exists."""
    for _ in range(100):
        path = os.path.join(parent, prefix + os.urandom(6).hex())
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            continue
    raise FileExistsError("no free folder name under %s" % parent)


# Every run of a zygote works in the same folder, made afresh for each (the last run's is
# removed before the next spare is forked), so that the zygote can do, once, what each
# spare would otherwise do before its request: resolve the folder, point HOME and TMPDIR
# at it, and build the audit hook for it (35 fewer page faults a run, measured: see
# docs/architecture.md). (folder, its hook), set by the zygote.
_RUN_FOLDER = [None, None]


def _new_workdir(run_root):
    """A fresh, private (0700) folder for one run: the zygote's usual one, or, if a run
    left that one behind (it could not be removed), an unguessable new one."""
    usual = _RUN_FOLDER[0]
    if usual is not None:
        try:
            os.mkdir(usual, 0o700)
            return usual
        except OSError:
            pass
    return make_private_dir(run_root, "run-")


def prepare_run_folder(run_root, real_root):
    """Once, in the zygote: the runs' usual folder (see _RUN_FOLDER) and its audit hook,
    with HOME and TMPDIR (and tempfile, if a preloaded module imported it) pointing there."""
    folder = run_root + "/run"
    _RUN_FOLDER[:] = [folder, make_audit_hook(folder, real_root + "/run", _KERNEL_GUARDS_FILES[0])]
    point_temp_folders(folder)


# Whether the zygote runs as SCHED_BATCH (see zygote): its children then switch back.
_ZYGOTE_IN_BACKGROUND = [False]
# Whether every spare refuses itself new processes in the kernel (_confine.no_forks), set
# by the zygote once it knows the system allows it (see _confine_runs).
_NO_FORKS = [False]
_LINUX = sys.platform.startswith("linux")


def _confine_runs():
    """Once, in the zygote, before any fork (see _confine.c): give up every capability
    (root's too), then make the zygote non-dumpable, so that its runs (its own user)
    cannot open its /proc files, such as the request pipe in /proc/1/fd; and find out
    whether spares can refuse themselves forks. Returns what the hello reports: why
    capabilities may remain, why the zygote may still be dumpable, why runs may still
    fork as far as the kernel goes (None for each that holds)."""
    if _confine is None:
        missing = "the _confine module is not built, or not loadable by this interpreter"
        return missing, missing, missing
    problems = []
    for step in (_confine.drop_capabilities, _confine.undumpable):
        try:
            step()
            problems.append(None)
        except (OSError, NotImplementedError) as exc:
            problems.append(str(exc))
    forks = None if _confine.has_no_forks() else "the fork filter knows only x86-64 Linux's system calls"
    _NO_FORKS[0] = forks is None
    return problems[0], problems[1], forks


def _schedule(policy):
    """Switch this process to `policy` (nice unchanged); False where that is not possible."""
    try:
        os.sched_setscheduler(0, policy, os.sched_param(0))
        return True
    except (AttributeError, OSError):  # not Linux, or refused
        return False


def _read_frame(protocol_in):
    """The next frame from the server, unmarshalled (see pool._Zygote.request); exits the
    child quietly when the server has closed the pipe (it is shutting down)."""
    header = read_exact_fd(protocol_in, 4)
    body = header and read_exact_fd(protocol_in, struct.unpack(">I", header)[0])
    if not body:
        os._exit(_EXIT_NO_INPUT)
    return marshal.loads(body)


def _read_request(protocol_in):
    """The first part of the next request (a dict). The second part of an earlier one (a
    tuple), left in the pipe by a child that died between reading the two, is skipped."""
    while True:
        request = _read_frame(protocol_in)
        if type(request) is dict:
            return request


class _Overdue(Exception):
    """Raised by the zygote's SIGALRM handler: a child outlived the wait for its exit."""


# Whether the zygote is inside _wait_until's waitpid: only then may its SIGALRM handler
# raise. A run can send the zygote SIGALRM too (a PID namespace's first process gets the
# signals it handles): raised anywhere else (before the `try`, in the `finally`), the
# exception would end the zygote.
_WAITING = [False]


def _overdue(signum, frame):
    if _WAITING[0]:
        _WAITING[0] = False
        raise _Overdue()


def _wait_until(pid, deadline):
    """(wait status, CPU seconds used) of child `pid`, once it has exited, or (None, None) if
    it is still alive at `deadline` (or a stray SIGALRM came first: the caller then waits
    again). The end of a
    child's notify pipe usually means it is exiting, but a run can close its end itself and
    live on: the wait is bounded by an alarm (set only for it, in the zygote, whose own
    handler raises _Overdue), so that a run can never hold the zygote past its deadline."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return None, None
    status = used = None
    previous = _signal.signal(signal.SIGALRM, _overdue)  # (_signal: no enum conversions)
    try:
        _WAITING[0] = True
        _signal.setitimer(signal.ITIMER_REAL, remaining)
        _, status, used = _reap(pid)
        _WAITING[0] = False
    except _Overdue:
        # The alarm, or a stray SIGALRM that may have come just after the wait had reaped
        # the child (before its status was kept): ask again without waiting.
        try:
            reaped, status, used = _reap(pid, os.WNOHANG)
            if reaped == 0:
                status = used = None  # still running
        except ChildProcessError:
            status = 0  # reaped, its status lost: the run's own result frame decides
    finally:
        _WAITING[0] = False
        _signal.setitimer(signal.ITIMER_REAL, 0)
        _signal.signal(signal.SIGALRM, previous)
    return status, used


class Spare:
    """A child forked before its request arrives. Fork, set-up and (once it has waited a
    while) a rehearsal happen while the server is idle; the child then reads the next
    request from the server's pipe itself and writes its trace straight back, so a run
    costs the server two process hand-offs, not four.

    A request comes in two frames (see pool._Zygote.request): what the sandbox needs, then
    the code, which the child reads only once it has its limits.

    The zygote only watches: the child reports (on a private pipe) that it has started and
    with which limits; the zygote kills the child if it outlives its wall-clock limit, and
    after the child is gone writes a trailer frame for that request (carrying a fallback
    result when the child died without writing one), then forks the next spare. Nothing a
    child writes can come after its trailer, which is how the server knows that no frame it
    reads later comes from an earlier run. Where the run's own bytes end, the server learns
    from the end-of-run marker before the trailer (see MARKER_BYTES): a run that wrote
    only part of a frame cannot make it read the trailer, or the next run's result, as the
    rest of it."""

    __slots__ = ("workdir", "real_workdir", "notify_r", "pid")

    def __init__(self, run_root, real_root, protocol_in, protocol_out):
        workdir = self.workdir = _new_workdir(run_root)
        # The folder itself is new, not a link: only its root needed resolving (once).
        self.real_workdir = real_root + workdir[len(run_root):]
        vm_base = _vm_base()
        self.notify_r, notify_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            self._child(protocol_in, protocol_out, notify_w, vm_base)
        os.close(notify_w)

    def _child(self, protocol_in, protocol_out, notify_w, vm_base):
        request = {}
        try:
            try:
                os.setpgid(0, 0)
            except OSError:
                pass
            if _ZYGOTE_IN_BACKGROUND[0]:
                _schedule(os.SCHED_OTHER)  # a run competes as any process does
            if _NO_FORKS[0]:
                _confine.no_forks()  # fails closed: the spare reports a broken sandbox
            if _confine is not None and _LINUX:
                _confine.die_with_parent()  # (without a PID namespace, nothing else would end it)
            # 0, 1 and 2 on an open of /dev/null of the spare's own: the zygote's open file
            # description, shared, kept what a run set on it (flock, OFD record locks,
            # O_NONBLOCK) for every later run to read, and a flock held every process on the
            # machine that locks /dev/null (review 27b). About 5 us, before the request.
            null = os.open("/dev/null", os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)
            os.dup2(null, 2)  # (2 was the server's log)
            os.close(null)
            keep = (protocol_in, protocol_out, notify_w)
            if _PROBE_REPORT[0] is not None:  # a probe of learn_pages, not a spare
                keep += prefault.start_probe(_PROBE_REPORT[0])
            low = 3
            for fd in sorted(keep):
                os.closerange(low, fd)
                low = fd + 1
            os.closerange(low, 1024)
            os.chdir(self.workdir)
            # Built before the request (by the zygote, for its usual folder), installed by
            # the run (see run_child).
            hook = _RUN_FOLDER[1]
            if self.workdir != _RUN_FOLDER[0]:
                point_temp_folders(self.workdir)
                hook = make_audit_hook(self.workdir, self.real_workdir, _KERNEL_GUARDS_FILES[0])
            if _REHEARSE_WHEN_IDLE_S is not None and \
                    not select.select((protocol_in,), (), (), _REHEARSE_WHEN_IDLE_S)[0]:
                _rehearse_until_request(protocol_in)
            request = _read_request(protocol_in)
            limits = request["limits"]
            limits["_vm_base"] = vm_base
            limits["_threads"] = _RUN_THREADS[0]
            request_id = str(request.get("id") or "")[:32].encode("ascii", "replace")
            os.write(notify_w, _START.pack(b"S", float(limits["timeout_s"]), float(limits["cpu_s"]), request_id))

            def read_code(request):
                code = _read_frame(protocol_in)
                os.close(protocol_in)  # the run must not read the next request
                request["loops"], request["compiled"] = code if type(code) is tuple else (None, None)

            run_child(request, self.workdir, protocol_out, self.real_workdir, hook, read_code)
        except BaseException:
            try:
                write_frame(protocol_out, json.dumps({
                    "schema": SCHEMA, "status": "crashed", "id": request.get("id"),
                    "message": "the sandbox failed: %s" % _describe(sys.exc_info()[1]),
                    "events": [], "truncated": {}}).encode())
            finally:
                os._exit(3)  # never back into the zygote's loop, whatever failed
        os._exit(0)

    def wait_start(self):
        """(timeout, cpu, id as bytes) once the child has its request; None if it exited
        without one. The notice comes whole (a pipe write this small is never split)."""
        data = os.read(self.notify_r, _START.size)
        if len(data) != _START.size:
            rest = data and read_exact_fd(self.notify_r, _START.size - len(data))
            if not rest:
                return None
            data += rest
        _, timeout, cpu, request_id = _START.unpack(data)
        return timeout, cpu, request_id.rstrip(b"\0")

    def wait_end(self, timeout):
        """Wait for the child to exit (killing it past its limit): its wait status, whether
        it had to be killed, and the CPU seconds it used (None if unknown)."""
        deadline = time.monotonic() + timeout + _KILL_GRACE_S
        notify_r = self.notify_r
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                for kill in (lambda: os.killpg(self.pid, signal.SIGKILL), lambda: os.kill(self.pid, signal.SIGKILL)):
                    try:
                        kill()
                    except OSError:
                        pass
                try:
                    _, status, used = _reap(self.pid)
                    return status, True, used
                except ChildProcessError:  # reaped already, as the alarm went off (_wait_until)
                    return 0, True, None
            ready, _, _ = select.select((notify_r,), (), (), remaining)
            # The run may write on the pipe itself; only its end (EOF at exit) matters.
            if ready and not os.read(notify_r, 4096):
                status, used = _wait_until(self.pid, deadline)
                if status is not None:
                    return status, False, used

    def cleanup(self):
        os.close(self.notify_r)
        try:
            os.rmdir(self.workdir)  # most runs leave their folder empty
        except OSError:
            remove_tree(self.workdir)


# After each run the zygote draws this many random bytes, the run's end-of-run marker, and
# writes them first on its control pipe (a pipe to the server that no run holds: runs close
# every descriptor but theirs as they start), then into the stream, just before the run's
# trailer. A run writes its result into that stream itself, and may write anything there
# (its own frames, a frame's length and no more); it cannot write the marker, which did
# not exist while it ran, nor reach the control pipe. So the server, knowing the marker, finds
# where the run's bytes end, whatever they are: a frame a run began and never finished
# (a review: a run wrote a length of 100000 and exited) no longer holds the server until
# it gives the worker up, nor the next run. See pool._Zygote.request.
MARKER_BYTES = 16
# The trailer of a run that wrote its own result, length first, is made by one `%` of bytes,
# without json: the zygote writes one after nearly every run, and each object it makes or
# touches then is a page that the last fork made it copy (10 of its 100 a run, measured).
# Ids are the server's (32 hex digits); the fast way takes only letters and digits.
_ID_BYTES = 32
_TRAILER_OK_BODY = TRAILER_OK.encode("ascii")
_TRAILER_OK_FRAME = struct.pack(">I", len(_TRAILER_OK_BODY % (b"0" * _ID_BYTES))) + _TRAILER_OK_BODY


def _trailer_frame(request_id, status, killed, timeout, cpu, began, cpu_used=None):
    """The frame that ends a run, for the server (see Spare). `request_id`: bytes;
    `cpu_used`: the CPU seconds the child used (see _status_from_wait)."""
    if not killed and status == 0 and len(request_id) == _ID_BYTES and request_id.isalnum():
        return _TRAILER_OK_FRAME % request_id
    request_id = request_id.decode("ascii", "replace")
    trailer = {"trailer": True, "id": request_id, "result": None}
    if killed:
        trailer["result"] = {
            "schema": SCHEMA, "status": "timeout", "id": request_id,
            "message": "timed out after %g s (the run did not stop itself, e.g. stuck in native code, "
                       "so it was killed and there is no partial trace)" % timeout,
            "events": [], "truncated": {"events": True}}
    elif status != 0:  # not a clean exit 0
        st, message = _status_from_wait(status, time.monotonic() - began, {"timeout_s": timeout, "cpu_s": cpu},
                                        cpu_used)
        trailer["result"] = {"schema": SCHEMA, "status": st, "message": message, "id": request_id,
                             "events": [], "truncated": {}}
    else:
        trailer["exit"] = 0
    return framed(json.dumps(trailer).encode())


# Spares that end before their request, this many in a row, mean that this zygote cannot
# make working ones: it stops, rather than fork them forever (even after the server has
# gone, which only a spare reading the pipe would notice), and the server starts another.
_MAX_SPARE_FAILURES = 5


# fcntl's F_SETPIPE_SZ and F_GETPIPE_SZ (Linux).
_F_SETPIPE_SZ, _F_GETPIPE_SZ = 1031, 1032


def _pipe_state(fd):
    """What a run can change of the result pipe that outlives it, as the zygote found it:
    its open file description's flags (one description, shared by the zygote and every
    run) and the pipe's size (None where there is no such thing)."""
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        size = fcntl.fcntl(fd, _F_GETPIPE_SZ) if _LINUX else None
    except OSError:  # not a pipe
        size = None
    return flags, size


# fcntl's F_OFD_SETLK (Linux 3.15+), and struct flock asking to unlock every byte (l_type
# F_UNLCK, l_whence SEEK_SET, l_start 0, l_len 0: to the end, l_pid 0).
_F_OFD_SETLK = 37
_UNLOCK_ALL = struct.pack("hhqqi", fcntl.F_UNLCK, 0, 0, 0, 0)


def _restore_pipe(fd, state, setfl=fcntl.F_SETFL, unlock=fcntl.LOCK_UN):
    """Put back what the last run changed of the result pipe (see _pipe_state), before the
    zygote writes its marker and trailer and before the next spare is forked: a run that
    made it non-blocking (os.set_blocking) or shrank it (F_SETPIPE_SZ) left it so for every
    later run, whose results were then cut ("a frame announced but only 4092 bytes
    written"), and the zygote's own trailer was dropped on EAGAIN, so that the next call
    waited its limit and 15 s and ran twice (review 27). The flags are set back whatever
    they are (O_NONBLOCK, O_DIRECT's packet mode, O_ASYNC), the size where it changed (a
    pipe that still holds more than the old size cannot shrink yet: it is left larger, and
    tried again after the next run), and a flock() on the description is let go, and
    record locks of the description (F_OFD_SETLK) too (review 27b: they outlived the run,
    for a later one to read back with F_OFD_GETLK). Four system calls, about a
    microsecond."""
    flags, size = state
    fcntl.fcntl(fd, setfl, flags)
    if size is not None and fcntl.fcntl(fd, _F_GETPIPE_SZ) != size:
        try:
            fcntl.fcntl(fd, _F_SETPIPE_SZ, size)
        except OSError:
            pass
    try:
        fcntl.flock(fd, unlock)
    except OSError:
        pass
    if _LINUX:
        try:
            fcntl.fcntl(fd, _F_OFD_SETLK, _UNLOCK_ALL)
        except OSError:
            pass


def serve(run_root, real_root, protocol_in, protocol_out, control=None):
    """Serve the server's requests, one spare at a time. `control`: the control pipe's
    descriptor (see MARKER_BYTES), or None (a zygote started without one: no markers)."""
    shared = _pipe_state(protocol_out)
    spare = Spare(run_root, real_root, protocol_in, protocol_out)
    failures = 0
    while True:
        started = spare.wait_start()
        if started is None:
            status = os.waitpid(spare.pid, 0)[1]
            spare.cleanup()
            if os.WIFEXITED(status) and os.WEXITSTATUS(status) == _EXIT_NO_INPUT:
                return  # the server is gone
            failures += 1
            if failures >= _MAX_SPARE_FAILURES:
                how = ("with status %d" % os.WEXITSTATUS(status) if os.WIFEXITED(status)
                       else "by signal %d" % os.WTERMSIG(status))
                sys.stderr.write("tracer: %d spare processes in a row ended before their request (the last %s); "
                                 "stopping\n" % (failures, how))
                sys.stderr.flush()
                return
            spare = Spare(run_root, real_root, protocol_in, protocol_out)
            continue
        failures = 0
        timeout, cpu, request_id = started
        began = time.monotonic()
        status, killed, used = spare.wait_end(timeout)
        _restore_pipe(protocol_out, shared)
        trailer = _trailer_frame(request_id, status, killed, timeout, cpu, began, used)
        if control is not None:
            # The run's end, marked in the stream by bytes it cannot have known (drawn now,
            # once it is gone), told first on the control pipe, which no run holds (see MARKER_BYTES).
            marker = os.urandom(MARKER_BYTES)
            if not write_all(control, marker):
                return  # the server is gone
            trailer = marker + trailer
        if not write_all(protocol_out, trailer):
            # A trailer the server never gets would hold its next call until it gave the
            # worker up: ending the zygote (the stream's end) tells it at once.
            return
        spare.cleanup()
        _clear_run_root(run_root)
        _end_leftovers()
        # The next spare is forked only now: forking (copying the page tables of this
        # whole process) while the run is still going would take CPU from it.
        spare = Spare(run_root, real_root, protocol_in, protocol_out)


def _clear_run_root(run_root):
    """Remove whatever a run left beside its own folder (Landlock lets runs write anywhere
    in the runs' tmpfs; a run that got past the hook filled it, and every later run of this
    zygote then failed with "No space left on device"). Usually there is nothing."""
    for name in os.listdir(run_root):
        remove_tree(run_root + "/" + name)


def _end_leftovers():
    """Between runs, as PID 1 of the runs' PID namespace: kill and reap whatever a run left
    running there (root is exempt from the run's process limit, and a program it starts
    through a gap of the hook, see docs/sandbox.md, would outlive the run). kill(-1) from a
    namespace's PID 1 reaches every other process in it, and nothing outside; only then."""
    if not _IN_PID_NAMESPACE[0] or os.getpid() != 1:
        return
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        return  # nothing was left: the usual case, one system call
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


_WARM_UP_LIMITS = {"timeout_s": 5.0, "cpu_s": 5.0, "memory_mb": 512, "max_output_bytes": 65536,
                   "max_events": 20000, "max_depth": 50, "recursion_limit": 1000, "max_repr": 120,
                   "max_return_repr": 10000}
# CPython specialises ("quickens") a function's bytecode in place after a few calls: done
# here, before any fork, children inherit the specialised code instead of each rewriting
# (and copy-on-write faulting) it.
_WARM_UP_ROUNDS = 12


_WARM_UP_SOURCE = ("def g(n):\n    return n * 2\n\n"
                   "def f(xs):\n    out = []\n    for i, x in enumerate(xs):\n        if x:\n"
                   "            out.append((i, g(x), str(x)))\n    d = {k: v for k, v, _ in out[:1]}\n"
                   "    return [out, d, 'a' + 'b', None, 1.5]\n")
# The warm-up request as a spare receives it (marshalled, code compiled): see _rehearse.
_REHEARSAL = [b""]
# Whether the kernel keeps runs' writes in the runs' tmpfs (namespaces with every other mount
# read-only): set once by the zygote, read by each spare for its audit hook.
_KERNEL_GUARDS_FILES = [False]
# Whether this zygote is PID 1 of a PID namespace it entered for its runs (see zygote).
_IN_PID_NAMESPACE = [False]
# Threads a run may start (see threads_for_runs and sandbox.apply_limits).
_RUN_THREADS = [0]


def threads_for_runs():
    """How many threads a run may start: RUN_THREADS where the kernel holds everything a
    run does with them, else 0. That needs RLIMIT_NPROC counted per user namespace (so
    that a limit can allow threads), the PID namespace (whatever a run starts past the
    hook dies with the run) and the kernel guarding files, by read-only mounts or Landlock
    (a second thread racing the hook's path checks still cannot write outside the run's
    folder). Root may start threads anyway:
    the kernel applies no RLIMIT_NPROC to it."""
    if _IN_PID_NAMESPACE[0] and _KERNEL_GUARDS_FILES[0] and counts_processes_per_namespace():
        return RUN_THREADS
    return 0


# Modules the zygote imports before any run (see _preload), from the command line.
_PRELOAD = [()]


def _thread_count():
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # no /proc (macOS): the Python threads, at least
        return len(sys._current_frames())


def _preload(names):
    """Import `names` once, here, so that every run finds them imported: a run that uses
    numpy saves about 0.1 s, pandas 0.5 s. Their import code runs before any run, inside
    the zygote's namespaces but outside the runs' audit hook; only modules on the
    interpreter's own path are found (the zygote runs with -I: neither the workspace nor
    the working folder is on it). Returns (imported, {name: why not}). Exits the zygote
    (it cannot un-import) when an import started a thread (fork copies only the forking
    thread: a lock another thread holds would stay locked in every run) or loaded a module
    no run may reach (_ctypes, say: its foreign calls raise no audit event)."""
    imported, errors = [], {}
    for name in names:
        try:
            __import__(name)
            imported.append(name)
        except BaseException as exc:  # a missing module, or one that fails: runs say so
            errors[name] = "%s: %s" % (type(exc).__name__, exc)
        problem = None
        unreachable = unreachable_loaded(_KERNEL_GUARDS_FILES[0])
        if _thread_count() > 1:
            problem = "started a thread, and a process with threads cannot fork safely"
        elif unreachable:
            problem = "loaded %s, which runs may not reach" % ", ".join(unreachable)
        if problem:
            sys.stderr.write("tracer: preloading %s %s\n" % (name, problem))
            sys.stderr.flush()
            os._exit(3)
    return imported, errors


def _rehearse(packed):
    """One run of the warm-up request through the machinery every child uses (unmarshal,
    tracing, repr, literal check, the result's JSON), yielding between steps so that a
    caller can stop early. Only built-in values are traced, so no user-level __repr__ (and
    no repr timer) is involved, and the tracer is off whenever it yields."""
    request = marshal.loads(packed)
    yield
    prepared = Prepared(request)
    state = RunState(request, "/", -1)
    namespace = {"__builtins__": __builtins__}
    try:
        state.loops = prepared.loops
        exec(prepared.code, namespace)
        tracer = LineTracer(state)
        yield
        sys.settrace(tracer.on_call)
        try:
            value = eval(prepared.call_code, namespace)
        finally:
            sys.settrace(None)
        tracer.frames.clear()
        yield
        result = state.result("ok", "returned", **{"return": _return_info(state, value)})
        result["assertion"] = {"passed": value == eval(prepared.expect_code, namespace),
                               "expected_repr": state.repr(value, 1000), "actual_repr": result["return"]["repr"]}
        yield
        encode_result(result)
    finally:
        # Finished or cut short, nothing of the rehearsal may outlive it: the run could find
        # it (gc.get_objects). A RunState and its ReprBudget point at each other, and the
        # warm-up's functions at their namespace; break both cycles.
        state.budget.state = None
        namespace.clear()


def _warm_up():
    """Exercise, several times, the machinery every child uses, so that its lazily built
    state and specialised bytecode are inherited rather than rebuilt (and copy-on-write
    faulted) in each child. Half the rounds compile in the child, as happens when the
    server's Python is another one."""
    request = {"source": _WARM_UP_SOURCE, "filename": "<warm-up>", "call": "f([1, 2, 0, 3])",
               "expect": "f([1, 2, 0, 3])", "limits": dict(_WARM_UP_LIMITS), "id": "warm-up",
               "loops": loop_table(ast.parse(_WARM_UP_SOURCE)), "mode": "call"}
    compiled = (compile(_WARM_UP_SOURCE, "<warm-up>", "exec", dont_inherit=True, optimize=0),
                compile(request["call"], "<call>", "eval", dont_inherit=True, optimize=0),
                compile(request["expect"], "<expect>", "eval", dont_inherit=True, optimize=0), None)
    for round_ in range(_WARM_UP_ROUNDS):
        request["compiled"] = compiled if round_ % 2 else None
        packed = marshal.dumps(request, 4)
        for _ in _rehearse(packed):
            pass
        json.dumps({"trailer": True, "id": "x", "result": None, "exit": 0}).encode()
        if request["compiled"] is not None:
            _REHEARSAL[0] = packed
    SafeRepr(100, None)([1, (2, "x"), {3: None}])
    linecache.cache.pop("<warm-up>", None)


# A spare rehearses only once no request has come for this long (None: never): the server
# is then waiting for its user (an editor), and CPU is free. Back-to-back requests (a batch)
# find the CPU busy already, and a rehearsal would only compete with the runs. Set from the
# command line (see main and pool._REHEARSE_WHEN_IDLE_S).
_REHEARSE_WHEN_IDLE_S = 0.015


def _rehearsal_setting(text):
    """The command line's "off" or seconds; the default for anything else."""
    if text == "off":
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        return _REHEARSE_WHEN_IDLE_S
    return value if 0 <= value <= 60 else _REHEARSE_WHEN_IDLE_S


def _rehearse_until_request(protocol_in):
    """What a spare does while it waits: rehearse a run, stopping between steps as soon as
    the request is there. Most pages a run writes (allocator pools, our own objects'
    reference counts) are then copied from the zygote now, while the server waits for the
    user, rather than during the run: a copy-on-write fault costs several microseconds,
    and a run would otherwise take a few hundred. The rehearsal's CPU time counts towards
    the run's CPU limit (a few milliseconds of a limit in whole seconds). A rehearsal that
    fails changes nothing for the run."""
    steps = _rehearse(_REHEARSAL[0])
    try:
        for _ in steps:
            if select.select((protocol_in,), (), (), 0)[0]:
                break
    except Exception:
        pass
    finally:
        steps.close()


# Whether spares copy their likely pages at once (see prefault and learn_pages); set from the
# command line (see main and pool._PREFAULT).
_PREFAULT_ON = [True]
# In the zygote, only while it forks a probe (learn_pages): the probe's report pipe.
_PROBE_REPORT = [None]
# Probes that learn_pages forks, and how many of them must have touched a page to plan it.
_PROBES = 3
_PROBE_QUORUM = 2


def learn_pages(run_root, real_root):
    """Plan the pages every spare copies as it is forked (prefault.PLAN): fork a few probes
    that do exactly what a spare does (Spare), given the warm-up request on private pipes,
    and keep the pages most of them wrote. Before any run, so that nothing a run does can
    shape what later runs are given. Returns what the zygote's hello reports."""
    if not _PREFAULT_ON[0]:
        return {"pages": 0, "error": "turned off"}
    if prefault._prefault is None:
        return {"pages": 0, "error": "the _prefault module is not built, or not loadable by this interpreter"}
    if not prefault._prefault.supported():
        return {"pages": 0, "error": "this kernel cannot populate pages (MADV_POPULATE_WRITE needs Linux 5.14+)"}
    request = marshal.loads(_REHEARSAL[0])
    code = (request.pop("loops"), request.pop("compiled"))
    request["id"] = "0" * _ID_BYTES
    frames = framed(marshal.dumps(request, 4)) + framed(marshal.dumps(code, 4))
    reports = []
    for _ in range(_PROBES):
        requests_r, requests_w = os.pipe()
        results_r, results_w = os.pipe()
        report_r, report_w = os.pipe()
        write_all(requests_w, frames)
        _PROBE_REPORT[0] = report_w
        try:
            probe = Spare(run_root, real_root, requests_r, results_w)
        finally:
            _PROBE_REPORT[0] = None
            for fd in (requests_r, results_w, report_w):
                os.close(fd)
        try:
            started = probe.wait_start()
            report = b""
            deadline = time.monotonic() + 10.0
            while True:  # until the probe exits (its result and its report are small)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not select.select((report_r,), (), (), remaining)[0]:
                    break  # wait_end kills it
                chunk = os.read(report_r, 65536)
                if not chunk:
                    break
                report += chunk
            status = probe.wait_end(started[0] if started else 0.0)[0]
            pages = prefault.parse_report(report) if status == 0 else None
            if pages:
                reports.append(pages)
        finally:
            probe.cleanup()
            for fd in (requests_w, results_r, report_r):
                os.close(fd)
    if len(reports) < _PROBE_QUORUM:
        return {"pages": 0, "error": "the probes failed"}
    prefault.PLAN[0] = prefault.plan(reports, _PROBE_QUORUM)
    prefault._prefault.set_plan(prefault.PLAN[0])
    # one_call: all ranges in one process_madvise (what supported() found, under this
    # zygote's system call filter), else one madvise per range.
    return {"pages": prefault.pages_in(prefault.PLAN[0]), "error": None, "one_call": prefault._prefault.batched()}


def bytecode_tag():
    """Which code objects this interpreter can run: its implementation and bytecode magic
    number. The server compiles runs itself when its own tag is the same."""
    magic = getattr(sys.modules.get("_frozen_importlib_external"), "MAGIC_NUMBER", None)
    return "%s:%s" % (sys.implementation.cache_tag, magic.hex()) if magic else None


RUN_ROOT_PREFIX = "semcoder-sandbox-"


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def sweep_stale_run_roots(base):
    """Remove run folders left behind by zygotes that no longer exist (killed before their
    clean-up ran). A folder whose zygote is alive, whose name has no pid, or that another
    user owns (the name is no proof that it is ours: review 25), is left alone."""
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        if not name.startswith(RUN_ROOT_PREFIX):
            continue
        pid = name[len(RUN_ROOT_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        path = os.path.join(base, name)
        try:
            if os.lstat(path).st_uid != os.geteuid():
                continue
        except OSError:
            continue
        remove_tree(path)


def new_run_root():
    base = temp_base()
    sweep_stale_run_roots(base)
    # The pid in the name lets a later zygote remove this folder if we die without cleaning
    # up: with namespaces it is a tmpfs mount point that only the outside can remove.
    return make_private_dir(base, "%s%d-" % (RUN_ROOT_PREFIX, os.getpid()))


def _preload_setting(text):
    """The command line's comma-separated module names (empty: none)."""
    return tuple(name for name in (text or "").split(",") if name)


def run_site():
    """Do what the site module does at start-up: the zygote's interpreters start without it
    (-S: see pool._Zygote). Its start-up files (the .pth files of its site-packages,
    sitecustomize) are the workspace's when the interpreter is the workspace's .venv: the
    zygote runs them once it has given up its capabilities, and, where there are namespaces,
    inside them, Landlock and the syscall filter (after the restart). Where there are none
    (audit mode, no Linux) they run as Python would have run them, only later."""
    if sys.flags.no_site:
        import site
        site.main()


def enter_then_restart(isolation, rehearsal):
    """Enter the namespaces, then replace this interpreter with a fresh one (same
    namespaces and mounts, same pipes) that runs the zygote: in the same process, or, with
    a PID namespace, in the namespace's first process (see become_pid_1).

    Entering needs ctypes, and once _ctypes is loaded its types stay reachable from any
    run (type.__subclasses__ finds them, whatever sys.modules says), and calling a foreign
    function through them raises no audit event: native code past the hook. After exec
    no _ctypes was ever loaded. Returns only if exec fails; the zygote then carries on in
    this interpreter."""
    run_root = new_run_root()
    error, tmpfs = enter_namespaces(run_root)
    pid_error = enter_pid_namespace() if error is None else "no user namespace"
    host_pid, proc_error = "", "no PID namespace"
    if pid_error is None:
        become_pid_1()  # the rest of this function runs in the namespace's PID 1
        host_pid = str(_proc_pid())  # as the host's /proc names it, before ours hides it
        # Before Landlock and the filter, which refuse mounts.
        proc_error = mount_own_proc()
    # Once the runs' tmpfs is mounted on run_root (a Landlock rule names what is there now).
    landlock_error = confine_writes(run_root)
    # Last, since it refuses what came before (unshare, mounts) and every exec but one.
    exec_fd, filter_error = lock_down(guard_pids=pid_error is not None)
    entered = ["entered", isolation, rehearsal, run_root, "1" if tmpfs else "0", error or "", ",".join(_PRELOAD[0]),
               pid_error or "", filter_error or "", landlock_error or "", "on" if _PREFAULT_ON[0] else "off",
               host_pid, proc_error or "", "" if _CONTROL[0] is None else str(_CONTROL[0])]
    # The flags it was started with (see pool._Zygote): -I, or -s where PYTHONHASHSEED
    # counts, and -S: the zygote runs the site module's start-up files itself (run_site).
    command = [sys.executable, "-I" if sys.flags.isolated else "-s", "-S", LAUNCHER] + entered
    if pid_error is None:
        die_with_parent()
    try:
        _restart(command, exec_fd)
    except OSError as exc:
        sys.stderr.write("tracer: could not restart the interpreter after entering namespaces: %s\n" % exc)
    zygote(isolation, run_root, error, tmpfs, pid_error, filter_error="the interpreter could not restart",
           landlock_error=landlock_error, host_pid=host_pid, proc_error=proc_error)


def _restart(command, exec_fd):
    """Replace this interpreter with `command`; through `exec_fd` (the one exec the
    syscall filter allows) when there is one."""
    if exec_fd is None:
        os.execv(sys.executable, command)
    os.execve(exec_fd, command, os.environ)


def become_pid_1():
    """Fork the first process of the PID namespace this process has made for its children,
    and return in it: it goes on to become the zygote. This process stays outside the
    namespace (the server knows its pid) and only waits; it never returns. It keeps none of
    the protocol's pipes (the control pipe neither), so that the server reads the zygote's
    end as the zygote's, and it
    exits as the zygote does. The zygote dies with it (the server may kill it: see
    die_with_parent), and every run with the zygote: the kernel kills a PID namespace's
    processes when its PID 1 exits."""
    pid = os.fork()  # the namespace's PID 1
    if pid == 0:
        return
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    if _CONTROL[0] is not None:
        os.close(_CONTROL[0])
    status = os.waitpid(pid, 0)[1]  # (Python retries it when a signal interrupts it)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def zygote(isolation, run_root=None, namespaces_error="not requested", tmpfs=False, pid_error="not requested",
           filter_error="not requested", landlock_error="not requested", host_pid=None, proc_error="not requested"):
    # The protocol moves to private descriptors; fds 0/1 become /dev/null so nothing a run
    # prints (even from native code) can reach the server's pipe by accident.
    protocol_in, protocol_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    if _CONTROL[0] is not None:
        # A low number, like the others (the server's number for it may be any): a spare
        # closes every descriptor below 1024 but its own, and no run may hold this one.
        control = os.dup(_CONTROL[0])
        os.close(_CONTROL[0])
        _CONTROL[0] = control
    clean_environment()
    apply_fixed_limits()
    # Python's own SIGINT handler would end the zygote on a stray interrupt (runs put back
    # the default for themselves, see run_child).
    _signal.signal(signal.SIGINT, _signal.SIG_IGN)
    _IN_PID_NAMESPACE[0] = pid_error is None
    install_stand_ins()
    prepare_thread_starts()
    capabilities_error, dumpable_error, forks_error = _confine_runs()
    # Only now the interpreter's start-up files, which may be the workspace's code: inside
    # the kernel layers where there are any, and after the zygote gave up its capabilities
    # and made itself undumpable.
    run_site()
    if run_root is None:
        run_root = new_run_root()
    read_only = namespaces_error is None and read_only_outside(run_root)
    # Either way the kernel refuses every write outside the runs' folder.
    _KERNEL_GUARDS_FILES[0] = read_only or landlock_error is None
    install_native_stand_ins(_KERNEL_GUARDS_FILES[0])
    _RUN_THREADS[0] = threads_for_runs()
    preloaded, preload_errors = _preload(_PRELOAD[0])
    real_root = os.path.realpath(run_root)
    prepare_run_folder(run_root, real_root)
    _warm_up()
    # Move everything imported so far out of the collector's reach: a child's garbage
    # collections then do not touch (and copy-on-write fault) every inherited object.
    gc.collect()
    if hasattr(gc, "freeze"):
        gc.freeze()
    try:
        prefaulting = learn_pages(run_root, real_root)
    except Exception as exc:  # only a speed-up: spares fault page by page instead
        prefault.PLAN[0] = b""
        prefaulting = {"pages": 0, "error": _describe(exc)}
    # The zygote wakes when a run starts and when it ends, and it should not take the CPU
    # from the run (or from the server) then: a SCHED_BATCH process gets its fair share
    # but never preempts another on waking up. Its children switch back at once.
    _ZYGOTE_IN_BACKGROUND[0] = hasattr(os, "SCHED_BATCH") and _schedule(os.SCHED_BATCH)
    # Read back from the kernel, not taken from the process that installed it.
    filtered = filter_mode() == 2
    hello = {"ready": True, "python": sys.version.split()[0], "bytecode": bytecode_tag(), "executable": sys.executable,
             "pid": os.getpid(), "host_pid": int(host_pid) if host_pid else _proc_pid(),
             "namespaces": namespaces_error is None,
             "own_proc": proc_error is None, "own_proc_error": proc_error,
             "pid_namespace": pid_error is None,
             "pid_namespace_error": pid_error,
             "syscall_filter": filtered,
             "syscall_filter_error": None if filtered else (filter_error or "not in force"),
             "read_only_outside": read_only, "landlock": landlock_error is None, "landlock_error": landlock_error,
             "kernel_guards_files": _KERNEL_GUARDS_FILES[0], "run_threads": _RUN_THREADS[0],
             "namespaces_error": namespaces_error, "platform": sys.platform, "run_root": run_root, "tmpfs": tmpfs,
             "rehearse_when_idle_s": _REHEARSE_WHEN_IDLE_S, "preloaded": preloaded,
             "zygote_in_background": _ZYGOTE_IN_BACKGROUND[0],
             "preload_errors": preload_errors, "prefault": prefaulting,
             "undumpable": dumpable_error is None, "undumpable_error": dumpable_error,
             "control": _CONTROL[0] is not None,
             "forks_refused": forks_error is None, "forks_refused_error": forks_error,
             # Read back from the kernel: the sets or-ed together (0: none), -1 if unknown.
             "capabilities": capability_sets(), "capabilities_error": capabilities_error}
    write_frame(protocol_out, json.dumps(hello).encode())
    try:
        serve(run_root, real_root, protocol_in, protocol_out, _CONTROL[0])
    finally:
        remove_tree(run_root)


# The control pipe's descriptor (see MARKER_BYTES), from the command line; None without one.
_CONTROL = [None]


def _control_setting(text):
    """The command line's control descriptor: a number of an open descriptor, else None."""
    if not text or not text.isdigit():
        return None
    try:
        os.fstat(int(text))
    except OSError:
        return None
    return int(text)


def main(argv):
    """`launch.py [ISOLATION [REHEARSAL [PRELOAD [PREFAULT [CONTROL]]]]]`: ISOLATION is auto,
    namespaces or audit; REHEARSAL is how long a spare waits idle before it rehearses, in
    seconds, or "off"; PRELOAD names modules to import before any run, comma-separated;
    PREFAULT is "off" to keep spares from copying their likely pages at once (learn_pages);
    CONTROL is the descriptor of the control pipe to the server (see MARKER_BYTES)."""
    global _REHEARSE_WHEN_IDLE_S
    isolation = argv[1] if len(argv) > 1 else "auto"
    if isolation == "entered":  # restarted by enter_then_restart
        _, isolation, rehearsal, run_root, tmpfs, error = argv[1:7]
        _REHEARSE_WHEN_IDLE_S = _rehearsal_setting(rehearsal)
        _PRELOAD[0] = _preload_setting(argv[7] if len(argv) > 7 else "")
        pid_error = argv[8] if len(argv) > 8 else "not requested"
        filter_error = argv[9] if len(argv) > 9 else "not requested"
        landlock_error = argv[10] if len(argv) > 10 else "not requested"
        _PREFAULT_ON[0] = (argv[11] if len(argv) > 11 else "on") != "off"
        host_pid = argv[12] if len(argv) > 12 else ""
        proc_error = argv[13] if len(argv) > 13 else "not requested"
        _CONTROL[0] = _control_setting(argv[14] if len(argv) > 14 else "")
        zygote(isolation, run_root, error or None, tmpfs == "1", pid_error or None, filter_error or None,
               landlock_error or None, host_pid or None, proc_error or None)
        return 0
    rehearsal = argv[2] if len(argv) > 2 else ""
    _REHEARSE_WHEN_IDLE_S = _rehearsal_setting(rehearsal)
    _PRELOAD[0] = _preload_setting(argv[3] if len(argv) > 3 else "")
    _PREFAULT_ON[0] = (argv[4] if len(argv) > 4 else "on") != "off"
    _CONTROL[0] = _control_setting(argv[5] if len(argv) > 5 else "")
    if isolation in ("auto", "namespaces") and sys.platform.startswith("linux"):
        enter_then_restart(isolation, rehearsal)
    elif isolation in ("auto", "namespaces"):
        zygote(isolation, namespaces_error="namespaces exist only on Linux")
    else:
        zygote(isolation)
    return 0

