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
import collections
import gc
import itertools
import opcode
import operator
import sys
from weakref import ref as _weakref

from .safe_repr import (ATOMS, ENDS_SHOWN, MESSAGE_LEN, OBJECT_REPR, attribute_map, class_name, exception_text,
                        fingerprint, keeps_default_repr, type_attribute)

def loop_table(tree):
    """Loops of a module, as plain lists (so the server can work them out and send them):
    [[header line, last line, [names a `for` binds], the header's last line], ...] and
    [[line, innermost loop header], ...] for every line inside a loop. Only statements are visited: lambdas and
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
                parts = [node.test] if isinstance(node, ast.While) else [node.target, node.iter]
                loops.append([node.lineno, end, targets, max(p.end_lineno or p.lineno for p in parts)])
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
    """The child's form of loop_table: {line: header} and {header: (first, last, targets,
    header's last line)}. Nested loops come later in the table, so their lines override the
    outer loop's."""
    loops, innermost = table
    return dict(innermost), {h: (h, last, tuple(t), header_end) for h, last, t, header_end in loops}


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
_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE: an `async def` function's code
_CO_ASYNC_GENERATOR = 0x200  # an `async def` with `yield`
_YIELD_FROM_OP = opcode.opmap.get("YIELD_FROM")  # Python 3.9 and 3.10


RETURNED, YIELDED, RAISED = "returned", "yielded", "raised"


def iteration_ended(frame, exc_type):
    """Whether an "exception" event is only the normal end of an `await`, `yield from`,
    `async for` or `for` loop in `frame`."""
    if exc_type is not StopIteration and exc_type is not StopAsyncIteration:  # (`in` runs a metaclass's __eq__)
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
        if class_name(type(value)) != "async_generator_wrapped_value":  # (no metaclass's __getattribute__)
            return _AWAITING
        inside = gc.get_referents(value)  # the wrapper's one reference: the value yielded
        return inside[0] if len(inside) == 1 else value
    return value


_AWAITING = object()


_args = BaseException.__dict__["args"].__get__  # (read in C: a class's own `args` runs no code)


def _raised_text(exc, safe_repr):
    """The text of an "exception" event: "Type: message", as exception_text writes it,
    but where the exception's class has a `__str__` of the traced file's, the message is
    the one BaseException.__str__ makes of its args, without running that `__str__`: the
    exception may well be caught, and code of the traced file run by the tracer changes
    the run (a `__str__` that counts its calls). The run's final, uncaught exception is
    written by child.py, with the class's own `__str__`, as Python's traceback would."""
    kind = type(exc)
    try:
        method = type_attribute(kind, "__str__")
    except Exception:
        method = None
    if not _traced_repr(method):
        return exception_text(exc, safe_repr)  # (a builtin's __str__, KeyError's quotes; a library's)
    try:
        args = _args(exc)
        if len(args) == 1:
            arg = args[0]
            message = str.__str__(arg) if issubclass(type(arg), str) else safe_repr(arg)  # (as str() of it)
        else:
            message = safe_repr(args) if args else ""
        if len(message) > MESSAGE_LEN:
            message = message[:MESSAGE_LEN - 3] + "..."
    except Exception:
        message = ""
    name = class_name(kind)
    return "%s: %s" % (name, message) if message else name


# What a local's snapshot remembers of a container (list, tuple, dict, set) or an object
# with the default repr, and of those it holds: a _Node per container, down to the atoms.
# A local is known to be unchanged, without its repr, when it still holds the same objects
# at every level (an atom is immutable, so the same objects give the same repr). Most
# locals a line does not touch are such values, and walking one for its repr on every line
# was most of a trace's cost. And where a line changed something that the local's cut repr
# does not show (`grid[5][0] += 1` in a 10 x 10 grid, `xs[50] = -1` in a long list), the
# nodes say where: the change is listed under that place's own name, `grid[5][0]`.
# A local's nodes remember at most this many elements in all, each node counting as
# _NODE_COST more: visiting a node costs about what comparing that many elements by
# identity does. So a line's diff stays bounded however many containers a local holds: a
# 50 x 50 grid is remembered whole (a dynamic-programming table of that size is ordinary
# code; at 2000, a 40 x 40 one lost every change past its 27th row, unseen), a dict of 500
# one-item lists by its first 128, a list of 300 objects of one attribute by its first 68.
# An untouched 50 x 50 grid costs a line about 0.1 ms.
_NODE_COST = 30
_OBJECT_COST = 60  # an object's attributes are read through its class: several lookups
_NODE_BUDGET = 4500
_NODE_DEPTH = 6  # as deep as a repr goes
# More places than this changed under one container: the container itself is listed.
_PLACES_MAX = 3
_KEY_TEXT_MAX = 40  # a longer dict key is not written into a name
# `kind in _ATOM_TYPES` hashes `kind` by its metaclass's __hash__: a user metaclass's is
# user code (or None: "unhashable type"), and its __eq__ runs on a hash match. So these sets
# of classes (all of metaclass `type`) are asked only about a class whose metaclass is
# `type` itself, which hashes by identity (`type(kind) is type and kind in ...`: cheaper
# than id()); many classes at once by their ids (_all_atoms).
_ATOM_TYPES = frozenset(ATOMS)
_ATOM_IDS = frozenset(map(id, ATOMS))
# The standard library's own containers are walked like the builtins they resemble: their
# reprs are cut like any library's, so a change past the cut (a BFS queue's append, a
# counter's 30th key) would otherwise go unseen. Exact classes only: a subclass may keep
# more than its items.
_SEQUENCES = frozenset((list, tuple, collections.deque))
_SETS = frozenset((set, frozenset))
_DICTS = frozenset((dict, collections.OrderedDict, collections.defaultdict, collections.Counter))
_CONTAINERS = _SEQUENCES | _SETS | _DICTS
_READ_IN_C = _CONTAINERS | _ATOM_TYPES  # (not objects: their values are read as builtins')
_DEQUE = collections.deque
_is = operator.is_


