"""Turning traces and predictions into what the editor shows.

Line states (values per line), the differences between prediction and reality, and the
hover markdown all come from the same TraceResult dict (see docs/lsp-protocol.md), so a
hover, an inlay hint and a `semcoder/trace` result never disagree. Lines are 0-based.
"""

from __future__ import annotations

import ast
import builtins
import doctest as _doctest
import re
from typing import Any, Iterable

MAX_VALUES_PER_NAME = 4  # a loop shows its first values, "…", then its last
# A loop that changes a new place inside a local each time (`grid[i][j] = 0`) shows its
# first places, then how many more.
MAX_PLACES_PER_NAME = 4
MAX_TABLE_ROWS = 40
# A run whose module took this long before the call gets a hint about preloading its imports.
SLOW_MODULE_S = 0.25
MAX_MONOLOGUE_CHARS = 4000
# A value in a diagnostic's message (a return repr may be 10,000 characters, an exception's
# message 1,000) and in a hover (read in a small popup) is cut to this many characters,
# then "…" and how long it is.
MAX_MESSAGE_VALUE_CHARS = 200
MAX_HOVER_VALUE_CHARS = 300
# What ends a line's values where the trace was cut before the run ended (its events limit,
# or the tracer stopped): the last value shown is where the trace stopped, not where the
# run ended, and later values are not known.
TRACE_CUT = "… (trace cut)"


def shorten(text: str, limit: int = MAX_MESSAGE_VALUE_CHARS, *, cut_before: bool = False) -> str:
    """`text`, or where longer than `limit` characters its first ones, "…" and how long it
    is (`cut_before`: the tracer had cut it already, at that length, so it was longer)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({'over ' if cut_before else ''}{len(text):,} characters)"


def trace_cut(trace: dict | None) -> bool:
    """Whether a real trace ends before the run did: cut at its events limit (or at the
    result's size), or the tracer stopped recording (`trace_stopped`). Its values are then
    those the trace saw, not where the run ended; the run's result is its own."""
    return bool(trace and ((trace.get("truncated") or {}).get("events") or trace.get("trace_stopped")))


def _merge(states: dict[int, dict[str, list[str]]], line: int, name: str, value: str) -> None:
    seen = states.setdefault(line, {}).setdefault(name, [])
    if not seen or seen[-1] != value:
        seen.append(value)


def _flatten(states: dict[int, dict[str, list[str]]], source: str,
             cut_lines: frozenset[int] | set[int] = frozenset()) -> list[dict]:
    """Line states from the values each line gave, in order. A line of `cut_lines` may have
    given more after the trace was cut: its values end in TRACE_CUT, and the state says
    `"cut": true`."""
    out = []
    for line in sorted(states):
        cut = line in cut_lines
        values = {}
        places: dict[str, int] = {}  # per local, how many places inside it this line changed
        for name, seen in states[line].items():
            if not name.removeprefix("global ").isidentifier():  # a place: `grid[5][2]`, `global BOARD[3][3]`
                local = name.split("[", 1)[0].split(".", 1)[0]
                places[local] = places.get(local, 0) + 1
                if places[local] > MAX_PLACES_PER_NAME:
                    continue
            if len(seen) > MAX_VALUES_PER_NAME:  # the first ones, then where the loop ended
                seen = seen[:MAX_VALUES_PER_NAME - 1] + ["…"] + seen[-1:]
            values[name] = " → ".join([_one_line(text) for text in seen] + ([TRACE_CUT] if cut else []))
        for local, count in places.items():
            if count > MAX_PLACES_PER_NAME:
                values[f"{local}[…]"] = f"… ({count - MAX_PLACES_PER_NAME} more places)"
        if places:
            values = _places_in_order(values)
        out.append({"line": line, "values": values, "source": source, **({"cut": True} if cut else {})})
    return out


_LINE_BREAK = re.compile(r"\s*\n\s*")


def _places_in_order(values: dict[str, str]) -> dict[str, str]:
    """A line's values with the places shown of each local (`sieve[8]`, `sieve[10]`,
    `sieve[9]`: the first ones it changed) in the order of their indices, `sieve[8]`,
    `sieve[9]`, `sieve[10]`, where they stood; "… (N more places)" stays last."""
    def natural(name: str) -> list:
        return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name)]

    groups: dict[str, list[str]] = {}
    for name in values:
        if not name.removeprefix("global ").isidentifier() and not name.endswith("[…]"):
            groups.setdefault(name.split("[", 1)[0].split(".", 1)[0], []).append(name)
    out: dict[str, str] = {}
    for name, value in values.items():
        local = name.split("[", 1)[0].split(".", 1)[0]
        if local in groups and name in groups[local]:
            for place in sorted(groups.pop(local), key=natural):
                out[place] = values[place]
        elif not (local in groups or name in out):
            out[name] = value
        else:
            out.setdefault(name, value)
    return out


def _one_line(text: str) -> str:
    """A value's text on one line, for a table cell or an inlay hint: a repr that breaks its
    lines (numpy's, `array([[1., 0.],\n       [0., 1.]])`) reads `array([[1., 0.], [0., 1.]])`."""
    return _LINE_BREAK.sub(" ", text) if "\n" in text else text


def _same_function(traced: object, function: str) -> bool:
    """Whether a trace event's function is `function` (`f` or `Class.method`). Pythons
    before 3.11 name a method's frames without the class; the line range tells it apart."""
    return traced == function or (isinstance(traced, str) and "." not in traced
                                  and traced == function.rpartition(".")[2])


