"""One traced run, inside a forked child (stdlib only, Python 3.9+): compile the request,
sandbox the process, run the module and the call (or record calls of a target), and write
the result, one frame straight to the server, then exit. See docs/trace-schema.md.
"""

from __future__ import annotations

import ast
import errno
import json
import linecache
from math import copysign as _copysign
from operator import index as _index
import os
from select import select as _select
import signal
import _signal
import _thread
import struct
import sys
import time

from .capture import BoundedWriter
from .prefault import PROBE as _PREFAULT_PROBE, report as _prefault_report
from .line_tracer import RAISED, YIELDED, LineTracer, exit_kind, loop_map, loop_table
from .safe_repr import ReprBudget, ReprTimeout, SafeRepr, _cut, exception_text, safe_str
from .sandbox import apply_limits, make_audit_hook, start_cpu_clock

SCHEMA = "semcoder.trace/1"
# The zygote's trailer for a run that wrote its own result and exited cleanly (see
# runtime.Spare), byte for byte: the server recognises it without parsing it.
TRAILER_OK = '{"trailer": true, "id": "%s", "result": null, "exit": 0}'
# Our own references: traced code that patches json.dumps or os.write must not be able to
# stop its trace from being delivered.
_json_dumps = json.dumps
_os_write = os.write
_os_exit = os._exit
_os_nice = os.nice
_EXIT_NICENESS = 10
_sched_yield = getattr(os, "sched_yield", None)
_setitimer = signal.setitimer
_ITIMER_REAL = signal.ITIMER_REAL


def _c_encoder():
    """json.dumps(value, ensure_ascii=False, default=str) as a single C call, built once in
    the zygote: json.dumps itself builds an encoder and runs three Python functions per
    call, each a few more pages for a fresh child to copy. None (json.dumps is used) where
    this Python's C encoder is missing or does not give json.dumps's exact text."""
    try:
        from json import encoder
        encode = encoder.c_make_encoder(None, str, encoder.encode_basestring, None, ": ", ", ",
                                        False, False, True)
        sample = {"a": [1, -2.5, None, True, "\u00e9\"\n\ud800"], "b": {"c": float("inf"), 3: ()}, "d": {1, 2}}
        if "".join(encode(sample, 0)) != json.dumps(sample, ensure_ascii=False, default=str):
            return None
        return encode
    except Exception:
        return None


_encode_c = _c_encoder()


# The largest frame the server reads from a zygote (pool._MAX_FRAME is this one): a run
# writes its own result, so a hostile one could send anything up to it. An honest result is
# kept within RESULT_MAX_BYTES (encode_result drops events from its end to fit), so a frame
# past MAX_FRAME is never a run's own result: the server takes it for tampering.
MAX_FRAME = 64 * 1024 * 1024
RESULT_MAX_BYTES = MAX_FRAME // 4 * 3  # 48 MiB
_EVENTS_PER_PIECE = 256  # a long trace is encoded (and measured) this many events at a time
_NOTE_ROOM = 256  # bytes kept free for what a cut adds: the message's note, truncated.events
_JOINED_MAX = 4 * 1024 * 1024  # a longer result is written part by part (RunState.finish)


def _json(value):
    """`value` as json.dumps(value, ensure_ascii=False, default=str) writes it, in UTF-8
    (lone surrogates a run printed become "?")."""
    text = "".join(_encode_c(value, 0)) if _encode_c is not None else \
        _json_dumps(value, ensure_ascii=False, default=str)
    return text.encode("utf-8", "replace")


def encode_result(result, budget=RESULT_MAX_BYTES):
    """The result frame's body: the UTF-8 JSON json.dumps writes for `result`, byte for byte,
    when that fits in `budget` bytes (see result_parts)."""
    return b"".join(result_parts(result, budget))


def result_parts(result, budget=RESULT_MAX_BYTES, total=None, why=None):
    """The result frame's body in parts (bytes-like, to be joined): at most `budget` bytes.
    The usual result is encoded in one call. A longer trace is encoded a piece of its events
    at a time, and where the next piece would not fit, one event at a time: the events that
    do not fit are left out from the end (`result` says so: truncated.events, and a note
    after its message), so that an honest trace of any size comes back cut, never too big
    for the server (which takes a frame past MAX_FRAME for tampering), and its encoding
    never holds more than what is sent and one piece more. `total`: the number of events
    the trace had before the caller cut some (`why`: what made it; RunState.finish)."""
    events = result.get("events")
    if type(events) is not list or (len(events) <= _EVENTS_PER_PIECE and total is None):
        try:
            whole = _json(result)
            if len(whole) <= budget:
                return [whole]
            whole = None
        except MemoryError:
            whole = None
        if type(events) is not list:
            return [_json(_too_big(result, budget))]
    keys = list(result)
    at = keys.index("events")
    head, tail = _json({key: result[key] for key in keys[:at]}), _json({key: result[key] for key in keys[at + 1:]})
    room = budget - len(head) - len(tail) - len(b', "events": []')
    if room < _NOTE_ROOM:  # too big without its events: what makes it so can only be a long text
        _cut_texts(result, budget)
        head, tail = _json({key: result[key] for key in keys[:at]}), _json({key: result[key] for key in keys[at + 1:]})
        room = budget - len(head) - len(tail) - len(b', "events": []')
        if room < _NOTE_ROOM:
            return [_json(_too_big(result, budget))]
    # The events' JSON, each piece without its brackets, to be joined by ", " (a piece's
    # size counts the ", " before it), and how many events each holds.
    pieces, sizes, counts = [], [], []
    used = kept = 0
    while kept < len(events):
        piece = _json(events[kept:kept + _EVENTS_PER_PIECE])
        size = len(piece) - 2 + (2 if pieces else 0)
        if used + size > room:
            break
        pieces.append(memoryview(piece)[1:-1])
        sizes.append(size)
        counts.append(min(_EVENTS_PER_PIECE, len(events) - kept))
        used += size
        kept += counts[-1]
    piece = None
    if kept < len(events):
        # Cut: room for the note too, then as many more events, one by one, as fit.
        room -= _NOTE_ROOM
        while used > room:
            pieces.pop()
            used -= sizes.pop()
            kept -= counts.pop()
        for event in events[kept:]:
            one = _json(event)
            size = len(one) + (2 if pieces else 0)
            if used + size > room:
                break
            pieces.append(one)
            used += size
            kept += 1
    if total is None:
        total = len(events)
    if kept < total:
        truncated = result.get("truncated")
        if isinstance(truncated, dict):
            truncated["events"] = True
        if isinstance(result.get("message"), str):
            result["message"] += " (the trace keeps its first %d of %d events: %s)" % (
                kept, total, why or "all of them would make the result larger than %d MB" % (budget >> 20))
        head, tail = _json({key: result[key] for key in keys[:at]}), _json({key: result[key] for key in keys[at + 1:]})
    parts = [memoryview(head)[:-1], b", " if len(head) > 2 else b"", b'"events": [']
    for index, piece in enumerate(pieces):
        if index:
            parts.append(b", ")
        parts.append(piece)
    parts.append(b"]")
    parts += [b", ", memoryview(tail)[1:]] if len(tail) > 2 else [b"}"]
    return parts


