"""The shape of a trace: `trace.schema.json` (JSON Schema, explained field by field in
docs/trace-schema.md), and `conform`, which gives every result the Tracer returns that
shape.

A child that dies (killed at its time limit, crashed in native code) cannot report much:
the zygote's trailer says only why. And a run is user code in the process that holds the
request, so a hostile one can write a result frame of its own. `conform` fills in what a
dead child could not report, and turns a result of any other shape into a `crashed` one
that says so: whoever reads a trace (the server, the CLI's --json, training data) can rely
on the schema without checking it again.
"""

from __future__ import annotations

import json
from pathlib import Path

SCHEMA_ID = "semcoder.trace/1"
SCHEMA_FILE = Path(__file__).with_name("trace.schema.json")
STATUSES = frozenset(("ok", "exception", "timeout", "cpu_limit", "memory_limit", "crashed", "invalid"))
TRUNCATED = ("events", "stdout", "stderr", "depth", "return")
_FIELDS = frozenset(("schema", "status", "message", "function", "call", "events", "return", "exception",
                     "assertion", "stdout", "stderr", "truncated", "duration_s", "calls", "caller_line", "exited", "awaited", "module_s",
                     "module_output", "trace_stopped", "drawn"))
# Only from record_calls and watch_call (calls, caller_line, exited), for a coroutine
# (awaited) or a generator (drawn), once a call's module has run (module_s; module_output where it printed),
# or where the tracer itself stopped
# recording and the run went on untraced (trace_stopped: why).
_OPTIONAL = frozenset(("calls", "caller_line", "exited", "awaited", "module_s", "module_output", "trace_stopped",
                       "drawn"))
_EVENT_KINDS = frozenset(("call", "line", "return", "exception"))
_EVENT_REQUIRED = ("line", "depth", "function", "iteration", "changes", "kind")
_EVENT_FIELDS = frozenset(_EVENT_REQUIRED + ("value", "resumed", "yield", "thread", "globals"))


def json_schema() -> dict:
    """The JSON Schema of a trace (what `semcoder trace --schema` prints)."""
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


class Malformed(ValueError):
    """A result that does not have the schema's shape; the message says where."""


def crashed(message: str, function: str | None = None, call: str | None = None) -> dict:
    """A complete `crashed` result (no events, no output)."""
    return {"schema": SCHEMA_ID, "status": "crashed", "message": message, "function": function, "call": call,
            "events": [], "return": None, "exception": None, "assertion": None, "stdout": "", "stderr": "",
            "truncated": dict.fromkeys(TRUNCATED, False), "duration_s": None}


def conform(result: dict, function: str | None = None, call: str | None = None) -> dict:
    """`result` with every field the schema requires: what a dead child could not report
    is filled in (no events, no output, unknown duration; `function` and `call` from the
    request). A result of another shape becomes a `crashed` result that says what was
    wrong with it."""
    if not isinstance(result, dict):
        return crashed("the run returned a malformed result (not an object), so it has no trustworthy trace",
                       function, call)
    filled = crashed("", function, call)
    for key, value in result.items():
        if key == "truncated" and isinstance(value, dict):
            filled["truncated"].update(value)
        elif key not in ("function", "call") or value is not None:
            filled[key] = value
    try:
        check(filled)
    except Malformed as exc:
        return crashed(f"the run returned a malformed result ({exc}), so it has no trustworthy trace",
                       function, call)
    except Exception as exc:  # a shape check() did not foresee: malformed all the same
        return crashed(f"the run returned a malformed result (checking it raised {type(exc).__name__}), so it "
                       f"has no trustworthy trace", function, call)
    return filled


def _fail(where: str, what: str) -> None:
    raise Malformed(f"{where} {what}")


def _is_int(value) -> bool:
    return type(value) is int


def _text(value, where: str, optional: bool = False) -> None:
    if not (isinstance(value, str) or (optional and value is None)):
        _fail(where, "is not text")


def _flag(value, where: str) -> None:
    if type(value) is not bool:
        _fail(where, "is not true or false")


def _duration(value, where: str, optional: bool = False) -> None:
    if not ((optional and value is None) or (type(value) in (int, float) and value >= 0)):
        _fail(where, "is not a duration")


