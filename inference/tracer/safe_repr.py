"""Bounded, safe reprs for traced values (runs inside the traced process: stdlib only,
Python 3.9+).

Builtin containers are walked here, so their size is capped and no user code runs; any
other object's repr runs under a time budget (an interval timer), so a __repr__ that
raises or hangs shows up as a short marker instead of breaking the run.
"""

from __future__ import annotations

import _thread
import re
import signal
import time

# Our own references: traced code that patches signal.setitimer must not break reprs.
_setitimer = signal.setitimer
_ITIMER_REAL = signal.ITIMER_REAL
# A user-defined __repr__ gets this long before it counts as hung.
REPR_BUDGET_S = 0.2

ATOMS = (int, float, complex, bool, type(None), str, bytes)


class _Slotted:
    __slots__ = ("slot",)


_SLOT = type(_Slotted.__dict__["slot"])  # member_descriptor: reads a slot in C
_INSTANCE_DICT = type(type.__dict__["__dict__"])  # getset_descriptor: an object's __dict__, in C
type_attribute = type.__getattribute__
# A class's MRO and namespace, read through `type`'s own descriptors: a metaclass cannot
# answer for them (with a property of its own named `__mro__`, say).
_mro = type.__dict__["__mro__"].__get__
_namespace = type.__dict__["__dict__"].__get__
class_name = type.__dict__["__name__"].__get__


def _layout(kind):
    """How objects of class `kind` keep their attributes: (the descriptor of their own
    __dict__, or None: none, or a class put something else under that name; (name,
    descriptor) of each slot; the class), found through `type`'s own descriptors. Kept
    per class: a class's slots and its __dict__ slot are fixed when it is made."""
    found = _LAYOUTS.get(id(kind))  # (by id: a metaclass may hash its classes its own way)
    if found is not None and found[2] is kind:
        return found
    dict_descriptor = None
    for klass in _mro(kind):
        descriptor = _namespace(klass).get("__dict__")
        if descriptor is not None:
            dict_descriptor = descriptor if type(descriptor) is _INSTANCE_DICT else None
            break
    slots = []
    for klass in _mro(kind):
        members = _namespace(klass)
        names = members.get("__slots__")
        if type(names) is str:
            names = (names,)
        if type(names) not in (tuple, list):
            continue
        for name in names:
            if type(name) is not str or name in ("__dict__", "__weakref__"):
                continue
            key = name
            if name.startswith("__") and not name.endswith("__"):  # stored under its mangled name
                key = "_%s%s" % (class_name(klass).lstrip("_"), name)
            descriptor = members.get(key)
            if type(descriptor) is _SLOT:
                slots.append((name, descriptor))
    if len(_LAYOUTS) >= 4096:  # (a run that makes classes in a loop)
        _LAYOUTS.clear()
    found = _LAYOUTS[id(kind)] = (dict_descriptor, tuple(slots), kind)  # (holding it keeps its id)
    return found


_LAYOUTS = {}


def instance_dict(obj, kind):
    """The object's own __dict__ (itself, not a copy), read through the descriptor its class
    got from Python (no user __getattribute__ or property runs); None if it has none."""
    descriptor = _layout(kind)[0]
    if descriptor is None:
        return None
    try:
        fields = descriptor.__get__(obj, kind)
    except Exception:
        return None
    return fields if type(fields) is dict else None


def slot_values(obj, kind):
    """(name, value) of each set slot of `obj` (classes with __slots__ keep no __dict__ for
    them), read through the slot descriptors themselves: no user __getattribute__,
    __getattr__ or property runs."""
    found = []
    for name, descriptor in _layout(kind)[1]:
        try:
            found.append((name, descriptor.__get__(obj, kind)))
        except Exception:
            pass  # not set (yet)
    return found


def keeps_default_repr(kind):
    """Whether objects of class `kind` keep `object.__repr__` (their class, not a
    metaclass's `__getattribute__`, answers); False where that cannot be told."""
    try:
        return type_attribute(kind, "__repr__") is OBJECT_REPR
    except Exception:
        return False


OBJECT_REPR = object.__repr__


