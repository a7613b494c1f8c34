"""The part of the tracer that runs inside the user's interpreter.

This file is executed as a script by the user's own Python (3.9+), so it imports nothing
but the standard library and nothing from this package. It runs as a *zygote*: started
once, it imports what runs need, optionally enters new user+network namespaces, and then
serves requests on stdin/stdout (4-byte big-endian length + UTF-8 JSON). For each request
it forks a fresh child, which applies rlimits, an audit hook, a private temporary working
directory and a minimal environment, runs the traced code and writes its trace on a pipe.
Forking from a warm process avoids interpreter start-up, and since every run happens in a
fresh child, nothing a run does (module globals, monkey-patching) survives into the next.
"""

from __future__ import annotations

import ast
import dis
import gc
import json
import linecache
import os
import resource
import select
import shutil
import signal
import _signal
import struct
import sys
import tempfile
import time
import traceback

# Imported here so children do not pay for them (user code often needs them).
import collections  # noqa: F401
import functools  # noqa: F401
import itertools  # noqa: F401
import math  # noqa: F401
import operator  # noqa: F401
import re  # noqa: F401
import string  # noqa: F401

SCHEMA = "semcoder.trace/1"
# Our own references: traced code that patches json.dumps or os.write must not be able to
# stop its trace from being delivered.
_json_dumps = json.dumps
_os_write = os.write
_os_close = os.close
_os_exit = os._exit
_setitimer = signal.setitimer
_ITIMER_REAL = signal.ITIMER_REAL

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000

# Grace period after the wall-clock limit before the zygote kills a child that did not
# stop itself (its Python-level timer cannot fire while it is stuck in native code).
_KILL_GRACE_S = 1.0
# A user-defined __repr__ gets this long before it counts as hung.
_REPR_BUDGET_S = 0.2

_ENV_ALLOWED = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "SYSTEMROOT")


# --------------------------------------------------------------------------- safe repr

_ATOMS = (int, float, complex, bool, type(None), str, bytes)


class _ReprTimeout(BaseException):
    """Raised by the alarm handler inside a user __repr__ that ran out of time."""


class _ReprBudget:
    """Runs user-defined __repr__ methods with a time limit, keeping the run's own alarm."""

    def __init__(self, state):
        self.state = state
        self.active = False
        # id -> (object, text) for objects whose repr hung: not retried (each try costs the
        # whole budget). A repr that raised is retried: it may work once the object is built. Holding
        # the object keeps its id from being reused by another.
        self.failed = {}

    def call(self, obj):
        known = self.failed.get(id(obj))
        if known is not None:
            return known[1]
        state = self.state
        remaining = state.deadline - time.monotonic()
        if remaining <= 0:
            return "<repr skipped: out of time>"
        self.active = True
        # The interval makes the alarm fire again if the user code swallows the first one
        # (the handler then ends the run once its deadline has passed).
        _setitimer(_ITIMER_REAL, min(_REPR_BUDGET_S, remaining), 0.05)
        try:
            text = repr(obj)
            self.active = False
            if not isinstance(text, str):
                text = "<repr returned %s>" % type(text).__name__
        except _ReprTimeout:
            text = "<repr timed out>"
            self.failed[id(obj)] = (obj, text)
        except BaseException as exc:  # a broken __repr__ must not break the trace
            text = "<repr failed: %s>" % type(exc).__name__
        finally:
            self.active = False
            remaining = state.deadline - time.monotonic()
            _setitimer(_ITIMER_REAL, max(remaining, 0.001), 0)
        return text


class SafeRepr:
    """Bounded reprs: builtin containers are walked here (so no user code runs and the
    size is capped); any other object's repr runs under a time budget."""

    def __init__(self, max_len, budget):
        self.max_len = max_len
        self.budget = budget

    def __call__(self, obj, max_len=None):
        limit = max_len or self.max_len
        parts = []
        self._walk(obj, parts, limit, 0)
        text = "".join(parts)
        if len(text) > limit:
            text = text[: max(limit - 3, 1)] + "..."
        return text

    def _walk(self, obj, out, limit, level):
        kind = type(obj)
        if kind in _ATOMS:
            if kind is int and obj.bit_length() > 4000:
                out.append("<int with %d bits>" % obj.bit_length())
            elif kind is str and len(obj) > limit:
                out.append(repr(obj[:limit]))
            elif kind is bytes and len(obj) > limit:
                out.append(repr(obj[:limit]))
            else:
                out.append(repr(obj))
            return
        if kind is bytearray or kind is range:
            out.append(repr(obj if kind is range else bytearray(obj[:limit])))
            return
        if kind in (list, tuple, set, frozenset, dict):
            if level > 6:
                out.append("...")
                return
            if kind is dict:
                opening, closing = "{", "}"
            elif kind is list:
                opening, closing = "[", "]"
            elif kind is tuple:
                opening, closing = "(", ")"
            elif not obj:
                out.append("set()" if kind is set else "frozenset()")
                return
            else:
                opening, closing = ("{", "}") if kind is set else ("frozenset({", "})")
            out.append(opening)
            used = sum(len(p) for p in out)
            first = True
            items = obj.items() if kind is dict else obj
            for item in items:
                if used > limit:
                    out.append(", ...")
                    break
                if not first:
                    out.append(", ")
                first = False
                if kind is dict:
                    self._walk(item[0], out, limit, level + 1)
                    out.append(": ")
                    self._walk(item[1], out, limit, level + 1)
                else:
                    self._walk(item, out, limit, level + 1)
                used = sum(len(p) for p in out)
            if kind is tuple and len(obj) == 1:
                out.append(",")
            out.append(closing)
            return
        if kind.__repr__ is object.__repr__:
            out.append("<%s object>" % kind.__name__)
            return
        # Anything else may run user code (a __repr__, or a container's elements' reprs).
        text = self.budget.call(obj)
        out.append(text if len(text) <= limit else text[:limit])