def _line(value, where: str) -> None:
    if not (value is None or _is_int(value)):
        _fail(where, "is not a line number")


def _exact(value, where: str, required, allowed=None) -> None:
    if not isinstance(value, dict):
        _fail(where, "is not an object")
    missing = [key for key in required if key not in value]
    if missing:
        _fail(where, f"lacks {missing[0]!r}")
    extra = [key for key in value if key not in (allowed or required)]
    if extra:
        _fail(where, f"has an unknown field {extra[0]!r}")


_EVENT_REQUIRED_KEYS = frozenset(_EVENT_REQUIRED)


def _event_ok(event) -> bool:
    """The common case, fast (a trace may hold tens of thousands of events): True when
    `event` is well formed; False sends it to _check_event, which says what is wrong."""
    if type(event) is not dict or not (_EVENT_REQUIRED_KEYS <= event.keys() <= _EVENT_FIELDS):
        return False
    line, depth, iteration, changes = event["line"], event["depth"], event["iteration"], event["changes"]
    # (type first: `in` a frozenset hashes the value, and a list, which a forged result
    # may hold anywhere, raises TypeError)
    return (type(event["kind"]) is str and event["kind"] in _EVENT_KINDS and type(event["function"]) is str
            and (line is None or type(line) is int) and type(depth) is int and depth >= 0
            and (iteration is None or (type(iteration) is int and iteration >= 1))
            and _texts_ok(changes) and (len(event) == 6 or _marks_ok(event)))


def _marks_ok(event) -> bool:
    return (("value" not in event or type(event["value"]) is str)
            and ("globals" not in event or _texts_ok(event["globals"]))
            and all(event[mark] is True for mark in ("resumed", "yield") if mark in event)
            and ("thread" not in event or (type(event["thread"]) is int and event["thread"] >= 1)))


def _texts_ok(changes) -> bool:
    return type(changes) is dict and all(type(k) is str and type(v) is str for k, v in changes.items())


def _check_event(event, where: str) -> None:
    _exact(event, where, _EVENT_REQUIRED, _EVENT_FIELDS)
    if type(event["kind"]) is not str or event["kind"] not in _EVENT_KINDS:
        _fail(where, "has an unknown kind")
    _line(event["line"], where + ".line")
    if not _is_int(event["depth"]) or event["depth"] < 0:
        _fail(where, "has a bad depth")
    _text(event["function"], where + ".function")
    iteration = event["iteration"]
    if not (iteration is None or (_is_int(iteration) and iteration >= 1)):
        _fail(where, "has a bad iteration")
    for field in ("changes", "globals"):
        if field in event and not _texts_ok(event[field]):
            _fail(where, f"has {field} that are not names and texts")
    if "value" in event:
        _text(event["value"], where + ".value")
    for mark in ("resumed", "yield"):
        if mark in event and event[mark] is not True:
            _fail(where, f"has a bad {mark!r}")
    if "thread" in event and not (_is_int(event["thread"]) and event["thread"] >= 1):
        _fail(where, "has a bad thread number")


def _check_call(recorded, where: str) -> None:
    _exact(recorded, where, ("call", "args", "literal", "target", "caller_line", "caller_file"))
    _text(recorded["call"], where + ".call")
    _text(recorded["target"], where + ".target")
    _flag(recorded["literal"], where + ".literal")
    _line(recorded["caller_line"], where + ".caller_line")
    _text(recorded["caller_file"], where + ".caller_file", optional=True)
    if not isinstance(recorded["args"], list):
        _fail(where + ".args", "is not a list")
    for index, arg in enumerate(recorded["args"]):
        _exact(arg, f"{where}.args[{index}]", ("name", "repr", "literal"))
        _text(arg["name"], f"{where}.args[{index}].name", optional=True)
        _text(arg["repr"], f"{where}.args[{index}].repr")
        _flag(arg["literal"], f"{where}.args[{index}].literal")