def actual_line_states(trace: dict | None, function: str, first: int, last: int,
                       def_line: int | None = None) -> list[dict]:
    """Values per line of `function` (document lines first..last) from a real trace. Python
    3.8+ reports a decorated function's call at its first decorator's line; its frame runs
    no line above `def_line`, so what it reports there (the arguments) goes on `def_line`.

    Where the trace was cut before the run ended (trace_cut: 20,000 events of a long loop),
    the values a line shows are the first ones and the last the trace saw, not where the
    run ended: a line that ran more than once (a loop's), and the line the trace stopped
    on, end in TRACE_CUT. (A line that ran once before the cut shows what it gave; the
    arguments, on the `def` line, are those of the call.)"""
    if not trace:
        return []
    events = [
        e for e in trace.get("events") or []
        if _same_function(e.get("function"), function) and isinstance(e.get("line"), int)
        and first <= e["line"] <= last and not e.get("thread")  # a thread running it too is another run
    ]
    if not events:
        return []
    top = min(e.get("depth", 0) for e in events)  # the traced call, not recursive calls
    states: dict[int, dict[str, list[str]]] = {}
    runs: dict[int, int] = {}  # per line, how many times it ran
    line = None
    for e in events:
        if e.get("depth", 0) != top:
            continue
        line = def_line if def_line is not None and e["line"] < def_line else e["line"]
        runs[line] = runs.get(line, 0) + 1
        for name, value in (e.get("changes") or {}).items():
            _merge(states, line, str(name), str(value))
        for name, value in (e.get("globals") or {}).items():  # module globals the line changed
            _merge(states, line, f"global {name}", str(value))
    cut_lines: set[int] = set()
    if trace_cut(trace):
        first = def_line if def_line is not None else first
        cut_lines = {at for at, count in runs.items() if count > 1 or at == line} - {first}
    return _flatten(states, "actual", cut_lines)


def predicted_line_states(steps: Iterable[dict]) -> list[dict]:
    states: dict[int, dict[str, list[str]]] = {}
    for step in steps:
        lines = step.get("lines") or []
        if not lines:
            continue
        for name, value in step.get("mentions") or []:
            _merge(states, lines[-1], str(name), str(value))
    return _flatten(states, "predicted")


def combined_line_states(actual: list[dict], predicted: list[dict]) -> list[dict]:
    """Actual values where the code ran; predicted ones where there is no actual state."""
    have = {s["line"] for s in actual}
    return sorted(actual + [s for s in predicted if s["line"] not in have], key=lambda s: s["line"])


# Texts longer than this are never parsed as literals (compared as text; no equality
# judged from them): ast.literal_eval takes some 470 bytes of memory per character, and a
# value's text comes from the run (held to its limits by the tracer, but a forged one
# may be as long as a result frame).
MAX_PARSED_CHARS = 100_000


def normalise_value(text: str | None) -> Any:
    """A comparable form of a value's text: the literal if it parses, else the stripped text."""
    if text is None:
        return None
    text = text.strip()
    if len(text) > MAX_PARSED_CHARS:
        return ("text", text.replace('"', "'"))
    try:
        return ("lit", repr(ast.literal_eval(text)))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return ("text", text.replace('"', "'"))


def actual_outcome(trace: dict | None) -> str | None:
    """What the real run produced: the return value's repr, or `Type: message`."""
    if not trace:
        return None
    if trace.get("status") == "ok" and trace.get("return"):
        return trace["return"].get("repr")
    exc = trace.get("exception")
    if exc:
        return f"{exc.get('type')}: {exc.get('message')}"
    return None


def differences(actual_trace: dict | None, actual: list[dict], predicted: list[dict], output: str | None) -> list[dict]:
    diffs: list[dict] = []
    if actual_trace is None:
        return diffs
    real = actual_outcome(actual_trace)
    if output is not None and real is not None and normalise_value(output) != normalise_value(real):
        diffs.append({"line": None, "what": "return", "name": None, "predicted": output, "actual": real})
    by_line = {s["line"]: s["values"] for s in actual}
    for state in predicted:
        real_values = by_line.get(state["line"])
        if not real_values:
            continue
        for name, value in state["values"].items():
            if name in real_values and not real_values[name].endswith(TRACE_CUT):  # (its end is not known)
                p_last, a_last = value.split(" → ")[-1], real_values[name].split(" → ")[-1]
                if normalise_value(p_last) != normalise_value(a_last):
                    diffs.append({"line": state["line"], "what": "value", "name": name,
                                  "predicted": value, "actual": real_values[name]})
    return diffs


def same_literal(a: str | None, b: str | None) -> bool | None:
    """Whether two values' texts are equal as Python compares them (`==`: `2.0 == 2`,
    `{'b': 2, 'a': 1} == {'a': 1, 'b': 2}`), when both are literals; None when either is
    not (an expression, an object's repr): text says nothing about equality then."""
    if a is None or b is None or len(a) > MAX_PARSED_CHARS or len(b) > MAX_PARSED_CHARS:
        return None
    try:
        return bool(ast.literal_eval(a.strip()) == ast.literal_eval(b.strip()))
    except Exception:  # not literals (ValueError, SyntaxError, …), or an == that raises
        return None


def _is_literal(text: str) -> bool:
    if len(text) > MAX_PARSED_CHARS:
        return False
    try:
        ast.literal_eval(text.strip())
    except Exception:
        return False
    return True


# What an assert without `==` expects: `assert f(1)` a true value, `assert not f(1)` a false
# one. Words no expression can be (they do not parse), so that they stay apart from an
# expected value, even in a diagnostic's data (a client sends them back for a repair).
TRUTHY = "a true value"
FALSY = "a false value"
# What an assert expects whose condition does more with the call (`len(f(3)) == 3`,
# `f(3) is None`, `0 < f(3) < 9`): CONDITION, then the condition as written with the call
# replaced by the name CALLED (calls._condition_call). The condition is checked in the
# sandbox, given the call's value (condition_check).
CONDITION = "the condition: "
CALLED = "_semcoder_called_"