def _fingerprint(value, text):
    # The repr may be cut short; the length still reveals appends to a long list.
    try:
        size = len(value) if isinstance(value, (list, dict, set, bytearray)) else -1
    except Exception:
        size = -1
    return (text, size)


# --------------------------------------------------------------------------- loops

def loop_table(tree):
    """Loops of a module, as plain lists (so the server can work them out and send them):
    [[header line, last line, [names a `for` binds]], ...] and [[line, innermost loop
    header], ...] for every line inside a loop. Only statements are visited: lambdas and
    comprehensions are not traced, and a function defined in a loop has its own frame."""
    loops = []
    innermost = []

    def visit(statements, current):
        for node in statements:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(node.body, None)
                continue
            header = current
            if isinstance(node, (ast.For, ast.While, ast.AsyncFor)):
                header = node.lineno
                targets = [] if isinstance(node, ast.While) else [
                    n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)]
                loops.append([node.lineno, node.end_lineno or node.lineno, targets])
            if header is not None:
                innermost.extend([line, header] for line in range(node.lineno, (node.end_lineno or node.lineno) + 1))
            for field in ("body", "orelse", "finalbody"):
                block = getattr(node, field, None)
                if block:
                    visit(block, header)
            for handler in getattr(node, "handlers", None) or ():
                visit(handler.body, header)
            for case in getattr(node, "cases", None) or ():
                visit(case.body, header)

    visit(tree.body, None)
    return loops, innermost


def _loop_map(table):
    """The child's form of loop_table: {line: header} and {header: (first, last, targets)}.
    Nested loops come later in the table, so their lines override the outer loop's."""
    loops, innermost = table
    return dict(innermost), {h: (h, last, tuple(t)) for h, last, t in loops}


# --------------------------------------------------------------------------- tracing

_RETURN_OPS = frozenset(dis.opmap[name] for name in ("RETURN_VALUE", "YIELD_VALUE", "RETURN_CONST",
                                                     "RETURN_GENERATOR") if name in dis.opmap)
_YIELD_OP = dis.opmap.get("YIELD_VALUE")
_RESUME_OP = dis.opmap.get("RESUME", -1)
_SKIPPED_CODE = frozenset(("<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>", "<lambda>"))


class _Frame:
    __slots__ = ("depth", "snapshot", "pending", "loops")

    def __init__(self, depth):
        self.depth = depth
        self.snapshot = {}
        self.pending = None
        self.loops = {}