def _cut_texts(result, budget):
    """Cut the texts a result may hold long (output, the return's repr, each limited by
    the run's own limits, which may be set high) to a share of `budget`."""
    most = budget // 32  # characters (a character takes up to 6 bytes in JSON: \u0000)
    truncated = result.get("truncated")
    truncated = truncated if isinstance(truncated, dict) else {}
    for stream in ("stdout", "stderr"):
        text = result.get(stream)
        if isinstance(text, str) and len(text) > most:
            result[stream] = text[:most]
            truncated[stream] = True
    returned = result.get("return")
    if isinstance(returned, dict) and isinstance(returned.get("repr"), str) and len(returned["repr"]) > most:
        returned["repr"] = returned["repr"][:most] + "..."
        truncated["return"] = True


def _too_big(result, budget):
    """What is sent in place of a result too big even without its events and long texts."""
    return {"schema": SCHEMA, "status": "crashed", "id": result.get("id"), "function": result.get("function"),
            "call": result.get("call"), "events": [], "truncated": {},
            "message": "the run's result was too big to send (over %d MB without its events)" % (budget >> 20)}


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
        self._finish_lock = _thread.allocate_lock()
        self.budget = ReprBudget(self)
        self.repr = SafeRepr(int(self.limits["max_repr"]), self.budget)
        self.loops = ({}, {})
        self.stdout = BoundedWriter(int(self.limits["max_output_bytes"]), "stdout", self.truncated)
        self.stderr = BoundedWriter(int(self.limits["max_output_bytes"]), "stderr", self.truncated)
        self.reserve = bytearray(16 * 1024)  # freed to build the result after a MemoryError
        self.checking = False  # evaluating a check of the call's value (see _check)
        self.caller_line = None  # watch mode: the line of the traced file that made the call
        self.calls = []  # record mode: the calls so far (a limit's result keeps them too)
        self.module_s = None  # call mode: how long the module's own code (its imports) took
        self.module_output = None  # call mode: the bytes of stdout and stderr it wrote, if any
        self.tracer_failure = None  # what made the tracer stop recording (LineTracer._broke)
        self.tracing_lost = None  # tracing turned off under the tracer (LineTracer.check_still_on)
        self.package = ""  # the package the module lies in, imported before it runs
        self.importing_package = False

    def at_line(self, frame=None):
        """" at line 7": where the run is (`frame`, the one a limit's signal interrupted, or
        the nearest of its callers in the traced file), else the last line traced."""
        line = self.last_line
        while frame is not None:
            if frame.f_code.co_filename == self.filename:
                line = frame.f_lineno
                break
            frame = frame.f_back
        if self.checking:  # (the call had returned: not its last line, the check's)
            return " at line %d, evaluating the assert's condition" % line if frame is not None else \
                " evaluating the assert's condition"
        return " at line %d" % line if line else ""

    def result(self, status, message, **extra):
        sys.settrace(None)
        sys.setprofile(None)
        _room_for_result()
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
        if self.module_s is not None:
            out["module_s"] = round(self.module_s, 6)
        if self.module_output is not None:
            out["module_output"] = {"stdout": self.stdout.chars(self.module_output[0]),
                                    "stderr": self.stderr.chars(self.module_output[1])}
        if self.tracer_failure:
            out["trace_stopped"] = "the tracer could not go on (%s); the run went on untraced" % self.tracer_failure
        elif self.tracing_lost:
            out["trace_stopped"] = self.tracing_lost
        mode = self.request.get("mode")
        if mode == "watch":
            out["caller_line"] = self.caller_line
        elif mode == "record":
            out["calls"] = self.calls
        out.update(extra)
        return out

    def finish(self, result):
        """Write the result (one frame, tagged with the request's id) straight to the
        server, and leave: a child never returns to the zygote's loop."""
        if not self._finish_lock.acquire(False):
            # Another thread is writing the result (record or watch mode, where the call
            # can end in a thread the script started) and ends the process once it has.
            self._finish_lock.acquire()
        self.finishing = True
        _setitimer(_ITIMER_REAL, 0, 0)
        self.reserve = None
        result["id"] = self.request.get("id")
        parts = failure = total = why = None
        message = result.get("message")
        while parts is None and failure is None:
            try:
                parts = result_parts(result, RESULT_MAX_BYTES, total, why)
            except MemoryError as exc:
                # At the memory limit: the events hold most of it; the later half of them
                # goes, until the rest can be encoded (the result says so).
                events = result.get("events")
                if type(events) is not list or not events:
                    failure = type(exc).__name__
                else:
                    if total is None:
                        total, why = len(events), "the run had no memory left to send more"
                    del events[len(events) // 2:]
                    result["message"] = message
            except BaseException as exc:
                failure = type(exc).__name__
        if parts is None:  # never leave without a result
            parts = [_json_dumps({"schema": SCHEMA, "status": "crashed", "id": self.request.get("id"),
                                  "message": "the trace could not be encoded: %s" % failure,
                                  "events": [], "truncated": {}}).encode()]
        size = sum(map(len, parts))
        try:
            data = b"".join(parts) if size <= _JOINED_MAX else None
        except MemoryError:
            data = None
        if data is not None:
            write_frame(self.result_fd, data)  # the usual result: one write
        elif write_all(self.result_fd, struct.pack(">I", size)):
            for part in parts:  # a long one part by part: a copy of it all may not fit in memory
                if not write_all(self.result_fd, part):
                    break
        if _PREFAULT_PROBE[0] is not None:  # a probe of runtime.learn_pages: say what it touched
            try:
                _prefault_report()
            except Exception:
                pass
        # That write wakes the server, often onto this CPU (a pipe write tells the scheduler
        # that the writer is about to sleep). This process is about to exit instead, and
        # tearing down its address space takes about a millisecond here: let the server
        # run first, and let the exit give way to the other runs and the server for as
        # long as they want the CPU. Not nice 19: against a busy process from elsewhere,
        # the exit, which the zygote waits for before its next spare, would get 1.5% of a
        # CPU (nice 10: 10%). Only once the result is written, or the server's wake-up
        # would wait. (Measured: see docs/architecture.md, "Kept".)
        try:
            _os_nice(_EXIT_NICENESS)
        except OSError:
            pass
        if _sched_yield is not None:
            _sched_yield()
        _os_exit(0)


# The run must not disarm the alarm and CPU signals that end it with a partial trace (the
# zygote's kill is the backstop if it finds another way). The guards are built once, in the
# zygote; each child only installs them.
_PROTECTED_SIGNALS = frozenset((signal.SIGALRM, getattr(signal, "SIGXCPU", signal.SIGALRM)))
_original_signal, _original_setitimer = _signal.signal, _signal.setitimer
_original_mask = getattr(_signal, "pthread_sigmask", None)


def _refuse():
    raise PermissionError("the sandbox does not allow changing the signals that enforce its time limits")


def _guarded_signal(signalnum, handler):
    if signalnum in _PROTECTED_SIGNALS:
        _refuse()
    return _original_signal(signalnum, handler)


def _guarded_setitimer(which, seconds, interval=0.0):
    if which == _ITIMER_REAL:
        _refuse()
    return _original_setitimer(which, seconds, interval)


def _guarded_alarm(seconds):
    _refuse()


def _guarded_mask(how, mask):
    if how != signal.SIG_UNBLOCK and _PROTECTED_SIGNALS & set(mask):
        _refuse()
    return _original_mask(how, mask)


# The trace function of the threads a run starts while its call is traced (run_child and
# _watch set it for the call's time), and the profile function of those a script run starts
# (record and watch modes, see _run_profiled): see _thread_start.
THREAD_TRACE = [None]
THREAD_PROFILE = [None]


def prepare_thread_starts():
    """Wrap _thread's thread starts (threading uses them) for every run. A new thread:
    - blocks SIGALRM and SIGXCPU, so that the kernel delivers them to the main thread, the
      only one where Python runs signal handlers. SIGXCPU goes to whichever thread was
      using the CPU: a main thread waiting for the others (in join()) would never see it,
      and the hard limit would kill the run a second later without its partial trace;
    - is traced from its first call, while the traced call runs (THREAD_TRACE), so that
      the lines a thread runs are in the trace too; and profiled while a script runs
      (THREAD_PROFILE), so that record and watch modes find calls made in threads.
    Called once, in the zygote, before anything imports threading (which keeps its own
    reference). A thread started some other way has neither."""
    threading = sys.modules.get("threading")
    for name, alias in (("start_new_thread", "_start_new_thread"), ("start_joinable_thread", "_start_joinable_thread")):
        start = getattr(_thread, name, None)
        if start is None:
            continue
        wrapped = _thread_start(start)
        setattr(_thread, name, wrapped)
        if name == "start_new_thread" and getattr(_thread, "start_new", None) is start:
            _thread.start_new = wrapped  # the old alias (before Python 3.13)
        if threading is not None and getattr(threading, alias, None) is start:
            setattr(threading, alias, wrapped)


def _thread_start(start):
    blocked = tuple(_PROTECTED_SIGNALS)
    settrace, setprofile = sys.settrace, sys.setprofile

    def thread_start(function, *args, **kwargs):
        trace, profile = THREAD_TRACE[0], THREAD_PROFILE[0]
        if trace is not None or profile is not None:
            inner = function

            def function(*a, **k):
                # This thread's calls from here on; this frame is neither traced nor profiled.
                if profile is not None:
                    setprofile(profile)
                if trace is not None:
                    settrace(trace)
                return inner(*a, **k)

        if _original_mask is None:
            return start(function, *args, **kwargs)
        # The new thread inherits the mask of this one at its creation.
        previous = _original_mask(signal.SIG_BLOCK, blocked)
        try:
            return start(function, *args, **kwargs)
        finally:
            _original_mask(signal.SIG_SETMASK, previous)

    thread_start.__name__, thread_start.__doc__ = start.__name__, start.__doc__
    return thread_start


def _guard_timer_signals():
    _signal.signal, _signal.setitimer, _signal.alarm = _guarded_signal, _guarded_setitimer, _guarded_alarm
    signal.setitimer, signal.alarm = _guarded_setitimer, _guarded_alarm
    if _original_mask is not None:
        _signal.pthread_sigmask = _guarded_mask
    sys.getrecursionlimit, sys.setrecursionlimit = _run_getrecursionlimit, _run_setrecursionlimit


# The recursion limit. A run's code starts some frames deep (the zygote's and ours below
# it), and our trace and profile functions run on top of its frames: under the limit as
# the run set it, it would get fewer levels than `python file.py` gives it. So the
# interpreter's limit is the run's own plus RECURSION_ROOM[0], and the run sees only its
# own: stand-ins for sys.getrecursionlimit and sys.setrecursionlimit (installed with the
# timer guards) take the room off and put it back, so that the code meets RecursionError
# where a script run would, however it sets its own limit, and our frames keep their room.
_real_getrecursionlimit, _real_setrecursionlimit = sys.getrecursionlimit, sys.setrecursionlimit
# [the room; the frames below the run's module frame, as _limit_recursion counted them;
# the levels our trace and profile functions take (see _hook_room)]: the room is the
# frames below and those levels. (Not a guard: the run may set any limit, as before.)
RECURSION_ROOM = [0, 0, 0]
# The levels a profile function takes from the code: two before Python 3.11, one after
# (measured: under a profile function that returns at once, a script meets RecursionError
# two levels early on 3.9 and 3.10, one level early on 3.11 to 3.13). A trace function
# takes one; both together, as many as the profile function (each is called one level
# above the frame, one after the other).
_PROFILE_ROOM = 2 if sys.version_info < (3, 11) else 1
_INT_MAX = 2 ** 31 - 1  # (the limit is a C int)


def _recursion_depth():
    """The interpreter's recursion depth in this function's frame, as it counts it (which
    its limit applies to), read from the only place it tells: sys.setrecursionlimit refuses
    a limit at or below it. A binary search, about 3 µs."""
    limit = _real_getrecursionlimit()
    low, high = 0, limit  # setting `high` succeeds (this frame runs); `low`, 0 or refused
    while high - low > 1:
        middle = (low + high) // 2
        try:
            _real_setrecursionlimit(middle)
        except RecursionError:
            low = middle
        else:
            high = middle
    _real_setrecursionlimit(limit)
    return low


def _limit_recursion(limit, levels):
    """Give the code that the caller runs next (exec of the module, eval of the call) the
    recursion limit `limit`, as a script's top level has it, with `levels` more for the
    trace and profile functions that will be on (see _hook_room). Called by the frame that
    runs the code, before it runs any."""
    # The interpreter counts a script's module frame as 1. It counts the caller's module
    # frame as one more than the caller's own, and before Python 3.12 one more again for
    # exec() or eval() itself (a C function running counts then). _recursion_depth's frame
    # is two above the caller's (through this one), and its count includes, before 3.12,
    # the setrecursionlimit it is running: the same one more. So the frames below are its
    # count less two. (Checked against `python file.py` on CPython 3.9 to 3.13.)
    below = _recursion_depth() - 2
    RECURSION_ROOM[:] = below + levels, below, levels
    _real_setrecursionlimit(limit + below + levels)


def _hook_room(levels):
    """Room for our trace and profile functions from now on: `levels` more than the
    frames below, the run's own limit kept. Such a function is called as each frame of the
    run starts, one level above it: where that call fails at the limit, the error is raised
    in the new frame, a level short of where a script run meets it (and the levels a
    function's own calls take are no matter: those it makes at the limit fail inside it,
    which lets the frame go untraced, see LineTracer.on_call). With that level more, the
    code meets the limit at the same depth as without us; the frame it could not start,
    only begun, is the last of its traceback (see docs/sandbox.md)."""
    own = _real_getrecursionlimit() - RECURSION_ROOM[0]
    room = min(RECURSION_ROOM[1] + levels, _INT_MAX - own)
    try:
        _real_setrecursionlimit(own + room)
    except RecursionError:  # (a call already at the limit: no room to change it)
        return
    RECURSION_ROOM[0], RECURSION_ROOM[2] = room, levels


def _room_for_result():
    """Room for our own work on a result (reprs, the literal check, JSON), whatever limit
    the run left: its code is done. (A run that set a limit of 5 had its return's repr fail
    with RecursionError, and the sandbox reported itself failed.)"""
    _real_setrecursionlimit(max(_real_getrecursionlimit(), RECURSION_ROOM[1] + 1000))


def _run_getrecursionlimit():
    """sys.getrecursionlimit, as a run sees it: without the frames below its code."""
    return _real_getrecursionlimit() - RECURSION_ROOM[0]


def _run_setrecursionlimit(limit):
    """sys.setrecursionlimit, as a run sees it: the frames below its code keep their room
    (see RECURSION_ROOM). Refuses what Python refuses, in its words."""
    if type(limit) is not int or not 0 < limit <= _INT_MAX:
        # What Python refuses (not an integer, below 1, past a C int), refused by Python,
        # in its words: it raises before it changes anything. An integer-like object it
        # takes sets a limit above the caller's depth, the limit with its room just below.
        try:
            _real_setrecursionlimit(limit)
        except RecursionError:
            pass
        limit = _index(limit)
    _, below, levels = RECURSION_ROOM
    # As Python, refuse a limit at or below the depth of the caller (one frame below this
    # one): that is the interpreter's own check, with this frame's depth, of the limit
    # one more than the run's. Then the limit with its room.
    try:
        _real_setrecursionlimit(min(limit + below + 1, _INT_MAX))
    except RecursionError as exc:
        # Python's message, with the depth as the run counts it (the depth it gives is
        # this frame's).
        depth = str(exc).rpartition(" depth ")[2].partition(":")[0]
        if not depth.isdigit():
            raise
        raise RecursionError("cannot set the recursion limit to %d at the recursion depth %d: the limit is too low"
                             % (limit, int(depth) - 1 - below)) from None
    room = min(below + levels, _INT_MAX - limit)  # (the room a limit near the largest leaves)
    try:
        _real_setrecursionlimit(limit + room)
    except RecursionError:
        # Only with none of our functions on, for the limit just above the caller's depth,
        # which this frame is at: it keeps the one more (the run's next call meets the
        # limit a level later than in a script run; getrecursionlimit still says `limit`).
        room += 1
    RECURSION_ROOM[0] = room


# Named as the functions they stand in for (a run may print them, or look them up by name).
for _stand_in, _name in ((_run_getrecursionlimit, "getrecursionlimit"), (_run_setrecursionlimit, "setrecursionlimit")):
    _stand_in.__name__ = _stand_in.__qualname__ = _name
    _stand_in.__module__ = "sys"
del _stand_in, _name


def _on_alarm(state):
    def handler(signum, frame):
        if state.finishing:
            return
        if time.monotonic() < state.deadline:
            if state.budget.active:
                state.budget.active = False  # at most one interruption per repr
                raise ReprTimeout()
            return  # a late tick of a repr's interval timer
        seconds = "%g" % float(state.limits["timeout_s"])
        state.finish(state.result("timeout", "timed out after %s s%s" % (seconds, state.at_line(frame))))
    return handler


def _on_cpu(state):
    def handler(signum, frame):
        if state.finishing:
            return
        seconds = "%g" % float(state.limits["cpu_s"])
        state.finish(state.result("cpu_limit", "used more than %s s of CPU time%s" % (seconds, state.at_line(frame))))
    return handler


# As Python's traceback does, a line repeated more times in a row than this (a runaway
# recursion: a thousand frames alike) is listed this many times, then once more as a count.
_REPEATS_SHOWN = 3


# The opcode every code object of 3.11+ runs first, after making its cells: RESUME (a
# module's code begins with it). None before 3.11.
_RESUME = compile("", "", "exec").co_code[0] if sys.version_info >= (3, 11) else None


def _not_begun(tb):
    """Whether a traceback entry is a frame that never ran an instruction of its own: one
    the tracer's own "call" event was refused at the recursion limit. Python, untraced,
    raises that RecursionError in the caller, at its call, so the entry is not shown."""
    lasti = tb.tb_lasti
    if lasti < 0 or _RESUME is None:
        return lasti < 0  # (before 3.11: -1, or -2 on 3.10)
    code = tb.tb_frame.f_code.co_code
    for offset in range(0, len(code), 2):  # (its cells and free variables come first)
        if code[offset] == _RESUME:
            return lasti <= offset
    return False


def _user_traceback(tb, filename, recursion=False):
    """(the frames of `tb` in the traced file, outermost first; the line of the innermost).
    Past _REPEATS_SHOWN frames alike in a row, one entry stands for the rest, in Python's
    words: {"line": None, "function": "f", "text": "[Previous line repeated 996 more times]"}.
    `recursion`: for a RecursionError, whose innermost frame may be one never begun."""
    entries = []
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    if recursion and len(entries) > 1 and _not_begun(entries[-1]):
        entries.pop()
    frames = []
    last, repeats = None, 0

    def say_repeated():
        if repeats > _REPEATS_SHOWN:
            more = repeats - _REPEATS_SHOWN
            frames.append({"line": None, "function": last[1], "text": "[Previous line repeated %d more time%s]" % (
                more, "s" if more > 1 else "")})

    for tb in entries:
        frame, line = tb.tb_frame, tb.tb_lineno
        if frame.f_code.co_filename != filename:
            continue
        here = (line, frame.f_code.co_name)
        if here != last:
            say_repeated()
            last, repeats = here, 0
        repeats += 1
        if repeats <= _REPEATS_SHOWN:
            frames.append({"line": line, "function": here[1], "text": linecache.getline(filename, line).strip()})
    say_repeated()
    return frames, (last[0] if last else None)


def _exception_result(state, exc, traceback=None):
    """`traceback`: the exception's, where it is not attached to it yet (a trace function
    sees an exception on its way out of a frame, before any handler has caught it)."""
    own_limit = _run_getrecursionlimit()
    _room_for_result()
    tb, line = _user_traceback(traceback or exc.__traceback__, state.filename, isinstance(exc, RecursionError))
    if not tb:
        line = state.last_line
    message = safe_str(exc, state.repr)
    info = {"type": type(exc).__name__, "message": message, "line": line, "traceback": tb}
    at = " at line %d" % line if line else ""
    if isinstance(exc, MemoryError):
        return state.result("memory_limit", "stopped at the memory limit of %s MB%s" % (
            state.limits["memory_mb"], at), exception=info)
    if isinstance(exc, RecursionError):
        # (The limit the run had: its own, if it set one.)
        return state.result("exception", "recursion limit of %d calls reached%s" % (
            own_limit, at), exception=info)
    if isinstance(exc, RuntimeError) and message in _NO_THREAD_MESSAGES:
        threads = int(state.limits.get("_threads") or 0)
        reason = (" (the sandbox allows a run at most %d threads, and each thread's stack counts towards its "
                  "memory limit)" % threads) if threads else _NO_THREAD_REASON
        message = info["message"] = message + reason
    elif isinstance(exc, OSError) and exc.errno in _REFUSED_ERRNOS and _raised_in_multiprocessing(traceback or exc.__traceback__):
        # sem_open in the read-only /dev/shm: "Read-only file system" would not say why.
        message = info["message"] = message + _NO_MULTIPROCESSING_REASON
    if state.importing_package:
        # Raised before any line of the file ran: where, in words.
        last = _innermost(traceback or exc.__traceback__)
        where = ", at %s line %d" % (last.tb_frame.f_code.co_filename, last.tb_lineno) if last else ""
        message = info["message"] = (message + " " if message else "") + \
            "(raised while importing the package `%s` the file lies in%s)" % (state.package, where)
    # "KeyboardInterrupt at line 3" where the message is empty, as Python writes it (no ": ").
    return state.result("exception", "%s%s%s" % (info["type"], ": " + message if message else "", at),
                        exception=info)


# multiprocessing's locks and queues are POSIX semaphores in /dev/shm, which a run may not
# write (read-only mounts or Landlock); its processes are refused too.
_REFUSED_ERRNOS = frozenset((errno.EROFS, errno.EACCES, errno.EPERM))
_NO_MULTIPROCESSING_REASON = (" (multiprocessing needs shared memory and new processes, and the sandbox "
                              "allows a run neither)")


def _innermost(tb):
    """The last entry of traceback `tb` (where the exception was raised), or None."""
    last = None
    while tb is not None:
        last, tb = tb, tb.tb_next
    return last


def _raised_in_multiprocessing(tb):
    """Whether the innermost frame of traceback `tb` is multiprocessing's own code."""
    last = _innermost(tb)
    return last is not None and "multiprocessing" in last.tb_frame.f_code.co_filename.replace("\\", "/").split("/")


# What threading says when the kernel refuses a thread: a run may create no processes
# (RLIMIT_NPROC = 0), and for users other than root the kernel counts threads as processes;
# or, in the runs' namespaces, the run has as many threads as it may (sandbox.apply_limits).
_NO_THREAD_MESSAGES = ("can't start new thread", "can't create new thread")
_NO_THREAD_REASON = (" (the sandbox allows a run no new processes, and for users other than root the "
                     "kernel counts threads as processes)")


def _returned(state, value):
    """The result of a call that returned `value`."""
    result = state.result("ok", "returned", **{"return": _return_info(state, value)})
    result["message"] = "returned %s" % _cut(result["return"]["repr"], MESSAGE_REPR)  # ("..." where cut)
    return result


MESSAGE_REPR = 200  # characters of the return value's repr in the message


def _return_info(state, value):
    """{"repr", "literal"}: `literal` is about the value, whether its whole repr reads back
    as an equal value of the same type, not about the text here, which a limit may have cut
    (then truncated.return says so)."""
    _room_for_result()
    limit = max(int(state.limits["max_return_repr"]), 64)
    text, cut = state.repr.shown(value, limit)
    if cut:
        state.truncated["return"] = True
        return {"repr": text, "literal": is_literal(value)}
    return {"repr": text, "literal": reads_back(value, text, lambda back: state.repr(back, limit) == text)}


# How much of a value whose text was cut is_literal looks at: past either, it answers false
# (documented), as a value it has not seen whole. Tens of milliseconds at most, after the call.
LITERAL_PARTS = 100000
LITERAL_DEPTH = 100


def is_literal(value):
    """Whether repr(value) reads back (ast.literal_eval) as an equal value of the same type,
    decided from the value itself, for a value whose text was cut: it is made only of None,
    bools, ints (up to 4000 bits), finite floats, finite complex numbers whose zero parts'
    signs read back (see _complex_read_back), strings, bytes, lists, tuples, dicts and sets
    (those exact types; `set()` reads back too, from Python 3.9), at
    most LITERAL_DEPTH levels deep and of LITERAL_PARTS parts (a container that holds itself
    is deeper than any: its repr, `[1, [...]]`, reads back as another value)."""
    parts = LITERAL_PARTS
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        parts -= 1
        kind = type(item)
        if kind is int:
            if item.bit_length() > 4000:  # (as _plain_repr; SafeRepr shows `<int with 5000 bits>`)
                return False
        elif kind is float:
            if item - item != 0:  # inf, nan: their reprs read back as names
                return False
        elif kind is complex:
            if item - item != 0 or _complex_kind(item) not in _COMPLEX_READ_BACK:
                return False
        elif kind is list or kind is tuple or kind is dict or kind is set:
            if depth >= LITERAL_DEPTH or len(item) > parts:
                return False
            if kind is dict:
                for pair in item.items():
                    stack.append((pair[0], depth + 1))
                    stack.append((pair[1], depth + 1))
            else:
                for element in item:
                    stack.append((element, depth + 1))
        elif item is not None and kind is not bool and kind is not str and kind is not bytes:
            return False
        if parts < 0:
            return False
    return True


def _complex_kind(number):
    """What decides whether the repr of the complex `number` reads back with the signs of
    its parts (see _COMPLEX_READ_BACK): each part's sign, and whether it is zero."""
    real, imag = number.real, number.imag
    return _copysign(1.0, real), real == 0, _copysign(1.0, imag), imag == 0


def _complex_read_back():
    """The kinds (_complex_kind) of the finite complex numbers whose repr reads back
    (ast.literal_eval) as the same number, the signs of its parts included, as a float's
    does: the rule (reads_back) asks that what reads back prints as the same text. -1j is
    complex(-0.0, -1.0), printed `(-0-1j)`, which reads back as 0 - 1j, complex(0.0,
    -1.0): equal, but printed `-1j`, and another number where the sign of a zero matters
    (cmath's branch cuts: cmath.sqrt(complex(-4, -0.0)) is -2j; of `(-4-0j)` read back,
    2j). Only the parts' signs and which are zero matter, not their magnitudes. Found once
    (in the zygote) by this Python's own parser and arithmetic, which differ between
    versions."""
    kinds = set()
    for real in (1.0, -1.0, 0.0, -0.0):
        for imag in (1.0, -1.0, 0.0, -0.0):
            number = complex(real, imag)
            try:
                back = ast.literal_eval(repr(number))
            except Exception:
                continue
            signs = (_copysign(1.0, back.real), _copysign(1.0, back.imag)) if type(back) is complex else None
            if back == number and signs == (_copysign(1.0, real), _copysign(1.0, imag)):
                kinds.add(_complex_kind(number))
    return frozenset(kinds)


_COMPLEX_READ_BACK = _complex_read_back()


def reads_back(value, text, same_text=None):
    """Whether `text`, the repr of `value`, reads back (ast.literal_eval) as an equal value
    of the same type; with `same_text`, also one whose repr passes it. Most values are
    made of builtin types only: their answer needs no parsing (see _plain_repr), which in
    a fresh child costs more than the rest of the result (the parser's pages)."""
    plain = _plain_repr(value, len(text))
    if plain is not None:
        return plain == text
    try:
        back = ast.literal_eval(text)
        return bool(type(back) is type(value) and back == value and (same_text is None or same_text(back)))
    except Exception:
        return False


def _plain_repr(value, size):
    """repr(value) when `value` is made only of None, bools, ints, finite floats, strings,
    bytes, lists, tuples and dicts (those exact types, at most six levels deep) and its
    repr can be `size` characters long; None otherwise. Such a value's repr runs no user
    code, and reads back as an equal value of the same types: a text that reads back so is
    its repr, and no other (a repr cut short reads back as another value, or not at all)."""
    budget = size
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        budget -= 1
        kind = type(item)
        if kind is str or kind is bytes:
            budget -= len(item)
        elif kind is int:
            if item.bit_length() > 4000:  # beyond what repr() gives, by default
                return None
        elif kind is float:
            if item - item != 0:  # inf, nan: their reprs read back as names
                return None
        elif kind is list or kind is tuple or kind is dict:
            if depth >= 6 or len(item) > budget:
                return None
            if kind is dict:
                for pair in item.items():
                    stack.append((pair[0], depth + 1))
                    stack.append((pair[1], depth + 1))
            else:
                for element in item:
                    stack.append((element, depth + 1))
        elif item is not None and kind is not bool:
            return None
        if budget < 0:
            return None
    return repr(value)


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
        compiled = request.get("compiled")
        if compiled is not None:
            # Compiled by the server, whose Python has the same bytecode (see
            # pool.Tracer._compiled): unmarshalling is several times cheaper than compiling
            # in a fresh child.
            self.code, self.call_code, self.expect_code, self.entry_code = compiled
            self.loops = loop_map(request["loops"])
            return
        try:
            self.code = compile(source, filename, "exec", dont_inherit=True, optimize=0)
            # The server normally sends the loop table (computed once per source there).
            table = request.get("loops")
            self.loops = loop_map(table if table is not None else loop_table(ast.parse(source, filename)))
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
                setattr(self, attr, compile(text, "<%s>" % key, mode, dont_inherit=True, optimize=0))
            except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError) as exc:
                detail = exc.msg if isinstance(exc, SyntaxError) else str(exc)
                if key == "expect" and request.get("check"):
                    what = "the check"
                self.error = "%s %r has a syntax error: %s" % (what, text, detail)
                return


