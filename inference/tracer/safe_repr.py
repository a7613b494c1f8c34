"""Bounded, safe reprs for traced values (runs inside the traced process: stdlib only,
Python 3.9+).

Builtin containers (and subclasses of them that keep their repr) are walked here, so their
size is capped and no user code runs: classes are compared by identity and a subclass is
read through its builtin's own methods; any other object's repr runs under a time budget
(an interval timer), so a __repr__ that raises or hangs shows up as a short marker instead
of breaking the run.
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
        if type(names) is not tuple and type(names) is not list:  # (`in` runs a metaclass's __eq__)
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
            text = _plain_text(repr(obj))
            self.active = False
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
# A thread's ident, at the end of its repr (`<Thread(Thread-1 (work), stopped 1399411...)>`,
# daemon or not, any class of thread): as an address, it differs from run to run; left out.
_THREAD_IDENT = re.compile(r"(, (?:started|stopped)(?: daemon)?) \d+(?=\)>)")
# What a __repr__ that raised AttributeError shows as (see SafeRepr._walk).
MISSING_ATTRIBUTE = "<repr failed: AttributeError>"


def _unbudgeted_repr(obj):
    try:
        return _plain_text(repr(obj))
    except BaseException as exc:  # a broken __repr__ must not break the trace
        return "<repr failed: %s>" % type(exc).__name__


def _plain_text(text):
    """A __repr__'s result as a plain str: one may return a str subclass (repr() lets it
    through), whose own __len__, __eq__ or __contains__ would then run, unbudgeted, in every
    test made of the text; `str.__str__` copies it in C."""
    if type(text) is str:
        return text
    if issubclass(type(text), str):  # (by the class's MRO: no `__class__` of the text's answers)
        return str.__str__(text)
    return "<repr returned %s>" % class_name(type(text))


# The values SafeRepr.ends shows both ends of, when they are too long.
ENDS_SHOWN = frozenset((list, tuple, dict, str))


def _cut(text, limit):
    """`text`, cut to `limit` characters with "..." at the end when longer."""
    return text if len(text) <= limit else text[: max(limit - 3, 1)] + "..."


# What ReprBudget.call gives for a __repr__ that ran out of time: a limit cut its text.
_OUT_OF_TIME = frozenset(("<repr timed out>", "<repr skipped: out of time>"))
# A container found again inside itself, as Python's own reprs print it: `[1, [...]]`.
_AGAIN = {list: "[...]", tuple: "(...)", dict: "{...}", set: "set(...)", frozenset: "frozenset(...)"}
# The builtin containers walked here, and subclasses of them that keep their repr (see
# _container_base): the order in which a subclass's builtin class is looked for.
_WALKED = (list, tuple, dict, set, frozenset)
# A container past the depth shown, by its size alone (see _deep); not `[...]`, which is how
# Python shows a container found again inside itself.
_DEEP = {list: "[... %d item%s]", tuple: "(... %d item%s)", dict: "{... %d item%s}", set: "{... %d item%s}",
         frozenset: "frozenset({... %d item%s})"}
_EMPTY = {list: "[]", tuple: "()", dict: "{}", set: "set()", frozenset: "frozenset()"}
_NONE = type(None)
# The most digits an int's text is made of (CPython takes quadratic time to write one: 0.2 s
# for 100 000 digits, minutes for millions); a longer one, even where the limit would take
# it (a run that raised sys.set_int_max_str_digits), shows as `<int with 80000 bits>`.
INT_DIGITS_MAX = 20000


def _container_base(kind):
    """The builtin container class (list, tuple, dict, set or frozenset) that class `kind`
    derives from, where it keeps that class's own repr: its values are then walked as the
    builtin's are, through the builtin's own methods (the subclass's __len__, __iter__ or
    items() are user code, and a set's repr would run its __iter__); None otherwise. Found
    from the class's MRO and through `type`'s own lookup (no metaclass answers)."""
    if not issubclass(kind, _WALKED):
        return None
    for base in _WALKED:
        if issubclass(kind, base):
            try:
                return base if type_attribute(kind, "__repr__") is base.__repr__ else None
            except Exception:
                return None
    return None


def _deep(obj, kind, base, walk):
    """A container deeper than reprs go: its size alone, `[... 3 items]`, a cut (Python's
    `[...]` would read as a container found again inside itself); an empty one, whole. A set
    subclass's keeps its class's name, as Python's repr shows it: `Bag({... 3 items})`."""
    size = base.__len__(obj)
    if base is kind or base is list or base is tuple or base is dict:
        if not size:
            return _EMPTY[base]
        walk.cut = True
        return _DEEP[base] % (size, "" if size == 1 else "s")
    if not size:
        return "%s()" % class_name(kind)
    walk.cut = True
    return "%s({... %d item%s})" % (class_name(kind), size, "" if size == 1 else "s")


def _int_text(obj, limit, walk):
    """The text of an int of over 2000 bits. Up to 4000 bits, its digits, as any int's (cut
    like any text where longer than the limit); past that, its digits where they fit `limit`
    (a return value's 1506 digits of 2**5000) and Python can write them, else `<int with 5001
    bits>`, a cut. An int too long for the limit is not written out at all: see
    INT_DIGITS_MAX. Python refuses to write more digits than sys.get_int_max_str_digits()
    (3.11+, 3.10.7+, 3.9.14+; the run may lower it to 640, 2126 bits: hence 2000 here)."""
    bits = obj.bit_length()
    fewest = (bits - 1) * 30102 // 100000 + 1  # (bits - 1) * log10(2), rounded down, plus one
    if bits <= 4000 or (fewest <= limit and fewest <= INT_DIGITS_MAX):
        try:
            text = int.__repr__(obj)
        except ValueError:  # more digits than the run lets Python write
            text = None
        if text is not None and (bits <= 4000 or len(text) <= limit):
            return text
    walk.cut = True
    return "<int with %d bits>" % bits


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
        # (by identity: `kind in ENDS_SHOWN` would hash the class, running a metaclass's own __hash__)
        if not text.endswith("...") or (kind is not list and kind is not tuple and kind is not dict and kind is not str):
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
            if type(name) is not str:  # (a key put in the __dict__ by hand: its __str__ must not run)
                name = str.__str__(name) if issubclass(type(name), str) else self(name, 40)
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
        # Classes are told apart by identity: `kind in ATOMS` would run the __eq__ of a class
        # whose metaclass has one (and a miss of `in` costs more than these `is`).
        if kind is int or kind is str or kind is float or kind is bool or kind is _NONE or kind is bytes \
                or kind is complex:
            if kind is int and obj.bit_length() > 2000:
                out.append(_int_text(obj, limit, walk))
            elif kind is str and len(obj) > limit:
                walk.cut = True
                out.append(repr(obj[:limit]))
            elif kind is bytes and len(obj) > limit:
                walk.cut = True
                out.append(repr(obj[:limit]))
            else:
                out.append(repr(obj))
            return
        if kind is list or kind is tuple or kind is dict or kind is set or kind is frozenset:
            base = kind
        else:
            if kind is bytearray or kind is range:
                if kind is bytearray and len(obj) > limit:
                    walk.cut = True
                out.append(repr(obj if kind is range else bytearray(obj[:limit])))
                return
            if keeps_default_repr(kind):
                self._object(obj, kind, out, limit, level, walk)
                return
            base = _container_base(kind)
            if base is None:
                # Anything else may run user code (a __repr__, or a container's elements'
                # reprs): it runs, under the time budget.
                text = self.budget.call(obj)
                if text == MISSING_ATTRIBUTE:
                    # Its __repr__ reads an attribute not set yet: the object is still being
                    # built (the `self` of its __init__). What it holds so far tells more.
                    self._object(obj, kind, out, limit, level, walk)
                    return
                if " at 0x" in text:
                    text = _ADDRESS.sub("", text)
                if ")>" in text:
                    text = _THREAD_IDENT.sub(r"\1", text)
                if text in _OUT_OF_TIME or len(text) > limit:
                    walk.cut = True
                out.append(_cut(text, limit))  # (cut, it says so)
                return
        # A builtin container, or a subclass of one that keeps its repr (`base` is then the
        # builtin): read through the builtin's own methods, so no __len__, __iter__ or
        # items() of a subclass's runs.
        if id(obj) in walk:  # found again inside itself: before the depth limit, not a cut
            out.append(_AGAIN[base] if base is kind or base is list or base is tuple or base is dict
                       else "%s(...)" % class_name(kind))
            return
        if level > 6:
            out.append(_deep(obj, kind, base, walk))
            return
        if base is dict:
            opening, closing = "{", "}"
        elif base is list:
            opening, closing = "[", "]"
        elif base is tuple:
            opening, closing = "(", ")"
        elif not (obj if base is kind else base.__len__(obj)):
            out.append(_EMPTY[kind] if base is kind else "%s()" % class_name(kind))
            return
        elif base is kind:
            opening, closing = ("{", "}") if kind is set else ("frozenset({", "})")
        else:
            opening, closing = "%s({" % class_name(kind), "})"  # as Python's repr of a set subclass
        out.append(opening)
        walk.add(id(obj))
        used = sum(len(p) for p in out)
        first = True
        if base is kind:
            items = obj.items() if kind is dict else obj
        else:
            items = dict.items(obj) if base is dict else base.__iter__(obj)
        for item in items:
            if used > limit:
                walk.cut = True
                out.append(", ...")
                break
            start = len(out)
            if not first:
                out.append(", ")
            first = False
            if base is dict:
                self._walk(item[0], out, limit, level + 1, walk)
                out.append(": ")
                self._walk(item[1], out, limit, level + 1, walk)
            else:
                self._walk(item, out, limit, level + 1, walk)
            for index in range(start, len(out)):  # only what this item added: linear, not quadratic
                used += len(out[index])
        walk.discard(id(obj))
        if base is tuple and (len(obj) if kind is tuple else tuple.__len__(obj)) == 1:
            out.append(",")
        out.append(closing)

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


# The values whose size a fingerprint holds (subclasses too: see fingerprint).
_SIZED = (list, dict, set, bytearray)


def fingerprint(value, text):
    """(the text, the size of a list, dict, set or bytearray, else -1): the repr may be cut
    short; the length still reveals appends to a long list. Read without user code, on every
    line: the class from type(value) and its MRO (isinstance would ask the value's own
    `__class__`, through its class's __getattribute__), a subclass's size through its builtin
    class's __len__, not its own."""
    kind = type(value)
    if kind is list or kind is dict or kind is set or kind is bytearray:
        return (text, len(value))
    if issubclass(kind, _SIZED):
        for base in _SIZED:
            if issubclass(kind, base):
                return (text, base.__len__(value))
    return (text, -1)


# The most characters of an exception's message kept ("..." at the end where cut).
MESSAGE_LEN = 1000
_EXCEPTION_ARGS = BaseException.__dict__["args"].__get__  # (always a tuple: its setter makes one)


def safe_str(exc, safe_repr):
    """str(exc), what Python's traceback shows after "KeyError: ", quotes and all
    (`KeyError: '1'`: a key's repr; stripping the quotes would make `1` of the key '1'), at
    most MESSAGE_LEN characters; "" for an empty message (see exception_text)."""
    try:
        # (the class's __str__ and the exception's args read as BaseException.__str__ reads
        # them, in C: an `args` property, or a metaclass's __getattribute__, is user code)
        if type_attribute(type(exc), "__str__") is BaseException.__str__:
            args = _EXCEPTION_ARGS(exc)
            if len(args) == 1:
                arg = args[0]
                # str(arg), as Python's: a str (subclass) as it is (str.__str__ runs no user code)
                text = str.__str__(arg) if issubclass(type(arg), str) else safe_repr(arg)
            else:
                text = safe_repr(args) if args else ""
        else:
            text = safe_repr.budget.call(_StrProxy(exc))
        return _cut(text, MESSAGE_LEN)
    except BaseException:
        return "<message unavailable>"


def exception_text(exc, safe_repr):
    """"KeyError: '1'", or the type's name alone where the message is empty
    ("KeyboardInterrupt", not "KeyboardInterrupt: "), as Python's traceback ends."""
    message = safe_str(exc, safe_repr)
    name = class_name(type(exc))
    return "%s: %s" % (name, message) if message else name


class _StrProxy:
    """Lets an exception's user-defined __str__ run under the repr time budget."""

    def __init__(self, exc):
        self.exc = exc

    def __repr__(self):
        return str(self.exc)