class LineTracer:
    """sys.settrace callbacks recording user-code lines with the locals each line changed."""

    def __init__(self, state):
        self.state = state
        self.filename = state.filename
        self.frames = {}
        self.events = state.events
        self.max_events = state.limits["max_events"]
        self.max_depth = state.limits["max_depth"]
        self.repr = state.repr
        self.innermost, self.ranges = state.loops
        self.recording = True

    def _stop_recording(self):
        self.recording = False
        self.state.truncated["events"] = True
        sys.settrace(None)

    def _diff(self, info, frame):
        changes = {}
        snapshot = info.snapshot
        safe_repr = self.repr
        for name, value in frame.f_locals.items():
            old = snapshot.get(name)
            if old is not None and old[0] is value and type(value) in _ATOMS:
                continue
            text = safe_repr(value)
            fp = _fingerprint(value, text)
            if old is None or old[0] is not value or old[1] != fp:
                changes[name] = text
                snapshot[name] = (value, fp)
        return changes

    def _name(self, code):
        return getattr(code, "co_qualname", code.co_name)

    def on_call(self, frame, event, arg):
        code = frame.f_code
        if code.co_filename != self.filename or code.co_name in _SKIPPED_CODE or not self.recording:
            return None
        frames = self.frames
        info = frames.get(frame)
        if info is None:
            parent = frame.f_back
            depth = 0
            while parent is not None:
                parent_info = frames.get(parent)
                if parent_info is not None:
                    depth = parent_info.depth + 1
                    break
                parent = parent.f_back
            if depth > self.max_depth:
                self.state.truncated["depth"] = True
                return None
            info = frames[frame] = _Frame(depth)
            resumed = False
        else:
            resumed = True  # a generator continuing after a yield
        changes = self._diff(info, frame)
        ev = self._emit(frame.f_lineno, info.depth, self._name(code), None, changes, "call")
        if resumed and ev is not None:
            ev["resumed"] = True
        return self.on_event

    def _emit(self, line, depth, function, iteration, changes, kind):
        if len(self.events) >= self.max_events:
            self._stop_recording()
            return None
        event = {"line": line, "depth": depth, "function": function,
                 "iteration": iteration, "changes": changes, "kind": kind}
        self.events.append(event)
        return event

    def on_event(self, frame, event, arg):
        if not self.recording:
            return None
        info = self.frames.get(frame)
        if info is None:
            return None
        line = frame.f_lineno
        self.state.last_line = line
        pending = info.pending
        if pending is not None:
            changes = pending["changes"] = self._diff(info, frame)
            info.pending = None
            loop = self.ranges.get(pending["line"])
            if loop is not None and loop[2] and loop[0] < line <= loop[1]:
                # A new iteration: show the loop variables even if rebound to equal values.
                for target in loop[2]:
                    if target not in changes and target in info.snapshot:
                        changes[target] = info.snapshot[target][1][0]
        name = self._name(frame.f_code)
        if event == "line":
            loops = info.loops
            if loops:
                for header in list(loops):
                    first, last, _ = self.ranges[header]
                    if line < first or line > last:
                        del loops[header]
            if line in self.ranges:
                loops[line] = loops.get(line, 0) + 1
            header = self.innermost.get(line)
            iteration = loops.get(header) if header is not None else None
            info.pending = self._emit(line, info.depth, name, iteration, {}, "line")
        elif event == "return":
            # Before 3.12 an exception leaving the frame also reports "return" (with None):
            # only a frame stopped at a return/yield instruction really returned.
            code = frame.f_code.co_code
            lasti = frame.f_lasti
            op = code[lasti] if 0 <= lasti < len(code) else None
            if op == _RESUME_OP and lasti >= 2 and code[lasti - 2] == _YIELD_OP:
                op = _YIELD_OP  # 3.13+ stops just past the yield
            if op in _RETURN_OPS:
                ev = self._emit(line, info.depth, name, None, {}, "return")
                if ev is not None:
                    ev["value"] = self.repr(arg)
                    if op == _YIELD_OP:
                        ev["yield"] = True
            if op != _YIELD_OP:
                self.frames.pop(frame, None)  # a suspended generator keeps its loop counts
        elif event == "exception":
            exc_type, exc_value = arg[0], arg[1]
            ev = self._emit(line, info.depth, name, None, {}, "exception")
            if ev is not None:
                ev["value"] = "%s: %s" % (exc_type.__name__, _safe_str(exc_value, self.repr))
        return self.on_event if self.recording else None


def _safe_str(exc, safe_repr):
    try:
        if type(exc).__str__ is BaseException.__str__:
            if len(exc.args) == 1:
                arg = exc.args[0]
                return arg[:1000] if type(arg) is str else safe_repr(arg)
            return safe_repr(exc.args) if exc.args else ""
        return safe_repr.budget.call(_StrProxy(exc)).strip("'")
    except BaseException:
        return "<message unavailable>"


class _StrProxy:
    """Lets an exception's user-defined __str__ run under the repr time budget."""

    def __init__(self, exc):
        self.exc = exc

    def __repr__(self):
        return str(self.exc)


# --------------------------------------------------------------------------- output capture

