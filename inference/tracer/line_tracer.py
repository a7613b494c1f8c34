"""The sys.settrace callbacks that turn a run into events (runs inside the traced process:
stdlib only, Python 3.9+): per executed line of the traced source, the locals that line
changed (rebinding or mutation), the loop iteration and the call depth; calls, returns,
yields and exceptions. Loops come from `loop_table`, which the server can compute once
per source and send along. Threads the traced call starts are traced too (child.py installs
`on_call` in each): their events carry the thread's number.
"""

from __future__ import annotations

import _thread
import ast
import gc
import itertools
import opcode
import operator
import sys

from .safe_repr import ATOMS, ENDS_SHOWN, fingerprint, object_fields, safe_str

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
            end = node.end_lineno or node.lineno
            is_loop = isinstance(node, (ast.For, ast.While, ast.AsyncFor))
            if is_loop:
                # A loop's `else` runs once it is over: its lines are no iteration of it.
                header = node.lineno
                end = node.body[-1].end_lineno or node.body[-1].lineno
                targets = [] if isinstance(node, ast.While) else [
                    n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)]
                loops.append([node.lineno, end, targets])
            if header is not None:
                innermost.extend([line, header] for line in range(node.lineno, end + 1))
            for field in ("body", "orelse", "finalbody"):
                block = getattr(node, field, None)
                if block:
                    visit(block, current if is_loop and field == "orelse" else header)
            for handler in getattr(node, "handlers", None) or ():
                visit(handler.body, header)
            for case in getattr(node, "cases", None) or ():
                visit(case.body, header)

    visit(tree.body, None)
    return loops, innermost


def loop_map(table):
    """The child's form of loop_table: {line: header} and {header: (first, last, targets)}.
    Nested loops come later in the table, so their lines override the outer loop's."""
    loops, innermost = table
    return dict(innermost), {h: (h, last, tuple(t)) for h, last, t in loops}


_RETURN_OPS = frozenset(opcode.opmap[name] for name in ("RETURN_VALUE", "YIELD_VALUE", "RETURN_CONST",
                                                     "RETURN_GENERATOR") if name in opcode.opmap)
_YIELD_OP = opcode.opmap.get("YIELD_VALUE")
_RESUME_OP = opcode.opmap.get("RESUME", -1)
_SKIPPED_CODE = frozenset(("<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>", "<lambda>"))
# `await` and `yield from` end when what they delegate to raises StopIteration (or, for
# `async for`, StopAsyncIteration); the interpreter reports that to the trace function as
# an exception at the delegating instruction, though nothing went wrong.
# Where a StopIteration (StopAsyncIteration) is the normal end of something: an `await`,
# `yield from` or `async for` (the delegation), or a `for` loop over a generator that
# returns a value (every Python from 3.9 to 3.13 reports that one to the trace function).
_ITERATION_END_OPS = frozenset(opcode.opmap[name] for name in ("YIELD_FROM", "SEND", "END_SEND", "FOR_ITER")
                               if name in opcode.opmap)
_ITERATION_ENDS = (StopIteration, StopAsyncIteration)
_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE: an `async def` function's code
_CO_ASYNC_GENERATOR = 0x200  # an `async def` with `yield`
_YIELD_FROM_OP = opcode.opmap.get("YIELD_FROM")  # Python 3.9 and 3.10


RETURNED, YIELDED, RAISED = "returned", "yielded", "raised"


def iteration_ended(frame, exc_type):
    """Whether an "exception" event is only the normal end of an `await`, `yield from`,
    `async for` or `for` loop in `frame`."""
    if exc_type not in _ITERATION_ENDS:
        return False
    code = frame.f_code.co_code
    lasti = frame.f_lasti
    return 0 <= lasti < len(code) and code[lasti] in _ITERATION_END_OPS