# How the sandbox's refusals begin (inference/tracer/sandbox.py): what the run did is not
# what Python would have done outside it.
_SANDBOX_REFUSED = "the sandbox does not allow"


def condition_of(expected: str | None) -> str | None:
    """The condition an assert's expected value stands for (with CALLED), or None."""
    if isinstance(expected, str) and expected.startswith(CONDITION) and not isinstance(expected, DoctestWant):
        return expected[len(CONDITION):]
    return None


def condition_check(condition: str) -> str:
    """A function of the call's value that is the condition's truth, as Tracer.trace_call's
    `check`. (Its own lines: a comment in a condition over several lines ends at one.)"""
    return f"lambda {CALLED}: (\n{condition}\n)"


def _call_of(trace: dict) -> str:
    """The trace's call as a message names it: on one line (a call written over several)."""
    return one_line(str(trace.get("call", "the call")))


def one_line(text: str) -> str:
    """An expression written over several lines (with comments, maybe) as Python reads it
    back, on one line; `text` itself otherwise."""
    if "\n" not in text and "\r" not in text:
        return text
    try:
        return ast.unparse(ast.parse(f"(\n{text}\n)", mode="eval"))
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return " ".join(text.split())


def condition_shown(condition: str, call: str) -> str:
    """The condition as the assert writes it, on one line (one_line)."""
    return one_line(condition.replace(CALLED, call)).strip()


class DoctestWant(str):
    """A doctest example's expected output as the server shows it (stripped), carrying what
    judging it as doctest does needs: the output as doctest compares it (`want`), the
    exception line it expects (`exc_msg`, or None), and the option flags the example's
    directives set (`flags`) and clear (`cleared`). A plain string (sent back by a client)
    is read as an example with no directives (DoctestWant.of)."""

    want: str
    exc_msg: str | None
    flags: int
    cleared: int

    def __new__(cls, text: str = "", want: str | None = None, exc_msg: str | None = None,
                flags: int = 0, cleared: int = 0) -> "DoctestWant":
        self = super().__new__(cls, text)
        self.want = want if want is not None else text.strip() + "\n"
        self.exc_msg = exc_msg
        self.flags = flags
        self.cleared = cleared
        return self

    @classmethod
    def of_example(cls, example: _doctest.Example) -> "DoctestWant":
        flags = cleared = 0
        for flag, on in example.options.items():
            if on:
                flags |= flag
            else:
                cleared |= flag
        return cls(example.want.strip(), example.want, example.exc_msg, flags, cleared)

    @classmethod
    def of(cls, expected: str) -> "DoctestWant":
        if isinstance(expected, DoctestWant):
            return expected
        want = expected.strip() + "\n"
        m = _doctest.DocTestParser._EXCEPTION_RE.match(want)
        return cls(expected.strip(), want, m.group("msg") if m else None)


# Flags a doctest runner may add to every example (pytest's `doctest_optionflags`, say): an
# example that passes only with them is neither said to pass nor to fail.
_RUNNER_FLAGS = _doctest.ELLIPSIS | _doctest.NORMALIZE_WHITESPACE | _doctest.IGNORE_EXCEPTION_DETAIL
_EXCEPTION_MESSAGE_CHARS = 1000  # the tracer's cut of an exception's message (docs/trace-schema.md)


def expectation_failure(trace: dict | None, expected: str | None, *, doctest: bool = False) -> str | None:
    """Why a real run fails its call site: an exception, or a value that fails the assert's
    (or the doctest's) expectation. None when it passes, or when nothing can be said (see
    judge)."""
    return judge(trace, expected, doctest=doctest)[1]


def judge(trace: dict | None, expected: str | None, *, doctest: bool = False) -> tuple[bool | None, str | None]:
    """Whether a real run passes its call site, and why not: (True, None), (False, why), or
    (None, None) when that cannot be told from the run.

    An assert passes as Python decides it: the trace's `assertion` is `call == expected`
    evaluated in the sandbox (see Tracing.actual_trace). Without one (the expected value
    could not be evaluated where the run was: it names a local of a test function), only
    literals are compared, with `==`. `assert f(1)` (TRUTHY) and `assert not f(1)` (FALSY)
    pass on the truth of a value that is a literal. A doctest is judged as doctest judges it
    (judge_doctest). A call site with no expectation (a `# semcoder:` comment) passes when
    the call returns.

    The message names each value by its first MAX_MESSAGE_VALUE_CHARS characters (shorten):
    a diagnostic is read in a small popup, and a repr may be 10,000 characters."""
    if not trace:
        return None, None
    status = trace.get("status")
    call = shorten(_call_of(trace))
    if doctest and expected is not None and status in ("ok", "exception"):
        return judge_doctest(trace, expected)
    if status == "exception" and trace.get("exception"):
        exc = trace["exception"]
        return False, f"{call} raised {exc.get('type')}: {_exception_message(str(exc.get('message')))}"
    if status in ("timeout", "cpu_limit", "memory_limit", "crashed"):
        return False, f"{call}: {trace.get('message') or status}"
    if status != "ok":
        return None, None
    if expected is None:
        if doctest:  # doctest expects no output at all (what it is not told here)
            printed = call_output(trace) or (trace.get("return") or {}).get("repr") not in (None, "None")
            return (None if printed else True), None
        return True, None
    got = (trace.get("return") or {}).get("repr")
    if got is None:
        return None, None
    if expected in (TRUTHY, FALSY):
        return _judge_truth(trace, got, expected)
    condition = condition_of(expected)
    if condition is not None:
        return _judge_condition(trace, got, condition)
    # (the values as the message names them; the whole ones decide)
    got_, expected_ = _returned(trace, got), shorten(one_line(expected))
    assertion = trace.get("assertion")
    if isinstance(assertion, dict):
        if assertion.get("passed"):
            return True, None
        if assertion.get("expected_repr") is None and assertion.get("error"):
            # The expected expression raised (a name not defined), or comparing with it did
            # (`==` of numpy arrays): the assert raises that, so it fails.
            error = shorten(str(assertion["error"]))
            if _is_literal(expected):
                return False, (f"assert failed: {call} returned {got_}, and comparing it with the expected value "
                               f"{expected_} raised {error}")
            return False, f"assert failed: {call} returned {got_}, but the expected value {expected_} raised {error}"
        shown = assertion.get("expected_repr")
        value = (f" ({shorten(shown)})" if isinstance(shown, str) and normalise_value(shown) != normalise_value(expected)
                 else "")
        return False, f"assert failed: {call} returned {got_}, expected {expected_}{value}"
    if trace.get("drawn") or trace.get("awaited"):
        return None, None  # (the assert compares the generator or coroutine itself, not what it gave)
    passed = same_literal(got, expected)
    if passed is False:
        return False, f"assert failed: {call} returned {got_}, expected {expected_}"
    return passed, None