class BoundedWriter:
    """A text stream that keeps the first `limit` bytes and counts the rest."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, limit, name, truncated):
        self.limit = limit
        self.name = name
        self.parts = []
        self.size = 0
        self.truncated = truncated

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError("write() argument must be str, not %s" % type(text).__name__)
        if self.size < self.limit:
            data = text.encode("utf-8", "replace")
            room = self.limit - self.size
            if len(data) > room:
                data = data[:room]
                self.truncated[self.name] = True
            self.parts.append(data)
            self.size += len(data)
        elif text:
            self.truncated[self.name] = True
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pass

    def isatty(self):
        return False

    def fileno(self):
        raise OSError("the sandbox's output is captured and has no file descriptor")

    def writable(self):
        return True

    def readable(self):
        return False

    def getvalue(self):
        return b"".join(self.parts).decode("utf-8", "replace")


# --------------------------------------------------------------------------- the sandbox

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATH_EVENTS = {
    "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.chmod": (0,), "os.chown": (0,),
    "os.truncate": (0,), "os.utime": (0,), "os.rename": (0, 1), "os.link": (0, 1),
    "os.symlink": (1,), "os.mkfifo": (0,), "os.mknod": (0,), "os.setxattr": (0,),
    "os.removexattr": (0,), "shutil.rmtree": (0,), "os.chflags": (0,), "os.lchflags": (0,),
    # SQLite opens (and creates) its files in C, without an "open" event.
    "sqlite3.connect": (0,), "sqlite3.connect/handle": (),
}
_FORBIDDEN_EVENTS = {
    "os.fork": "creating processes", "os.forkpty": "creating processes",
    "os.system": "running commands", "os.exec": "running programs",
    "os.posix_spawn": "running programs", "os.spawn": "running programs",
    "subprocess.Popen": "running programs", "os.startfile": "running programs",
    "socket.connect": "network access", "socket.bind": "network access",
    "socket.sendto": "network access", "socket.sendmsg": "network access",
    "socket.getaddrinfo": "network access", "socket.gethostbyname": "network access",
    "resource.setrlimit": "changing resource limits", "resource.prlimit": "changing resource limits",
    "sys.remote_exec": "attaching to processes", "os.setns": "changing namespaces",
    "os.unshare": "changing namespaces", "syslog.openlog": "writing to the system log",
    "webbrowser.open": "opening a browser", "os.kill": "signalling processes",
    "os.killpg": "signalling processes", "signal.pthread_kill": "signalling processes",
    "winreg.SetValue": "writing the registry",
}
_FORBIDDEN_IMPORTS = frozenset(("_posixsubprocess", "_ctypes", "_winapi"))


def make_audit_hook(workdir):
    """The audit hook that refuses processes, network, writes outside `workdir`, ctypes,
    and reading other processes' /proc entries. It raises PermissionError, so hostile code
    sees an ordinary failure and the run ends cleanly (or is stopped by a limit)."""
    root = os.path.realpath(workdir)
    prefix = root + os.sep
    own_pid = str(os.getpid())
    realpath = os.path.realpath
    join = os.path.join
    fspath = os.fspath

    def inside(path):
        if isinstance(path, int):
            return True  # an already-open descriptor
        try:
            path = fspath(path)
            if isinstance(path, bytes):
                path = os.fsdecode(path)
            full = realpath(join(os.getcwd(), path))
        except Exception:
            return False
        return full == root or full.startswith(prefix) or full in ("/dev/null",)

    def deny(what):
        raise PermissionError("the sandbox does not allow %s" % what)

    def hook(event, args):
        if event == "open":
            path, mode, flags = args[0], args[1], args[2]
            writing = (mode is not None and any(c in mode for c in "wax+")) or (
                mode is None and flags & _WRITE_FLAGS)
            if writing and not inside(path):
                deny("writing outside its temporary working directory (%s)" % path)
            if isinstance(path, str) and path.startswith("/proc/"):
                part = path.split("/")[2]
                if part.isdigit() and part != own_pid:
                    deny("reading other processes")
            return
        reason = _FORBIDDEN_EVENTS.get(event)
        if reason is not None:
            if event == "os.kill" and args and args[0] == os.getpid():
                return
            deny(reason)
        if event.startswith("ctypes."):
            deny("ctypes")
        if event == "import" and args[0] in _FORBIDDEN_IMPORTS:
            deny("importing %s" % args[0])
        positions = _PATH_EVENTS.get(event)
        if positions is not None:
            for index in positions:
                if index < len(args) and not inside(args[index]):
                    deny("changing files outside its temporary working directory (%s)" % (args[index],))

    return hook


def _vm_bytes():
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * resource.getpagesize()
    except OSError:
        return 0


def apply_limits(limits):
    """rlimits for the child: memory (address space above what the zygote already maps),
    CPU time, no new processes, bounded file sizes and descriptors, no core dumps."""
    def setlimit(which, soft, hard=None):
        try:
            _, old_hard = resource.getrlimit(which)
            hard = soft if hard is None else hard
            if old_hard != resource.RLIM_INFINITY:
                hard = min(hard, old_hard)
                soft = min(soft, hard)
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError):
            pass  # e.g. RLIMIT_AS on macOS: documented in docs/sandbox.md

    memory = int(limits["memory_mb"]) * 1024 * 1024
    setlimit(resource.RLIMIT_AS, (limits.get("_vm_base") or _vm_bytes()) + memory)
    cpu = max(1, int(-(-limits["cpu_s"] // 1)))
    setlimit(resource.RLIMIT_CPU, cpu, cpu + 1)
    setlimit(resource.RLIMIT_NPROC, 0)
    setlimit(resource.RLIMIT_FSIZE, 16 * 1024 * 1024)
    setlimit(resource.RLIMIT_CORE, 0)
    setlimit(resource.RLIMIT_NOFILE, 64)


class RunState:
    def __init__(self, request, workdir, result_fd):
        self.request = request
        self.limits = request["limits"]
        self.filename = request.get("filename") or "<source>"
        self.workdir = workdir
        self.result_fd = result_fd
        self.events = []
        self.truncated = {"events": False, "stdout": False, "stderr": False, "depth": False,
                          "return": False}
        self.last_line = None
        self.started = time.monotonic()
        self.deadline = self.started + float(self.limits["timeout_s"])
        self.finishing = False
        self.budget = _ReprBudget(self)
        self.repr = SafeRepr(int(self.limits["max_repr"]), self.budget)
        self.loops = ({}, {})
        self.stdout = BoundedWriter(int(self.limits["max_output_bytes"]), "stdout", self.truncated)
        self.stderr = BoundedWriter(int(self.limits["max_output_bytes"]), "stderr", self.truncated)
        self.reserve = bytearray(16 * 1024)  # freed to build the result after a MemoryError

    def at_line(self):
        return " at line %d" % self.last_line if self.last_line else ""

    def result(self, status, message, **extra):
        sys.settrace(None)
        sys.setprofile(None)
        out = {
            "schema": SCHEMA,
            "status": status,
            "message": message,
            "function": self.request.get("function"),
            "call": self.request.get("call"),
            "events": self.events,
            "return": None,
            "exception": None,
            "assertion": None,
            "stdout": self.stdout.getvalue(),
            "stderr": self.stderr.getvalue(),
            "truncated": self.truncated,
            "duration_s": round(time.monotonic() - self.started, 6),
        }
        out.update(extra)
        return out

    def finish(self, result):
        """Write the result (one frame, tagged with the request's id) straight to the
        server, and leave: a child never returns to the zygote's loop."""
        self.finishing = True
        _setitimer(_ITIMER_REAL, 0, 0)
        self.reserve = None
        result["id"] = self.request.get("id")
        try:
            data = _json_dumps(result, ensure_ascii=False, default=str).encode("utf-8", "replace")
        except BaseException as exc:  # never leave without a result
            data = _json_dumps({"schema": SCHEMA, "status": "crashed", "id": self.request.get("id"),
                                "message": "the trace could not be encoded: %s" % type(exc).__name__,
                                "events": [], "truncated": {}}).encode()
        _write_frame(self.result_fd, data)
        _os_exit(0)


def _on_alarm(state):
    def handler(signum, frame):
        if state.finishing:
            return
        if time.monotonic() < state.deadline:
            if state.budget.active:
                state.budget.active = False  # at most one interruption per repr
                raise _ReprTimeout()
            return  # a late tick of a repr's interval timer
        seconds = "%g" % float(state.limits["timeout_s"])
        state.finish(state.result("timeout", "timed out after %s s%s" % (seconds, state.at_line())))
    return handler


def _on_cpu(state):
    def handler(signum, frame):
        if state.finishing:
            return
        seconds = "%g" % float(state.limits["cpu_s"])
        state.finish(state.result("cpu_limit", "used more than %s s of CPU time%s" % (seconds, state.at_line())))
    return handler


def _user_traceback(tb, filename):
    frames = []
    for frame, line in traceback.walk_tb(tb):
        if frame.f_code.co_filename == filename:
            frames.append({"line": line, "function": frame.f_code.co_name,
                           "text": linecache.getline(filename, line).strip()})
    return frames


def _exception_result(state, exc):
    tb = _user_traceback(exc.__traceback__, state.filename)
    line = tb[-1]["line"] if tb else state.last_line
    message = _safe_str(exc, state.repr)
    info = {"type": type(exc).__name__, "message": message, "line": line, "traceback": tb}
    at = " at line %d" % line if line else ""
    if isinstance(exc, MemoryError):
        return state.result("memory_limit", "stopped at the memory limit of %s MB%s" % (
            state.limits["memory_mb"], at), exception=info)
    if isinstance(exc, RecursionError):
        return state.result("exception", "recursion limit of %d calls reached%s" % (
            state.limits["recursion_limit"], at), exception=info)
    return state.result("exception", "%s: %s%s" % (info["type"], message, at), exception=info)


def _return_info(state, value):
    limit = max(int(state.limits["max_return_repr"]), 64)
    text = state.repr(value, limit + 1)
    if len(text) > limit:
        state.truncated["return"] = True
        return {"repr": text[:limit] + "...", "literal": False}
    literal = False
    try:
        # Literal if it reads back as an equal value of the same type.
        back = ast.literal_eval(text)
        literal = type(back) is type(value) and back == value and state.repr(back, limit + 1) == text
    except Exception:
        literal = False
    return {"repr": text, "literal": bool(literal)}


class Prepared:
    """The request's code, compiled (compiling runs no user code), or why it cannot be."""

    __slots__ = ("error", "code", "call_code", "expect_code", "entry_code", "loops", "lines")

    def __init__(self, request):
        self.error = None
        self.code = self.call_code = self.expect_code = self.entry_code = None
        self.loops = ({}, {})
        source = request["source"]
        filename = request.get("filename") or "<source>"
        self.lines = source.splitlines(True)
        try:
            self.code = compile(source, filename, "exec", dont_inherit=True)
            # The server normally sends the loop table (computed once per source there).
            table = request.get("loops")
            self.loops = _loop_map(table if table is not None else loop_table(ast.parse(source, filename)))
        except SyntaxError as exc:
            self.error = "the source has a syntax error at line %s: %s" % (exc.lineno, exc.msg)
            return
        except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
            self.error = "the source cannot be compiled: %s" % exc
            return
        for attr, key, mode, what in (("call_code", "call", "eval", "the call expression"),
                                      ("expect_code", "expect", "eval", "the expected value"),
                                      ("entry_code", "entry", "exec", "the entry point")):
            text = request.get(key)
            if not text:
                continue
            try:
                setattr(self, attr, compile(text, "<%s>" % key, mode, dont_inherit=True))
            except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError) as exc:
                detail = exc.msg if isinstance(exc, SyntaxError) else str(exc)
                self.error = "%s %r has a syntax error: %s" % (what, text, detail)
                return