def object_fields(obj, kind):
    """(name, value) of each attribute the repr of an object with the default repr shows:
    its __dict__'s, then its set slots (see instance_dict and slot_values)."""
    fields = instance_dict(obj, kind)
    return (list(fields.items()) if fields is not None else []) + slot_values(obj, kind)


def attribute_map(obj, kind):
    """The same as a dict: the object's own __dict__ itself where no slot of it is set (no
    copy: the caller only reads it)."""
    fields = instance_dict(obj, kind)
    slots = slot_values(obj, kind)
    if not slots:
        return fields if fields is not None else {}
    merged = dict(fields) if fields is not None else {}
    merged.update(slots)  # (as object_fields lists them: the slots after the __dict__)
    return merged


class ReprTimeout(BaseException):
    """Raised by the alarm handler inside a user __repr__ that ran out of time."""


class ReprBudget:
    """Runs user-defined __repr__ methods with a time limit, keeping the run's own alarm.
    In other threads than the one that made it, the alarm (which Python delivers to the main
    thread) cannot interrupt them: there they run under the run's own deadline only."""

    def __init__(self, state):
        self.state = state
        self.active = False
        self.main_thread = _thread.get_ident()
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
        if _thread.get_ident() != self.main_thread:
            return _unbudgeted_repr(obj)
        self.active = True
        # The interval makes the alarm fire again if the user code swallows the first one
        # (the handler then ends the run once its deadline has passed).
        _setitimer(_ITIMER_REAL, min(REPR_BUDGET_S, remaining), 0.05)
        try:
            text = repr(obj)
            self.active = False
            if not isinstance(text, str):
                text = "<repr returned %s>" % type(text).__name__
        except ReprTimeout:
            text = "<repr timed out>"
            self.failed[id(obj)] = (obj, text)
        except BaseException as exc:  # a broken __repr__ must not break the trace
            text = "<repr failed: %s>" % type(exc).__name__
        finally:
            self.active = False
            remaining = state.deadline - time.monotonic()
            _setitimer(_ITIMER_REAL, max(remaining, 0.001), 0)
        return text


# An object's address in a repr (`<function f at 0x7f...>`, `<list_iterator object at
# 0x7f...>`): it differs from run to run and tells the reader nothing; left out.
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
# What a __repr__ that raised AttributeError shows as (see SafeRepr._walk).
MISSING_ATTRIBUTE = "<repr failed: AttributeError>"


def _unbudgeted_repr(obj):
    try:
        text = repr(obj)
        return text if isinstance(text, str) else "<repr returned %s>" % type(text).__name__
    except BaseException as exc:  # a broken __repr__ must not break the trace
        return "<repr failed: %s>" % type(exc).__name__


# The values SafeRepr.ends shows both ends of, when they are too long.
ENDS_SHOWN = frozenset((list, tuple, dict, str))


def _cut(text, limit):
    """`text`, cut to `limit` characters with "..." at the end when longer."""
    return text if len(text) <= limit else text[: max(limit - 3, 1)] + "..."


# What ReprBudget.call gives for a __repr__ that ran out of time: a limit cut its text.
_OUT_OF_TIME = frozenset(("<repr timed out>", "<repr skipped: out of time>"))
# A container found again inside itself, as Python's own reprs print it: `[1, [...]]`.
_AGAIN = {list: "[...]", tuple: "(...)", dict: "{...}", set: "set(...)", frozenset: "frozenset(...)"}


class _Pass(set):
    """One repr being made: the ids of the containers and objects it is inside (one found
    again inside itself prints as Python prints it, `[1, [...]]`, not as nesting down to the
    depth limit), and `cut`, set once a limit (depth, items, length, time) cut its text. One
    per call, not per SafeRepr: the threads of a run share theirs. (A set itself: made for
    every value of every event, it must cost next to nothing.)"""

    cut = False