def _is_atom(value):
    """Whether `value` is an atom (its class exactly one of ATOMS; see _ATOM_TYPES)."""
    kind = type(value)
    return type(kind) is type and kind in _ATOM_TYPES


def _all_atoms(values):
    """Whether every one of `values` is an atom (an exact class of ATOMS), by ids (see
    _ATOM_TYPES)."""
    return _ATOM_IDS.issuperset(map(id, map(type, values)))


def _cost(kind, size):
    """What a node of `size` elements of a value of class `kind` takes of the budget."""
    if kind is list or kind is tuple or kind is dict or type(kind) is type and kind in _CONTAINERS:
        return size + _NODE_COST
    return size + _OBJECT_COST


def _fields(value, kind):
    """An object's attributes, read without running user code, where they tell what its
    text shows: a class that keeps the default repr (SafeRepr shows them), or one whose
    own `__repr__` is written in the traced file (it may leave some out: see _Node's
    `veiled`); None for any other value (a library's object: its internals are noise)."""
    if type(kind) is type and kind in _ATOM_TYPES:
        return None
    try:
        method = type_attribute(kind, "__repr__")
    except Exception:
        return None
    if method is OBJECT_REPR or _traced_repr(method):
        return attribute_map(value, kind)
    return None


def _has_own_repr(kind):
    """Whether values of class `kind` are objects (not atoms or builtin containers) whose
    class has a `__repr__` of its own."""
    return (type(kind) is not type or kind not in _READ_IN_C) and not keeps_default_repr(kind)


def _traced_repr(method):
    """Whether a class's `__repr__` (or `__str__`) is a plain function of the traced file."""
    return type(method) is _FUNCTION and method.__code__.co_filename == _traced_file[0]


_FUNCTION = type(_traced_repr)
# The file being traced (set by LineTracer): objects of the classes it defines a `__repr__`
# for are walked (see _fields).
_traced_file = [None]


def _contents(value, kind):
    """(what a node compares, whether it maps names or keys to values): the list, tuple,
    set or dict itself, or an object's attributes (a dict); None for anything else."""
    if type(kind) is type:
        if kind in _SEQUENCES or kind in _SETS:
            return value, False
        if kind in _DICTS:
            return value, True
    fields = _fields(value, kind)
    return None if fields is None else (fields, True)


def _elements(body, mapping):
    """A node's items: the elements, or a mapping's keys and then its values."""
    return tuple(body) + tuple(body.values()) if mapping else tuple(body)


class _Node:
    """What a snapshot remembers of one container or object: its `size`; its `items` (see
    _elements; None when over the budget); a node for each value that is itself a container
    or an object (`children`: (position among the values, node) pairs); whether some value
    is neither an atom nor has a node (`opaque`: an object with a library's repr, or one
    past the budget); whether it or a node below is an object with a `__repr__` of the
    traced file (`veiled`: its text need not show what changed inside); whether every level
    below is remembered and none is veiled (`complete`: then the same objects throughout
    mean the same repr); and what it and the nodes below take of the budget (`weight`, see
    _cost). `hot`: the index in `children` of the one that changed last (-1: none), checked
    first, since a loop tends to change the same part again. `kind`: the class of the value
    (an object's may be changed, and with it what its repr shows)."""

    __slots__ = ("kind", "size", "items", "children", "opaque", "veiled", "complete", "weight", "hot")


def _node(value, kind, budget, depth=0, above=()):
    """The _Node of `value` (None if it is neither a container nor an object with the
    default repr). `budget`: [what is left of _NODE_BUDGET], shared by a local's nodes;
    `above`: the ids of the containers it is inside (one that holds itself gets no node
    again)."""
    # (Written out for the common kinds: a snapshot is taken of every local a line changed.)
    if kind is list or kind is tuple or kind is set or kind is frozenset:
        body, mapping = value, False
    elif kind is dict:
        body, mapping = value, True
    elif type(kind) is type and kind in _CONTAINERS:  # (the standard library's: rarer, so tested after)
        body, mapping = value, kind in _DICTS
    else:
        body = _fields(value, kind)
        if body is None:
            return None
        mapping = True
    node = _Node()
    node.kind = kind
    size = len(body)
    cost = _cost(kind, size)
    if cost > budget[0] or depth >= _NODE_DEPTH:
        if depth:
            return None  # a part past the budget is not remembered
        node.size, node.items, node.children, node.opaque, node.veiled, node.complete, node.weight, node.hot = \
            size, None, (), True, False, False, 0, -1  # the local itself: its size only
        return node
    budget[0] -= cost
    if mapping:
        items = tuple(body) + tuple(body.values())
        atom_keys = _all_atoms(body)
        flat = _all_atoms(body.values())
    else:
        items = tuple(body)
        atom_keys = True
        flat = _all_atoms(items)
    own = mapping and _has_own_repr(kind)
    if flat:
        node.size, node.items, node.children, node.opaque, node.veiled, node.complete, node.weight, node.hot = \
            size, items, (), False, own, atom_keys and not own, cost, -1
        return node
    node.size, node.items, node.hot = size, items, -1
    node.children, node.opaque = _children(items, size if mapping else 0, range(size), budget, depth,
                                           above + (id(value),))
    _finish(node, atom_keys, cost, own)
    return node


def _children(items, first, positions, budget, depth, above):
    """((position, node) of each value at `positions` (among items[first:]) that is a
    container or an object, whether some other value is no atom). `above`: as for _node,
    the container's own id included."""
    children = []
    opaque = False
    for at in positions:
        item = items[first + at]
        item_kind = type(item)
        if type(item_kind) is type and item_kind in _ATOM_TYPES:
            continue
        if budget[0] <= _NODE_COST or id(item) in above:  # spent, or a container holding itself
            child = None
        else:
            child = _node(item, item_kind, budget, depth + 1, above)
        if child is None:  # an object with a repr of its own, or past the budget
            opaque = True
        else:
            children.append((at, child))
    return children, opaque