def run_child(request, prepared, workdir, result_fd):
    """Body of a forked child: sandbox itself, run, write the trace, exit."""
    state = RunState(request, workdir, result_fd)
    limits = state.limits
    if prepared.error:
        state.finish(state.result("invalid", prepared.error))
    # _signal skips signal.signal's enum conversions, which are costly in a fresh child.
    _signal.signal(signal.SIGALRM, _on_alarm(state))
    if hasattr(signal, "SIGXCPU"):
        _signal.signal(signal.SIGXCPU, _on_cpu(state))
    _signal.signal(signal.SIGINT, _signal.SIG_DFL)
    signal.setitimer(signal.ITIMER_REAL, float(limits["timeout_s"]), 0)
    apply_limits(limits)
    sys.setrecursionlimit(int(limits["recursion_limit"]) + 50)

    filename = state.filename
    linecache.cache[filename] = (len(request["source"]), None, prepared.lines, filename)
    for path in reversed(request.get("sys_path") or []):
        if path not in sys.path:
            sys.path.insert(0, path)
    state.loops = prepared.loops
    mode = request.get("mode", "call")
    module_name = "__main__" if mode == "record" and not request.get("entry") else "__semcoder_traced__"
    module = type(sys)(module_name)
    module.__file__ = filename
    module.__builtins__ = __builtins__
    namespace = module.__dict__
    sys.modules[module_name] = module
    code, call_code, expect_code = prepared.code, prepared.call_code, prepared.expect_code

    sys.stdout, sys.stderr = state.stdout, state.stderr
    sys.addaudithook(make_audit_hook(workdir))
    if mode == "record":
        _record(state, code, prepared.entry_code, namespace)
    value = None
    try:
        exec(code, namespace)
        tracer = LineTracer(state)
        state.started = time.monotonic()
        sys.settrace(tracer.on_call)
        try:
            value = eval(call_code, namespace)
        finally:
            sys.settrace(None)
    except BaseException as exc:
        if isinstance(exc, MemoryError):
            state.reserve = None
        namespace.clear()
        if "tracer" in locals():
            tracer.frames.clear()
        state.finish(_exception_result(state, exc))
    tracer.frames.clear()
    result = state.result("ok", "returned", **{"return": _return_info(state, value)})
    if expect_code is not None:
        try:
            expected = eval(expect_code, namespace)
            passed = bool(value == expected)
            result["assertion"] = {"passed": passed, "expected_repr": state.repr(expected, 1000),
                                   "actual_repr": result["return"]["repr"]}
        except BaseException as exc:
            result["assertion"] = {"passed": False, "expected_repr": None,
                                   "error": "%s: %s" % (type(exc).__name__, _safe_str(exc, state.repr))}
    result["message"] = "returned %s" % result["return"]["repr"][:200]
    state.finish(result)


