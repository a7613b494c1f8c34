"""The plainest tracer there is, run in the test's own process (or, as a script, by another
interpreter: under()): the reference that the sandboxed tracer's traces and the
monologues rendered from them are checked against. Standard library only, Python 3.9+.

No sandbox and no shortcuts: every local's full text at every event of every frame of the
traced source, compared with the frame's last event (the same object with the same text,
or it changed), the change attributed to the line that ran in between. A generator resumed
after a `yield` takes in silently what changed while it waited (its caller's doing, not
its own). Conditions of `if`, `elif` and `while` are evaluated again, on copies of the
frame's values, every time their line runs."""

from __future__ import annotations

import ast
import copy
import re
import json
import subprocess
import sys
import types
from collections import Counter

FILENAME = "<naive>"
UNTRACED = frozenset(("<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>", "<lambda>", "<module>"))
_SUSPENDS = 0x20 | 0x80 | 0x200  # generator, coroutine, async generator
# The text of a change that a local's text does not show (see _inside): it compares as a
# cut text does (see change_differences).
INSIDE = "<changed inside ...>"


def _text(value) -> str:
    """repr, except that an object with the default repr shows its attributes as the
    tracer's reprs do (`<Box items=[1], total=1>`), inside containers too, so that a change
    to one shows."""
    kind = type(value)
    if kind is list:
        return "[" + ", ".join(map(_text, value)) + "]"
    if kind is tuple:
        return "(" + ", ".join(map(_text, value)) + ("," if len(value) == 1 else "") + ")"
    if kind is dict:
        return "{" + ", ".join(f"{_text(k)}: {_text(v)}" for k, v in value.items()) + "}"
    if kind.__repr__ is object.__repr__:
        return _as_object(value)
    try:
        return repr(value)
    except AttributeError:  # an object half made: its __repr__ reads what is not set yet
        return _as_object(value)
    except Exception as exc:
        return f"<repr failed: {type(exc).__name__}>"


def _attributes(value) -> dict:
    attributes = dict(getattr(value, "__dict__", None) or {})
    for cls in type(value).__mro__:
        slots = getattr(cls, "__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if slot not in ("__dict__", "__weakref__") and hasattr(value, slot):
                attributes[slot] = getattr(value, slot)
    return attributes


def _as_object(value) -> str:
    attributes = _attributes(value)
    if not attributes:
        return f"<{type(value).__name__} object>"
    return f"<{type(value).__name__} " + ", ".join(f"{name}={_text(v)}" for name, v in attributes.items()) + ">"


def _inside(value, depth: int = 0) -> str:
    """What a value holds, with the attributes of the objects whose `__repr__` the traced
    source defines (their text may leave out a change: the tracer lists it under its place),
    and which objects they are."""
    kind = type(value)
    if depth > 6:
        return "..."
    if kind in (list, tuple, set, frozenset):
        return kind.__name__ + "(" + ", ".join(_inside(v, depth + 1) for v in value) + ")"
    if kind is dict:
        return "{" + ", ".join(f"{_inside(k, depth + 1)}: {_inside(v, depth + 1)}" for k, v in value.items()) + "}"
    method = kind.__repr__
    if method is object.__repr__:
        return f"<{kind.__name__} " + ", ".join(
            f"{name}={_inside(v, depth + 1)}" for name, v in _attributes(value).items()) + ">"
    if getattr(getattr(method, "__code__", None), "co_filename", None) == FILENAME:
        # (which object, too: another one that reads the same may hold other things)
        return f"<{kind.__name__} {id(value)} {_text(value)} " + ", ".join(
            f"{name}={_inside(v, depth + 1)}" for name, v in _attributes(value).items()) + ">"
    return _text(value)


def _name(code) -> str:
    """The function's name as the tracer gives it: qualified from Python 3.11 on."""
    return getattr(code, "co_qualname", code.co_name)


class _OwnFrames(ast.NodeTransformer):
    """A list, set or dict comprehension as a call of list(), set() or dict() on a generator
    expression: a frame of its own, untraced, as comprehensions had until Python 3.12
    inlined them into their function's frame (PEP 709), where their loop reports a line
    per item and their variables show among the function's locals. What the code means,
    and what the tracer reports, is the 3.11 reading."""

    def visit_ListComp(self, node):
        return self._call("__naive_list__", node, node.elt)

    def visit_SetComp(self, node):
        return self._call("__naive_set__", node, node.elt)

    def visit_DictComp(self, node):
        return self._call("__naive_dict__", node, ast.Tuple([node.key, node.value], ast.Load()))

    def _call(self, name, node, element):
        self.generic_visit(node)
        generator = ast.copy_location(ast.GeneratorExp(element, node.generators), node)
        return ast.copy_location(ast.Call(ast.copy_location(ast.Name(name, ast.Load()), node), [generator], []), node)


def _run(source: str, call: str, local):
    namespace: dict = {"__name__": "naive", "__naive_list__": list, "__naive_set__": set, "__naive_dict__": dict}
    tree = ast.fix_missing_locations(_OwnFrames().visit(ast.parse(source)))
    exec(compile(tree, FILENAME, "exec"), namespace)
    frames: dict = {}

    def on_call(frame, event, arg):
        if frame.f_code.co_filename != FILENAME or frame.f_code.co_name in UNTRACED:
            return None
        return local(frame, event, arg, frames)

    sys.settrace(on_call)
    try:
        eval(call, namespace)
    finally:
        sys.settrace(None)


def changes(source: str, call: str) -> Counter:
    """(function, line, name, text) → how many times that line gave that local that text.
    The module globals that hold data and whose names the function's code holds (see
    _names_used) are named `global NAME`; the values a call finds them with are no change."""
    seen: Counter = Counter()

    def record(frame, line, before, call=False):
        now = {name: (value, _text(value), _inside(value)) for name, value in frame.f_locals.items()}
        module = frame.f_globals
        for name in _names_used(frame.f_code):
            value = module.get(name, now)
            if value is not now and not name.startswith("__") and not callable(value) \
                    and not isinstance(value, types.ModuleType):
                now["global " + name] = (value, _text(value), _inside(value))
        if line is not None:
            for name, (value, text, inside) in now.items():
                old = before.get(name)
                if call and name.startswith("global "):
                    continue
                if old is None or old[0] is not value or old[1] != text:
                    seen[(_name(frame.f_code), line, name, text)] += 1
                elif old[2] != inside:  # the same text, something inside changed
                    seen[(_name(frame.f_code), line, name, INSIDE)] += 1
        return now

    def local(frame, event, arg, frames):
        known = frames.get(frame)
        if event == "call" and known is not None:  # resumed: take in silently what changed
            frames[frame] = (frame.f_lineno, record(frame, None, {}))
        elif event == "call":
            frames[frame] = (frame.f_lineno, record(frame, frame.f_lineno, {}, call=True))  # the arguments
        else:
            line, before = known
            frames[frame] = (frame.f_lineno, record(frame, line, before))
            if event == "return" and not frame.f_code.co_flags & _SUSPENDS:
                del frames[frame]
        return lambda f, e, a: local(f, e, a, frames)

    _run(source, call, local)
    return seen


def _names_used(code) -> list[str]:
    """The names a function's code holds, its comprehensions', generator expressions' and
    lambdas' included (they run untraced: what they do is the line's that runs them)."""
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType) and const.co_name in UNTRACED:
            names += _names_used(const)
    return names


