"""The tracer against the naive one (tests/naive_tracer.py) on programs that use what
CRUXEval's do not: classes, recursion, generators (sent values, a returned value ending a
`for`), exceptions, context managers, closures, loops with `else`, `match`, decorators,
aliasing, async, comprehensions, try/finally, properties and __slots__, `yield from`,
unpacking, global and nonlocal, while/else, assertions, sort keys, changes deep inside
long values (also in random programs). Each trace's changes are what the naive tracer sees, and each condition its monologue states is what the
condition evaluates to: under this Python, and under every other one found (3.9+)."""

from __future__ import annotations

import importlib
import inspect
import random
import subprocess

import pytest

import naive_tracer
from test_tracer_interpreters import _interpreters
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
("try finally return", '''def safe_div(a, b):
    try:
        result = a / b
        return result
    except ZeroDivisionError as exc:
        result = None
        raise ValueError("bad divisor") from exc
    finally:
        done = True

def f(pairs):
    out = []
    for a, b in pairs:
        try:
            out.append(safe_div(a, b))
        except ValueError as err:
            out.append(str(err))
    return out
''', "f([(1, 2), (1, 0)])"),
("properties and slots", '''class Temperature:
    __slots__ = ("_celsius",)
    def __init__(self, celsius):
        self._celsius = celsius
    @property
    def fahrenheit(self):
        value = self._celsius * 9 / 5 + 32
        return value
    @fahrenheit.setter
    def fahrenheit(self, value):
        self._celsius = (value - 32) * 5 / 9

def f(c):
    t = Temperature(c)
    before = t.fahrenheit
    t.fahrenheit = 212
    after = t._celsius
    return before, after
''', "f(0)"),
("yield from", '''def inner(n):
    for i in range(n):
        got = yield i
        if got:
            return got
    return -1

def outer():
    first = yield from inner(2)
    second = yield from inner(3)
    return first, second

def f():
    gen = outer()
    values = [next(gen), next(gen)]
    try:
        next(gen)
    except StopIteration as stop:
        pass
    values.append(next(gen))
    try:
        gen.send("stop")
    except StopIteration as stop:
        values.append(stop.value)
    return values
''', "f()"),
("unpacking and chains", '''def f(data):
    first, *middle, last = data
    a = b = []
    a.append(first)
    lo, hi = min(data), max(data)
    in_range = lo < middle[0] <= hi
    swapped = (hi, lo)
    hi, lo = swapped
    label = f"{lo}..{hi}"
    del middle[0]
    return a is b, b, in_range, label, middle, last
''', "f([3, 1, 4, 1, 5])"),
("global and nonlocal", '''counter = 0

def tick():
    global counter
    counter += 1
    return counter

def outer():
    hits = []
    def record(x):
        hits.append(x)
        return len(hits)
    for k in "ab":
        n = record(k)
    return hits, n

def f():
    first = tick()
    second = tick()
    return first, second, outer()
''', "f()"),
("while else and nested breaks", '''def f(limit):
    found = []
    n = 2
    while len(found) < limit:
        d = 2
        while d * d <= n:
            if n % d == 0:
                break
            d += 1
        else:
            found.append(n)
        n += 1
    else:
        status = "complete"
    return found, status
''', "f(4)"),
("assert and custom exceptions", '''class ValidationError(Exception):
    def __init__(self, field, problem):
        super().__init__(field + ": " + problem)
        self.field = field

def validate(record):
    if "name" not in record:
        raise ValidationError("name", "missing")
    assert record["age"] >= 0, "age must not be negative"
    return True

def f(records):
    errors = {}
    for i, record in enumerate(records):
        try:
            validate(record)
        except ValidationError as exc:
            errors[i] = exc.field
        except AssertionError as exc:
            errors[i] = str(exc)
    return errors
''', "f([{'name': 'a', 'age': 1}, {}, {'name': 'b', 'age': -1}])"),
("sorting with keys and lambdas", '''def by_length_then_alpha(word):
    key = (len(word), word)
    return key

def f(words):
    ordered = sorted(words, key=by_length_then_alpha)
    grouped = {}
    for w in ordered:
        grouped.setdefault(len(w), []).append(w)
    top = max(grouped.items(), key=lambda kv: len(kv[1]))
    return ordered, top
''', "f(['pear', 'fig', 'apple', 'kiwi'])"),
("changes deep inside long values", '''class Node:
    def __init__(self, value):
        self.value = value
        self.seen = []

def f(n):
    grid = [[0] * 12 for _ in range(12)]
    for i in range(n):
        grid[6][i] += i + 1
        grid[i + 6][7] = -grid[6][i]
    graph = {name: [] for name in "abcdefghijklmnop"}
    graph["h"].append("a")
    graph["h"].append("b")
    graph["z"] = ["h"]
    rows = [(k, [k] * 3) for k in range(20)]
    rows[10][1][2] = "x"
    del graph["a"]
    counts = dict.fromkeys(range(40), 0)
    for k in (3, 20, 20, 37):
        counts[k] += 1
    grid[8][:] = [2] * 12
    nodes = [Node(k) for k in range(15)]
    for node in nodes[5:9]:
        node.seen.append(node.value * 2)
    nodes[7].value = "seven"
    return grid[6], graph["h"], counts[20], nodes[7].seen
''', "f(4)"),
("objects with a repr of their own", '''class Node:
    def __init__(self, value, parent=None):
        self.value = value
        self.parent = parent
        self.children = []
        if parent is not None:
            parent.children.append(self)

    def __repr__(self):
        return f"Node({self.value})"

    def reset(self):
        self.children = []
        self.seen = 0
        self.marks = {}
        self.note = "reset"
        self.value = self.value

class Half:
    def __init__(self, a):
        self.a = a
        self.describe()
        self.b = a * 2

    def describe(self):
        return self.a

    def __repr__(self):
        return f"Half({self.a}, {self.b})"

def f(n):
    root = Node(0)
    for i in range(1, n):
        Node(i, root)
    root.children[1].children.append(Node(9))
    kids = root.children
    kids[0].value = -1
    extra = Node(5)
    extra.reset()
    del extra.note
    half = Half(3)
    pairs = [(Node(1), Node(2))]
    pairs[0][1].children.append(root)
    pairs[0] = (Node(1), Node(2))
    return [k.value for k in kids], half.b
''', "f(4)"),
("module globals", '''LIMIT = 3
CACHE = {}
calls = 0
log = []
HISTORY = []
BOARD = [[0] * 10 for _ in range(10)]

class Counter:
    def __init__(self):
        self.count = 0

    def bump(self):
        self.count += 1
        log.append(self.count)
        return self.count

def fib(n):
    global calls
    calls += 1
    if n in CACHE:
        return CACHE[n]
    CACHE[n] = n if n < 2 else fib(n - 1) + fib(n - 2)
    return CACHE[n]

def mark(i):
    BOARD[i][i] = LIMIT

def start():
    global created
    created = [calls]
    del created

def f(n):
    counter = Counter()
    for _ in range(LIMIT):
        counter.bump()
    value = fib(n)
    mark(2)
    mark(7)
    start()
    picked = [HISTORY.append(k) or k for k in range(4) if k % 2]
    return value, calls, len(log), picked
''', "f(5)"),
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