def _call_text(name, frame, safe_repr):
    """Rebuild `f(1, [2])` from a frame's arguments at entry, and say whether every
    argument's repr reads back as an equal literal."""
    code = frame.f_code
    values = frame.f_locals
    names = code.co_varnames
    positional = code.co_argcount
    kwonly = code.co_kwonlyargcount
    items = [(None, values.get(arg)) for arg in names[:positional]]
    index = positional + kwonly
    if code.co_flags & 0x04:  # *args
        items.extend((None, v) for v in values.get(names[index], ()))
        index += 1
    items.extend((arg, values.get(arg)) for arg in names[positional:positional + kwonly])
    if code.co_flags & 0x08:  # **kwargs
        items.extend(dict(values.get(names[index], {})).items())
    texts, described, literal = [], [], True
    for keyword, value in items:
        text = safe_repr(value, 100000)
        try:
            back = ast.literal_eval(text)
            ok = type(back) is type(value) and back == value
        except Exception:
            ok = False
        literal = literal and ok
        described.append({"name": keyword, "repr": text, "literal": ok})
        texts.append(text if keyword is None else "%s=%s" % (keyword, text))
    return "%s(%s)" % (name, ", ".join(texts)), described, literal


def _record(state, code, entry_code, namespace):
    """Run the module (as __main__) or an entry point and keep the first calls of target."""
    target = state.request["target"]
    short = target.rsplit(".", 1)[-1]
    max_calls = int(state.request.get("max_calls") or 5)
    target_file = state.request.get("target_filename")
    calls = []

    def profile(frame, event, arg):
        if event != "call":
            return
        fcode = frame.f_code
        if fcode.co_name != short or (target_file and fcode.co_filename != target_file):
            return
        qual = getattr(fcode, "co_qualname", fcode.co_name)
        if "." in target and qual != target:
            return
        caller = frame.f_back
        text, args, literal = _call_text(short, frame, state.repr)
        calls.append({"call": text, "args": args, "literal": literal,
                      "caller_line": caller.f_lineno if caller is not None and caller.f_code.co_filename == state.filename else None,
                      "caller_file": caller.f_code.co_filename if caller is not None else None})
        if len(calls) >= max_calls:
            state.finish(state.result("ok", "recorded %d calls" % len(calls), calls=calls))

    status, message, extra = "ok", None, {}
    try:
        sys.setprofile(profile)
        try:
            exec(code, namespace)
            if entry_code is not None:
                exec(entry_code, namespace)
        finally:
            sys.setprofile(None)
    except SystemExit:
        pass
    except BaseException as exc:
        if isinstance(exc, MemoryError):
            state.reserve = None
        failed = _exception_result(state, exc)
        status, message, extra = failed["status"], failed["message"], {"exception": failed["exception"]}
    if message is None:
        message = "recorded %d calls" % len(calls)
    state.finish(state.result(status, message, calls=calls, **extra))