def truths(source: str, call: str) -> dict[int, list]:
    """line → the value of its `if`/`elif`/`while` condition each time it ran (None where it
    could not be evaluated again)."""
    tests = {node.lineno: (compile(ast.Expression(node.test), "<test>", "eval"), _may_change_things(node.test))
             for node in ast.walk(ast.parse(source)) if isinstance(node, (ast.If, ast.While))}
    found: dict[int, list] = {}

    def local(frame, event, arg, frames):
        if event == "line" and frame.f_lineno in tests:
            test, on_copies = tests[frame.f_lineno]
            values = dict(frame.f_locals)
            try:  # copies would fail `x is y`, so only where the test could change something
                value = bool(eval(test, dict(frame.f_globals), copy.deepcopy(values) if on_copies else values))
            except Exception:
                value = None
            found.setdefault(frame.f_lineno, []).append(value)
        return lambda f, e, a: local(f, e, a, frames)

    _run(source, call, local)
    return found


def _may_change_things(test: ast.AST) -> bool:
    """Whether evaluating `test` again might change something (it calls, assigns, awaits)."""
    return any(isinstance(node, (ast.Call, ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom))
               for node in ast.walk(test))


def comparable(text: str | None) -> str | None:
    """A value's text as both processes write it: no addresses; sets' items in one order, at
    any depth (string hashes, and so set orders, differ between processes); anything that
    is not a literal only as "<object>" (the tracer's reprs of objects are its own)."""
    if text is None:
        return None
    text = re.sub(r" at 0x[0-9a-f]+", "", text)
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return "<object>"
    return _canonical(value) if _holds_a_set(value) else text


def _holds_a_set(value) -> bool:
    if isinstance(value, (set, frozenset)):
        return True
    if isinstance(value, dict):
        return any(map(_holds_a_set, value)) or any(map(_holds_a_set, value.values()))
    return isinstance(value, (list, tuple)) and any(map(_holds_a_set, value))