def check(result: dict) -> None:
    """Raise Malformed unless `result` has the shape trace.schema.json describes (the same
    rules, written out: the tracer has no third-party dependencies)."""
    _exact(result, "the result", _FIELDS - _OPTIONAL, _FIELDS)
    if type(result["schema"]) is not str or result["schema"] != SCHEMA_ID:
        _fail("schema", "is not " + SCHEMA_ID)
    if type(result["status"]) is not str or result["status"] not in STATUSES:
        _fail("status", "is unknown")
    _text(result["message"], "message")
    _text(result["function"], "function", optional=True)
    _text(result["call"], "call", optional=True)
    _text(result["stdout"], "stdout")
    _text(result["stderr"], "stderr")
    _duration(result["duration_s"], "duration_s", optional=True)
    _exact(result["truncated"], "truncated", TRUNCATED)
    for key in TRUNCATED:
        _flag(result["truncated"][key], "truncated." + key)
    if not isinstance(result["events"], list):
        _fail("events", "is not a list")
    for index, event in enumerate(result["events"]):
        if not _event_ok(event):
            _check_event(event, f"events[{index}]")
            _fail(f"events[{index}]", "is malformed")  # the two checks disagree: stay strict
    returned = result["return"]
    if returned is not None:
        _exact(returned, "return", ("repr", "literal"))
        _text(returned["repr"], "return.repr")
        _flag(returned["literal"], "return.literal")
    exception = result["exception"]
    if exception is not None:
        _exact(exception, "exception", ("type", "message", "line", "traceback"))
        _text(exception["type"], "exception.type")
        _text(exception["message"], "exception.message")
        _line(exception["line"], "exception.line")
        if not isinstance(exception["traceback"], list):
            _fail("exception.traceback", "is not a list")
        for index, frame in enumerate(exception["traceback"]):
            _exact(frame, f"exception.traceback[{index}]", ("line", "function", "text"))
            _line(frame["line"], f"exception.traceback[{index}].line")
            _text(frame["function"], f"exception.traceback[{index}].function")
            _text(frame["text"], f"exception.traceback[{index}].text")
    assertion = result["assertion"]
    if assertion is not None:
        if isinstance(assertion, dict) and "error" in assertion:
            _exact(assertion, "assertion", ("passed", "expected_repr", "error"))
            if assertion["passed"] is not False or assertion["expected_repr"] is not None:
                _fail("assertion", "reports an error but not a failure")
            _text(assertion["error"], "assertion.error")
        elif isinstance(assertion, dict) and "expected_repr" not in assertion:  # a check's
            _exact(assertion, "assertion", ("passed", "actual_repr"))
            _flag(assertion["passed"], "assertion.passed")
            _text(assertion["actual_repr"], "assertion.actual_repr")
        else:
            _exact(assertion, "assertion", ("passed", "expected_repr", "actual_repr"))
            _flag(assertion["passed"], "assertion.passed")
            _text(assertion["expected_repr"], "assertion.expected_repr")
            _text(assertion["actual_repr"], "assertion.actual_repr")
    if "caller_line" in result:
        _line(result["caller_line"], "caller_line")
    if "exited" in result:
        _text(result["exited"], "exited")
    if "awaited" in result and result["awaited"] is not True:
        _fail("awaited", "is not true")
    if "module_s" in result:
        _duration(result["module_s"], "module_s")
    if "module_output" in result:
        _exact(result["module_output"], "module_output", ("stdout", "stderr"))
        for stream in ("stdout", "stderr"):
            count = result["module_output"][stream]
            if not (_is_int(count) and 0 <= count <= len(result[stream])):
                _fail("module_output." + stream, "is not a count of the %s's characters" % stream)
    if "drawn" in result:
        _exact(result["drawn"], "drawn", ("items", "ended"))
        if not (_is_int(result["drawn"]["items"]) and result["drawn"]["items"] >= 0):
            _fail("drawn.items", "is not a count")
        _flag(result["drawn"]["ended"], "drawn.ended")
    if "trace_stopped" in result:
        _text(result["trace_stopped"], "trace_stopped")
    if "calls" in result:
        if not isinstance(result["calls"], list):
            _fail("calls", "is not a list")
        for index, recorded in enumerate(result["calls"]):
            _check_call(recorded, f"calls[{index}]")