def _finish(node, atom_keys, cost, own):
    """A node's `veiled`, `complete` and `weight`, from its children's (`own`: it is an
    object with a `__repr__` of its own)."""
    children = node.children
    node.veiled = own or any(child.veiled for _, child in children)
    node.complete = atom_keys and not node.opaque and not node.veiled and all(child.complete for _, child in children)
    node.weight = cost + sum(child.weight for _, child in children)


def _unchanged(value, kind, node):
    """Whether `value` holds the same objects, at every level `node` has nodes for, as
    when `node` was made of it (for a complete node: the same repr). `node` has its
    items: only the local's own node goes without, past the budget."""
    items, size = node.items, node.size
    if kind is list or kind is tuple or kind is set or kind is frozenset or kind is _DEQUE:
        if len(value) != size or not all(map(_is, value, items)):
            return False
        first = 0
    else:
        if kind is not node.kind:  # (its class was changed)
            return False
        body = value if type(kind) is type and kind in _DICTS else _fields(value, kind)
        if body is None:  # (its class was changed to one with a library's repr)
            return False
        if len(body) != size or not all(map(_is, body, items)) or \
                not all(map(_is, body.values(), itertools.islice(items, size, None))):
            return False
        first = size
    children = node.children
    if not children:
        return True
    hot = node.hot
    if hot >= 0:
        at, child = children[hot]
        part = items[first + at]
        if not _unchanged(part, type(part), child):
            return False
        if len(children) == 1:
            return True
    for index, (at, child) in enumerate(children):
        part = items[first + at]
        if index != hot and not _unchanged(part, type(part), child):  # (once each: a chain of
            return False                                                 # nodes is not walked 2^n times)
    return True


def _atoms_differ(old, new):
    """Whether two atoms hold different values (not merely are other objects: `x[i] =
    x[i].lower()` of a digit puts an equal string there)."""
    kind = type(old)
    return kind is not type(new) or (repr(old) != repr(new) if kind is float else old != new)


def _place(kind, key):
    """The name of a value relative to its container: `[3]` (`key`: its position), `['key']`,
    `.name`; None where none can be written (a set's item, a key that is no atom, or long)."""
    plain = type(kind) is type
    if plain and kind in _SEQUENCES:
        return "[%d]" % key
    if plain and kind in _SETS:
        return None
    if not plain or kind not in _DICTS:
        return "." + key if type(key) is str else None
    if not _is_atom(key) and not (type(key) is tuple and _all_atoms(key)):
        return None
    text = repr(key)
    return "[%s]" % text if len(text) <= _KEY_TEXT_MAX else None


_ADDED = object()


def _with_place(value, route, was):
    """A copy of `value` with the part at `route` (see _refresh) as it `was` (_ADDED: a
    key added, left out), copying each list, tuple or dict on the way; None where the
    route goes through anything else."""
    kind, key = route[0]
    if kind is list or kind is tuple:
        copy = list(value)
    elif kind is dict:
        copy = dict(value)
    else:
        return None
    if len(route) > 1:
        inner = _with_place(copy[key], route[1:], was)
        if inner is None:
            return None
        copy[key] = inner
    elif was is _ADDED:
        if kind is not dict:
            return None
        del copy[key]
    else:
        copy[key] = was
    return tuple(copy) if kind is tuple else copy


def _refresh(value, kind, node, budget, depth=0, above=()):
    """Compare `value` with what `node` remembers of it, and remember it anew: (its node
    now, where it changed). Where: a list of (name relative to `value`, the part there, the
    part it replaced, or _ADDED, the way to it: (class, key or index) of each level), empty
    when nothing changed that the node can tell; None
    when it changed as a whole: items added to a list or removed, keys removed or replaced,
    more than _PLACES_MAX places, or a place that has no name. The nodes of unchanged parts
    are kept (the budget is not exact where a rebuild follows a partial refresh)."""
    contents = _contents(value, kind)
    if contents is None:  # (its class was changed to one with a library's repr)
        return None, None
    if kind is not node.kind:  # (its class was changed to another we walk)
        return _node(value, kind, budget, depth, above), None
    body, mapping = contents
    items, size = node.items, node.size
    now = len(body)
    cost = _cost(kind, now)
    if items is None or cost > budget[0]:
        return _node(value, kind, budget, depth, above), ([] if now == size else None)
    # Old values are items[first:], new ones new[start:]; keys (a mapping's) come first.
    first = size if mapping else 0
    if now == size and all(map(_is, body, items)) and (
            not mapping or all(map(_is, body.values(), itertools.islice(items, size, None)))):
        new, start, same = items, first, None  # nothing replaced here: only parts below can differ
    else:
        new = _elements(body, mapping)
        start = now if mapping else 0
        # Keys (or attributes) added after the others are places of their own, and so are
        # items appended to a deque, whose cut text ends with its first items. (A list's
        # text shows its last items: grown, it is listed whole, `[29, -1]`, which reads
        # better than its new places.)
        if now < size or now > size and not (mapping or kind is _DEQUE) or \
                (mapping or now > size) and not all(map(_is, itertools.islice(new, size), items)):
            return _node(value, kind, budget, depth, above), None
        same = list(map(_is, itertools.islice(items, first, None), itertools.islice(new, start, None)))
    budget[0] -= cost
    found = []
    at = -1 if same is not None else size  # (the values replaced at this level)
    # A part that is (or holds) an object with a `__repr__` of its own, replaced by another,
    # changed even where the two read the same: what they hold may differ.
    veiled = {at for at, child in node.children if child.veiled} if node.veiled and same is not None else ()
    while len(found) <= _PLACES_MAX and at < size:
        try:
            at = same.index(False, at + 1)
        except ValueError:
            break
        old, part = items[first + at], new[start + at]
        if not _is_atom(old) or not _is_atom(part) or _atoms_differ(old, part):
            key = items[at] if mapping else at
            found.append((_place(kind, key), part, _ADDED if at in veiled else old, ((kind, key),)))
    children = []
    kept = True
    lost = False  # a part no longer remembered (past the budget now, or its class changed)
    hot = -1  # (its place among the values)
    inside = above + (id(value),)
    for at, child in node.children:
        if same is not None and not same[at]:
            kept = False
            continue  # replaced: a place of its own already, and a new node below
        part = items[first + at]
        if not child.children and _unchanged(part, type(part), child):  # (no call deeper)
            children.append((at, child))
            budget[0] -= child.weight
            continue
        fresh, below = _refresh(part, type(part), child, budget, depth + 1, inside)
        if fresh is None:
            kept, lost = False, True
        else:
            kept = kept and fresh is child
            children.append((at, fresh))
        if below is None or below:
            hot = at if hot < 0 and fresh is not None else hot
            key = items[at] if mapping else at
            place = _place(kind, key)
            found += [(place, part, part, ((kind, key),))] if below is None or place is None else \
                [(place + name, inner, was, ((kind, key),) + route) for name, inner, was, route in below]
    found += [(_place(kind, new[at] if mapping else at), new[start + at], _ADDED, ((kind, new[at] if mapping else at),))
              for at in range(size, now)]
    if kept and same is None:
        return node, found
    fresh = _Node()
    fresh.kind = kind
    fresh.size, fresh.items, fresh.opaque = now, new, node.opaque or lost  # (what was opaque stays so)
    fresh.hot = -1
    if now > size or (same is not None and not all(same)):  # new values: their nodes, in order
        changed = [at for at in range(now) if at >= size or not same[at]]
        more, opaque = _children(new, start, changed, budget, depth, inside)
        fresh.opaque = fresh.opaque or opaque
        children = sorted(children + more)
    fresh.children = children
    if hot >= 0:
        fresh.hot = next(index for index, (at, _) in enumerate(children) if at == hot)
    _finish(fresh, not mapping or _all_atoms(itertools.islice(new, now)), cost,
            mapping and _has_own_repr(kind))
    if len(found) > _PLACES_MAX or any(place is None for place, _, _, _ in found):
        return fresh, None
    return fresh, found