def _module_name(filename, dotted):
    """The name the traced module runs under when it is not run as a script: the one
    `import` would give it (`shapes` for shapes.py; `dotted`, the server's, `pkg.shapes`,
    for a file in a package), so that its classes read as the user knows them (`<class
    'shapes.Rectangle'>`) and a module that imports it back gets this one. A name already
    taken here (a module the interpreter or the tracer loaded, one of the standard
    library's) or no name (a source with no file) gives a private one."""
    name = dotted or os.path.splitext(os.path.basename(filename))[0]
    top = name.partition(".")[0]
    if not top.isidentifier() or top in sys.modules or \
            top in sys.builtin_module_names or top in getattr(sys, "stdlib_module_names", ()):
        return PRIVATE_MODULE
    return name


PRIVATE_MODULE = "__semcoder_traced__"


_ModuleSpec = type(sys.__spec__)  # importlib's ModuleSpec, without importing importlib


def _place_in_package(module, request, filename):
    """Make the module one of its package's (request["module"]: its dotted name, as
    pool.module_path found it), as `import pkg.shapes` or `python -m pkg.shapes` does:
    relative imports resolve, and the folder above the top package is on sys.path (after
    the file's own). The package's name (see _import_package)."""
    dotted = request["module"]
    is_package = bool(request.get("is_package"))
    module.__spec__ = _ModuleSpec(dotted, None, origin=filename, is_package=is_package)
    module.__package__ = dotted if is_package else dotted.rpartition(".")[0]
    if is_package:
        module.__path__ = [os.path.dirname(filename)]
    root = request.get("module_root")
    if root and root not in sys.path:
        sys.path.insert(1 if sys.path and sys.path[0] == os.path.dirname(filename) else 0, root)
    return dotted.rpartition(".")[0]