def _exception_message(message: str) -> str:
    """An exception's message as a message names it (shorten), saying where the tracer had
    cut it already (at _EXCEPTION_MESSAGE_CHARS, ending in "...")."""
    return shorten(message, cut_before=len(message) >= _EXCEPTION_MESSAGE_CHARS - 3 and message.endswith("..."))


def _returned(trace: dict, got: str) -> str:
    """The return value's repr as a message names it (shorten), saying where the tracer had
    cut it already (its `truncated.return`)."""
    return shorten(got, cut_before=bool((trace.get("truncated") or {}).get("return")))


def truth_condition(expected: str) -> str:
    """The condition `assert f(1)` (TRUTHY) or `assert not f(1)` (FALSY) checks, as CONDITION
    writes one: what the sandbox evaluates (tracing.sandbox_expectation)."""
    return CALLED if expected == TRUTHY else f"not {CALLED}"


def _judge_truth(trace: dict, got: str, expected: str) -> tuple[bool | None, str | None]:
    """`assert f(1)` (TRUTHY), `assert not f(1)` (FALSY): the truth of the value, as the
    sandbox took it (the trace's `assertion` from a check: an object's own `__bool__` or
    `__len__` decides), else known where it is a literal (the tracer's `literal`, its repr
    not cut)."""
    assertion = trace.get("assertion")
    if isinstance(assertion, dict) and "expected_repr" not in assertion:
        truth = bool(assertion.get("passed")) == (expected == TRUTHY)
    elif isinstance(assertion, dict) and assertion.get("error"):
        return False, (f"assert failed: {shorten(_call_of(trace))} returned {_returned(trace, got)}, "
                       f"and taking its truth raised {shorten(str(assertion['error']))}")
    elif trace.get("drawn") or trace.get("awaited"):
        truth = True  # the call gave a generator or a coroutine: an object, true
    else:
        value = trace.get("return") or {}
        if not value.get("literal") or (trace.get("truncated") or {}).get("return") or \
                not isinstance(got, str) or len(got) > MAX_PARSED_CHARS:
            return None, None  # an object: its __bool__ or __len__ decides, in the run
        try:
            truth = bool(ast.literal_eval(got.strip()))
        except Exception:
            return None, None
    if truth == (expected == TRUTHY):
        return True, None
    return False, (f"assert failed: {shorten(_call_of(trace))} returned {_returned(trace, got)}, "
                   f"expected {expected}")


def _judge_condition(trace: dict, got: str, condition: str) -> tuple[bool | None, str | None]:
    """An assert's condition around its call (CONDITION), as the sandbox evaluated it with
    the call's value (the trace's `assertion` from a `check`); nothing can be said without
    one (the condition names a test's locals)."""
    assertion = trace.get("assertion")
    if not isinstance(assertion, dict):
        return None, None
    if assertion.get("passed"):
        return True, None
    call = _call_of(trace)
    shown = shorten(condition_shown(condition, call))
    returned = f"{shorten(call)} returned {_returned(trace, got)}"
    if assertion.get("error"):
        if _SANDBOX_REFUSED in str(assertion["error"]):
            return None, None  # (the condition did what the sandbox refuses: no verdict of Python's)
        return False, f"assert failed: {returned}, and evaluating {shown} raised {shorten(str(assertion['error']))}"
    return False, f"assert failed: {shown} is false ({returned})"