# Values compared by their bytes: a bytearray, an array.array, a numpy array. Their reprs
# (a library's, or cut) hide most of what a line changes; their bytes tell it, cheaply.
_BUFFER_MAX = 1 << 20  # a larger one is not copied on every line (its changes go unseen)
_BUFFER_CLASSES = frozenset((("array", "array"), ("numpy", "ndarray")))
_class_module = type.__dict__["__module__"].__get__


def _is_buffer(kind):
    """Whether values of class `kind` are compared by their bytes (see _bytes). (Read
    through `type`'s own descriptors, and not kept per class: that costs as much.)"""
    if kind is bytearray:
        return True
    try:
        module = _class_module(kind)
    except Exception:  # (a class without `__module__`)
        return False
    # (a `__module__` that is no str hashes, and compares, by its own class's methods)
    return type(module) is str and (module, class_name(kind)) in _BUFFER_CLASSES


def _bytes(value):
    """(its bytes in C order, shape, item format, item size), what a buffer value is
    compared by; None where it exports none (a numpy array of objects) or is too large."""
    try:
        with memoryview(value) as view:
            if view.nbytes > _BUFFER_MAX:
                return None
            return view.tobytes(), view.shape, view.format, view.itemsize
    except Exception:
        return None


def _buffer_places(old, new):
    """[(`[3, 4]`, the item's text)] of the items that differ between two _bytes of one
    value; None when it changed as a whole (reshaped, resized, more than _PLACES_MAX items,
    or items whose format Python cannot read)."""
    data, shape, form, size = new
    before = old[0]
    if old[1:] != new[1:] or not shape or not size or len(before) != len(data):
        return None
    try:
        items = memoryview(data).cast(form.lstrip("@"))
    except (TypeError, ValueError):
        return None  # (a complex number, another byte order, unicode)
    found = []
    if not _differing(before, data, 0, len(data), size, found):
        return None
    places = []
    for position in found:
        index, flat = [], position
        for extent in reversed(shape):
            flat, at = divmod(flat, extent)
            index.append(str(at))
        item = items[position]
        text = repr(float("%.8g" % item)) if form.lstrip("@") == "f" else repr(item)  # (a float32 as numpy shows it)
        places.append(("[%s]" % ", ".join(reversed(index)), text))
    return places