class SafeRepr:
    """Bounded reprs: builtin containers are walked here (so no user code runs and the
    size is capped); any other object's repr runs under a time budget."""

    def __init__(self, max_len, budget):
        self.max_len = max_len
        self.budget = budget

    def __call__(self, obj, max_len=None):
        limit = max_len or self.max_len
        parts = []
        self._walk(obj, parts, limit, 0, _Pass())
        return _cut("".join(parts), limit)

    def shown(self, obj, max_len=None):
        """(the bounded repr, whether a limit cut any of it): a text can be cut where it does
        not end in "...", deep inside (`(1, (2, ...))`), or by a __repr__'s time budget."""
        limit = max_len or self.max_len
        parts = []
        walk = _Pass()
        self._walk(obj, parts, limit, 0, walk)
        text = "".join(parts)
        if len(text) > limit:
            walk.cut = True
            text = _cut(text, limit)
        return text, walk.cut

    def ends(self, obj):
        """Like calling this, but a list, tuple, dict or str too long for max_len shows its
        first and its last items, `[0, 1, 2, ..., 98, 99]`, so that what a loop appends, or
        adds at the end of a string, shows. Values of events; a return value is cut as usual."""
        text = self(obj)
        kind = type(obj)
        if not text.endswith("...") or kind not in ENDS_SHOWN:
            return text
        limit = self.max_len
        if kind is str:
            side = max((limit - 5) // 2, 1)
            head, tail = repr(obj[:side]), repr(obj[-side:])
            if head[0] != tail[-1] or len(head) + len(tail) > limit:  # other quotes, or escapes
                return text
            return head[:-1] + "..." + tail[1:]
        items = list(obj.items()) if kind is dict else obj  # (a dict's items: a copy, in C)
        budget = (limit - 8) // 2
        walk = _Pass((id(obj),))  # (its items are walked inside it: `[0, ..., 99, [...]]`)
        first = self._items(items, range(len(items)), budget, kind is dict, walk)
        last = self._items(items, range(len(items) - 1, len(first) - 1, -1), budget, kind is dict, walk)
        if not first or not last or len(first) + len(last) >= len(items):
            return text
        opening, closing = {list: "[]", tuple: "()", dict: "{}"}[kind]
        shown = opening + ", ".join(first) + ", ..., " + ", ".join(reversed(last)) + closing
        return shown if len(shown) <= limit + 8 else text

    def _attributes(self, pairs, out, limit, level, walk):
        """`a=1, b=[2]` into `out`, while the text so far is within `limit`, then ", ..."."""
        for index, (name, value) in enumerate(pairs):
            if sum(len(p) for p in out) > limit:
                walk.cut = True
                out.append(", ...")
                break
            out.append("%s%s=" % (", " if index else "", name))
            self._walk(value, out, limit, level, walk)

    def _items(self, items, indexes, budget, pairs, walk):
        """The texts of items[i] for i in `indexes`, as many as fit in `budget` characters."""
        texts, used = [], 0
        for index in indexes:
            out = []
            if pairs:
                self._walk(items[index][0], out, budget, 1, walk)
                out.append(": ")
                self._walk(items[index][1], out, budget, 1, walk)
            else:
                self._walk(items[index], out, budget, 1, walk)
            item = "".join(out)
            used += len(item) + 2
            if used > budget:
                break
            texts.append(item)
        return texts

    def _walk(self, obj, out, limit, level, walk):
        kind = type(obj)
        if kind in ATOMS:
            if kind is int and obj.bit_length() > 4000:
                walk.cut = True
                out.append("<int with %d bits>" % obj.bit_length())
            elif kind is str and len(obj) > limit:
                walk.cut = True
                out.append(repr(obj[:limit]))
            elif kind is bytes and len(obj) > limit:
                walk.cut = True
                out.append(repr(obj[:limit]))
            else:
                out.append(repr(obj))
            return
        if kind is bytearray or kind is range:
            if kind is bytearray and len(obj) > limit:
                walk.cut = True
            out.append(repr(obj if kind is range else bytearray(obj[:limit])))
            return
        if kind in (list, tuple, set, frozenset, dict):
            if id(obj) in walk:  # found again inside itself: before the depth limit, not a cut
                out.append(_AGAIN[kind])
                return
            if level > 6:
                walk.cut = True
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
            walk.add(id(obj))
            used = sum(len(p) for p in out)
            first = True
            items = obj.items() if kind is dict else obj
            for item in items:
                if used > limit:
                    walk.cut = True
                    out.append(", ...")
                    break
                start = len(out)
                if not first:
                    out.append(", ")
                first = False
                if kind is dict:
                    self._walk(item[0], out, limit, level + 1, walk)
                    out.append(": ")
                    self._walk(item[1], out, limit, level + 1, walk)
                else:
                    self._walk(item, out, limit, level + 1, walk)
                for index in range(start, len(out)):  # only what this item added: linear, not quadratic
                    used += len(out[index])
            walk.discard(id(obj))
            if kind is tuple and len(obj) == 1:
                out.append(",")
            out.append(closing)
            return
        if keeps_default_repr(kind):
            self._object(obj, kind, out, limit, level, walk)
            return
        # Anything else may run user code (a __repr__, or a container's elements' reprs).
        text = self.budget.call(obj)
        if text == MISSING_ATTRIBUTE:
            # Its __repr__ reads an attribute not set yet: the object is still being built
            # (the `self` of its __init__). What it holds so far tells more.
            self._object(obj, kind, out, limit, level, walk)
            return
        if " at 0x" in text:
            text = _ADDRESS.sub("", text)
        if text in _OUT_OF_TIME or len(text) > limit:
            walk.cut = True
        out.append(_cut(text, limit))  # (cut, it says so)

    def as_object(self, obj):
        """`obj` shown as the default repr would show it (see _object), whatever its class's
        own `__repr__` shows."""
        parts = []
        self._object(obj, type(obj), parts, self.max_len, 0, _Pass())
        return _cut("".join(parts), self.max_len)

    def _object(self, obj, kind, out, limit, level, walk):
        """An object as the default repr would show it, with its attributes instead of an
        address (they show what changed): `<Box items=[1], total=1>`, `<Box object>`; one
        found again inside itself (`node.parent.child`), `<Box ...>`, as a list is `[...]`."""
        if id(obj) in walk:
            out.append("<%s ...>" % class_name(kind))
            return
        if level > 3:  # deeper, the class name is enough (a cut, where it has attributes)
            if instance_dict(obj, kind) or slot_values(obj, kind):
                walk.cut = True
            out.append("<%s object>" % class_name(kind))
            return
        items = object_fields(obj, kind)
        if not items:
            out.append("<%s object>" % class_name(kind))
            return
        out.append("<%s " % class_name(kind))
        walk.add(id(obj))
        self._attributes(items, out, limit, level + 1, walk)
        walk.discard(id(obj))
        out.append(">")


def fingerprint(value, text):
    # The repr may be cut short; the length still reveals appends to a long list.
    try:
        size = len(value) if isinstance(value, (list, dict, set, bytearray)) else -1
    except Exception:
        size = -1
    return (text, size)


# The most characters of an exception's message kept ("..." at the end where cut).
MESSAGE_LEN = 1000


def safe_str(exc, safe_repr):
    """str(exc), what Python's traceback shows after "KeyError: ", quotes and all
    (`KeyError: '1'`: a key's repr; stripping the quotes would make `1` of the key '1'), at
    most MESSAGE_LEN characters; "" for an empty message (see exception_text)."""
    try:
        if type(exc).__str__ is BaseException.__str__:
            if len(exc.args) == 1:
                arg = exc.args[0]
                # str(arg), as Python's: a str (subclass) as it is (str.__str__ runs no user code)
                text = str.__str__(arg) if issubclass(type(arg), str) else safe_repr(arg)
            else:
                text = safe_repr(exc.args) if exc.args else ""
        else:
            text = safe_repr.budget.call(_StrProxy(exc))
        return _cut(text, MESSAGE_LEN)
    except BaseException:
        return "<message unavailable>"


def exception_text(exc, safe_repr):
    """"KeyError: '1'", or the type's name alone where the message is empty
    ("KeyboardInterrupt", not "KeyboardInterrupt: "), as Python's traceback ends."""
    message = safe_str(exc, safe_repr)
    name = type(exc).__name__
    return "%s: %s" % (name, message) if message else name


class _StrProxy:
    """Lets an exception's user-defined __str__ run under the repr time budget."""

    def __init__(self, exc):
        self.exc = exc

    def __repr__(self):
        return str(self.exc)
