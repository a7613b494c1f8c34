"""Type-aware mutation of seed inputs.

An input is an argument list in Python source ("[1, 2], 'ab'"). Each argument is parsed as a
literal and mutated according to its type: numbers move by small steps or flip sign, strings
gain, lose or swap characters, containers gain, lose or reorder elements and have their
elements mutated recursively. Arguments that are not literals are left as they are.
"""

from __future__ import annotations

import ast
import random
import string

_MAX_LEN = 12  # keep mutated containers and strings small: the traces stay readable


def parse_arguments(args_source: str) -> list[object] | None:
    """The literal values of an argument list, or None when any argument is not a literal."""
    try:
        call = ast.parse(f"_f({args_source})", mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(call, ast.Call) or call.keywords:
        return None
    try:
        return [ast.literal_eval(a) for a in call.args]
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def format_arguments(values: list[object]) -> str:
    return ", ".join(_literal(v) for v in values)


def _literal(value: object) -> str:
    """repr(value), but a set's elements in sorted order: Python prints them in hash order,
    which for strings changes from process to process (PYTHONHASHSEED), and a build must
    give the same inputs every time."""
    if isinstance(value, (set, frozenset)) and value:
        items = ", ".join(sorted(_literal(v) for v in value))
        return "{" + items + "}" if type(value) is set else "frozenset({" + items + "})"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(_literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def mutate_value(value: object, rng: random.Random, depth: int = 0) -> object:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return rng.choice([value + 1, value - 1, -value, value * 2, 0, value + rng.randint(-10, 10)])
    if isinstance(value, float):
        return rng.choice([value + 0.5, value - 1.0, -value, value * 2, round(value, 1), 0.0])
    if isinstance(value, str):
        return _mutate_str(value, rng)
    if isinstance(value, (list, tuple)):
        items = list(value)
        op = rng.choice(["append", "drop", "shuffle", "element", "element"]) if items else "append"
        if op == "append" and len(items) < _MAX_LEN:
            items.insert(rng.randint(0, len(items)), _fresh_like(items, rng))
        elif op == "drop" and items:
            items.pop(rng.randrange(len(items)))
        elif op == "shuffle":
            rng.shuffle(items)
        elif items and depth < 3:
            i = rng.randrange(len(items))
            items[i] = mutate_value(items[i], rng, depth + 1)
        return type(value)(items) if isinstance(value, tuple) else items
    if isinstance(value, dict):
        d = dict(value)
        keys = list(d)
        op = rng.choice(["add", "drop", "value"]) if keys else "add"
        if op == "add" and len(d) < _MAX_LEN:
            key = _fresh_like(keys, rng)
            try:
                d[key] = _fresh_like(list(d.values()), rng)
            except TypeError:  # unhashable key sample; keep the dict as it is
                pass
        elif op == "drop" and keys:
            d.pop(rng.choice(keys))
        elif keys and depth < 3:
            k = rng.choice(keys)
            d[k] = mutate_value(d[k], rng, depth + 1)
        return d
    if isinstance(value, set):
        # (its elements in a fixed order: a set's own order is the hash order, see _literal)
        return set(mutate_value(sorted(value, key=_literal), rng, depth)) if value else {rng.randint(0, 9)}
    return value  # None, bytes, complex: kept


def _mutate_str(s: str, rng: random.Random) -> str:
    alphabet = string.ascii_lowercase + " "
    ops = ["insert", "delete", "replace", "swapcase", "reverse", "duplicate"]
    op = rng.choice(ops) if s else "insert"
    if op == "insert" and len(s) < _MAX_LEN:
        i = rng.randint(0, len(s))
        return s[:i] + rng.choice(alphabet) + s[i:]
    if op == "delete" and s:
        i = rng.randrange(len(s))
        return s[:i] + s[i + 1:]
    if op == "replace" and s:
        i = rng.randrange(len(s))
        return s[:i] + rng.choice(alphabet) + s[i + 1:]
    if op == "swapcase":
        return s.swapcase()
    if op == "reverse":
        return s[::-1]
    if op == "duplicate" and len(s) * 2 <= _MAX_LEN:
        return s + s
    return s + rng.choice(alphabet)


def _fresh_like(samples: list, rng: random.Random) -> object:
    """A new element of the same type as the existing ones (an int when there are none)."""
    if not samples:
        return rng.randint(0, 9)
    return mutate_value(rng.choice(samples), rng, depth=3)


def mutate_inputs(seed_inputs: list[str], count: int, rng: random.Random, max_tries: int = 50) -> list[str]:
    """Up to `count` new argument lists, each distinct from the seeds and from each other."""
    seen = set(seed_inputs)
    parsed = [p for p in (parse_arguments(s) for s in seed_inputs) if p is not None]
    out: list[str] = []
    tries = 0
    while parsed and len(out) < count and tries < max_tries:
        tries += 1
        values = list(rng.choice(parsed))
        i = rng.randrange(len(values)) if values else None
        if i is None:
            break
        values[i] = mutate_value(values[i], rng)
        candidate = format_arguments(values)
        if candidate not in seen:
            seen.add(candidate)
            out.append(candidate)
    return out