def exit_kind(frame):
    """How a frame reporting a "return" event leaves: RETURNED, YIELDED or RAISED. Before
    3.12 an exception leaving the frame also reports "return" (with None): only a frame
    stopped at a return/yield instruction really returned."""
    code = frame.f_code.co_code
    lasti = frame.f_lasti
    op = code[lasti] if 0 <= lasti < len(code) else None
    if op == _RESUME_OP and lasti >= 2 and code[lasti - 2] == _YIELD_OP:
        return YIELDED  # 3.13+ stops just past the yield
    if op == _YIELD_OP:
        return YIELDED
    if _YIELD_FROM_OP is not None and lasti + 2 < len(code) and code[lasti + 2] == _YIELD_FROM_OP:
        return YIELDED  # 3.9/3.10 suspend inside `yield from`/`await` one instruction back
    return RETURNED if op in _RETURN_OPS else RAISED


def _yielded_value(frame, value):
    """What a suspended frame really yields, or _AWAITING when it only waits inside an
    `await` (every suspension of a coroutine; an async generator's whose value is not the
    wrapper its own `yield` puts around the value)."""
    flags = frame.f_code.co_flags
    if flags & _CO_COROUTINE:
        return _AWAITING
    if flags & _CO_ASYNC_GENERATOR:
        if type(value).__name__ != "async_generator_wrapped_value":
            return _AWAITING
        inside = gc.get_referents(value)  # the wrapper's one reference: the value yielded
        return inside[0] if len(inside) == 1 else value
    return value


_AWAITING = object()


# A list, dict or set of at most this many atoms is known to be unchanged, without its
# repr, when it still holds the same objects in the same order: an atom is immutable, so
# the same objects give the same repr. (Most locals a line does not touch are such
# containers, and walking one for its repr on every line was most of a trace's cost.)
# Comparing 1000 parts by identity costs about what the repr of a container's first
# few dozen (all a repr shows) does.
_SHALLOW_MAX = 1000
_ATOM_TYPES = frozenset(ATOMS)
_is = operator.is_


def _fields(value, kind):
    """An object's attributes as its repr shows them (see SafeRepr: a class that keeps the
    default repr), read without running user code; None for any other value."""
    if kind in _ATOM_TYPES or kind.__repr__ is not object.__repr__:
        return None
    return dict(object_fields(value, kind))


def _atom_parts(value, kind, fields):
    """What _same_parts compares: the elements (a dict: keys, then values; an object with
    the default repr, whose `fields` are given: its attributes' names, then values) of a
    small list, dict, set or tuple, or such an object, made only of atoms; None for
    anything else."""
    if kind is list or kind is set or kind is tuple:
        if len(value) <= _SHALLOW_MAX and _ATOM_TYPES.issuperset(map(type, value)):
            return tuple(value)
        return None
    mapping = value if kind is dict else fields
    if mapping is not None and len(mapping) <= _SHALLOW_MAX and _ATOM_TYPES.issuperset(map(type, mapping)) \
            and _ATOM_TYPES.issuperset(map(type, mapping.values())):
        return tuple(mapping) + tuple(mapping.values())
    return None


def _same_parts(value, kind, parts):
    """Whether `value` (of type `kind`) still holds exactly `parts` (see _atom_parts)."""
    if kind is list or kind is set or kind is tuple:
        return len(value) == len(parts) and all(map(_is, value, parts))
    mapping = value if kind is dict else _fields(value, kind)
    size = len(mapping)
    return size * 2 == len(parts) and all(map(_is, mapping, parts)) and \
        all(map(_is, mapping.values(), parts[size:]))


_SIZED = frozenset((list, dict, set, bytearray))


def _shape(fields):
    """Of an object with the default repr, whose attributes are `fields`: (their names,
    their values, the length of each that is a list, dict, set or bytearray, else -1)."""
    values = tuple(fields.values())
    return tuple(fields), values, tuple(len(v) if type(v) in _SIZED else -1 for v in values)