def _import_package(state, name):
    """Import the package the module `name` lies in before the module runs, as the import
    system does: its __init__ runs first, and an error there is the run's, as it would be
    the user's. An __init__ that imports the module itself loads it from its file (not
    from ours, which has not run yet); ours takes its name back after."""
    if state.package:
        ours = sys.modules.pop(name, None)
        state.importing_package = True  # (an exception from here says so: _exception_result)
        try:
            __import__(state.package)
        finally:
            sys.modules[name] = ours
        state.importing_package = False


def run_child(request, workdir, result_fd, real_workdir=None, hook=None, read_code=None):
    """Body of a forked child: sandbox itself, run, write the trace, exit.
    `real_workdir`: os.path.realpath(workdir), when the caller knows it already; `hook`:
    make_audit_hook(workdir, real_workdir), when the caller built it already. `read_code`:
    adds the request's second part (its loop table and code objects: see
    pool._Zygote.request) to `request`, called once the process has its limits (unpacking
    the code objects is then bounded by the memory limit too)."""
    state = RunState(request, workdir, result_fd)
    limits = state.limits
    # _signal skips signal.signal's enum conversions, which are costly in a fresh child.
    _signal.signal(signal.SIGALRM, _on_alarm(state))
    if hasattr(signal, "SIGXCPU"):
        _signal.signal(signal.SIGXCPU, _on_cpu(state))
    _signal.signal(signal.SIGINT, _signal.SIG_DFL)
    apply_limits(limits)
    _limit_recursion(int(limits["recursion_limit"]), 0)

    filename = state.filename
    for path in reversed(request.get("sys_path") or []):
        if path not in sys.path:
            sys.path.insert(0, path)
    mode = request.get("mode", "call")
    dotted = request.get("module")
    if mode in ("record", "watch") and not request.get("entry"):
        module_name = "__main__"
    else:
        module_name = _module_name(filename, dotted)
    # As if the file were run with no arguments (argparse reads sys.argv): not the
    # zygote's command line, which names our own files and folders.
    sys.argv = [filename]
    if hasattr(sys, "orig_argv"):
        sys.orig_argv = [sys.executable, filename]
    module = type(sys)(module_name)
    module.__file__ = filename
    module.__builtins__ = __builtins__
    namespace = module.__dict__
    sys.modules[module_name] = module
    if dotted and module_name != PRIVATE_MODULE:
        state.package = _place_in_package(module, request, filename)

    if read_code is not None:
        read_code(request)
    prepared = Prepared(request)
    if prepared.error:
        state.finish(state.result("invalid", prepared.error))
    # The run's clock starts once it has its code: the server's parsing and compiling,
    # which it waited for, are not the run's time. (The zygote's backstop counts from the
    # first frame, with a second's grace.)
    state.deadline = time.monotonic() + float(limits["timeout_s"])
    signal.setitimer(signal.ITIMER_REAL, float(limits["timeout_s"]), 0)
    start_cpu_clock(limits)
    linecache.cache[filename] = (len(request["source"]), None, prepared.lines, filename)
    state.loops = prepared.loops
    code, call_code, expect_code = prepared.code, prepared.call_code, prepared.expect_code

    _mirror(request.get("mirror"), workdir)
    sys.stdout, sys.stderr = state.stdout, state.stderr
    sys.addaudithook(hook or make_audit_hook(workdir, real_workdir))
    _guard_timer_signals()
    if mode == "record":
        _record(state, code, prepared.entry_code, namespace)
    if mode == "watch":
        _watch(state, code, prepared.entry_code, namespace)
    value = None
    awaited = False
    drawn = None
    checking = bool(request.get("check")) and expect_code is not None
    checked = None
    try:
        began = time.monotonic()
        _import_package(state, module_name)
        exec(code, namespace)
        state.started = time.monotonic()
        state.module_s = state.started - began
        if state.stdout.size or state.stderr.size:  # (so that a doctest compares the call's own)
            state.module_output = (state.stdout.size, state.stderr.size)
        tracer = LineTracer(state)
        THREAD_TRACE[0] = tracer.on_call
        _hook_room(1)  # (the trace function starts one level above each frame)
        sys.settrace(tracer.on_call)
        try:
            value = eval(call_code, namespace)
            if expect_code is None and type(value) is _COROUTINE:
                awaited = True
                value = _run_coroutine(value)
            elif expect_code is None and type(value) is _GENERATOR:
                value, drawn = _draw(value)
            elif checking and type(value) in (_GENERATOR, _COROUTINE):
                # The condition runs what the call's body does (`list(gen(4)) == [...]`),
                # which the trace shows, as a drawn generator's.
                checked = _check(state, expect_code, namespace, value)
        finally:
            tracer.check_still_on()
            sys.settrace(None)
            THREAD_TRACE[0] = None
            tracer.recording = False  # threads still running add no events past the call
    except BaseException as exc:
        if isinstance(exc, MemoryError):
            state.reserve = None
        namespace.clear()
        if "tracer" in locals():
            tracer.frames.clear()
        state.finish(_exception_result(state, exc))
    tracer.frames.clear()
    result = _returned(state, value)
    if awaited:
        result["awaited"] = True
    if drawn is not None:
        # The call gave a generator: what it yielded, as list() would give it.
        result["drawn"] = drawn
        result["message"] = "yielded %s%s" % (_cut(result["return"]["repr"], MESSAGE_REPR), "" if drawn["ended"] else
                                              " and more (only its first %d items were drawn)" % DRAWN_MAX)
        if not drawn["ended"]:
            state.truncated["return"] = True  # (not all of what list() would give)
    if checking:
        if checked is None:
            checked = _check(state, expect_code, namespace, value)
        if isinstance(checked, BaseException):
            result["assertion"] = {"passed": False, "expected_repr": None, "error": exception_text(checked, state.repr)}
        else:
            result["assertion"] = {"passed": checked, "actual_repr": result["return"]["repr"]}
    elif expect_code is not None:
        try:
            expected = eval(expect_code, namespace)
            passed = bool(value == expected)
            result["assertion"] = {"passed": passed, "expected_repr": state.repr(expected, 1000),
                                   "actual_repr": result["return"]["repr"]}
        except BaseException as exc:
            result["assertion"] = {"passed": False, "expected_repr": None,
                                   "error": exception_text(exc, state.repr)}
    state.finish(result)