def python_is_older(python: str, version: tuple[int, int]) -> bool:
    found = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True,
                           text=True, check=True).stdout.split()
    return tuple(map(int, found)) < version


@pytest.mark.parametrize("python", _interpreters(oldest=9))
def test_the_same_holds_under_each_interpreter(python):
    """The tracer running under each interpreter found, against the naive tracer run by
    that interpreter (the two see the same bytecode and the same trace events)."""
    programs = [p for p in PROGRAMS if "case " not in p[1] or not python_is_older(python, (3, 10))]
    naive = naive_tracer.under(python, [(source, call) for _, source, call in programs])
    with Tracer(python=python, workers=1, limits=Limits(max_events=100_000)) as tracer:
        for (name, source, call), seen in zip(programs, naive):
            trace = tracer.trace_call(source, call)
            assert trace["status"] == "ok", (name, trace["message"])
            missing, extra = naive_tracer.change_differences(trace, source, call, tracer.limits.max_repr,
                                                             seen["changes"])
            assert (missing, extra) == ({}, {}), name
            misstated, _ = naive_tracer.misstated_conditions(trace, render_monologue(trace, source), source, call,
                                                             seen["truths"])
            assert misstated == [], name


STANDARD_LIBRARY = [
    ("textwrap", "wrap('The quick brown fox jumps over the lazy dog again', 12)"),
    ("shlex", "split('a \"b c\" d\\\\ e')"),
    ("difflib", "SequenceMatcher(None, 'abcdef', 'abxdeg').ratio()"),
    ("fractions", "Fraction(3, 4) + Fraction(5, 6)"),
    ("colorsys", "rgb_to_hls(0.2, 0.4, 0.4)"),
    ("string", "Template('$who likes $what').substitute(who='tim', what='pie')"),
    ("ipaddress", "list(ip_network('192.168.0.0/30').hosts())"),
    ("fnmatch", "translate('*.py[co]')"),
    ("html", "unescape('&lt;p&gt; &amp; &#65;')"),
    ("ast", "literal_eval('[1, (2, 3), {\\'a\\': -4}]')"),
    ("tokenize", "[t.string for t in generate_tokens(iter(['x = 1 + 2\\n']).__next__)]"),
    ("urllib.parse", "urlsplit('https://user@example.com:8080/p/a/t/h?query=1#frag')"),
    ("json.decoder", "JSONDecoder().decode('{\"a\": [1, 2.5, null, true]}')"),
    ("graphlib", "list(TopologicalSorter({'d': {'b'}, 'b': {'a'}, 'c': {'a'}, 'e': {'d'}}).static_order())"),
    ("heapq", "nsmallest(3, [5, 1, 8, 3, 9, 2])"),
    ("calendar", "monthcalendar(2024, 2)"),
]