def _canonical(value) -> str:
    if isinstance(value, (set, frozenset)):
        return "{" + ", ".join(sorted(map(_canonical, value))) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_canonical(k)}: {_canonical(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(map(_canonical, value)) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(map(_canonical, value)) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def under(python: str, programs: list[tuple[str, str]]) -> list[dict]:
    """changes() and truths() of each (source, call), run by the interpreter `python` (this
    file is standard library only, Python 3.9+): [{"changes": Counter, "truths": {...}}]."""
    done = subprocess.run([python, __file__], input=json.dumps(programs), capture_output=True, text=True,
                          timeout=120, check=True)
    return [{"changes": Counter({tuple(key): n for key, n in found["changes"]}),
             "truths": {int(line): values for line, values in found["truths"].items()}}
            for found in json.loads(done.stdout)]


def change_differences(trace: dict, source: str, call: str, cut: int, seen: Counter | None = None) -> tuple[dict, dict]:
    """(missing, extra): what the naive tracer saw (here, or `seen`: its changes() under
    another interpreter) and the trace does not list, and the reverse. Texts longer than
    `cut` (the tracer's max_repr), or with "..." in them (the tracer's cut ones do, at the
    end or, for a long list, dict or str, in the middle), compare as None. A change the
    trace lists under a place inside a local (`grid[5][0]`, where the local's cut text does
    not show it) counts as a change of the local, with the text None, and the part of the
    naive tracer's full text there must read as the trace says (where that text is a
    literal). The one documented difference is left out: a `for` header starting an
    iteration always lists its loop variables, even when bound to the same object again."""
    from semcoder_inference.tracer.line_tracer import loop_table

    def shown(text):  # a cut text, or one that might be (the same rule on both sides)
        return None if len(text) > cut or "..." in text else comparable(text)

    naive: Counter = Counter()
    full: dict = {}
    for (function, line, name, text), n in (changes(source, call) if seen is None else seen).items():
        naive[(function, line, name, shown(text))] += n
        full.setdefault((function, line, name), []).append(text)
    ours: Counter = Counter()
    wrong_places: Counter = Counter()
    for event in trace["events"]:
        roots = set()
        listed = list(event["changes"].items()) + [("global " + k, v) for k, v in event.get("globals", {}).items()]
        for name, text in listed:
            root = _ROOT.match(name).group()
            key = (event["function"], event["line"], root)
            if root == name:
                ours[key + (shown(text),)] += 1
                continue
            if root not in roots:  # a change of the local, however many places
                roots.add(root)
                ours[key + (None,)] += 1
            if shown(text) is not None and not any(_part(whole, name[len(root):]) in (None, shown(text))
                                                   for whole in full.get(key, ())):
                wrong_places[key[:2] + (name, text)] += 1
    # An object listed whole where its text did not change (more places changed inside it
    # than are listed, or an attribute was removed): as a change the text does not show.
    for key in {key[:3] for key in ours if key[3] == "<object>"}:
        surplus = min(ours[key + ("<object>",)] - naive[key + ("<object>",)], naive[key + (None,)] - ours[key + (None,)])
        if surplus > 0:
            ours[key + ("<object>",)] -= surplus
            ours[key + (None,)] += surplus
    loops, _ = loop_table(ast.parse(source))
    headers = {(header, name) for header, _, targets, _ in loops for name in targets}
    extra = {key: n for key, n in (ours - naive).items() if (key[1], key[2]) not in headers}
    extra.update(wrong_places)
    return dict(naive - ours), extra


_ROOT = re.compile(r"[^\[.]+")


def _part(text: str, place: str) -> str | None:
    """The comparable text of what sits at `place` (`[5][0]`, `['h']`) in the literal
    `text`; None where that cannot be told (not a literal, an attribute)."""
    try:
        value = eval("_whole" + place, {"__builtins__": {}}, {"_whole": ast.literal_eval(text)})
    except Exception:
        return None
    return comparable(repr(value))


_CONDITION = re.compile(r"\[L(\d+)\]: (?:The condition `.*` is (true|false)|The loop condition is (false), so "
                        r"the loop ends|Iteration \d+ of the loop (starts))")


def misstated_conditions(trace: dict, monologue: str, source: str, call: str,
                         real_values: dict | None = None) -> tuple[list, int]:
    """The conditions `monologue` states that are not what they evaluate to (line, stated,
    real), and how many it states. Each statement, in order, must match the value at one
    of the line's runs, in order."""
    whiles = {node.lineno for node in ast.walk(ast.parse(source)) if isinstance(node, ast.While)}
    said: dict[int, list] = {}
    for m in _CONDITION.finditer(monologue):
        line = int(m.group(1)) - 4  # the [Lk] labels of SemCoder's prompt
        if m.group(4) and line not in whiles:
            continue  # a `for` loop's iteration
        said.setdefault(line, []).append(m.group(2) == "true" or m.group(4) == "starts")
    if real_values is None:  # (else: truths() under another interpreter)
        real_values = truths(source, call)
    wrong, stated = [], 0
    for line, claims in said.items():
        runs = [e for e in trace["events"] if e["kind"] == "line" and e["line"] == line]
        real = real_values.get(line, [])
        assert len(real) == len(runs), (line, len(real), len(runs))
        stated += len(claims)
        if None in real:
            continue
        remaining = iter(real)
        if not all(any(claim == value for value in remaining) for claim in claims):
            wrong.append((line, claims[:6], real[:6]))
    return wrong, stated


if __name__ == "__main__":  # see under()
    results = []
    for source, call in json.load(sys.stdin):
        results.append({"changes": [[list(key), n] for key, n in changes(source, call).items()],
                        "truths": truths(source, call)})
    json.dump(results, sys.stdout)
