"""How the server judges what a real run shows: the module globals a replayed call needs,
doctests judged as doctest judges them, asserts without `==`, which repairs count as
verified, and a `# semcoder:` comment line analysed in linear time."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time

from lsprotocol import types

from lsp_helpers import (
    EXEC_ON,
    diagnostics_for,
    hover,
    line_of,
    open_document,
    python_failing_asserts,
    replay_env,
    request,
    running_server,
    wait_for,
)


async def _repair(client, uri, diag):
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=diag.range,
        context=types.CodeActionContext(diagnostics=[diag])))
    assert [a.title for a in actions] == ["Repair with SemCoder"]
    return await client.code_action_resolve_async(actions[0])


def _refined(code: str) -> str:
    """A replayed model answer whose `[Refined]` program is `code`."""
    return f"### Root Cause Analysis\nThe function is wrong.\n[Refined]\n```python\n{code}```\n[/Refined]\n"


GLOBALS = '''import re
import logging
from collections import namedtuple
from typing import TYPE_CHECKING

try:
    import ujson as json
except ImportError:
    import json

if TYPE_CHECKING:
    from typing import List

WORD = re.compile(r"[a-z]+")
log = logging.getLogger(__name__)
Point = namedtuple("Point", "x y")
PRIMES = set([2, 3, 5, 7])
CONFIG = {}
CONFIG["sep"] = "-".join(["", ""])


def count_words(text):
    return len(WORD.findall(text))


def norm(x, y):
    p = Point(x, y)
    return p.x + p.y


def is_small_prime(n):
    log.debug("checking %s", n)
    return n in PRIMES


def dump(value):
    return json.dumps(value) + CONFIG["sep"]


def last_word(text):
    return WORD.findall(text)[0]


def main():
    print("the script ran")
    return count_words("one two")


R = main()
main()
print("the script printed")

assert count_words("hello big world") == 3
assert norm(1, 2) == 3
assert is_small_prime(5) == True
assert dump([1]) == "[1]-"
assert count_words("one two") == R
assert last_word("hello big world") == "world"

if __name__ == "__main__":
    raise SystemExit("the __main__ block ran")
'''

LAST_WORD_FIXED = _refined('def last_word(text):\n    return WORD.findall(text)[-1]\n')


async def test_a_replayed_call_has_the_module_globals_its_function_reads(tmp_path):
    """A replayed call runs the file's definitions and what they read (`WORD =
    re.compile(...)`, `log = logging.getLogger(__name__)`, a namedtuple, `set([...])`, a
    `try: import / except ImportError:` block, a dict filled in place), not the script's own
    work (`R = main()` that only an assert compares with, `main()`, prints, the `__main__`
    block). The repair of the one failing assert is verified the same way."""
    path = tmp_path / "g.py"
    path.write_text(GLOBALS)
    failing = line_of(GLOBALS, 'assert last_word(')
    async with running_server(tmp_path, init_options=EXEC_ON, env=replay_env(tmp_path, LAST_WORD_FIXED)) as client:
        uri = open_document(client, path)
        await wait_for(lambda: diagnostics_for(client, uri))
        # the checks all ran (one publication): only the real failure, no NameError
        assert [(d.range.start.line, d.message) for d in diagnostics_for(client, uri)] == [
            (failing, """assert failed: last_word("hello big world") returned 'hello', expected "world\"""")]
        for needle, call in [("assert count_words(\"hello", "count_words(\"hello big world\") == 3"),
                             ("assert norm(", "norm(1, 2) == 3"), ("assert is_small_prime(", "is_small_prime(5) == True"),
                             ("assert dump(", 'dump([1]) == "[1]-"')]:
            line = line_of(GLOBALS, needle)
            text = await hover(client, uri, line, 10)
            assert f"✓ the assert passes: `{call}`" in text, text
            assert "the script" not in text and "NameError" not in text, text
        # `R` is bound only by `R = main()`, which a replayed call does not run: no verdict
        text = await hover(client, uri, line_of(GLOBALS, "== R"), 10)
        assert "returned `2`" in text and "the assert passes" not in text and "the script" not in text, text
        resolved = await _repair(client, uri, diagnostics_for(client, uri)[0])
        assert resolved.title == "Repair with SemCoder (verified)" and resolved.is_preferred is True
        assert "[-1]" in resolved.edit.changes[uri][0].new_text
    # (the fixture is what it claims: Python itself runs it up to the one failing assert)
    ran = subprocess.run([sys.executable, "-c", GLOBALS.replace('assert last_word', 'last_word')],
                         capture_output=True, text=True, cwd=tmp_path)
    assert ran.returncode == 1 and "the __main__ block ran" in ran.stderr


DOCTESTS = '''class Box:
    def __init__(self, w):
        self.w = w


def greet(name):
    """
    >>> greet("bob")
    hello bob
    """
    print("hello", name)


def inverse(x):
    """
    >>> inverse(0)
    Traceback (most recent call last):
        ...
    ZeroDivisionError: division by zero
    """
    return 1 / x


def many(n):
    """
    >>> many(30)  # doctest: +ELLIPSIS
    [0, 1, 2, ..., 29]
    """
    return list(range(n))


def report(n):
    """
    >>> report(2)
    n is 2
    'done'
    """
    print("n is", n)
    return "done"


def make_box(w):
    """
    >>> make_box(1)  # doctest: +ELLIPSIS
    <doc.Box object at 0x...>
    """
    return Box(w)


def spaced(n):
    """
    >>> spaced(3)
    [0,   1,   2]
    """
    return list(range(n))


def double(x):
    """
    >>> double(2)
    5
    """
    return x * 2


def shout(word):
    """
    >>> shout("hi")
    HI!
    """
    print(word.upper())


def check(x):
    """
    >>> check(-1)
    Traceback (most recent call last):
    ValueError: negative
    """
    if x < 0:
        raise KeyError(x)
    return x
'''


async def test_doctests_are_judged_as_doctest_judges_them(tmp_path):
    """Printed output, an expected traceback and `+ELLIPSIS` pass; an object's default repr
    (which the tracer writes its own way) and an example that passes only with a runner's
    NORMALIZE_WHITESPACE get no verdict; real failures are reported, exactly those that
    `python -m doctest` reports."""
    path = tmp_path / "doc.py"
    path.write_text(DOCTESTS)
    real = subprocess.run([sys.executable, "-m", "doctest", "doc.py"], capture_output=True, text=True, cwd=tmp_path)
    failed_in_python = set(re.findall(r"in doc\.(\w+)", real.stdout))
    assert failed_in_python == {"spaced", "double", "shout", "check"}, real.stdout
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        await wait_for(lambda: diagnostics_for(client, uri))
        found = {(d.range.start.line, d.message) for d in diagnostics_for(client, uri)}
        assert found == {
            (line_of(DOCTESTS, ">>> double(2)"), "doctest failed: double(2) returned 4, expected 5"),
            (line_of(DOCTESTS, '>>> shout("hi")'), 'doctest failed: shout("hi") printed HI, expected HI!'),
            (line_of(DOCTESTS, "raise KeyError(x)"), "check(-1) raised KeyError: -1, expected ValueError: negative"),
        }
        # (`spaced` fails under plain doctest but passes where a runner adds NORMALIZE_WHITESPACE)
        for needle in ('>>> greet("bob")', ">>> inverse(0)", ">>> many(30)", ">>> report(2)"):
            text = await hover(client, uri, line_of(DOCTESTS, needle), 10)
            assert "✓ the doctest passes" in text and "⚠" not in text, (needle, text)
        # an expected traceback keeps its lines
        text = await hover(client, uri, line_of(DOCTESTS, ">>> inverse(0)"), 10)
        assert "expected:\n```text\nTraceback (most recent call last):\n    ...\nZeroDivisionError: division by zero\n```" \
            in text, text
        text = await hover(client, uri, line_of(DOCTESTS, ">>> many(30)"), 10)
        assert text.startswith("**SemCoder** · `many(30)` (from a doctest)"), text  # no directive in the call
        # no verdict either way, and the hover says why
        for needle, why in ((">>> make_box(1)", "the value's repr is an object's, which the trace writes its own way"),
                            (">>> spaced(3)", "the example passes only with option flags a doctest runner may add")):
            text = await hover(client, uri, line_of(DOCTESTS, needle), 10)
            assert "the doctest passes" not in text and "⚠" not in text, (needle, text)
            assert f"· no verdict: {why}" in text, (needle, text)


TRUTHINESS = '''def is_even(n):
    return n % 2 == 0


def evens(items):
    return [i for i in items if is_even(i)]


class Flag:
    pass


def flag():
    return Flag()


class Empty:
    def __bool__(self):
        return False


def empty():
    return Empty()


assert is_even(3)
assert not is_even(2)
assert is_even(4)
assert evens([1, 3]) or False
assert evens([2])
assert flag()
assert empty()
'''


async def test_an_assert_without_equals_fails_on_a_false_value(tmp_path):
    """The truth of the value as the run takes it (an object's own `__bool__` decides);
    `or False` around the call is the condition's (judged whole), as Python judges it."""
    path = tmp_path / "t.py"
    path.write_text(TRUTHINESS)
    expected = {
        (line_of(TRUTHINESS, "assert is_even(3)"), "assert failed: is_even(3) returned False, expected a true value"),
        (line_of(TRUTHINESS, "assert not is_even(2)"),
         "assert failed: is_even(2) returned True, expected a false value"),
        (line_of(TRUTHINESS, "assert evens([1, 3]) or False"),
         "assert failed: evens([1, 3]) or False is false (evens([1, 3]) returned [])"),
        (line_of(TRUTHINESS, "assert empty()"), "assert failed: empty() returned <Empty object>, expected a true value"),
    }
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        await wait_for(lambda: len(diagnostics_for(client, uri)) == len(expected))
        found = {(d.range.start.line, d.message) for d in diagnostics_for(client, uri)}
        assert found == expected
        text = await hover(client, uri, line_of(TRUTHINESS, "assert is_even(4)"), 10)
        assert "✓ the assert passes: `is_even(4)` is true" in text, text
        text = await hover(client, uri, line_of(TRUTHINESS, "assert evens([2])"), 10)
        assert "✓ the assert passes: `evens([2])` is true" in text, text
        # an object: its truth is its class's to say, as the run took it
        text = await hover(client, uri, line_of(TRUTHINESS, "assert flag()"), 10)
        assert "returned `<Flag object>`" in text and "✓ the assert passes: `flag()` is true" in text, text
        # the repair prompt's failed test is the assert as written
        result = await request(client, "semcoder/repair", {
            "textDocument": {"uri": uri}, "position": {"line": line_of(TRUTHINESS, "assert is_even(3)"), "character": 0}})
        assert result["failedTest"] == "retv = is_even(3)\nassert retv"
    assert python_failing_asserts(tmp_path, path.name) == sorted(line for line, _ in expected)


RATIO = '''def safe_ratio(a, b):
    return a / b


def test_ratio_of_zero():
    expected = 0
    assert safe_ratio(1, 0) == expected
'''


async def test_a_repair_whose_check_cannot_be_judged_by_the_call_is_verified_only_by_its_test(tmp_path):
    """The failing assert compares with a test's local, which a replay of the call alone
    cannot evaluate: "cannot judge" is no pass. Its test is run instead: a repair that
    still fails it is unverified (and not preferred); one that passes it is verified."""
    still_wrong = _refined("def safe_ratio(a, b):\n    if b == 0:\n        return None\n    return a / b\n")
    fixed = _refined("def safe_ratio(a, b):\n    if b == 0:\n        return 0\n    return a / b\n")
    for answer, title in [(still_wrong, "Repair with SemCoder (unverified)"), (fixed, "Repair with SemCoder (verified)")]:
        async with running_server(tmp_path, init_options=EXEC_ON, env=replay_env(tmp_path, answer)) as client:
            uri = open_document(client, tmp_path / "r.py", RATIO)
            await wait_for(lambda: diagnostics_for(client, uri))
            (diag,) = diagnostics_for(client, uri)
            assert diag.message == "safe_ratio(1, 0) raised ZeroDivisionError: division by zero"
            resolved = await _repair(client, uri, diag)
            assert resolved.title == title
            assert resolved.is_preferred is (title.endswith("(verified)"))
            result = await request(client, "semcoder/repair", {
                "textDocument": {"uri": uri}, "position": {"line": line_of(RATIO, "assert safe_ratio"), "character": 4}})
            verification = result["candidates"][0]["verification"]
            if answer is still_wrong:
                assert verification == {"status": "failed",
                                        "message": "test_ratio_of_zero() fails at its assert of safe_ratio(1, 0): AssertionError"}
            else:
                assert verification["status"] == "passed"


async def test_a_repair_whose_check_cannot_be_judged_at_all_is_unverified(tmp_path):
    """No test runs the failing assert: whether the new value passes it stays unknown."""
    source = ("def scale(x):\n    return x / 0\n\n\ndef check():\n    want = 2\n    assert scale(1) == want\n")
    answer = _refined("def scale(x):\n    return x * 3\n")
    async with running_server(tmp_path, init_options=EXEC_ON, env=replay_env(tmp_path, answer)) as client:
        uri = open_document(client, tmp_path / "s.py", source)
        await wait_for(lambda: diagnostics_for(client, uri))
        (diag,) = diagnostics_for(client, uri)
        resolved = await _repair(client, uri, diag)
        assert resolved.title == "Repair with SemCoder (unverified)" and not resolved.is_preferred
        result = await request(client, "semcoder/repair", {
            "textDocument": {"uri": uri}, "position": {"line": 6, "character": 4}})
        assert result["candidates"][0]["verification"] == {
            "status": "unknown",
            "message": "Not verified: scale(1) returns 3, and whether that is the expected want cannot be told "
                       "where the call runs."}


async def test_a_long_semcoder_comment_line_is_analysed_in_linear_time(tmp_path):
    """A `# semcoder:` comment whose call holds a long run of spaces (200,000) is found
    without freezing the server (a backtracking pattern took minutes on it)."""
    long_call = "f(2," + " " * 200_000 + ")"
    source = "def f(x):\n    # semcoder: " + long_call + "\n    return x\n"
    async with running_server(tmp_path, init_options={"execution": {"enabled": False}}) as client:
        small = open_document(client, tmp_path / "ok.py", "def add(a, b):\n    return a + b\n\nassert add(1, 2) == 3\n")
        assert "add(1, 2)" in await hover(client, small, 3, 8)  # (the server is up)
        uri = open_document(client, tmp_path / "long.py", source)
        started = time.perf_counter()
        try:
            text = await asyncio.wait_for(hover(client, uri, 0, 5), 30)
        except asyncio.TimeoutError:
            client._server.kill()  # (stuck in the pattern: it would not even shut down for minutes)
            raise
        took = time.perf_counter() - started
        assert "(from a `# semcoder:` comment)" in text and "`f(2," in text, text[:200]
        assert took < 1.0, took
        started = time.perf_counter()
        await asyncio.wait_for(hover(client, small, 3, 8), 30)
        assert time.perf_counter() - started < 1.0


SETUP = '''LINES = open("data_not_here.txt").read().splitlines()


def first():
    return LINES[0]


def load():
    print("loading data")
    return [7]


DATA = load()


def get():
    return DATA[0]


def add(x, y):
    """
    >>> add(1, 2)
    3
    """
    return x + y


assert add(1, 2) == 3
assert add(2, 2) == 5
assert get() == 7
'''


async def test_a_call_runs_only_the_module_set_up_it_needs(tmp_path):
    """A global that another function needs, built by a call (a file that is not there, a
    loader that prints), does not run, fail or print for a call that does not need it (it
    raised FileNotFoundError on `add`, and printed into `add`'s doctest)."""
    path = tmp_path / "setup.py"
    path.write_text(SETUP)
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        await wait_for(lambda: diagnostics_for(client, uri))
        assert [(d.range.start.line, d.message) for d in diagnostics_for(client, uri)] == [
            (line_of(SETUP, "assert add(2, 2)"), "assert failed: add(2, 2) returned 4, expected 5")]
        # each check's trace is kept (three asserts, add's doctest), though they ran different
        # set-ups of one version of the file (one dropped the others' as an older version)
        assert (await request(client, "semcoder/stats", {}))["realTraces"] == 4
        text = await hover(client, uri, line_of(SETUP, "assert add(1, 2)"), 10)
        assert "✓ the assert passes" in text and "loading data" not in text, text
        # the function that needs the loader's value gets it, and its output
        text = await hover(client, uri, line_of(SETUP, "assert get()"), 10)
        assert "✓ the assert passes: `get() == 7`" in text and "loading data" in text, text
        # the one that needs the missing file says so
        result = await request(client, "semcoder/trace", {"textDocument": {"uri": uri}, "call": "first()",
                                                          "position": {"line": 0, "character": 0}})
        assert "FileNotFoundError" in result["actual"]["message"], result["actual"]


OTHERS_FAIL = '''def two(x):
    return x * 2


def bad(x):
    return 0


assert two(2) == 5
assert bad(3) == 4
'''


async def test_a_repair_is_verified_though_another_functions_check_failed_before_it(tmp_path):
    """The file's other checks count against a candidate only when it makes them fail:
    `bad`'s failing assert made every repair of `two` unverified."""
    answer = _refined("def two(x):\n    return 5\n")
    async with running_server(tmp_path, init_options=EXEC_ON, env=replay_env(tmp_path, answer)) as client:
        uri = open_document(client, tmp_path / "r.py", OTHERS_FAIL)
        await wait_for(lambda: len(diagnostics_for(client, uri)) == 2)
        diag = next(d for d in diagnostics_for(client, uri) if d.message.startswith("assert failed: two(2)"))
        resolved = await _repair(client, uri, diag)
        assert resolved.title == "Repair with SemCoder (verified)" and resolved.is_preferred is True


STATEFUL_DOCTESTS = '''COUNT = [0]


def counter():
    """
    >>> counter()
    1
    >>> counter()
    2
    """
    COUNT[0] += 1
    return COUNT[0]


def push(x, stack=[]):
    """
    >>> push(1)
    [1]
    >>> push(2)
    [1, 2]
    """
    stack.append(x)
    return stack


def double(x):
    """
    >>> double(2)
    5
    """
    return x * 2
'''


async def test_doctest_examples_that_depend_on_earlier_ones_are_not_judged_alone(tmp_path):
    """doctest runs a docstring's examples in order, in one namespace: `counter()` gives 1,
    then 2, and passes. Run alone, the second gave 1 and was reported as failing."""
    path = tmp_path / "state.py"
    path.write_text(STATEFUL_DOCTESTS)
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        await wait_for(lambda: diagnostics_for(client, uri))
        assert [d.message for d in diagnostics_for(client, uri)] == [
            "doctest failed: double(2) returned 4, expected 5"]
    # (what doctest itself says of the file: only double's example fails)
    ran = subprocess.run([sys.executable, "-m", "doctest", str(path)], capture_output=True, text=True)
    assert ran.stdout.count("Failed example:") == 1 and "double(2)" in ran.stdout


FILLED = '''import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).with_name("libdir")))
import helper

WORDS = set()
with open(Path(__file__).with_name("words.txt")) as f:
    for line in f:
        WORDS.add(line.strip())

TABLE = {}
for i in range(5):
    TABLE[i] = i * i

CACHE = {}
CACHE.update({"a": 1})


class Server:
    def run(self):
        raise SystemExit("the server ran")


server = Server()
server.run()


def known(w):
    return w in WORDS


def square(i):
    return TABLE[i]


def cached(k):
    return CACHE[k]


def helped(x):
    return helper.double(x)


def running():
    return server is not None


assert known("hello")
assert square(3) == 9
assert cached("a") == 1
assert helped(2) == 4
assert running()
assert square(2) == 5
'''


async def test_a_replayed_call_sees_the_containers_and_imports_the_script_sets_up(tmp_path):
    """What the script does to the module's own containers (a loop filling `WORDS = set()`
    from a data file, `TABLE[i] = ...` in a loop, `CACHE.update(...)`) and to where imports
    look (`sys.path.insert` before `import helper`) runs for the calls that read them: a
    replay without it reported `known("hello")` returning False, KeyErrors, and a
    ModuleNotFoundError for every check of the file. A method the script calls on another
    kind of object (`server.run()`) is still the script's own work, not set-up."""
    (tmp_path / "words.txt").write_text("hello\nworld\n")
    (tmp_path / "libdir").mkdir()
    (tmp_path / "libdir" / "helper.py").write_text("def double(x):\n    return 2 * x\n")
    path = tmp_path / "filled.py"
    path.write_text(FILLED)
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        await wait_for(lambda: diagnostics_for(client, uri))
        assert [(d.range.start.line, d.message) for d in diagnostics_for(client, uri)] == [
            (line_of(FILLED, "assert square(2)"), "assert failed: square(2) returned 4, expected 5")]
        for needle in ["assert known(", "assert square(3)", "assert cached(", "assert helped(", "assert running("]:
            text = await hover(client, uri, line_of(FILLED, needle), 10)
            assert "✓ the assert passes" in text and "the server ran" not in text, text
    # (Python itself runs the file's checks so, and the server's run ends the script)
    checks = FILLED.replace("server.run()", "").replace("assert square(2) == 5", "")
    ran = subprocess.run([sys.executable, "-c", checks.replace('__file__', repr(str(path)))], capture_output=True,
                         text=True, cwd="/")
    assert ran.returncode == 0, ran.stderr
    ran = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, cwd="/")
    assert "the server ran" in ran.stderr