@pytest.mark.parametrize("module,call", STANDARD_LIBRARY, ids=[m for m, _ in STANDARD_LIBRARY])
def test_standard_library_modules_traced_as_user_code(tracer, module, call):
    """Real code: a module of this Python's standard library, traced as the user's source.
    Changes deep inside objects whose reprs are cut (shlex's and SequenceMatcher's `self`,
    TopologicalSorter's node infos) are listed under their places."""
    source = inspect.getsource(importlib.import_module(module))
    trace = tracer.trace_call(source, call)
    assert trace["status"] == "ok" and not any(trace["truncated"].values()), trace["message"]
    missing, extra = naive_tracer.change_differences(trace, source, call, tracer.limits.max_repr)
    assert (missing, extra) == ({}, {})
    misstated, stated = naive_tracer.misstated_conditions(trace, render_monologue(trace, source), source, call)
    assert misstated == [] and stated > 0


# Statements of random programs that change long nested values in every way a line can:
# an item of a grid, a key's list, an attribute of an object in a list, a set in a dict, a
# list in a tuple, what an object's own __repr__ leaves out, an item of a bytearray or an
# array.array; items and keys added, removed, replaced by equal ones, sorted, swapped.
_MUTATIONS = [
    "grid[step % len(grid)][(step * 7) % len(grid[step % len(grid)])] += {v}",
    "grid[-1][:] = [{v}] * len(grid[-1])",
    "grid[0][0], grid[-1][-1] = {v}, -{v}",
    "grid.append([step] * 3)",
    "graph.setdefault('abcdefghijklmnopqrst'[step % 20], []).append({v})",
    "graph[{v}] = [step]",
    "graph.pop(next(iter(graph), None), None)",
    "graph[0.5 * step] = {{step: [step]}}",
    "graph.setdefault('nested', {{}}).setdefault(step % 3, []).append(step)",
    "objs[step % len(objs)].items.append(step)",
    "objs[step % len(objs)].k = {v}",
    "objs[-1].extra = step",
    "objs[step % len(objs)] = Obj({v})",
    "bags[step % len(bags)].add({v})",
    "bags[step % len(bags)].discard(step % len(bags))",
    "rows[step % len(rows)][1][0] = {v}",
    "rows[step % len(rows)][1].append('x')",
    "flat[step % len(flat)] = {v}",
    "flat[(step * 3) % len(flat)] = str({v})",
    "flat.insert(len(flat) // 2, {v})",
    "flat[1], flat[-2] = flat[-2], flat[1]",
    "flat.sort(key=str)",
    "tags[step % len(tags)].notes.append({v})",
    "tags[step % len(tags)].k = {v}",
    "tags[0].extra = {{step: [{v}]}}",
    "tags[-1].notes = tags[-1].notes[1:]",
    "tags[step % len(tags)] = Tag({v})",
    "buf[(step * 5) % len(buf)] = {v} % 256",
    "buf.append({v} % 256)",
    "nums[(step * 3) % len(nums)] = {v}",
    "nums[0], nums[-1] = nums[-1], {v}",
    "nums.append(step)",
]