def _check(state, check_code, namespace, value):
    """A check (`lambda v: len(v) == 3`: an assert's condition around the call) of the call's
    value: true or false as the assert's `bool()` makes it, or the exception it raised."""
    state.checking = True
    try:
        return bool(eval(check_code, namespace)(value))
    except BaseException as exc:
        return exc
    finally:
        state.checking = False


async def _coroutine_function():
    pass


_probe = _coroutine_function()
_COROUTINE = type(_probe)
_probe.close()
del _probe


def _run_coroutine(coroutine):
    """What `await` of the call would give: the coroutine an `async def` function returned,
    run to its end in a new event loop (asyncio, imported only by runs that need it). The
    trace then shows what the function does, not only that calling it made a coroutine.
    Not with an expected value: an assert compares what the call gives, a coroutine."""
    import asyncio

    return asyncio.run(coroutine)


def _generator_function():
    yield


_GENERATOR = type(_generator_function())
# The most items _draw takes from a generator (one may never end).
DRAWN_MAX = 1000


def _draw(generator):
    """What `list()` of the call would give, up to DRAWN_MAX items, and {"items": how many,
    "ended": whether the generator ended}: a generator function's call runs none of its body
    until something draws from it, so the trace then shows what the body does, not only
    that calling it made a generator. Not with an expected value: an assert compares what
    the call gives, a generator."""
    items = []
    for item in generator:
        items.append(item)
        if len(items) >= DRAWN_MAX:
            return items, {"items": len(items), "ended": False}
    return items, {"items": len(items), "ended": True}