def judge_doctest(trace: dict, expected: str) -> tuple[bool | None, str | None]:
    """A doctest example judged as doctest judges it, with its OutputChecker and the
    example's option flags: what the call printed and the repr of the value it returned
    (none for None) against the expected output; an expected traceback against the
    exception the call raised (its last line: `Type: message`). (None, None) where the run
    cannot tell: a repr or output a limit cut, a value shown otherwise than its repr (an
    object with the default repr; a generator the tracer drew), an example that passes only
    with flags a runner may add (ELLIPSIS, NORMALIZE_WHITESPACE, IGNORE_EXCEPTION_DETAIL).
    (The output is the run's: output of the module's own code, which a replayed call runs
    first, would count too.)"""
    want = DoctestWant.of(expected)
    if want.flags & _doctest.SKIP:
        return None, None
    checker = _doctest.OutputChecker()
    flags, lenient = want.flags, (want.flags | _RUNNER_FLAGS) & ~want.cleared
    call = shorten(_call_of(trace))  # (the message's; see judge)

    def verdict(check) -> bool | None:
        if check(flags):
            return True
        return None if check(lenient) else False

    if trace.get("status") == "exception":
        exc = trace.get("exception") or {}
        kind, message = str(exc.get("type")), str(exc.get("message") or "")
        raised = f"{call} raised {kind}: {_exception_message(message)}" if message else f"{call} raised {kind}"
        if want.exc_msg is None:
            return False, raised
        lines = _exception_lines(kind, message, want.exc_msg)
        if lines is None:
            return None, None

        def check(option_flags: int) -> bool:
            if any(checker.check_output(want.exc_msg, line, option_flags) for line in lines):
                return True
            return bool(option_flags & _doctest.IGNORE_EXCEPTION_DETAIL) and any(
                checker.check_output(_strip_exception_details(want.exc_msg), _strip_exception_details(line),
                                     option_flags) for line in lines)

        passed = verdict(check)
        return passed, (f"{raised}, expected {shorten(want.exc_msg.strip())}" if passed is False else None)
    truncated = trace.get("truncated") or {}
    value = trace.get("return") or {}
    shown = value.get("repr")
    if shown is None or truncated.get("stdout") or trace.get("drawn") or trace.get("awaited"):
        return None, None
    returned_none = shown == "None" and value.get("literal", True)
    stdout = call_output(trace)
    got = stdout + ("" if returned_none else shown + "\n")
    if want.exc_msg is not None:  # (a traceback is never what a call that returned shows)
        return False, (f"doctest failed: {call} returned {_returned(trace, shown)}, "
                       f"expected it to raise {shorten(want.exc_msg.strip())}")
    if not returned_none and truncated.get("return"):
        return None, None  # a cut repr: what doctest would see is not known
    passed = verdict(lambda option_flags: checker.check_output(want.want, got, option_flags))
    if passed is False and not returned_none and value.get("literal") is False and "<" in shown:
        # A repr the tracer may write its own way (`<Box items=[1]>` for the default
        # `<m.Box object at 0x…>`): what doctest would see is not known.
        return None, None
    if passed is not False:
        return passed, None
    if stdout:
        printed = shorten(stdout[:-1] if stdout.endswith("\n") else stdout)
        returned = "" if returned_none else f" and returned {_returned(trace, shown)}"
        return False, f"doctest failed: {call} printed {printed}{returned}, expected {shorten(expected)}"
    return False, f"doctest failed: {call} returned {_returned(trace, shown)}, expected {shorten(expected)}"


def _doctest_undecided(trace: dict, expected: str) -> str:
    """Why judge_doctest could not tell whether a doctest example passes, in words (its
    cases, in its order)."""
    want = DoctestWant.of(expected)
    truncated = trace.get("truncated") or {}
    if want.flags & _doctest.SKIP:
        return "the example is marked `+SKIP`"
    if trace.get("status") == "exception":
        return "the exception's text cannot be compared with the expected traceback here"
    if truncated.get("stdout") or truncated.get("return"):
        return "what the call printed or returned was cut at the sandbox's limits"
    if trace.get("drawn") or trace.get("awaited"):
        return "the call gave a generator or a coroutine, which doctest shows as an object"
    if (trace.get("return") or {}).get("literal") is False:
        return "the value's repr is an object's, which the trace writes its own way"
    return ("the example passes only with option flags a doctest runner may add (ELLIPSIS, "
            "NORMALIZE_WHITESPACE, IGNORE_EXCEPTION_DETAIL), and fails without them")


def call_output(trace: dict) -> str:
    """What the call itself printed: a trace's stdout after what the module printed as it
    ran (`module_output`: a loader's "loading data"), which doctest never compares, since
    the module runs before the examples."""
    stdout = trace.get("stdout") or ""
    module = trace.get("module_output")
    return stdout[module.get("stdout", 0):] if isinstance(module, dict) else stdout


def _exception_lines(kind: str, message: str, expected: str) -> list[str] | None:
    """The last line of the traceback doctest would compare with `expected`, as
    traceback.format_exception_only writes it: `Type: message`, or `Type` alone. A class not
    among the builtins is named with its module by some runners (`shapes.Invalid`, under
    pytest) and without by others (`Invalid`, testmod in `__main__`): either form counts,
    the module as `expected` names it. None where the run cannot tell (a message the tracer
    cut; a SyntaxError, which doctest shows on several lines)."""
    if len(message) >= _EXCEPTION_MESSAGE_CHARS - 3 and message.endswith("..."):
        return None
    if kind in ("SyntaxError", "IndentationError", "TabError"):
        return None
    text = f"{kind}: {message}\n" if message else f"{kind}\n"
    lines = [text]
    named = expected.split("\n", 1)[0].split(":", 1)[0].strip()
    if not isinstance(getattr(builtins, kind, None), type) and named.endswith("." + kind):
        lines.append(named[: -len(kind)] + text)
    return lines


def _strip_exception_details(msg: str) -> str:
    """The exception's name alone, without its module or message (doctest's own, for
    IGNORE_EXCEPTION_DETAIL): `foo.bar.MyError: la di da` -> `MyError`."""
    start, end = 0, len(msg)
    i = msg.find("\n")
    if i >= 0:
        end = i
    i = msg.find(":", 0, end)
    if i >= 0:
        end = i
    i = msg.rfind(".", 0, end)
    if i >= 0:
        start = i + 1
    return msg[start:end]