def _mutating_program(rng: random.Random) -> str:
    lines = [
        "import array",
        "",
        "class Obj:",
        "    def __init__(self, k):",
        "        self.k = k",
        "        self.items = []",
        "",
        "class Tag:",
        "    def __init__(self, k):",
        "        self.k = k",
        "        self.notes = []",
        "",
        "    def __repr__(self):",
        "        return f'Tag({self.k})'",
        "",
        "def f():",
        f"    grid = [[{rng.randint(0, 3)}] * {rng.randint(3, 14)} for _ in range({rng.randint(3, 14)})]",
        f"    graph = {{k: [k] * {rng.randint(0, 3)} for k in 'abcdefghijklmnopqrst'[:{rng.randint(3, 20)}]}}",
        f"    objs = [Obj(k) for k in range({rng.randint(2, 14)})]",
        f"    bags = {{k: {{k}} for k in range({rng.randint(2, 30)})}}",
        f"    rows = [(k, [k, str(k)]) for k in range({rng.randint(2, 25)})]",
        f"    flat = list(range({rng.randint(5, 60)}))",
        f"    tags = [Tag(k) for k in range({rng.randint(1, 8)})]",
        f"    buf = bytearray(range({rng.randint(1, 200)}))",
        f"    nums = array.array('i', range({rng.randint(1, 90)}))",
        f"    for step in range({rng.randint(3, 12)}):",
    ]
    lines += ["        " + rng.choice(_MUTATIONS).format(v=rng.randint(-5, 99)) for _ in range(rng.randint(2, 6))]
    return "\n".join(lines + ["    return len(flat)"]) + "\n"


def test_random_changes_deep_inside_long_values_are_the_naive_tracers():
    """80 random programs (seeded) that change parts of long nested values which their cut
    texts (max_repr 60), or whose objects' own `__repr__` leaves out, do not show: every
    change is listed, under the local or under the place that changed, and every place's
    value is the naive tracer's."""
    places = hidden = items = 0
    with Tracer(workers=1, limits=Limits(max_repr=60, max_events=100_000)) as tracer:
        for seed in range(80):
            source = _mutating_program(random.Random(seed))
            trace = tracer.trace_call(source, "f()")
            assert trace["status"] == "ok", (seed, trace["message"])
            assert naive_tracer.change_differences(trace, source, "f()", 60) == ({}, {}), seed
            places += sum(not name.isidentifier() for event in trace["events"] for name in event["changes"])
            hidden += sum(name.startswith("tags") and not name.isidentifier()
                          for event in trace["events"] for name in event["changes"])
            items += sum(name.startswith(("buf[", "nums[")) for event in trace["events"] for name in event["changes"])
    # (they do reach the places: inside own-repr objects and buffers too)
    assert places > 500 and hidden > 100 and items > 100


@pytest.mark.parametrize("python", _interpreters(oldest=9))
def test_random_changes_deep_inside_long_values_under_each_interpreter(python):
    """40 of those random programs under each interpreter found, against the naive tracer
    run by that interpreter."""
    programs = [(_mutating_program(random.Random(seed)), "f()") for seed in range(40)]
    naive = naive_tracer.under(python, programs)
    with Tracer(python=python, workers=1, limits=Limits(max_repr=60, max_events=100_000)) as tracer:
        for seed, ((source, call), seen) in enumerate(zip(programs, naive)):
            trace = tracer.trace_call(source, call)
            assert trace["status"] == "ok", (seed, trace["message"])
            assert naive_tracer.change_differences(trace, source, call, 60, seen["changes"]) == ({}, {}), seed