LOADER_PRINTS = '''def load():
    print("loading data")
    return [7]


DATA = load()


def get():
    """
    >>> get()
    7
    """
    return DATA[0]


def shout(word):
    """
    >>> shout("hi")
    HI!
    """
    print(word.upper() + "!")


def wrong():
    """
    >>> wrong()
    1
    """
    return DATA[0]
'''


async def test_a_doctest_compares_only_what_the_call_printed(tmp_path):
    """doctest runs the module before its examples: a loader's `print("loading data")` is
    not part of `get()`'s output (it was, and `get()` was reported as failing)."""
    path = tmp_path / "loader.py"
    path.write_text(LOADER_PRINTS)
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        await wait_for(lambda: diagnostics_for(client, uri))
        assert [d.message for d in diagnostics_for(client, uri)] == ["doctest failed: wrong() returned 7, expected 1"]
    # (what doctest itself says of the file)
    ran = subprocess.run([sys.executable, "-m", "doctest", str(path)], capture_output=True, text=True)
    assert ran.stdout.count("Failed example:") == 1 and "wrong()" in ran.stdout


STATE_SET_UP = '''import sys; sys.setrecursionlimit(5000)
import json; print("starting")
import os, random
from decimal import Decimal, getcontext
CODECS = {}


def register(name, codec):
    CODECS[name] = codec


register("upper", str.upper)


def encode(name, s):
    return CODECS[name](s)


def depth(n):
    return 0 if n == 0 else 1 + depth(n - 1)


random.seed(7)


def roll():
    return random.randint(1, 6)


os.environ.setdefault("APP_MODE", "test")


def mode():
    return os.environ["APP_MODE"]


getcontext().prec = 3


def third():
    return Decimal(1) / Decimal(3)


def dump(d):
    return json.dumps(d, sort_keys=True)


assert encode("upper", "a") == "A"
assert depth(2000) == 2000
assert roll() == 3
assert mode() == "test"
assert third() == Decimal("0.333")
assert dump({"b": 1, "a": 2}) == '{"a": 2, "b": 1}'
assert dump([]) == "{}"
'''