def _code(text: str) -> str:
    """`text` as a Markdown code span, shown literally whatever it holds: CommonMark ends a
    span at the first backtick run as long as its fence, so the fence is one longer than any
    run inside; a space pads text with a backtick at an end (it would join the fence) or a
    space at both ends (CommonMark strips one from each side)."""
    text = text.replace("\n", " ")
    if not text:
        return "` `"
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    pad = " " if text[:1] == "`" or text[-1:] == "`" or (text[:1] == text[-1:] == " " and text.strip()) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _value(text: str, *, cut_before: bool = False) -> str:
    """A value for the hover (read in a small popup) as a code span: its first
    MAX_HOVER_VALUE_CHARS characters and "…" where longer, and, outside the span, how long
    it is (`cut_before`: the tracer had cut it already, so it was longer still)."""
    if len(text) <= MAX_HOVER_VALUE_CHARS:
        return _code(text)
    return (f"{_code(text[:MAX_HOVER_VALUE_CHARS] + '…')} _(cut: {'over ' if cut_before else ''}"
            f"{len(text):,} characters)_")


def _cell(text: str) -> str:
    """Text for a table cell: one line, its pipes escaped (in a GFM table a pipe ends the
    cell even inside a code span; `\\|` is read as `|` there)."""
    return text.replace("|", "\\|").replace("\n", " ")


MAX_STDOUT_CHARS = 500
MAX_STDOUT_LINES = 12


def _fenced(text: str) -> str:
    """`text` as a fenced code block: the fence is longer than any backtick run inside."""
    fence = "`" * max(3, max(map(len, re.findall("`+", text)), default=0) + 1)
    return f"{fence}text\n{text}\n{fence}"


def _stdout(actual: dict, *, generator: bool = False) -> list[str]:
    """What the call printed: one line as a code span, more lines as a block, its lines
    kept; cut at MAX_STDOUT_LINES lines or MAX_STDOUT_CHARS characters, ending in "…" and a
    note where cut (here, or by the tracer's own output limit). What was printed before the
    call (the module as it loaded, the script before it made the call: the trace's
    `module_output`) is not the call's: said apart, in a line. (`generator`: a generator
    traced where the script draws it, whose output may hold the script's own between
    its values.)"""
    own = call_output(actual)
    earlier = actual["stdout"][: len(actual["stdout"]) - len(own)]
    note_before = []
    if earlier:
        lines_before = earlier.count("\n") + (0 if earlier.endswith("\n") else 1)
        note_before.append(f"_Printed before the call (not by it): {lines_before} line{'s' if lines_before != 1 else ''}"
                           f", {_code(shorten(one_line(earlier.strip()) or earlier, 80))}._")
    if not own:
        return note_before
    text = own
    lines = text[:-1].split("\n") if text.endswith("\n") else text.split("\n")
    shown = "\n".join(lines[:MAX_STDOUT_LINES])[:MAX_STDOUT_CHARS]
    note = []
    if len(shown) < len("\n".join(lines)):
        of_lines = f", {shown.count(chr(10)) + 1} of {len(lines)} lines" if len(lines) > 1 else ""
        note.append(f"_stdout cut: {len(shown)} of its {len(text)} characters shown{of_lines}._")
    if (actual.get("truncated") or {}).get("stdout"):
        note.append("_The run printed more than the sandbox keeps (its first 64 KiB)._")
    if note:
        shown += "…"
    label = "stdout (from the call on, the script's own prints between its values included)" if generator \
        else "stdout"
    if "\n" not in shown:
        return [f"{label}: {_code(shown)}", *note, *note_before]
    return [f"{label}:", _fenced(shown), *note, *note_before]


def _import_failure(failure: dict, own: bool, test: bool) -> str:
    """The run raised while importing a module of the workspace (Tracing.import_failure),
    not in the call: which module, what, and where in that module's file."""
    kind, message = failure.get("type"), failure.get("message")
    raised = _value(f"{kind}: {message}" if message else str(kind))
    line, file = failure.get("line"), failure.get("file")
    where = ""
    if isinstance(line, int) and line >= 0:
        where = f" at {_code(file)} line {line + 1}" if file else f" at line {line + 1}"
    elif file:
        where = f" (in {_code(file)})"
    said = f"importing `{failure.get('module')}` raised {raised}{where}"
    if own:
        return said + ", as the module loaded, before the call was made"
    at = failure.get("at")
    said += f", at this file's line {at + 1}" if isinstance(at, int) else ""
    if test:
        return said + (": the test never ran. pytest reports this as an error collecting the file, and runs none "
                       "of its tests.")
    return said + ", before the call was made"


def _yielded(actual: dict) -> list[str] | None:
    """What a generator traced where the script calls it yielded, in order (its frame's
    `return` events with `yield`), as the script drew it; None where the trace holds no
    event of it."""
    events = [e for e in actual.get("events") or [] if e.get("kind") in ("call", "return", "line")
              and not e.get("thread")]
    if not events:
        return None
    top = min(e.get("depth", 0) for e in events)
    return [str(e.get("value")) for e in events
            if e.get("kind") == "return" and e.get("yield") and e.get("depth", 0) == top]


def _drawn_by_script(yielded: list[str], actual: dict) -> str:
    """A generator traced where the script calls it: it returned a generator, which the
    script drew as it iterated it."""
    shown = "[" + ", ".join(yielded[:MAX_VALUES_PER_NAME]) + (", …]" if len(yielded) > MAX_VALUES_PER_NAME else "]")
    count = f" ({len(yielded)} values)" if len(yielded) > MAX_VALUES_PER_NAME else ""
    if not yielded:
        return "returned a generator, which yielded nothing as the script drew it"
    ended = "" if trace_cut(actual) else ", until it ended"
    return (f"returned a generator, which yielded {_code(shorten(shown, MAX_HOVER_VALUE_CHARS))}{count} as the "
            f"script iterated it{ended}")