# --------------------------------------------------------------------------- zygote

def _write_frame(fd, body):
    """4-byte big-endian length, then the body; all of it, whatever the pipe takes per call."""
    view = memoryview(struct.pack(">I", len(body)) + body)
    while view:
        try:
            written = _os_write(fd, view)
        except InterruptedError:
            continue
        except OSError:
            return False
        view = view[written:]
    return True


def _read_exact_fd(fd, size):
    parts = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            return None
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


def enter_namespaces():
    """Unshare a user and a network namespace for this zygote (children inherit them).
    Returns None on success, else why not. Must run while the process has one thread."""
    if not sys.platform.startswith("linux"):
        return "namespaces exist only on Linux"
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        uid, gid = os.getuid(), os.getgid()
        if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) != 0:
            return "unshare(user+net) failed: %s" % os.strerror(ctypes.get_errno())
        # Map our own ids so files we create keep their owner; "deny" is required first.
        for path, text in (("/proc/self/setgroups", "deny"), ("/proc/self/uid_map", "%d %d 1" % (uid, uid)),
                           ("/proc/self/gid_map", "%d %d 1" % (gid, gid))):
            try:
                with open(path, "w") as fh:
                    fh.write(text)
            except OSError as exc:
                if path.endswith("setgroups"):
                    continue
                return "writing %s failed: %s" % (path, exc)
        return None
    except Exception as exc:
        return "namespaces unavailable: %s" % exc
    finally:
        sys.modules.pop("ctypes", None)


def _status_from_wait(status, elapsed, limits):
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig in (signal.SIGKILL, getattr(signal, "SIGXCPU", -1)) and elapsed < float(limits["timeout_s"]):
            # RLIMIT_CPU's hard limit, or the kernel's OOM killer.
            return "cpu_limit", "stopped by the CPU time limit of %g s (no partial trace)" % float(limits["cpu_s"])
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        return "crashed", "the traced process was killed by %s" % name
    return "crashed", "the traced process exited (code %s) without a result" % os.WEXITSTATUS(status)


_VM_CACHE = [0, 0]
_EXIT_NO_INPUT = 7
# What a child tells the zygote once it has read its request: b"S", timeout, CPU limit, id.
_START = struct.Struct(">cdd32s")


def _vm_base():
    """The zygote's address-space size (what a child starts with), re-read every 50 runs."""
    if _VM_CACHE[1] % 50 == 0:
        _VM_CACHE[0] = _vm_bytes()
    _VM_CACHE[1] += 1
    return _VM_CACHE[0]


def _enter_workdir(workdir):
    """What a spare child does before any request: its own folder and environment."""
    os.chdir(workdir)
    # The zygote was started with an allow-listed environment already.
    for key in [k for k in os.environ if k not in _ENV_ALLOWED]:
        del os.environ[key]
    os.environ["HOME"] = os.environ["TMPDIR"] = workdir
    tempfile.tempdir = workdir