_MAX_MIRRORED = 1000  # entries linked per folder


def _mirror(folders, workdir):
    """Links in the run's folder to the entries of `folders` (a script's own folder, the
    workspace), made before the audit hook is on: a script run from its folder reads its
    data files by relative paths. Only reading goes through them. Writing to such a name
    resolves outside the run's folder, which the hook refuses (and, with namespaces, the
    read-only mounts); the folder is removed without following links."""
    for folder in folders or ():
        try:
            names = os.listdir(folder)[:_MAX_MIRRORED]
        except OSError:
            continue
        for name in names:
            try:
                os.symlink(os.path.join(folder, name), os.path.join(workdir, name))
            except OSError:
                pass  # taken already, by an earlier folder's entry


def _call_text(name, frame, safe_repr, limit=100000):
    """Rebuild `f(1, [2])` from a frame's arguments at entry, and say whether every
    argument's repr reads back as an equal literal. `limit`: characters per argument (a
    call to replay needs them all; one that only describes a call does not)."""
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
        text = safe_repr(value, limit)
        # (As a return's literal: what reads back must print as the same text, or a
        # replay would call with another value, such as `(-4-0j)`, which reads back as
        # complex(-4.0, 0.0).)
        ok = reads_back(value, text, lambda back: safe_repr(back, limit) == text)
        literal = literal and ok
        described.append({"name": keyword, "repr": text, "literal": ok})
        texts.append(text if keyword is None else "%s=%s" % (keyword, text))
    return "%s(%s)" % (name, ", ".join(texts)), described, literal