def _verdict(result: dict) -> str | None:
    """Whether the real run passes the assert or doctest its call comes from, in the same
    words as its diagnostic (judge); None when there is no expectation, when nothing can be
    said (an expected value that names a test's locals, say), or when the run raised where
    no exception was expected (its "raised" line says so)."""
    actual = result.get("actual") or {}
    expected = result.get("expected")
    if expected is None or result.get("watched"):
        return None
    doctest = result.get("callSource") == "doctest"
    status = actual.get("status")
    # A doctest may expect the exception (its traceback).
    if status != "ok" and not (doctest and status == "exception" and DoctestWant.of(expected).exc_msg):
        return None
    passed, problem = judge(actual, expected, doctest=doctest)
    if passed is False:
        return f"⚠ {problem}"
    if not passed:
        return f"· no verdict: {_doctest_undecided(actual, expected)}" if doctest else None
    if doctest:
        return "✓ the doctest passes"
    call = _call_of(actual)
    if expected in (TRUTHY, FALSY):
        return f"✓ the assert passes: {_value(call)} is {'true' if expected == TRUTHY else 'false'}"
    condition = condition_of(expected)
    if condition is not None:
        return f"✓ the assert passes: {_value(condition_shown(condition, call))} is true"
    return f"✓ the assert passes: {_value(call + ' == ' + expected)}"


def _table_value(values: str) -> str:
    """A line's values (`0 → 1 → … → 9`) for a table cell, cut as _value cuts them, their
    TRACE_CUT kept (it says the values shown are not where the run ended)."""
    cut = values.endswith(TRACE_CUT)
    if cut:
        values = values[: -len(TRACE_CUT)]
    if len(values) > MAX_HOVER_VALUE_CHARS:
        parts = values.split(" → ")
        if len(parts) > 1 and parts[-1]:
            # A loop's values: its first and where it ended, each cut, in order (not the
            # chain cut in its middle, which loses where the loop ended).
            first, last = parts[0], parts[-1]
            last = _cut_one(last, MAX_HOVER_VALUE_CHARS - 60)
            first = _cut_one(first, max(60, MAX_HOVER_VALUE_CHARS - len(last)))
            values = f"{first} → … → {last} (cut: {len(values):,} characters)"
        else:
            values = f"{values[:MAX_HOVER_VALUE_CHARS]}… ({len(values):,} characters, cut)"
        values += " → " if cut else ""
    return values + (TRACE_CUT if cut else "")