def _differing(before, data, start, end, size, found):
    """Add to `found` the positions of the items that differ in bytes [start, end) of two
    buffers of items of `size` bytes, narrowing down by eighths (a slice compares in C);
    False once they are more than _PLACES_MAX."""
    if end - start <= size * 8:
        for at in range(start, end, size):
            if before[at:at + size] != data[at:at + size]:
                if len(found) == _PLACES_MAX:
                    return False
                found.append(at // size)
        return True
    step = max((end - start) // 8 // size, 1) * size
    for at in range(start, end, step):
        part = min(at + step, end)
        if before[at:part] != data[at:part] and not _differing(before, data, at, part, size, found):
            return False
    return True


_STORE_GLOBAL, _DELETE_GLOBAL = opcode.opmap["STORE_GLOBAL"], opcode.opmap["DELETE_GLOBAL"]
_GLOBAL_WRITES = frozenset((_STORE_GLOBAL, _DELETE_GLOBAL))
_MODULE = type(sys)


def _watched_globals(code, module_globals):
    """The module globals a function's code names that hold data (not functions, classes
    or modules), and those it assigns with `global` (which may not exist yet): what it can
    change, or see changed, beside its locals. Its comprehensions, generator expressions
    and lambdas count as its code: they run untraced, and what they do shows in the line
    that runs them. A name the code uses only as an attribute (`self.count` beside a
    global `count`) is watched too: `co_names` holds both."""
    codes = [code]
    for inner in codes:  # (grows as it goes)
        codes += [const for const in inner.co_consts if type(const) is _CODE and const.co_name in _SKIPPED_CODE]
    named = code.co_names if len(codes) == 1 else tuple(name for inner in codes for name in inner.co_names)
    names = module_globals.keys() & named  # (most often only functions)
    watched = [name for name in named if name in names and name[:2] != "__"
               and not callable(module_globals[name]) and type(module_globals[name]) is not _MODULE] if names else []
    for inner in codes:
        raw = inner.co_code
        if _STORE_GLOBAL in raw or _DELETE_GLOBAL in raw:  # (a byte of an argument may look the same)
            extended = 0
            for index in range(0, len(raw), 2):  # word code (3.6+); a cache entry is a word too
                op, arg = raw[index], raw[index + 1] | extended
                extended = arg << 8 if op == opcode.EXTENDED_ARG else 0
                if op in _GLOBAL_WRITES:
                    watched.append(inner.co_names[arg])
    return tuple(dict.fromkeys(watched))


_CODE = type(_watched_globals.__code__)


# Python 3.12+ runs a list, set or dict comprehension inside the frame of the function
# that has it (PEP 709), not in a frame of its own, which the tracer leaves untraced (see
# _SKIPPED_CODE): its loop reports a "line" event per item, and its variables show among
# the function's locals while it runs, over a local of the same name (whose value the
# comprehension keeps on the stack and puts back when done). What Python 3.11 shows is
# what the code means: the line runs once, and the function's `x` never was the
# comprehension's. So the events of those instructions are no steps of their own, and the
# function's locals are read only before and after them.
_LOAD_FAST_AND_CLEAR = opcode.opmap.get("LOAD_FAST_AND_CLEAR")  # (only an inlined comprehension uses it)
_INLINING = _LOAD_FAST_AND_CLEAR is not None


def _inlined_comprehensions(code):
    """The instructions of the comprehensions Python inlined into `code`, as [first, end)
    offsets: those during which a comprehension's names hold its own values, not the
    function's; None when there are none. Read from the bytecode: the instructions that
    save the enclosing values (LOAD_FAST_AND_CLEAR) start one, its loop (FOR_ITER, or
    GET_ANEXT for `async for`) runs until the last jump back to it, and the stores after
    that put the names back; its clean-up (the handler of the exception-table entries just
    after the start, ending in RERAISE) puts them back when it raises, and the code out of
    line that those entries cover (an `await`'s, an `async for`'s end) is its own too."""
    if bytes((_LOAD_FAST_AND_CLEAR,)) not in code.co_code[::2]:  # (opcodes only, not their arguments)
        return None
    import dis  # (only runs whose code has such comprehensions pay for it)

    instructions = list(dis.get_instructions(code))
    entries = dis.Bytecode(code).exception_entries
    offsets = [instruction.offset for instruction in instructions]
    groups = []  # (its first instruction's index, the names it saves)
    index = 0
    while index < len(instructions):
        if instructions[index].opcode != _LOAD_FAST_AND_CLEAR:
            index += 1
            continue
        first = index
        while index < len(instructions) and instructions[index].opcode == _LOAD_FAST_AND_CLEAR:
            index += 1
        groups.append((first, frozenset(instruction.argval for instruction in instructions[first:index])))
    cleanups = {}  # each one's clean-up: its first instruction → its RERAISE
    targets = []
    for first, _ in groups:
        after = [entry for entry in entries if entry.start >= offsets[first]]
        target = min(after, key=operator.attrgetter("start")).target if after else None
        if target is not None:
            cleanups[target] = next((offset for offset, instruction in zip(offsets, instructions)
                                     if offset >= target and instruction.opname == "RERAISE"), target)
        targets.append(target)

    def in_cleanup(offset):
        return any(start <= offset <= last for start, last in cleanups.items())

    regions = []
    for (first, names), target in zip(groups, targets):
        end = _comprehension_end(instructions, first, names, in_cleanup)
        if end is None:
            continue  # (a form not known: its events are left as they are)
        # (From past its first save: a line event at that one is the line's own, entering it.)
        spans = [(offsets[first + 1], end)]
        if target is not None:
            spans.append((target, cleanups[target] + 1))
            spans += [(entry.start, entry.end) for entry in entries
                      if entry.target == target and not in_cleanup(entry.start)]
        regions += spans
    return tuple(regions) or None


_STORES = frozenset(("STORE_FAST", "STORE_FAST_STORE_FAST", "STORE_FAST_LOAD_FAST"))
_LOOP_HEADS = frozenset(("FOR_ITER", "GET_ANEXT"))


def _comprehension_end(instructions, first, names, in_cleanup):
    """The offset just past the stores that put back `names` once the comprehension whose
    saving instructions start at instructions[first] has run its loop; None where the
    bytecode is not of the form known."""
    import dis

    head = next((instruction.offset for instruction in instructions[first:] if instruction.opname in _LOOP_HEADS),
                None)
    if head is None:
        return None
    jumps = frozenset(dis.hasjrel) | frozenset(dis.hasjabs)
    last_jump = max((instruction.offset for instruction in instructions
                     if instruction.opcode in jumps and instruction.argval == head), default=head)
    left = set(names)
    for index, instruction in enumerate(instructions):
        if instruction.offset <= last_jump or instruction.opname not in _STORES or in_cleanup(instruction.offset):
            continue
        stored = instruction.argval if type(instruction.argval) is tuple else (instruction.argval,)
        left.difference_update(stored[:1] if instruction.opname == "STORE_FAST_LOAD_FAST" else stored)
        if not left:
            return instructions[index + 1].offset if index + 1 < len(instructions) else instruction.offset + 2
    return None


def _in_comprehension(inlined, at):
    """Whether the instruction at offset `at` is one of an inlined comprehension's (see
    _inlined_comprehensions)."""
    for start, end in inlined:
        if start <= at < end:
            return True
    return False


class _Frame:
    __slots__ = ("depth", "snapshot", "pending", "loops", "awaiting", "thread", "raised_at", "watched",
                 "global_snapshot", "checking", "inlined")

    def __init__(self, depth, thread, watched):
        self.depth = depth
        self.snapshot = {}
        self.watched = watched  # see _watched_globals
        self.global_snapshot = {}
        self.pending = None
        self.loops = {}
        self.awaiting = False  # suspended inside an `await`, not at a `yield`
        self.thread = thread  # None in the thread that made the traced call, else its number
        self.raised_at = -1  # the instruction of an exception not yet handled in this frame
        # (header, its last line) of a loop whose iteration was just counted, until a line
        # past its header runs: the header's lines until then are that iteration's check
        self.checking = None
        self.inlined = None  # its code's inlined comprehensions (see _inlined_comprehensions)


class _Deep:
    """In LineTracer.frames: a frame of the traced source past max_depth, left untraced but
    known, until it returns, by its depth (see LineTracer.on_call). Never a _Frame."""
    __slots__ = ("depth",)

    def __init__(self, depth):
        self.depth = depth


class LineTracer:
    """sys.settrace callbacks recording user-code lines with the locals each line changed."""

    def __init__(self, state):
        self.state = state
        self.filename = state.filename
        _traced_file[0] = state.filename
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
        self._watched = {}  # code object → the globals it watches (see _watched_globals)
        self._awaited = False  # a traced coroutine has awaited (see _task_depth)
        self._inlined = {}  # code object → its inlined comprehensions (see _inlined_comprehensions)
        self._made = {}  # id → (weak reference, fingerprint, node): see _made_text

    def _stop_recording(self):
        self.recording = False
        self.state.truncated["events"] = True
        sys.settrace(None)

    def _diff(self, info, frame):
        return self._compare(frame.f_locals.items(), info.snapshot)

    def _diff_globals(self, info, frame):
        """What changed in the module globals the frame's code watches (see
        _watched_globals); a global not (or no longer) defined is left out."""
        module_globals = frame.f_globals
        return self._compare([(name, module_globals[name]) for name in info.watched if name in module_globals],
                             info.global_snapshot)

    def _compare(self, pairs, snapshot):
        """Of (name, value) pairs: those whose value changed since `snapshot` (updated), as
        name → text, or listed under their places (see _refresh)."""
        changes = {}
        safe_repr = self.repr
        for name, value in pairs:
            old = snapshot.get(name)
            kind = type(value)
            plain = type(kind) is type  # (a set of classes is asked only about such: see _ATOM_TYPES)
            same_object = old is not None and old[0] is value
            held = False  # the same objects throughout, as far as the node remembers
            if same_object and plain and kind in _ATOM_TYPES:
                continue
            other = not plain or kind not in _READ_IN_C  # neither an atom nor a container walked
            if other and _is_buffer(kind):
                self._compare_bytes(name, value, kind, old if same_object else None, snapshot, changes)
                continue
            if same_object:
                node = old[2]
                try:
                    held = node is not None and (node.complete or node.veiled) and _unchanged(value, kind, node)
                except Exception:  # (see below)
                    pass
                if held:
                    # The same repr; or, where a `__repr__` of the traced file's shows it (a
                    # part of it), the text made when its state was last seen: that code
                    # runs again only once what it can read has changed (it may count its
                    # calls, print, change the object: run on every line, it changed the run).
                    continue
            elif other:
                made = self._made_text(value, kind)
                if made is not None:  # (its text, made in another frame, still holds)
                    changes[name] = made[0][0]
                    snapshot[name] = (value,) + made
                    continue
            text = safe_repr.ends(value) if plain and kind in ENDS_SHOWN else safe_repr(value)
            fp = fingerprint(value, text)
            node = places = None
            cut = "..." in text or " object>" in text
            try:
                if plain and kind in _ATOM_TYPES:
                    pass
                elif same_object and old[2] is not None and (old[1] == fp or old[2].children or cut):
                    # (places are needed only where the text may not show them; a nested
                    # value keeps the nodes of its unchanged parts)
                    node, places = _refresh(value, kind, old[2], [_NODE_BUDGET])
                else:
                    node = _node(value, kind, [_NODE_BUDGET])
                if other and node is not None and node.items is not None and _has_own_repr(kind):
                    self._keep_text(value, fp, node)
            except Exception:
                # Nodes read only builtin containers and attributes through their
                # descriptors, but a class can still be odd (a metaclass that answers
                # `__repr__` itself): then the text alone tells, and the run goes on. An
                # exception here would be raised in the user's code.
                node = places = None
            if not same_object or old[1] != fp and not (
                    cut and places and len(places) > 1 and not self._all_shown(value, kind, text, places, node)):
                # (a new text shows the change where it shows every place that changed; one
                # place is what changed the text)
                changes[name] = text
            elif cut or (node is not None and node.veiled):
                # The text cut (or with an object deep inside shown by its class alone, or
                # by a `__repr__` that may leave out what changed), and the same, or not
                # showing every place that changed: list those places.
                if places is None and node is not None:  # (no node: the text alone tells)
                    changes[name] = self._whole(value, kind, text)
                listed = len(changes)
                for place, part, was, _ in places or ():
                    if was is part:  # changed inside, in more places than are listed
                        changes[name + place] = self._whole(part, type(part), None)
                        continue
                    shown = safe_repr.ends(part)  # (`ends` is the plain repr where it shows no ends)
                    if was is _ADDED or _is_atom(was) or shown != safe_repr.ends(was):
                        changes[name + place] = shown  # (not another object that reads the same)
                if old[1] != fp and len(changes) == listed:
                    changes[name] = text  # (its text changed, though no place reads otherwise)
            snapshot[name] = (value, fp, node)
        if len(snapshot) > len(pairs):
            # A name deleted (`del x`): forgotten, so that its object goes when the code lets
            # it go (a `__del__` runs where it would), and the name bound again is a change.
            current = {name for name, _ in pairs}
            for name in [name for name in snapshot if name not in current]:
                del snapshot[name]
        return changes

    def _made_text(self, value, kind):
        """(fingerprint, node) of an object of a class with a `__repr__` of the traced file's
        whose text some frame made (_keep_text) while it held what it holds now: the object
        new to a frame (an argument, `self` of each method called) shows that text, and
        that code does not run again. None otherwise."""
        known = self._made.get(id(value))
        if known is None or known[0]() is not value:
            return None
        try:
            return known[1:] if _unchanged(value, kind, known[2]) else None
        except Exception:  # (see _compare)
            return None

    def _value_text(self, value):
        """The text of a value returned or yielded: the one made already where it is an
        object whose `__repr__` is the traced file's, and that still holds (_made_text)."""
        kind = type(value)
        if type(kind) is not type or kind not in _READ_IN_C:
            made = self._made_text(value, kind)
            if made is not None:
                return made[0][0]
        return self.repr(value)

    def _keep_text(self, value, fp, node):
        """Remember the text just made of an object whose class has a `__repr__` of the
        traced file's (see _made_text), as long as the object lives (a weak reference: the
        tracer keeps no object alive; one that takes none is not remembered)."""
        key = id(value)
        made = self._made
        try:
            ref = _weakref(value, lambda _, key=key: made.pop(key, None))
        except TypeError:
            return
        made[key] = (ref, fp, node)

    def _all_shown(self, value, kind, text, places, node):
        """Whether `text`, the new (cut) text of `value`, shows each of the places (see
        _refresh) that changed: the text of a copy with that one place as it was reads
        otherwise. Only through lists, tuples and dicts, which can be copied without
        running user code (no copy is made of another class, nor of a value holding an
        object with a `__repr__` of the traced file's, which would run again): False there."""
        if node is None or node.veiled:
            return False
        shown = self.repr.ends if type(kind) is type and kind in ENDS_SHOWN else self.repr
        for _, part, was, route in places:
            if was is part:  # (changed inside: what it was is not known)
                return False
            before = _with_place(value, route, was)
            if before is None or shown(before) == text:
                return False
        return True

    def _compare_bytes(self, name, value, kind, old, snapshot, changes):
        """_compare for a value compared by its bytes (see _is_buffer). `old`: its snapshot
        entry, where the local still holds the same object. The same bytes: the same repr
        (not worked out again: numpy's costs more than the copy). Other bytes that the text
        does not show: the items that changed, by their index (`a[50]`, `g[3, 4]`)."""
        data = _bytes(value)
        known = old is not None and data is not None and type(old[2]) is tuple  # bytes to compare
        if known and old[2] == data:
            return
        # Its text cut: the items that changed tell more, and making the text again (numpy's
        # formats the whole array) is not needed to find them.
        cut = known and "..." in old[1][0]
        places = _buffer_places(old[2], data) if cut else None
        if places:
            fp = old[1]  # (the text, not made again)
        else:
            text = self.repr(value)
            fp = fingerprint(value, text)
            if known and not cut and (old[1] == fp or "..." in text):
                # (the same text, or one cut now: numpy's may change its spacing for a new
                # value it does not show)
                places = _buffer_places(old[2], data)
        snapshot[name] = (value, fp, data)
        if places:
            for place, shown in places:
                changes[name + place] = shown
        elif old is None or old[1] != fp or known:
            changes[name] = text  # (the same text too: the bytes say it changed, as a whole)

    def _whole(self, value, kind, text):
        """The text of a value that changed inside as a whole (or in more places than are
        listed): an object whose class has a `__repr__` of its own (it had a node: the
        traced file's) shows its attributes, which that repr may leave out; anything else
        its text (`text`, or worked out where None)."""
        if _has_own_repr(kind):
            return self.repr.as_object(value)
        return text if text is not None else self.repr.ends(value)

    def _name(self, code):
        return getattr(code, "co_qualname", code.co_name)

    def _broke(self, exc):
        """The tracer itself failed on something (an odd value, or a bug of ours): it stops
        recording, and the run goes on untraced. Raised in the trace function, the error
        would have become the user's code's own, failing a run that does not fail. The
        result says so (`trace_stopped`, RunState.result)."""
        self.recording = False
        self.state.tracer_failure = exception_text(exc, self.repr)
        sys.settrace(None)
        return None

    def check_still_on(self):
        """As the traced call ends, before the trace function is removed: whether tracing
        went off under the tracer during the call, by the code's own `sys.settrace` (or a
        trace function of its own), or by the interpreter, which turns tracing off when a
        call of the trace function fails before any of its code runs (at the recursion
        limit, where on_call cannot catch it). The steps after that are missing: the
        result says so (`trace_stopped`, RunState.result)."""
        if self.recording and getattr(sys.gettrace(), "__self__", None) is not self:
            self.state.tracing_lost = ("tracing was turned off during the call (by the code's own sys.settrace, or "
                                       "by Python at its recursion limit); the steps after that are not traced")

    def on_call(self, frame, event, arg):
        try:
            code = frame.f_code
            if code.co_filename != self.filename or code.co_name in _SKIPPED_CODE or not self.recording:
                return None
            frames = self.frames
            info = frames.get(frame)
            if info is None:
                parent = frame.f_back
                depth = 0
                untraced_caller = parent is None  # (called by code the tracer does not trace)
                while parent is not None:
                    parent_info = frames.get(parent)
                    if parent_info is not None:
                        depth = parent_info.depth + 1
                        break
                    untraced_caller = True
                    parent = parent.f_back
                in_main = _thread.get_ident() == self.main_thread
                if parent is None and self.only_within and in_main:
                    return None  # (a thread the watched call started is all within it)
                thread = None if in_main else self._thread_number()
                if untraced_caller and self._awaited:
                    depth = self._task_depth(thread, depth)
                if depth > self.max_depth:
                    self.state.truncated["depth"] = True
                    # Untraced, but kept in `frames` with its depth until it returns, so that
                    # the calls it makes find their depth from it at once. Left out, each of
                    # them walked up to the last traced frame: O(depth) a call, and a
                    # recursion 20000 deep took seconds of the run's time in the tracer. Its
                    # trace function only drops it on its "return" (no line events); the
                    # frame is never kept alive past that.
                    frames[frame] = _Deep(depth)
                    frame.f_trace_lines = False
                    return self._on_deep_event
                watched = self._watched.get(code)
                if watched is None:
                    watched = self._watched[code] = _watched_globals(code, frame.f_globals)
                info = frames[frame] = _Frame(depth, thread, watched)
                if _INLINING:
                    inlined = self._inlined.get(code, False)
                    if inlined is False:
                        inlined = self._inlined[code] = _inlined_comprehensions(code)
                    info.inlined = inlined
                resumed = False
            elif info.__class__ is _Deep:  # (not reached: a frame past max_depth is dropped at its "return")
                return self._on_deep_event
            else:
                resumed = True  # a generator continuing after a yield
                if info.awaiting:  # or a coroutine after an await: the same call goes on
                    info.awaiting = False
                    return self.on_event
            changes = self._diff(info, frame)
            if info.watched:
                self._diff_globals(info, frame)  # (the globals as the call finds them are no change)
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
        except MemoryError:
            raise  # the run's own limit: reported as such
        except RecursionError:
            # The traced code has come so near the interpreter's recursion limit that this
            # function's own calls crossed it. Raised from here, the error would turn
            # tracing off for good (the interpreter does that to a trace function that
            # raises) and reach the user's code at another place, with another message
            # ("... in comparison"). Instead this frame goes untraced, as one past
            # max_depth: the code's own next call meets the limit as it would have. (No
            # call here: at the limit, it would raise again.)
            self.state.truncated["depth"] = True
            return None
        except Exception as exc:
            return self._broke(exc)

    def _on_deep_event(self, frame, event, arg):
        """The local trace function of a frame past max_depth (on_call): its "exception"
        events pass, its "return" forgets it (a yield's too: a generator, resumed, finds its
        depth again, and has its line events back, in case that depth is traced). At the
        recursion limit this call needs no more stack than on_call needed for the same
        frame, which it got."""
        if event == "return":
            self.frames.pop(frame, None)
            frame.f_trace_lines = True
        # (None leaves the frame's trace function as it is: no bound method made per event)

    def _task_depth(self, thread, depth):
        """The depth of a frame of the traced source that untraced code called (`depth`: its
        depth as its callers tell it) in `thread` (its number, None for the calling thread),
        when a traced coroutine of that thread that is at least as deep is suspended at an
        `await`. Then the event loop that coroutine waits on runs the frame: a task
        (`asyncio.create_task`, `gather`) or a callback that code set up, called from within
        that coroutine's call, so one deeper than the outermost such coroutine. The loop's
        frames are its only callers: at the coroutine's own depth, the task's steps would
        read as the coroutine's next steps (`if await task:` "is false", `r = await
        gather(...)` told before the tasks ran). Where no such coroutine awaits (the one
        `asyncio.run` starts, or the call's own), `depth` stands."""
        depths = [info.depth for info in tuple(self.frames.values())  # (a copy: other threads add to it)
                  if info.__class__ is _Frame and info.awaiting and info.thread == thread and info.depth >= depth]
        return min(depths) + 1 if depths else depth

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
        try:
            if not self.recording:
                return None
            info = self.frames.get(frame)
            if info is None or (info.thread is not None and self.thread_events_left <= 0):
                return None
            line = frame.f_lineno
            self.state.last_line = line
            # Inside a comprehension Python inlined (see _inlined_comprehensions): its items
            # are no steps, and the function's locals are read once it is done (its names
            # hold the comprehension's values until then; and reading the locals there, where
            # a name is a closure's cell outside it, crashes CPython 3.13.0). What the line
            # changed is its own, then: the line stays pending.
            inside = info.inlined is not None and _in_comprehension(info.inlined, frame.f_lasti)
            if inside and event == "line":
                return self.on_event
            pending = info.pending
            if pending is not None and not inside:
                # Added to what it had: a line that awaits gets its changes both before the
                # frame suspends and once it has resumed (see the "return" event below).
                changes = pending["changes"]
                changes.update(self._diff(info, frame))
                if info.watched:
                    changed = self._diff_globals(info, frame)
                    if changed:
                        pending.setdefault("globals", {}).update(changed)
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
                        first, last = self.ranges[header][:2]
                        if line < first or line > last:
                            del loops[header]
                checking = info.checking
                if checking is not None and not checking[0] <= line <= checking[1]:
                    checking = info.checking = None
                if line in self.ranges:
                    if (checking is not None and checking[0] == line and pending is not None
                            and pending["kind"] == "line" and line < pending["line"]):
                        # Back at the first line of a header written over several lines
                        # from its later lines, with no line of the body run since the
                        # iteration was counted: the same check going on (`for x in f(a,\n
                        # b):` reaches FOR_ITER on its first line again; Python 3.9 does
                        # that for a `while` too), no new iteration and no new step.
                        info.pending = pending
                        return self.on_event if self.recording else None
                    loops[line] = loops.get(line, 0) + 1
                    info.checking = (line, self.ranges[line][3])
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
                        info.awaiting = self._awaited = True
                        # The awaiting line is not done: what it assigns once resumed (`x =
                        # await ...`, an `async for` target) is its change, not the next line's.
                        info.pending = pending
                        return self.on_event
                if how is not RAISED:
                    ev = self._emit(line, info, name, None, {}, "return")
                    if ev is not None:
                        ev["value"] = self._value_text(arg)
                        if how is YIELDED:
                            ev["yield"] = True
                if how is not YIELDED:
                    self.frames.pop(frame, None)  # a suspended generator keeps its loop counts
            elif event == "exception":
                if iteration_ended(frame, arg[0]):
                    info.pending = pending  # the await goes on to its assignment, on this line
                else:
                    info.raised_at = frame.f_lasti
                    exc_value = arg[1]
                    ev = self._emit(line, info, name, None, {}, "exception")
                    if ev is not None:
                        ev["value"] = _raised_text(exc_value, self.repr)
            return self.on_event if self.recording else None
        except MemoryError:
            raise  # the run's own limit: reported as such
        except RecursionError:  # (see on_call)
            self.state.truncated["depth"] = True
            return None
        except Exception as exc:
            return self._broke(exc)