def _target_matcher(target, target_file, target_line):
    """Whether a code object is the target's: `f`, or `Class.method` for a method. Python
    3.11+ names code by its qualified name; before, a method is known by its name and
    first line (`target_line`, where given)."""
    short = target.rsplit(".", 1)[-1]

    def matches(fcode):
        if fcode.co_name != short or (target_file and fcode.co_filename != target_file):
            return False
        qual = getattr(fcode, "co_qualname", None)
        if qual is not None:
            return qual == target
        return target_line is None or fcode.co_firstlineno == target_line

    return matches


def _caller_line(frame, filename):
    """The line of `filename` that called `frame`; None when its caller is elsewhere."""
    caller = frame.f_back
    return caller.f_lineno if caller is not None and caller.f_code.co_filename == filename else None


def _record(state, code, entry_code, namespace):
    """Run the module (as __main__) or an entry point and keep the first calls of `target`,
    and on the way those of the functions in `also` (a list of [name, first line or None]):
    one run then serves every function of a file, so a script that never ends costs its
    time limit once, not once per function. Each call says whose it is (`target`). The run
    ends when `target` has `max_calls` calls (the others may have fewer then) or when every
    one has."""
    request = state.request
    targets = [[request["target"], request.get("target_line")]] + list(request.get("also") or ())
    max_calls = int(request.get("max_calls") or 5)
    target_file = request.get("target_filename")
    by_name = {}  # a code object's co_name -> [(matches, target, short name)]
    for target, line in targets:
        short = target.rsplit(".", 1)[-1]
        by_name.setdefault(short, []).append((_target_matcher(target, target_file, line), target, short))
    counts = dict.fromkeys((target for target, _ in targets), 0)
    first = targets[0][0]
    left = [len(counts) * max_calls]  # calls still to record before every target has its own
    calls = state.calls

    def profile(frame, event, arg):
        if event != "call":
            return
        try:
            fcode = frame.f_code
            candidates = by_name.get(fcode.co_name)
            if candidates is None:
                return
            for matches, target, short in candidates:
                if counts[target] < max_calls and matches(fcode):
                    break
            else:
                return
        except RecursionError:
            # At the recursion limit (this function's calls cross it first): this call
            # goes unrecorded. Raised from here, the error would turn the profile function
            # off for good, and be the code's own one level early (see _hook_room).
            return
        counts[target] += 1
        left[0] -= 1
        caller = frame.f_back
        text, args, literal = _call_text(short, frame, state.repr)
        calls.append({"call": text, "args": args, "literal": literal, "target": target,
                      "caller_line": _caller_line(frame, state.filename),
                      "caller_file": caller.f_code.co_filename if caller is not None else None})
        if left[0] <= 0 or counts[first] >= max_calls:
            state.finish(state.result("ok", "recorded %d calls" % len(calls)))

    exc = _run_profiled(state, profile, code, entry_code, namespace)
    if exc is not None and not isinstance(exc, SystemExit):
        failed = _exception_result(state, exc)
        state.finish(state.result(failed["status"], failed["message"], exception=failed["exception"]))
    state.finish(_exited(state.result("ok", "recorded %d calls%s" % (len(calls), _exit_note(exc))), exc))


