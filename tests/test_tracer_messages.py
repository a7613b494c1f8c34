"""What a trace says of how a run ended, in words: an exception's message as Python's own
traceback shows it (quotes kept, no "Type: " before an empty message), a cut message that
says it was cut, and a runaway recursion's traceback summed up as Python sums it up."""

from __future__ import annotations

import traceback

import pytest

from semcoder_inference.tracer import Tracer, schema


@pytest.fixture(scope="module")
def tracer():
    with Tracer(workers=1) as t:
        yield t


def python_says(source: str, call: str) -> str:
    """The last line of Python's own traceback for `call` raising (run here, unsandboxed:
    the sources below are harmless)."""
    namespace: dict = {}
    exec(compile(source, "<python>", "exec"), namespace)
    try:
        eval(call, namespace)
    except BaseException as exc:  # KeyboardInterrupt too: it is the value under test
        return traceback.format_exception_only(type(exc), exc)[-1].rstrip("\n")
    raise AssertionError("the call did not raise")


QUOTED = "class Quoted(Exception):\n    def __str__(self):\n        return \"'quoted'\"\n\n"
RAISING = {
    # call: (source, Python's own last line)
    "f('1')": ("def f(k):\n    d = {1: 'a'}\n    return d[k]\n", "KeyError: '1'"),
    "f('')": ("def f(k):\n    d = {1: 'a'}\n    return d[k]\n", "KeyError: ''"),
    "g()": (QUOTED + "def g():\n    raise Quoted()\n", "Quoted: 'quoted'"),
    "h()": ("def h():\n    raise KeyboardInterrupt\n", "KeyboardInterrupt"),
    "k()": ("def k():\n    raise ValueError('')\n", "ValueError"),
    "m()": ("def m():\n    raise ValueError('a', 'b')\n", "ValueError: ('a', 'b')"),
    "n()": ("def n():\n    return int('x1')\n", "ValueError: invalid literal for int() with base 10: 'x1'"),
}


@pytest.mark.parametrize("call", list(RAISING))
def test_an_exceptions_message_is_what_pythons_traceback_shows(tracer, call):
    """safe_str stripped the quotes of a message quoted at both ends (`KeyError: 1` for the
    key '1', which reads as the int 1), and an empty message left "KeyboardInterrupt: "."""
    source, expected = RAISING[call]
    assert python_says(source, call) == expected  # (the table above is Python's own words)
    trace = tracer.trace_call(source, call)
    exc = trace["exception"]
    assert trace["status"] == "exception" and exc["type"] == expected.split(":")[0]
    assert trace["message"] == f"{expected} at line {exc['line']}"
    assert exc["message"] == expected.partition(": ")[2]


def test_a_failing_expected_value_is_named_as_python_names_it(tracer):
    source = "def f():\n    return 1\n"
    empty = tracer.trace_call(source, "f()", expect="next(iter([]))")
    assert empty["assertion"]["error"] == "StopIteration"
    key = tracer.trace_call(source, "f()", expect="{1: 2}['1']")
    assert key["assertion"]["error"] == "KeyError: '1'"


def test_a_long_exception_message_says_it_was_cut(tracer):
    trace = tracer.trace_call("def f():\n    raise ValueError('x' * 5000 + 'END')\n", "f()")
    message = trace["exception"]["message"]
    assert len(message) == 1000 and message == "x" * 997 + "..."
    assert trace["message"] == f"ValueError: {message} at line 2"


def test_the_return_value_in_the_message_says_it_was_cut(tracer):
    """The message shows the return repr's first 200 characters: cut, it ends in "..."
    (it ended mid-number, `..., 49, -1, 51, 5`, as if the list ended there)."""
    source = "def f():\n    xs = list(range(100))\n    xs[50] = -1\n    return xs\n"
    trace = tracer.trace_call(source, "f()")
    text = trace["return"]["repr"]
    assert text.endswith("98, 99]") and trace["truncated"]["return"] is False  # the repr itself is whole
    assert trace["message"] == "returned " + text[:197] + "..."
    short = tracer.trace_call("def f():\n    return list(range(10))\n", "f()")
    assert short["message"] == "returned [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"  # nothing cut, no marker


def _repeated(count: int) -> str:
    return "[Previous line repeated %d more time%s]" % (count, "s" if count > 1 else "")


def test_a_runaway_recursions_traceback_is_summed_up_as_python_does(tracer):
    """A RecursionError's traceback held a thousand identical frames; like Python's, it
    lists a line repeated in a row 3 times, then one entry that says how many more."""
    trace = tracer.trace_call("def f(n):\n    return f(n + 1)\n", "f(0)")
    schema.check(trace)
    frames = trace["exception"]["traceback"]
    assert trace["exception"]["type"] == "RecursionError" and len(frames) <= 6
    assert [(t["line"], t["function"], t["text"]) for t in frames[:3]] == [(2, "f", "return f(n + 1)")] * 3
    marker = frames[3]
    assert marker["line"] is None and marker["function"] == "f"
    more = int(marker["text"].split()[3])
    assert marker["text"] == _repeated(more) and more > 900
    # the frames after it, if any (the innermost call, where the limit struck: Python 3.11
    # reports its `def` line), are listed; the exception's line is the innermost frame's
    assert all(t["line"] is not None for t in frames[4:])
    assert trace["exception"]["line"] == [t["line"] for t in frames if t["line"] is not None][-1]


def test_a_repeated_line_is_summed_up_only_past_three(tracer):
    source = "def f(n):\n    if n == 0:\n        raise ValueError('bottom')\n    return f(n - 1)\n"
    lines = lambda trace: [(t["line"], t["text"]) for t in trace["exception"]["traceback"]]
    call = (4, "return f(n - 1)")
    raised = (3, "raise ValueError('bottom')")
    assert lines(tracer.trace_call(source, "f(3)")) == [call] * 3 + [raised]
    assert lines(tracer.trace_call(source, "f(4)")) == [call] * 3 + [(None, _repeated(1))] + [raised]
    assert lines(tracer.trace_call(source, "f(9)")) == [call] * 3 + [(None, _repeated(6))] + [raised]


def test_the_exceptions_line_is_the_innermost_even_when_the_summary_ends_the_list(tracer):
    source = "def f(n):\n    return f(n - 1) if n else 1 // 0\n"
    trace = tracer.trace_call(source, "f(5)")
    schema.check(trace)
    frames = trace["exception"]["traceback"]
    assert [t["line"] for t in frames] == [2, 2, 2, None] and frames[-1]["text"] == _repeated(3)
    assert trace["exception"]["line"] == 2 and trace["message"] == "ZeroDivisionError: integer division or modulo by zero at line 2"