async def test_a_replayed_call_sees_the_state_the_script_sets_up(tmp_path):
    """What the script sets up for its functions runs for the calls that need it: a call of
    its own function that fills a container (`register(...)`), a module's state (`random.seed`,
    `os.environ.setdefault`, `getcontext().prec = 3`), the recursion limit; and a statement
    sharing a line with a skipped one (`import json; print("starting")`) is kept. Each gave
    a false failure (KeyError, RecursionError, another random number, a NameError for every
    check of the file)."""
    path = tmp_path / "state.py"
    path.write_text(STATE_SET_UP)
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        await wait_for(lambda: diagnostics_for(client, uri), timeout=60)
        assert [(d.range.start.line, d.message) for d in diagnostics_for(client, uri)] == [
            (line_of(STATE_SET_UP, 'assert dump([])'), """assert failed: dump([]) returned '[]', expected "{}\"""")]
        text = await hover(client, uri, line_of(STATE_SET_UP, "assert roll()"), 10)
        assert "✓ the assert passes" in text and "starting" not in text, text
    # (Python itself passes every assert but the last)
    ran = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, cwd=tmp_path)
    assert ran.returncode == 1 and "dump([])" in ran.stderr and ran.stdout == "starting\n"


DOCUMENTED = '''def area(w, h):
    """The area of a w by h rectangle.

    >>> area(2, 3)
    6
    """
    return w + h


assert area(3, 4) == 12
'''


