"""The tracer against the naive one (tests/naive_tracer.py) on programs that use what
CRUXEval's do not: classes, recursion, generators (sent values, a returned value ending a
`for`), exceptions, context managers, closures, loops with `else`, `match`, decorators,
aliasing, async, comprehensions. Each trace's changes are what the naive tracer sees, and
each condition its monologue states is what the condition evaluates to."""

from __future__ import annotations

import pytest

import naive_tracer
from semcoder_inference.tracer import Limits, Tracer, render_monologue

PROGRAMS = [
("classes", '''class Account:
    def __init__(self, owner):
        self.owner = owner
        self.history = []

    def deposit(self, amount):
        if amount <= 0: raise ValueError("amount must be positive")
        self.history.append(amount)
        return sum(self.history)

def f(names):
    accounts = [Account(n) for n in names]
    total = 0
    for acc in accounts:
        total += acc.deposit(len(acc.owner))
        try:
            acc.deposit(-1)
        except ValueError as exc:
            message = str(exc)
    return total, message
''', "f(['ann', 'bo'])"),
("recursion", '''def fib(n):
    if n < 2:
        return n
    a = fib(n - 1)
    b = fib(n - 2)
    return a + b

def f(n):
    memo = {}
    for i in range(n):
        memo[i] = fib(i)
    return memo
''', "f(6)"),
("generators", '''def countdown(n):
    while n > 0:
        received = yield n
        if received: n -= received
        else: n -= 1
    return "done"

def f(n):
    gen = countdown(n)
    seen = [next(gen)]
    seen.append(gen.send(2))
    for value in gen:
        seen.append(value)
    return seen
''', "f(6)"),
("exceptions", '''def parse(text):
    try:
        value = int(text)
    except ValueError:
        value = None
    finally:
        cleaned = text.strip()
    return value, cleaned

def f(items):
    out = []
    for item in items:
        value, cleaned = parse(item)
        if value is None:
            continue
        out.append(value * 2)
    else:
        out.append(-1)
    return out
''', "f(['1', ' x ', '3'])"),
("context managers", '''import contextlib

class Box:
    def __init__(self):
        self.items = []
    def __enter__(self):
        self.items.append("open")
        return self
    def __exit__(self, *exc):
        self.items.append("closed")
        return True

@contextlib.contextmanager
def tagged(log, tag):
    log.append("<" + tag + ">")
    yield len(log)
    log.append("</" + tag + ">")

def f():
    log = []
    with tagged(log, "a") as depth:
        log.append(depth)
    with Box() as box:
        box.items.append(1)
        raise KeyError("swallowed")
    return log, box.items
''', "f()"),
("closures", '''def make_counter(start):
    count = start
    def bump(step=1):
        nonlocal count
        count += step
        return count
    return bump

def f(steps):
    counter = make_counter(10)
    results = []
    for s in steps:
        results.append(counter(s))
    return results
''', "f([1, 2, 3])"),
("loops", '''def f(grid):
    found = None
    for r, row in enumerate(grid):
        for c, cell in enumerate(row):
            if cell < 0: continue
            if cell == 0:
                found = (r, c)
                break
        else:
            continue
        break
    n = 0
    while True:
        n += 1
        if n * n > 20: break
    k = 10
    while k > 0: k -= 3
    return found, n, k
''', "f([[1, -1], [2, 0, 3]])"),
("match", '''def describe(shape):
    match shape:
        case {"kind": "circle", "r": r}:
            area = 3 * r * r
        case {"kind": "rect", "w": w, "h": h} if w == h:
            area = w * w
        case {"kind": "rect", "w": w, "h": h}:
            area = w * h
        case _:
            area = 0
    return area

def f(shapes):
    return [describe(s) for s in shapes], sum(describe(s) for s in shapes)
''', "f([{'kind': 'circle', 'r': 2}, {'kind': 'rect', 'w': 2, 'h': 2}, {'kind': 'rect', 'w': 1, 'h': 3}, {}])"),
("decorators", '''import functools

def logged(fn):
    calls = []
    @functools.wraps(fn)
    def wrapper(*args):
        calls.append(args)
        result = fn(*args)
        return result
    wrapper.calls = calls
    return wrapper

@logged
def add(a, b):
    return a + b

def f():
    total = 0
    for i in range(3):
        total = add(total, i)
    return total, add.calls
''', "f()"),
("aliasing", '''def f(n):
    rows = [[0] * n] * 2
    rows[0][0] = 1
    grid = [[0] * n for _ in range(2)]
    grid[1][n - 1] = 5
    pair = (grid, rows)
    grid.append([9])
    text = "x" * 150
    text = text[:-1] + "y"
    d = {"k": grid}
    del grid
    d["k"][0][0] = 7
    return pair, len(text), d
''', "f(3)"),
("async", '''import asyncio

async def fetch(x):
    await asyncio.sleep(0)
    doubled = x * 2
    return doubled

async def gather(xs):
    results = []
    for x in xs:
        value = await fetch(x)
        results.append(value)
    return results

def f(xs):
    out = asyncio.run(gather(xs))
    return out
''', "f([1, 2])"),
("comprehensions and walrus", '''def f(words):
    lengths = {w: len(w) for w in words}
    if (longest := max(lengths.values())) > 3:
        label = "long"
    else:
        label = "short"
    evens = [n for n in range(longest) if n % 2 == 0]
    return label, evens, sorted(words, key=lambda w: (-len(w), w))
''', "f(['ab', 'abcd', 'b'])"),
("strings", '''def f(s):
    out = ""
    i = 0
    while i < len(s):
        ch = s[i]
        if ch.isdigit():
            j = i
            while j < len(s) and s[j].isdigit(): j += 1
            out += "<" + s[i:j] + ">"
            i = j
        else:
            out += ch.upper() if i % 2 else ch
            i += 1
    return out
''', "f('ab12cd345e')"),
]


@pytest.fixture(scope="module")
def tracer():
    with Tracer(workers=1, limits=Limits(max_events=100_000)) as t:
        yield t


@pytest.mark.parametrize("name,source,call", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_changes_and_stated_conditions_are_the_naive_tracers(tracer, name, source, call):
    trace = tracer.trace_call(source, call)
    assert trace["status"] == "ok" and not any(trace["truncated"].values()), trace["message"]
    missing, extra = naive_tracer.change_differences(trace, source, call, tracer.limits.max_repr)
    assert (missing, extra) == ({}, {})
    misstated, _ = naive_tracer.misstated_conditions(trace, render_monologue(trace, source), source, call)
    assert misstated == []