def _moved_attributes(old, new):
    """(name, value) of each attribute of shape `new` that `old` did not have, or held
    another value in (not merely another object of an equal atom), or whose length
    changed (an append to a list it holds)."""
    before = {name: (value, size) for name, value, size in zip(*old)}
    moved = []
    for name, value, size in zip(*new):
        was, was_size = before.get(name, (_MISSING, None))
        if was is value:
            if size != was_size:
                moved.append((name, value))
            continue
        if was is not _MISSING and type(was) is type(value) and type(value) in _ATOM_TYPES \
                and not _values_differ((was,), (value,)):
            continue
        moved.append((name, value))
    return moved


_MISSING = object()


def _values_differ(old, new):
    """Whether two _atom_parts hold different values (not merely other objects: `x[i] =
    x[i].lower()` of a digit puts an equal string there). Called only when the container's
    repr and length look the same, so when what changed lies past where its repr is cut."""
    if len(old) != len(new):
        return True
    for a, b in zip(old, new):
        if a is b:
            continue
        kind = type(a)
        if kind is not type(b) or (repr(a) != repr(b) if kind is float else a != b):
            return True
    return False


class _Frame:
    __slots__ = ("depth", "snapshot", "pending", "loops", "awaiting", "thread", "raised_at")

    def __init__(self, depth, thread):
        self.depth = depth
        self.snapshot = {}
        self.pending = None
        self.loops = {}
        self.awaiting = False  # suspended inside an `await`, not at a `yield`
        self.thread = thread  # None in the thread that made the traced call, else its number
        self.raised_at = -1  # the instruction of an exception not yet handled in this frame


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
        self.main_thread = _thread.get_ident()
        # Threads are numbered 1, 2, ... as their first traced call comes. A thread-local
        # holds the number: a thread's ident may be reused by a later one.
        self._thread_local = _thread._local()
        self._next_thread = itertools.count(1).__next__
        # Threads together may record half of max_events, so that a busy one cannot crowd
        # out the calling thread's steps.
        self.thread_events_left = self.max_events // 2
        # Watch mode: once the watched call is known, only the calls it makes (at any depth)
        # are traced, not a caller of it that the event loop resumes (an outer coroutine).
        self.only_within = False

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
            kind = type(value)
            if old is not None and old[0] is value:
                if kind in ATOMS:
                    continue
                parts = old[2]
                if parts is not None and _same_parts(value, kind, parts):
                    continue  # a small container of atoms, each the one it held before
            if kind in ENDS_SHOWN:
                text = safe_repr.ends(value)  # a long one shows its end too: what a loop appends
            else:
                text = safe_repr(value)
            fp = fingerprint(value, text)
            if kind in _ATOM_TYPES:
                parts = shape = None
                changed = old is None or old[0] is not value or old[1] != fp
            else:
                fields = _fields(value, kind)  # (an object's attributes, read once)
                parts = _atom_parts(value, kind, fields)
                shape = None if fields is None else _shape(fields)
                changed = old is None or old[0] is not value or old[1] != fp or (
                    parts is not None and old[2] is not None and _values_differ(old[2], parts))
                # (the last: a container of atoms changed where its repr does not show)
                if shape is not None and text[-3:] == "..." and old is not None and old[0] is value \
                        and old[3] is not None:
                    # An object whose repr is cut: name the attributes it changed, which its
                    # first ones (what the cut repr shows) need not be.
                    moved = _moved_attributes(old[3], shape)
                    if moved:
                        changed = True
                        text = safe_repr.attributes(kind, moved)
            if changed:
                changes[name] = text
            snapshot[name] = (value, fp, parts, shape)
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
            in_main = _thread.get_ident() == self.main_thread
            if parent is None and self.only_within and in_main:
                return None  # (a thread the watched call started is all within it)
            if depth > self.max_depth:
                self.state.truncated["depth"] = True
                return None
            info = frames[frame] = _Frame(depth, None if in_main else self._thread_number())
            resumed = False
        else:
            resumed = True  # a generator continuing after a yield
            if info.awaiting:  # or a coroutine after an await: the same call goes on
                info.awaiting = False
                return self.on_event
        changes = self._diff(info, frame)
        if resumed:
            # What changed while the generator was suspended (a list it shares, mutated by
            # its caller) is not its doing: only the snapshot takes it in.
            changes = {}
        ev = self._emit(frame.f_lineno, info, self._name(code), None, changes, "call")
        if resumed and ev is not None:
            ev["resumed"] = True
            # The line that yielded is not done: what it does with the value sent in
            # (`x = yield v`) is its change, not the next line's.
            info.pending = ev
        return self.on_event

    def _thread_number(self):
        local = self._thread_local
        number = getattr(local, "number", None)
        if number is None:
            number = local.number = self._next_thread()
        return number

    def _emit(self, line, info, function, iteration, changes, kind):
        if len(self.events) >= self.max_events:
            self._stop_recording()
            return None
        if info.thread is not None:
            if self.thread_events_left <= 0:
                self.state.truncated["events"] = True
                sys.settrace(None)  # this thread's calls from here on run untraced
                return None
            self.thread_events_left -= 1
        event = {"line": line, "depth": info.depth, "function": function,
                 "iteration": iteration, "changes": changes, "kind": kind}
        if info.thread is not None:
            event["thread"] = info.thread
        self.events.append(event)
        return event

    def on_event(self, frame, event, arg):
        if not self.recording:
            return None
        info = self.frames.get(frame)
        if info is None or (info.thread is not None and self.thread_events_left <= 0):
            return None
        line = frame.f_lineno
        self.state.last_line = line
        pending = info.pending
        if pending is not None:
            # Added to what it had: a line that awaits gets its changes both before the
            # frame suspends and once it has resumed (see the "return" event below).
            changes = pending["changes"]
            changes.update(self._diff(info, frame))
            info.pending = None
            loop = self.ranges.get(pending["line"])
            if loop is not None and loop[2] and loop[0] < line <= loop[1] and not changes.keys() >= set(loop[2]):
                # A new iteration: show the loop variables even if rebound to equal values,
                # in the order the header names them.
                snapshot = info.snapshot
                listed = {target: changes[target] if target in changes else snapshot[target][1][0]
                          for target in loop[2] if target in changes or target in snapshot}
                listed.update(changes)
                pending["changes"] = listed
        name = self._name(frame.f_code)
        if event == "line":
            info.raised_at = -1
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
            info.pending = self._emit(line, info, name, iteration, {}, "line")
        elif event == "return":
            # Still at the instruction that raised (at a `yield`, when a generator is
            # closed or thrown into): the frame leaves by the exception, it yields nothing.
            how = RAISED if frame.f_lasti == info.raised_at else exit_kind(frame)
            if how is YIELDED:
                arg = _yielded_value(frame, arg)
                if arg is _AWAITING:  # the event loop's business; it resumes as the same call
                    info.awaiting = True
                    # The awaiting line is not done: what it assigns once resumed (`x =
                    # await ...`, an `async for` target) is its change, not the next line's.
                    info.pending = pending
                    return self.on_event
            if how is not RAISED:
                ev = self._emit(line, info, name, None, {}, "return")
                if ev is not None:
                    ev["value"] = self.repr(arg)
                    if how is YIELDED:
                        ev["yield"] = True
            if how is not YIELDED:
                self.frames.pop(frame, None)  # a suspended generator keeps its loop counts
        elif event == "exception":
            if iteration_ended(frame, arg[0]):
                info.pending = pending  # the await goes on to its assignment, on this line
            else:
                info.raised_at = frame.f_lasti
                exc_type, exc_value = arg[0], arg[1]
                ev = self._emit(line, info, name, None, {}, "exception")
                if ev is not None:
                    ev["value"] = "%s: %s" % (exc_type.__name__, safe_str(exc_value, self.repr))
        return self.on_event if self.recording else None