async def test_a_repair_keeps_the_function_s_docstring_and_its_doctests(tmp_path):
    """The model's `[Refined]` function often comes without the docstring: the edit put it
    in place of the whole function, deleting the documentation and its doctest, and still
    said "(verified)". The docstring stays, and its doctest is one of the checks."""
    answer = _refined("def area(w, h):\n    return w * h\n")
    async with running_server(tmp_path, init_options=EXEC_ON, env=replay_env(tmp_path, answer)) as client:
        uri = open_document(client, tmp_path / "doc.py", DOCUMENTED)
        await wait_for(lambda: len(diagnostics_for(client, uri)) == 2)
        diag = next(d for d in diagnostics_for(client, uri) if d.message.startswith("assert failed: area(3, 4)"))
        resolved = await _repair(client, uri, diag)
        assert resolved.title == "Repair with SemCoder (verified)", resolved.title
        (edit,) = resolved.edit.changes[uri]
        assert edit.new_text == ('def area(w, h):\n    """The area of a w by h rectangle.\n\n    >>> area(2, 3)\n'
                                 '    6\n    """\n    return w * h')
        result = await request(client, "semcoder/repair", {"textDocument": {"uri": uri}, "position": {
            "line": line_of(DOCUMENTED, "assert area"), "character": 8}})
        assert result["candidates"][0]["verification"]["message"] == "passes 2 check(s)", result