def _exit_status(exc):
    """How a SystemExit said the run failed: "code 2", or its message ("'usage: …'");
    None for a clean exit (code 0 or None) and for anything else."""
    if not isinstance(exc, SystemExit) or exc.code is None:
        return None
    code = exc.code
    if issubclass(type(code), int):
        # int's own value, as Python's exit takes it: no `__eq__` or `__int__` of a subclass
        # (`code in (None, 0)` ran a user class's `__eq__`, which Python's exit does not).
        value = int.__int__(code)
        return None if value == 0 else "code %d" % value
    return repr(str(code))


def _exit_note(exc):
    """"; it exited with code 2" for a SystemExit that says the run failed, else ""."""
    status = _exit_status(exc)
    return "" if status is None else "; it exited with " + status


def _exited(result, exc):
    """`result` with `exited` (see docs/trace-schema.md) when a SystemExit said the run failed."""
    status = _exit_status(exc)
    if status is not None:
        result["exited"] = status
    return result


def _run_profiled(state, profile, code, entry_code, namespace):
    """Run the module, then the entry point, with `profile` seeing every call, in this
    thread and in the threads the run starts; then wait for those threads, as Python does
    before a script's process ends (daemon threads excepted). The exception that ended the
    run early (SystemExit included); None when it finished."""
    # The module runs from this frame, deeper than run_child's, with `profile` on (and in
    # watch mode, the trace function for the call it watches: no more room than that).
    _limit_recursion(int(state.limits["recursion_limit"]), _PROFILE_ROOM)
    try:
        sys.setprofile(profile)
        THREAD_PROFILE[0] = profile
        try:
            _import_package(state, namespace["__name__"])
            exec(code, namespace)
            if entry_code is not None:
                exec(entry_code, namespace)
            _wait_for_threads()
        finally:
            sys.setprofile(None)
            sys.settrace(None)
            THREAD_PROFILE[0] = None
    except BaseException as exc:
        if isinstance(exc, MemoryError):
            state.reserve = None
        return exc
    return None


def _wait_for_threads():
    """Join the run's non-daemon threads, those they start included (the run's time limit
    still holds: the alarm interrupts a join)."""
    threading = sys.modules.get("threading")
    if threading is None:
        return
    me = threading.current_thread()
    while True:
        waiting = [t for t in threading.enumerate() if t is not me and not t.daemon and t.is_alive()]
        if not waiting:
            return
        for thread in waiting:
            thread.join()


def _watch(state, code, entry_code, namespace):
    """Run the module (as __main__) or an entry point, and trace the first call of the
    target where it happens, whatever its arguments are (objects, open files, values
    built by the run): the run ends when that call returns or raises. The call is
    written with the target's qualified name, `Class.method(<instance>, ...)` for a
    method, and `caller_line` says where in the traced file it was called from."""
    request = state.request
    target = request["target"]
    is_target = _target_matcher(target, state.filename, request.get("target_line"))
    from_line = request.get("from_line")

    def matches(frame):
        return is_target(frame.f_code) and (from_line is None or _caller_line(frame, state.filename) == from_line)

    tracer = LineTracer(state)
    watched = []  # the target's frame, once called
    raised = [None, None]  # the exception leaving it and its traceback, as its trace function saw them

    def on_watched(frame, event, arg):
        if event == "exception":
            raised[:] = arg[1], arg[2]
        if tracer.recording:
            tracer.on_event(frame, event, arg)
        return on_watched

    def on_call(frame, event, arg):
        try:
            local = tracer.on_call(frame, event, arg)
        except RecursionError:  # at the limit (see _record's profile): the frame goes untraced
            return None
        # The watched frame resuming (a generator) keeps its own local trace function.
        return on_watched if local is not None and frame is watched[0] else local

    def profile(frame, event, arg):
        if not watched:
            try:
                found = event == "call" and matches(frame)
            except RecursionError:  # at the limit (see _record's profile): not looked at
                return
            if found:
                watched.append(frame)
                request["call"] = _call_text(target, frame, state.repr, int(state.limits["max_repr"]))[0]
                state.caller_line = _caller_line(frame, state.filename)
                state.started = time.monotonic()
                if state.stdout.size or state.stderr.size:  # what the run printed before the call
                    state.module_output = (state.stdout.size, state.stderr.size)
                # The thread that makes the call (maybe one the script started) is the
                # trace's own; threads the call starts get numbers, as in call mode.
                tracer.main_thread = _thread.get_ident()
                # Its "call" event has passed: record it by hand, then trace the frame's
                # lines and every call it makes.
                tracer.on_call(frame, "call", None)
                tracer.only_within = True
                frame.f_trace = on_watched
                sys.settrace(on_call)
                THREAD_TRACE[0] = tracer.on_call
            return
        if event != "return" or frame is not watched[0]:
            return
        how = exit_kind(frame)
        if how is YIELDED:
            return  # a generator: traced on until it finishes
        sys.settrace(None)
        sys.setprofile(None)
        THREAD_TRACE[0] = None
        tracer.recording = False  # threads the call started add no events past it
        tracer.frames.clear()
        if how is RAISED and raised[0] is not None:
            state.finish(_exception_result(state, raised[0], raised[1]))
        if how is RAISED:  # past the event limit, tracing had stopped: the exception is unknown
            state.finish(state.result("exception", "the call raised an exception%s" % state.at_line()))
        state.finish(_returned(state, arg))

    exc = _run_profiled(state, profile, code, entry_code, namespace)
    tracer.frames.clear()
    if exc is not None and not isinstance(exc, SystemExit):
        failed = _exception_result(state, exc)
        if not watched:
            failed["message"] = "%s, before %s was called" % (failed["message"], target)
        state.finish(failed)
    what = "the module" if entry_code is None else "the entry point"
    if watched:  # a generator left unfinished
        message = "the call of %s had not finished when %s ended" % (target, what)
    else:
        where = "" if from_line is None else " from line %d" % from_line
        message = "running %s never called %s%s%s" % (what, target, where, _exit_note(exc))
    state.finish(_exited(state.result("invalid", message), exc))


# Frames on the server's pipe: 4-byte big-endian length + UTF-8 JSON.

def framed(body):
    """`body` as a frame of the tracer's pipes: 4-byte big-endian length, then the body."""
    return struct.pack(">I", len(body)) + body


def write_frame(fd, body):
    """`body` as a frame; all of it, whatever the pipe takes per call."""
    return write_all(fd, framed(body))


def write_all(fd, data):
    """All of `data`; False if the reader is gone. A pipe takes up to 4 KiB in one write:
    the usual case makes no view of the data. A descriptor made non-blocking (the result
    pipe, by a run: its open file description is the zygote's too, which sets it back after
    the run) is waited on for room rather than given up on EAGAIN (review 27)."""
    while True:
        try:
            written = _os_write(fd, data)
        except InterruptedError:
            continue
        except BlockingIOError:
            _select((), (fd,), ())
            continue
        except OSError:
            return False
        if written == len(data):
            return True
        data = memoryview(data)[written:]


def read_exact_fd(fd, size):
    parts = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            return None
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)