class Spare:
    """A child forked before its request arrives. Fork and set-up happen while the server is
    idle; the child then reads the next request from the server's pipe itself and writes
    its trace straight back, so a run costs the server two process hand-offs, not four.

    The zygote only watches: the child reports (on a private pipe) that it has started and
    with which limits; the zygote forks the next spare, kills the child if it outlives its
    wall-clock limit, and after the child is gone writes a trailer frame for that request
    (carrying a fallback result when the child died without writing one). Nothing a child
    writes can come after its trailer, which is how the server knows that no frame it reads
    later comes from an earlier run."""

    def __init__(self, run_root, protocol_in, protocol_out):
        self.workdir = tempfile.mkdtemp(prefix="run-", dir=run_root)
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
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            keep = sorted((protocol_in, protocol_out, notify_w))
            os.closerange(3, keep[0])
            os.closerange(keep[0] + 1, keep[1])
            os.closerange(keep[1] + 1, keep[2])
            os.closerange(keep[2] + 1, 1024)
            _enter_workdir(self.workdir)
            header = _read_exact_fd(protocol_in, 4)
            body = header and _read_exact_fd(protocol_in, struct.unpack(">I", header)[0])
            if not body:
                os._exit(_EXIT_NO_INPUT)  # the server closed the pipe: shutting down
            os.close(protocol_in)  # the run must not read the next request
            request = json.loads(body.decode("utf-8"))
            limits = request["limits"]
            limits["_vm_base"] = vm_base
            request_id = str(request.get("id") or "")[:32].encode("ascii", "replace")
            os.write(notify_w, _START.pack(b"S", float(limits["timeout_s"]), float(limits["cpu_s"]), request_id))
            run_child(request, Prepared(request), self.workdir, protocol_out)
        except BaseException:
            _write_frame(protocol_out, json.dumps({
                "schema": SCHEMA, "status": "crashed", "id": request.get("id"),
                "message": "the sandbox failed: " + traceback.format_exc()[-500:],
                "events": [], "truncated": {}}).encode())
            os._exit(3)
        os._exit(0)

    def wait_start(self):
        """(timeout, cpu, id) once the child has its request; None if it exited without one."""
        data = _read_exact_fd(self.notify_r, _START.size)
        if data is None:
            return None
        _, timeout, cpu, request_id = _START.unpack(data)
        return timeout, cpu, request_id.rstrip(b"\0").decode("ascii", "replace")

    def wait_end(self, timeout):
        """Wait for the child to exit (killing it past its limit); its wait status and
        whether it had to be killed."""
        deadline = time.monotonic() + timeout + _KILL_GRACE_S
        killed = False
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                for kill in (lambda: os.killpg(self.pid, signal.SIGKILL), lambda: os.kill(self.pid, signal.SIGKILL)):
                    try:
                        kill()
                    except OSError:
                        pass
                killed = True
                break
            ready, _, _ = select.select([self.notify_r], [], [], remaining)
            # The run may write on the pipe itself; only its end (EOF at exit) matters.
            if ready and not os.read(self.notify_r, 4096):
                break
        return os.waitpid(self.pid, 0)[1], killed

    def cleanup(self):
        os.close(self.notify_r)
        shutil.rmtree(self.workdir, ignore_errors=True)


def serve(run_root, protocol_in, protocol_out):
    spare = Spare(run_root, protocol_in, protocol_out)
    while True:
        started = spare.wait_start()
        if started is None:
            status = os.waitpid(spare.pid, 0)[1]
            spare.cleanup()
            if os.WIFEXITED(status) and os.WEXITSTATUS(status) == _EXIT_NO_INPUT:
                return  # the server is gone
            spare = Spare(run_root, protocol_in, protocol_out)
            continue
        timeout, cpu, request_id = started
        began = time.monotonic()
        upcoming = Spare(run_root, protocol_in, protocol_out)
        status, killed = spare.wait_end(timeout)
        trailer = {"trailer": True, "id": request_id, "result": None}
        limits = {"timeout_s": timeout, "cpu_s": cpu}
        if killed:
            trailer["result"] = {
                "schema": SCHEMA, "status": "timeout", "id": request_id,
                "message": "timed out after %g s (stopped inside native code, so no partial trace)" % timeout,
                "events": [], "truncated": {"events": True}}
        elif not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
            st, message = _status_from_wait(status, time.monotonic() - began, limits)
            trailer["result"] = {"schema": SCHEMA, "status": st, "message": message, "id": request_id,
                                 "events": [], "truncated": {}}
        else:
            trailer["exit"] = 0
        _write_frame(protocol_out, json.dumps(trailer).encode())
        spare.cleanup()
        spare = upcoming


def _warm_up():
    """Exercise, once, the machinery every child uses, so that its lazily built state is
    inherited rather than rebuilt (and copy-on-write faulted) in each child."""
    request = {"source": "def f(xs):\n    for x in xs:\n        xs = xs\n    return xs\n",
               "filename": "<warm-up>", "call": "f([1])"}
    Prepared(request)
    json.loads(json.dumps({"a": [1, "b", None]}))
    SafeRepr(100, None)([1, (2, "x"), {3: None}])
    traceback.walk_tb(None)


def zygote(isolation):
    # The protocol moves to private descriptors; fds 0/1 become /dev/null so nothing a run
    # prints (even from native code) can reach the server's pipe by accident.
    protocol_in, protocol_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    namespaces_error = "not requested"
    if isolation in ("auto", "namespaces"):
        namespaces_error = enter_namespaces()
    run_root = tempfile.mkdtemp(prefix="semcoder-sandbox-")
    _warm_up()
    # Move everything imported so far out of the collector's reach: a child's garbage
    # collections then do not touch (and copy-on-write fault) every inherited object.
    gc.collect()
    if hasattr(gc, "freeze"):
        gc.freeze()
    hello = {"ready": True, "python": sys.version.split()[0], "executable": sys.executable,
             "pid": os.getpid(), "namespaces": namespaces_error is None,
             "namespaces_error": namespaces_error, "platform": sys.platform}
    _write_frame(protocol_out, json.dumps(hello).encode())
    try:
        serve(run_root, protocol_in, protocol_out)
    finally:
        shutil.rmtree(run_root, ignore_errors=True)


def main(argv):
    # Run as a script, our own folder is sys.path[0]: drop it so its modules (cli.py,
    # render.py, ...) cannot shadow the user's.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    isolation = argv[1] if len(argv) > 1 else "auto"
    zygote(isolation)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