RAISES_TEST = '''import pytest


def div(a, b):
    return a // b


def test_div_by_zero():
    with pytest.raises(ZeroDivisionError):
        div(1, 0)


assert div(1, 2) == 0.5
'''


async def test_a_repair_that_breaks_a_test_of_the_function_is_not_verified(tmp_path):
    """`if b == 0: return 0` makes the failing assert pass and pytest's
    `test_div_by_zero` fail (DID NOT RAISE): it was offered as verified. The file's tests of
    the function run whole with the candidate, as a test runner would call them."""
    answer = _refined("def div(a, b):\n    if b == 0:\n        return 0\n    return a / b\n")
    async with running_server(tmp_path, init_options=EXEC_ON, env=replay_env(tmp_path, answer)) as client:
        uri = open_document(client, tmp_path / "test_div.py", RAISES_TEST)
        await wait_for(lambda: diagnostics_for(client, uri))
        (diag,) = diagnostics_for(client, uri)
        assert diag.message == "assert failed: div(1, 2) returned 0, expected 0.5"
        resolved = await _repair(client, uri, diag)
        assert resolved.title == "Repair with SemCoder (unverified)" and not resolved.is_preferred
        result = await request(client, "semcoder/repair", {"textDocument": {"uri": uri}, "position": {
            "line": line_of(RAISES_TEST, "assert div"), "character": 8}})
        message = result["candidates"][0]["verification"]["message"]
        assert message.startswith("test_div_by_zero() passes without this repair and fails with it:"), message
    # (pytest agrees: the test passes as the file is, and fails with the candidate)
    (tmp_path / "as_is").mkdir()
    (tmp_path / "as_is" / "test_div.py").write_text(RAISES_TEST.replace("assert div(1, 2) == 0.5", ""))
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "as_is")],
                         capture_output=True, text=True)
    assert ran.returncode == 0, ran.stdout
    (tmp_path / "as_is" / "test_div.py").write_text(RAISES_TEST.replace("assert div(1, 2) == 0.5", "").replace(
        "    return a // b", "    if b == 0:\n        return 0\n    return a / b"))
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "as_is")],
                         capture_output=True, text=True)
    assert ran.returncode == 1 and "DID NOT RAISE" in ran.stdout, ran.stdout