def _cut_one(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_markdown(result: dict, lines: list[str]) -> str:
    """The hover text for a TraceResult."""
    out: list[str] = []
    origin = {"assert": "from an assert", "doctest": "from a doctest", "comment": "from a `# semcoder:` comment",
              "main": "recorded from `__main__`", "asserts": "recorded from the file's asserts",
              "tests": "recorded from the file's tests",
              "cursor": "under the cursor", "explicit": "supplied",
              "no-arguments": "it takes no arguments, and no other call is known"}
    where = origin.get(result.get("callSource"), "call")
    if result.get("callSource") == "no-arguments" and result.get("testRun"):
        where = "the test, run alone on the file's definitions"
    actual = result.get("actual")
    if result.get("watched"):
        # Traced where the file makes the call: `call` shows the values the run had.
        caller = (actual or {}).get("caller_line")
        runs = {"tests": "where the file's tests call it", "main": "where the file calls it",
                "asserts": "where the file's asserts call it"}.get(
            result.get("callSource"), "where it runs")
        where = f"traced {runs}" + (f", from line {caller + 1}" if isinstance(caller, int) and caller >= 0 else "")
    out.append(f"**SemCoder** · {_value(result['call'])} ({where})")
    condition = condition_of(result.get("expected"))
    if condition is not None:
        out.append(f"expected: {_value(condition_shown(condition, str(result['call'])))} to be true")
    elif result.get("expected") is not None:
        expected = str(result["expected"])
        if "\n" in expected.strip("\n") and len(expected) <= MAX_HOVER_VALUE_CHARS:
            # (a doctest's expected output over several lines: a traceback, printed lines)
            out.extend(["expected:", _fenced(expected.strip("\n"))])
        else:
            out.append(f"expected: {_value(expected)}")
    if actual is not None:
        out.append("")
        out.append("#### Actual run")
        status = actual.get("status")
        if status == "ok":
            ret = _value(str((actual.get("return") or {}).get("repr")),
                         cut_before=bool((actual.get("truncated") or {}).get("return")))
            drawn = actual.get("drawn")
            yielded = _yielded(actual) if result.get("generator") and result.get("watched") and not drawn else None
            if yielded is not None:
                # Traced where the script calls it: the script drew the generator, as it iterated it.
                out.append(_drawn_by_script(yielded, actual))
            elif drawn:  # a generator function: drawn as list() draws it (the tracer's `drawn`)
                more = "" if drawn.get("ended") else f", its first {drawn.get('items')} items only"
                out.append(f"yielded {ret} (a generator, drawn with `list()`{more})")
            else:
                awaited = " (a coroutine, run to its end with `asyncio.run`)" if actual.get("awaited") else ""
                out.append(f"returned {ret}{awaited}")
        elif status == "exception" and result.get("importFailure"):
            out.append(_import_failure(result["importFailure"], bool(result.get("importedFrom")),
                                       bool(result.get("testsBefore") or result.get("testsSetUp") is not None
                                            or result.get("callSource") == "no-arguments")))
        elif status == "exception" and actual.get("exception"):
            exc = actual["exception"]
            line = exc.get("line")
            where = f" at line {line + 1}" if isinstance(line, int) and line >= 0 else ""
            if where and result.get("importedFrom"):
                where = f" at {_code(result['importedFrom'])} line {line + 1}"
            message = exc.get("message")  # ("KeyboardInterrupt" alone where it is empty, as Python writes it)
            out.append(f"raised {_value(str(exc.get('type')) + (': ' + str(message) if message else ''))}{where}")
        elif status == "crashed":
            said = actual.get("message") or "the process died"
            # (the executor's own failures say so already: "The sandbox crashed: …")
            out.append(f"⚠ {said}" if said.startswith("The sandbox") else f"⚠ The sandbox crashed: {said}")
        else:
            out.append(f"⚠ {actual.get('message') or status}")
        if actual.get("trace_stopped"):
            out.append(f"⚠ The trace stops early: {actual['trace_stopped']}.")
        elif (actual.get("truncated") or {}).get("events"):
            # The run went on to its result, above; its lines' values are only the trace's.
            kept = len(actual.get("events") or [])
            out.append(f"⚠ The trace was cut at its events limit (its first {kept:,} events are kept): later "
                       f"values are not shown, and a line's last value shown, before {_code(TRACE_CUT)}, is where "
                       "the trace stopped, not where the run ended.")
        verdict = _verdict(result)
        if verdict:
            out.append(verdict)
        if actual.get("stdout"):
            out.extend(_stdout(actual, generator=bool(result.get("generator")) and bool(result.get("watched"))))
        if result.get("callNote"):
            out.append(f"_{result['callNote']}_")
        if result.get("importedFrom"):
            out.append(f"_`{result['function']}` is defined in {_code(result['importedFrom'])}: the lines below are "
                       "that file's._")
        before = 0 if result.get("importFailure") else result.get("testsBefore") or 0
        if before:
            tests = ("the test before it runs first, in the same process, and what it leaves" if before == 1 else
                     f"the {before} tests before it run first, in the same process, and what they leave")
            out.append(f"_This test ran alone, on the file's definitions: under pytest {tests} (a module global, "
                       "a cache) may change what it sees._")
        if result.get("testsSetUp"):
            out.append(f"_pytest sets this file's tests up from outside it ({result['testsSetUp']}); this run is "
                       "without that set-up, so it may differ from pytest's, and the tests' asserts get no verdict._")
        module_s = actual.get("module_s")
        if isinstance(module_s, (int, float)) and module_s >= SLOW_MODULE_S:
            out.append(f"_The module's own code took {module_s:.2f} s before the call (its imports, mostly). "
                       "Modules such as numpy or pandas can be imported once, ahead of every run: "
                       "`semcoder.execution.preload`._")
    elif result.get("executionNote"):
        out.append("")
        out.append(f"_{result['executionNote']}_")
    states = result.get("lineStates") or []
    if states:
        out.append("")
        out.append("| line | values |")
        out.append("| --- | --- |")
        for state in states[:MAX_TABLE_ROWS]:
            line = state["line"]
            code = lines[line].strip() if 0 <= line < len(lines) else ""
            mark = "≈ " if state["source"] == "predicted" else ""
            # Each value literally, as a code span: a repr is no Markdown (`'__init__'` would
            # turn bold, `<Node object>` into an HTML tag).
            values = ", ".join(_code(f"{k} = {_table_value(v)}") for k, v in state["values"].items())
            out.append(f"| {line + 1} {_cell(_code(code[:60]))} | {mark}{_cell(values)} |")
        if len(states) > MAX_TABLE_ROWS:
            out.append(f"| … | {len(states) - MAX_TABLE_ROWS} more lines |")
    pred = result.get("predicted") or {}
    out.append("")
    status = pred.get("status")
    if status == "unavailable":
        out.append("#### Prediction")
        out.append(pred.get("message") or "No model configured.")
    else:
        title = "#### Predicted by SemCoder"
        if status in ("pending", "generating", "partial"):
            title += " (in progress…)"
        elif status == "cancelled":
            title += " (cancelled)"
        elif status == "error":
            title += " (failed)"
        out.append(title)
        if pred.get("output") is not None:
            out.append(f"returns {_value(pred['output'])}")
        if status == "error" and pred.get("message"):
            out.append(f"⚠ {pred['message']}")
        if status in ("pending", "generating", "partial"):
            if pred.get("message"):
                out.append(f"_{pred['message']}_")
            out.append("_Prediction in progress: hover again to see more._")
        monologue = (pred.get("monologue") or "").strip()
        if monologue:
            if len(monologue) > MAX_MONOLOGUE_CHARS:
                monologue = monologue[:MAX_MONOLOGUE_CHARS] + " …"
            out.append("")
            out.append("```text\n" + monologue.replace("```", "'''") + "\n```")
    diffs = result.get("differences") or []
    if diffs:
        out.append("")
        out.append("#### Prediction differs from the actual run")
        for d in diffs:
            if d["what"] == "return":
                out.append(f"- result: predicted {_value(d['predicted'])}, actual {_value(d['actual'])}")
            else:
                out.append(f"- line {d['line'] + 1}, {_code(str(d['name']))}: predicted {_value(d['predicted'])}, "
                           f"actual {_value(d['actual'])}")
    elif actual is not None and status == "complete" and pred.get("output") is not None:
        out.append("")
        out.append("Prediction matches the actual run.")
    elif status == "complete" and pred.get("output") is None:
        out.append("")
        out.append("_The model gave no answer, so nothing can be compared._")
    return "\n".join(out)
