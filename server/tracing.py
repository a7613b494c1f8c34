"""Tracing one call: find the function and call, run it, predict it, combine the two.

This is the shared core of hover, `semcoder/trace`, inlay hints and diagnostics. A
TraceResult (a JSON dict, see docs/lsp-protocol.md) is rebuilt from the current state of
its parts each time it is asked for, so a hover during generation shows what is ready.
"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import logging
import os
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

from semcoder_inference.context import bound_locally, scope_bindings
from semcoder_inference.errors import SemcoderError

from .cache import make_key
from .calls import (
    CLASS_METHOD,
    PROPERTY,
    STATIC_METHOD,
    CallSite,
    FunctionInfo,
    ModuleInfo,
    byte_col,
    call_at,
    called,
    doctest_example_at,
    function_called_at,
    is_test,
)
from .callees import literal_call
from .cursor import imported_call_at, imported_callables, innermost_call
from .execution import Recording, call_needs, changed_in_place, definitions_only, is_definition
from .imported import relative
from .predictions import PredictionRun
from .results import (
    CALLED,
    FALSY,
    TRUTHY,
    actual_line_states,
    combined_line_states,
    condition_check,
    condition_of,
    differences,
    truth_condition,
    predicted_line_states,
    render_markdown,
)
from .worker import INTERACTIVE

log = logging.getLogger(__name__)

WATCHED_NO_PREDICTION = (
    "No prediction: this call's arguments are values the model's input cannot write (only "
    "literals), so only the real run is shown."
)

EXECUTION_OFF_NOTE = (
    "Execution is disabled, so only the model's prediction is shown. Enable "
    "`semcoder.execution.enabled` in a trusted workspace to see the real trace."
)


# The real traces kept in memory (Tracing._actual_memo): at most this many bytes, as
# trace_size estimates them, and this many entries; the least recently used go first. The
# largest trace the tracer can send (a 64 MiB frame: 20,000 events of long values) takes
# about 100 MB in memory, so it still fits, alone.
MEMO_BUDGET_BYTES = 128 * 1024 * 1024
MEMO_MAX_ENTRIES = 500


@dataclass
class _Memo:
    """A real trace kept in Tracing._actual_memo."""

    trace: dict
    size: int  # bytes, as trace_size estimates them
    group: tuple[str, str]  # (uri, "actual" | "watched"): whose traces of which kind
    version: str  # what the group's traces were run from (see Tracing._memo_version)


def trace_size(trace: object) -> int:
    """About how many bytes a trace (a tracer dict, JSON data) holds in memory, CPython's
    objects included; within 20 % on traces of 4 to 20,000 events. Cheap whatever the
    trace's size (a few milliseconds for a 50 MB one): of a list or dict of more than
    _SIZE_SAMPLE items (the events), as many spread evenly are walked and the rest counted
    as their average. A dict's keys are not counted: the JSON decoder shares them."""
    return _size(trace, 8)


_SIZE_SAMPLE = 256


def _size(value: object, depth: int) -> int:
    if value is None or isinstance(value, bool):
        return 0
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        items: list | tuple = list(value.values())
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        return size
    if not depth or not items:
        return size
    if len(items) <= _SIZE_SAMPLE:
        return size + sum(_size(item, depth - 1) for item in items)
    step = len(items) / _SIZE_SAMPLE
    sampled = sum(_size(items[int(i * step)], depth - 1) for i in range(_SIZE_SAMPLE))
    return size + int(sampled * len(items) / _SIZE_SAMPLE)


class NothingToTrace(SemcoderError):
    """The position is not in a function, or the function has no known call."""


@dataclass
class Recorded:
    """Calls of a function seen while running its file (see Tracing._record_calls)."""

    # (the file's entry_hash, the function's source hash, the workspace's other files' version,
    # see Tracing.changes_elsewhere) they were recorded for
    key: tuple[str, str, int]
    calls: list[tuple[str, str]]  # replayable calls, with where they came from: "main" | "asserts" | "tests"
    unreplayable: CallSite | None  # the first call whose values are not literals, to be watched
    stopped: str | None = None  # why a run ended early ("running `__main__` stopped: timed out after 5 s …")


MAX_RECORDED_TESTS = 20


def zero_argument_tests(tree: ast.Module, name: str) -> list[str]:
    """The file's top-level `test_*` functions that take no arguments and name `name`
    (what a test runner would call without fixtures), at most MAX_RECORDED_TESTS."""
    found = [node.name for node in tree.body if _is_zero_argument_test(node)
             and any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))]
    return found[:MAX_RECORDED_TESTS]


def _is_zero_argument_test(node: ast.AST) -> bool:
    if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test"):
        return False
    args = node.args
    return not (args.posonlyargs or args.args or args.vararg or args.kwonlyargs or args.kwarg)


def entry_running(tests: list[str]) -> str:
    """Code that runs each test in turn; a failing test does not stop the others."""
    return _each_in_turn(tests)


def top_level_asserts(tree: ast.Module, info: ModuleInfo) -> list[str]:
    """The conditions of the file's top-level asserts, at most MAX_RECORDED_TESTS (cut
    from the lines the analysis split once: ast.get_source_segment splits the whole text
    again for each)."""
    found = (info.segment(node.test) for node in tree.body if isinstance(node, ast.Assert))
    return [condition for condition in found if condition][:MAX_RECORDED_TESTS]


def entry_checking(conditions: list[str]) -> str:
    """Code that evaluates each assert's condition in turn (the module runs with its
    asserts blanked: see _runnable); one that fails or raises does not stop the others."""
    return _each_in_turn([f"lambda: (\n{condition}\n)" for condition in conditions])


def _each_in_turn(callables: list[str]) -> str:
    return (f"for _semcoder_step in ({', '.join(callables)},):\n"
            "    try:\n        _semcoder_step()\n    except Exception:\n        pass\n")


def example_call(fn: FunctionInfo) -> str:
    """How a call of `fn` looks, with `...` for the arguments: `f(...)`, `Class(...).m(...)`,
    `Class.m(...)` for a static or class method, `Class(...).p` for a property,
    `Class(...)` for `__init__`."""
    if not fn.is_method:
        return f"{fn.name}(...)"
    cls, method = fn.name.split(".", 1)
    if method == "__init__":
        return f"{cls}(...)"
    if fn.kind == PROPERTY:
        return f"{cls}(...).{method}"
    return f"{cls}.{method}(...)" if fn.kind in (STATIC_METHOD, CLASS_METHOD) else f"{cls}(...).{method}(...)"


def _called(info: ModuleInfo, call: str) -> FunctionInfo | None:
    """The function or method of the file that `call` (an expression) calls, if any."""
    try:
        expr = ast.parse(call.strip(), mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    named = called(expr, info.functions)
    return info.functions[named[0]] if named else None


def sandbox_expectation(info: ModuleInfo, site: CallSite) -> dict[str, str]:
    """What the sandbox checks the call's value against, as the assert would, as
    Tracer.trace_call's keyword arguments, evaluated in the module as a replayed call runs
    it (its definitions only): {"expect": the expected value} (`call == expected`), or
    {"check": ...} for a condition around the call (results.CONDITION: `len(f(3)) == 3`).
    {} where that would not be what the assert evaluates: a doctest compares printed text
    instead; an expected value that names a local of the function the assert is in (`want`
    in `def test_f(): want = 4; assert f(2) == want`), or a global only a statement the
    replay skips binds (`R = main()`, the `__main__` block)."""
    if site.expected is None or site.watched or site.origin == "doctest":
        return {}
    condition = truth_condition(site.expected) if site.expected in (TRUTHY, FALSY) else condition_of(site.expected)
    text = condition if condition is not None else site.expected.strip()
    # (an expected value written over lines, in the assert's parentheses: in them again)
    expect = f"(\n{text}\n)" if "\n" in text or "\r" in text else text
    expectation = {"check": condition_check(condition)} if condition is not None else {"expect": expect}
    try:
        expected = ast.parse(f"(\n{text}\n)", mode="eval")  # (a condition may be over lines)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return {}
    names = {n.id for n in ast.walk(expected) if isinstance(n, ast.Name)} - {CALLED}
    if not names:
        return expectation
    tree = _tree(info)
    kept, skipped, altered = _module_bindings(info, call_needs(site.call))
    if names & ((skipped - kept) | altered):
        return {}
    if info.function_at(site.line) is not None:
        for node in ast.walk(tree):
            if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                    and node.lineno - 1 <= site.line <= (node.end_lineno or node.lineno) - 1
                    and names & bound_locally(node)[0]):
                return {}
    return expectation


def _module_bindings(info: ModuleInfo, needs: frozenset[str] | None = None) -> tuple[set[str], set[str], set[str]]:
    """The module-level names bound by the top-level statements a replayed call (that
    reads `needs`) runs (definitions_only), those bound by the others, and those the
    others change in place (`ITEMS.append(3)`, `CONFIG["n"] = 5`: in the replay, such a
    name has the value it was bound to, not the script's). Cached on the analysis."""
    cache = vars(info).setdefault("_module_bindings", {})
    if needs not in cache:
        kept: set[str] = set()
        skipped: set[str] = set()
        altered: set[str] = set()
        tree = _tree(info)
        for node in tree.body:
            bound = scope_bindings([node])[0]
            if is_definition(node, tree, needs):
                kept.update(bound)
            else:
                skipped.update(bound)
                altered.update(changed_in_place(node) - set(bound))
        cache[needs] = (kept, skipped, altered)
    return cache[needs]


def moved_steps(steps: list[dict], made_at: int | None, fn: FunctionInfo) -> list[dict]:
    """A prediction's steps with the lines of `fn` where it is now: the prediction is shared
    by the function's code wherever it stands, and its steps name the document lines of
    when it was made (`made_at`, the function's first line then). Lines outside the function
    (a helper's) are left as they were."""
    if made_at is None or made_at == fn.start:
        return steps
    shift, last = fn.start - made_at, made_at + (fn.end - fn.start)
    return [{**step, "lines": [line + shift if made_at <= line <= last else line for line in step.get("lines") or []]}
            for step in steps]


@dataclass
class Target:
    uri: str
    info: ModuleInfo
    function: FunctionInfo
    call: CallSite
    # Said beside the run, in words: why a call under the cursor of an imported function,
    # traced in its module, has no verdict (see Tracing._imported_cursor_target).
    note: str | None = None


@dataclass
class TraceJob:
    target: Target
    actual: dict | None
    execution_note: str | None
    run: PredictionRun
    # Where the run raised while importing a module of the workspace: what importing that
    # module alone gave (see Tracing.import_failure).
    import_failure: dict | None = None

    def result(self) -> dict:
        fn = self.target.function
        actual_states = actual_line_states(self.actual, fn.name, fn.start, fn.end, fn.def_line)
        predicted = self.run.to_dict()
        predicted["steps"] = moved_steps(predicted["steps"], predicted.get("functionStart"), fn)
        predicted_states = predicted_line_states(predicted["steps"])
        call = self.target.call.call
        if self.target.call.watched and isinstance(self.actual, dict) and isinstance(self.actual.get("call"), str):
            call = self.actual["call"]  # the values the watched call had (set once it was made)
        result = {
            "uri": self.target.uri,
            "function": fn.name,
            "call": call,
            "callSource": self.target.call.origin,
            "watched": self.target.call.watched,
            "functionRange": {"start": {"line": fn.start, "character": 0},
                              "end": {"line": fn.end, "character": len(self.target.info.lines[fn.end]) if fn.end < len(self.target.info.lines) else 0}},
            "expected": self.target.call.expected,
            "actual": self.actual,
            "executionNote": self.execution_note,
            "predicted": predicted,
            "lineStates": combined_line_states(actual_states, predicted_states),
            "differences": differences(self.actual, actual_states, predicted_states, predicted.get("output"))
            if predicted["status"] == "complete" else [],
            "sourceHash": fn.source_hash,
            "testsSetUp": self.target.info.tests_set_up if self._runs_a_test() else None,
            "testsBefore": self._tests_before() if self._runs_a_test() else 0,
            "callNote": self.target.note,
            "testRun": self.target.call.origin == "no-arguments" and self._test() is self.target.function,
            "generator": _is_generator(fn),
            "importFailure": self.import_failure,
        }
        lines = self.target.info.lines
        imported = imported_target(self.target)
        if imported is not None:
            # Its lines are its module's, not this document's: the range is the call's line,
            # and the table's code is the module's.
            line = self.target.call.line
            result["functionRange"] = {"start": {"line": line, "character": 0}, "end": {"line": line, "character": 0}}
            near = unquote(urlparse(self.target.uri).path)
            result["importedFrom"] = relative(imported.path, near) if near.startswith("/") else imported.path
            lines = list(imported.lines)
        result["markdown"] = render_markdown(result, lines)
        return result

    def _test(self) -> FunctionInfo | None:
        """The file's test this run is, or stands for: the test the traced call is written
        in, or the hovered test itself."""
        holder = self.target.info.function_at(self.target.call.line)
        return next((fn for fn in (holder, self.target.function) if fn is not None and is_test(fn, self.target.info)), None)

    def _runs_a_test(self) -> bool:
        """Whether the run traced is, or stands for, one of the file's tests (_test), or is a
        call traced where the tests make it. (Not a call under the cursor of an imported
        function: that runs alone, in its module.)"""
        if self.target.call.origin == "cursor" and imported_target(self.target) is not None:
            return False
        return self._test() is not None or self.target.call.origin == "tests"

    def _tests_before(self) -> int:
        """How many of the file's tests pytest runs before the one this run stands for (those
        written above it; in a unittest TestCase, those before it by name), where the run
        raised: run alone, a test does not see what they left (a module global, a cache),
        as it does under pytest."""
        if not isinstance(self.actual, dict) or self.actual.get("status") != "exception":
            return 0
        test = self._test()
        return 0 if test is None else self.target.info.test_order[test.name]


def imported_target(target: Target) -> Any:
    """The imported function (imported.ImportedFunction) a target's call is of, if it is
    one: a name the file imports (the name its asserts call it by), with no definition of
    its own."""
    name = target.call.function
    return target.info.imported.get(name) if name not in target.info.functions else None


class Tracing:
    """Finds targets and runs trace jobs for the server."""

    def __init__(self, server) -> None:
        self.server = server
        self.explicit_calls: dict[tuple[str, str], str] = {}  # (uri, function) -> call
        self.recorded: dict[tuple[str, str], Recorded] = {}  # (uri, function) -> calls seen running the file
        # (uri, function) -> (its key as in Recorded, what running `__main__` recorded of it)
        self.main_recorded: dict[tuple[str, str], tuple[tuple, Recording]] = {}
        # The real traces (actual_trace, watched_trace): key -> _Memo, least recently used
        # first, within MEMO_BUDGET_BYTES and MEMO_MAX_ENTRIES; only the traces of the
        # latest version of each document are kept (see _memo_version).
        self._actual_memo: OrderedDict[str, _Memo] = OrderedDict()
        self._memo_bytes = 0
        self._memo_versions: dict[tuple[str, str], str] = {}  # group -> its latest version
        # The real traces being run: key -> the future of its trace. A second request for a
        # trace in flight (a hover while the diagnostics run the same call) waits for it
        # rather than running it again (see _shared_run).
        self._in_flight: dict[str, asyncio.Future] = {}
        # What a run may read that no Python file's count of changes holds (a data file such
        # as config.json): each save of a document, and semcoder.clearCache, count one, and
        # every real trace of every file runs again (part of every memo key).
        self._refreshes = 0
        # (interpreter, its lstat) -> its package folders (python_finder.package_folders)
        self._package_folders: dict[tuple, list[str]] = {}
        # Runs import the workspace's other files from disk, so what they gave depends on
        # those files too: each change of one counts (the memo's keys and the recorded calls
        # hold the count of changes of files other than their own), see workspace_file_changed.
        self._changes = 0
        self._changes_of: dict[str, int] = {}  # file path -> changes of that file
        self._disk_state: dict[str, tuple] = {}  # file path -> its stat when last looked at
        self._since_ns = time.time_ns()  # before any run

    # -- the workspace's other files -----------------------------------------------------------

    def _file(self, uri: str) -> str:
        return self.server.documents.path(uri)

    def workspace_file_changed(self, uri: str) -> None:
        """A Python file of the workspace changed on disk (saved, or changed by another
        program): every run of another file may import it, so their traces are stale."""
        path = self._file(uri)
        self._changes += 1
        self._changes_of[path] = self._changes_of.get(path, 0) + 1
        self._disk_state[path] = _stat(path)

    def notice_disk_state(self, uri: str) -> bool:
        """Look at the file of `uri` (a document the editor opened, changed, saved or
        closed) on disk; count a change (workspace_file_changed) when it is not as it was
        when last looked at, or, looked at for the first time, when it changed after the
        server started. Says whether it counted one. Cheap: one stat (on every keystroke:
        an unsaved edit changes nothing on disk, which is what runs import)."""
        path = self._file(uri)
        if not path.endswith(".py") or "://" in path:
            return False
        state = _stat(path)
        known = self._disk_state.get(path)
        if known is None:
            self._disk_state[path] = state
            # First seen: it changed for runs already made only if it changed after they
            # began (a second's margin: file times come from a coarser clock).
            if not state or max(state[0], state[1]) < self._since_ns - 1_000_000_000:
                return False
        elif known == state:
            return False
        self.workspace_file_changed(uri)
        return True

    def changes_elsewhere(self, uri: str) -> int:
        """How many times Python files of the workspace other than `uri`'s changed: part of
        the key of everything a run of `uri` gave (its own text is part of it anyway)."""
        return self._changes - self._changes_of.get(self._file(uri), 0)

    def refresh(self) -> None:
        """A document was saved: every real trace of every file runs again when next asked
        for (what the code reads from disk, a data file the server is not told about, may
        have changed with it). Recorded calls are kept (see clear)."""
        self._refreshes += 1

    def clear(self) -> dict[str, int]:
        """semcoder.clearCache: forget every real trace and every recorded call (the calls
        seen running the files, `main_recorded` included). A run or a recording in flight
        when it came keeps its key of before, which no longer matches. Says how many of
        each it forgot."""
        cleared = {"realTraces": len(self._actual_memo),
                   "recordedFunctions": len(set(self.recorded) | set(self.main_recorded))}
        self._actual_memo.clear()
        self._memo_bytes = 0
        self._memo_versions.clear()
        self._package_folders.clear()
        self.recorded.clear()
        self.main_recorded.clear()
        self._refreshes += 1
        # A change of no file counts for every file (changes_elsewhere): recordings in
        # flight, keyed by the count of before, are not used.
        self._changes += 1
        return cleared

    # -- finding what to trace -------------------------------------------------------------

    def known_calls(self, uri: str, info: ModuleInfo, fn: FunctionInfo) -> list[CallSite]:
        calls: list[CallSite] = []
        explicit = self.explicit_calls.get((uri, fn.name))
        if explicit:
            calls.append(CallSite(fn.name, explicit, "explicit", fn.def_line))
        order = {"comment": 0, "assert": 1, "doctest": 2}
        calls.extend(sorted(info.calls_for(fn.name), key=lambda c: (order.get(c.origin, 3), c.line)))
        recorded = self._recorded(uri, info, fn)
        for call, origin in recorded.calls if recorded else ():
            calls.append(CallSite(fn.name, call, origin, fn.def_line))
        return calls

    def watched_call(self, uri: str, info: ModuleInfo, fn: FunctionInfo) -> CallSite | None:
        """The call of `fn` that running the file made with values no literal can rebuild,
        when the file has been run for this version of it (see _record_calls)."""
        recorded = self._recorded(uri, info, fn)
        return recorded.unreplayable if recorded is not None else None

    def _recorded(self, uri: str, info: ModuleInfo, fn: FunctionInfo) -> Recorded | None:
        """What running the file recorded for this version of `fn` and of the code that calls
        it when the file runs (None if not run since either changed)."""
        recorded = self.recorded.get((uri, fn.name))
        key = (info.entry_hash, fn.source_hash, self.changes_elsewhere(uri))
        return recorded if recorded is not None and recorded.key == key else None

    async def find_target(
        self,
        uri: str,
        *,
        line: int | None = None,
        character: int | None = None,
        function: str | None = None,
        call: str | None = None,
        cursor_calls: bool = True,
    ) -> Target:
        """The function and call for a position (or explicit names). Raises SemcoderError."""
        info = self.server.documents.analysis(uri)
        site: CallSite | None = None
        fn: FunctionInfo | None = None
        if function:
            fn = info.functions.get(function)
            if fn is None:
                raise NothingToTrace(f"There is no top-level function or method named `{function}` in this file.")
        if call and fn is None:
            fn = _called(info, call)
            if fn is None:
                raise NothingToTrace(f"`{call}` is not a call of a top-level function or method of this file.")
        elif call and fn is not None:
            called = _called(info, call)
            if called is not None and called.name != fn.name:  # (its trace would be labelled fn's)
                raise NothingToTrace(f"`{call}` calls `{called.name}`, not `{fn.name}`.")
        if fn is None and line is not None:
            if 0 <= line < len(info.lines) and cursor_calls:
                col = byte_col(info.lines[line], character or 0)
                site = call_at(info, line, col)
                if site is None:
                    # A line with an assert, doctest or `# semcoder:` comment names its call;
                    # of a parametrized test's cases on one line, the one under the cursor.
                    on_line = [c for c in info.calls if c.line == line]
                    site = next((c for c in on_line if c.start_col <= col < c.end_col), on_line[0] if on_line else None)
                if site is None:
                    # A doctest example's line (its output too) means that example: its check,
                    # its call replayed without a verdict, or why it has none (never another
                    # example's verdict, the function's first known call).
                    example = doctest_example_at(info, line, col)
                    if isinstance(example, str):
                        raise NothingToTrace(example)
                    site = example
                if site is None:
                    # A literal call of a function the file imports from the workspace:
                    # traced in its own module, whether or not its assert gets a verdict.
                    found = imported_call_at(info, line, col)
                    if found is not None:
                        imported_site, node = found
                        imported_fn = info.function_named(imported_site.function)
                        if imported_fn is not None:
                            return Target(uri, info, imported_fn, imported_site,
                                          note=_imported_no_verdict(info, imported_site.function, node))
                runs, entry = _what_runs(info, line) if site is None else (False, None)
                if runs:
                    # A call with other values (variables, objects) in the script or a test:
                    # traced where it runs, or (execution disabled) the function's own
                    # known call is used. In another function's body the cursor still
                    # means that function.
                    watched = function_called_at(info, line, col)
                    if watched is not None and self.server.settings.execution.enabled:
                        site = dataclasses.replace(watched, entry=entry)
                    elif watched is not None:
                        fn = info.functions[watched.function]
            if site is not None:
                fn = info.function_named(site.function)
            elif fn is None:
                fn = info.function_at(line)
                if fn is not None and cursor_calls and is_test(fn, info) and 0 <= line < len(info.lines):
                    # A call under the cursor in a test that is not traced: why, for that call
                    # (not the test's own message).
                    reason = _untraced_call(info, fn, line, byte_col(info.lines[line], character or 0),
                                            runs)
                    if reason is not None:
                        raise NothingToTrace(reason)
        if fn is None:
            raise NothingToTrace("Place the cursor on a function or method, or on a call of one, to see its trace.")
        if call:
            site = CallSite(fn.name, call.strip(), "explicit", fn.def_line)
        if site is None:
            known = self.known_calls(uri, info, fn)
            if not known and self.server.settings.execution.enabled:
                await self._record_calls(uri, info, fn)
                known = self.known_calls(uri, info, fn)
            if not known:
                watched = self.watched_call(uri, info, fn)
                if watched is not None and self.server.settings.execution.enabled:
                    # Values no literal can rebuild: trace that call where the file makes it.
                    return Target(uri, info, fn, watched)
                if not fn.is_method and fn.takes_no_arguments:
                    # `f()` is a call of it as good as any (a test function, a `main`).
                    return Target(uri, info, fn, CallSite(fn.name, f"{fn.name}()", "no-arguments", fn.def_line))
                if is_test(fn, info):
                    raise NothingToTrace(
                        f"`{fn.name}` is a test, which the test runner calls itself (with its fixtures or parametrize "
                        "cases): hover a call in it, one of its asserts, or one of its cases to trace it.")
                recorded = self._recorded(uri, info, fn)
                stopped = f" {recorded.stopped[0].upper()}{recorded.stopped[1:]}." if recorded and recorded.stopped else ""
                raise NothingToTrace(
                    f"No known call for `{fn.name}`.{stopped} Add a comment such as `# semcoder: {example_call(fn)}`, "
                    "an `assert` or a doctest, or use the code lens to supply one."
                )
            site = known[0]
        unjudged = info.unjudged.get(site.line) if site.origin == "cursor" and site.expected is None else None
        if unjudged is not None and line == site.line:
            # (an assert whose run in the sandbox cannot be pytest's: say so beside the run)
            return Target(uri, info, fn, site, note=f"This assert gets no verdict: {unjudged}.")
        return Target(uri, info, fn, site)

    async def _record_calls(self, uri: str, info: ModuleInfo, fn: FunctionInfo) -> None:
        """Run the file's `__main__` block, then (as long as that gave no replayable call)
        the zero-argument `test_*` functions that name `fn` (its class, for a method), then
        its top-level asserts' conditions, and keep the calls of `fn` they make. A call is
        replayable when each argument's repr reads back as an equal literal; the first other
        one (a method's always: its instance is no literal) is kept, to be traced where it
        happens (see Tracing.watched_trace)."""
        if self._recorded(uri, info, fn) is not None:
            return
        tree = _tree(info)
        path = self.server.documents.path(uri)
        runs = [(None, "main")] if "__main__" in info.text else []
        tests = zero_argument_tests(tree, fn.name.split(".", 1)[0])
        if tests:
            runs.append((entry_running(tests), "tests"))
        checks = top_level_asserts(tree, info)
        if checks:  # (which may call `fn` only on the way: a method, an `__init__`)
            runs.append((entry_checking(checks), "asserts"))
        seen: list[tuple[str, bool, str, str | None, int | None]] = []
        stopped: list[str] = []
        changes = self.changes_elsewhere(uri)  # as the runs begin: a change meanwhile runs them again
        source = _runnable(info)
        for entry, origin in runs:
            if origin == "main":
                recording = await self._main_recording(uri, info, fn, source, path, changes)
            else:
                recordings = await self.server.executor.record_calls(
                    self.server.settings.execution, source, fn.name, path, entry=entry,
                    target_line=fn.start + 1)
                recording = recordings and recordings[fn.name]
            if recording is None:
                return  # the sandbox failed: try again on the next hover
            seen += [(call, literal, origin, entry, line) for call, literal, line in recording.calls]
            if recording.stopped:
                # Kept (not run again on every hover: a script that never ends costs its
                # whole time limit each time), and said when there is no call.
                where = {"main": "`__main__`", "asserts": "the file's asserts"}.get(origin, "the file's tests")
                stopped.append(f"running {where} stopped: {recording.stopped}")
            if any(literal for _, literal, *_ in seen):
                break
        unreplayable = next((CallSite(fn.name, call, origin, fn.def_line if line is None else line,
                                      watched=True, entry=entry)
                             for call, literal, origin, entry, line in seen if not literal), None)
        self.recorded[(uri, fn.name)] = Recorded(
            (info.entry_hash, fn.source_hash, changes),
            [(call, origin) for call, literal, origin, *_ in seen if literal], unreplayable,
            "; ".join(stopped) or None)

    async def _main_recording(self, uri: str, info: ModuleInfo, fn: FunctionInfo, source: str, path: str,
                              changes: int) -> Recording | None:
        """What running the file's `__main__` block recorded of `fn`. One run records every
        function of the file on the way, and what it saw whole is kept for each: a script
        that never ends waits out its time limit once, not on the first hover of each of its
        functions. A function's record is used while the code that runs the file, the
        function and the workspace's other files are unchanged (as Tracing.recorded's)."""
        def key(function: FunctionInfo) -> tuple:
            return (info.entry_hash, function.source_hash, changes)

        kept = self.main_recorded.get((uri, fn.name))
        if kept is not None and kept[0] == key(fn):
            return kept[1]
        others = [(other.name, other.start + 1) for other in info.functions.values() if other.name != fn.name]
        recordings = await self.server.executor.record_calls(
            self.server.settings.execution, source, fn.name, path, target_line=fn.start + 1, also=others)
        if recordings is None:
            return None
        for name, recording in recordings.items():
            function = info.functions.get(name)
            if function is not None and recording.complete:
                self.main_recorded[(uri, name)] = (key(function), recording)
        return recordings[fn.name]

    # -- running ---------------------------------------------------------------------------------

    def prompt_code(self, target: Target) -> str:
        """The code the model sees: the function and what it depends on, cut by the same
        slicer the prompt builder uses. It is part of the prediction's cache key, so an edit
        to a helper the function calls invalidates the cached prediction."""
        from semcoder_inference.context import slice_function

        roots = self.server.workspace_roots()
        path = self.server.documents.path(target.uri)
        try:
            return slice_function(
                target.info.text,
                target.function.name,
                path=path if path != target.uri else None,
                workspace_root=str(roots[0]) if roots else None,
            ).text
        except SemcoderError:  # the module does not parse around the function: key on it alone
            return target.function.source

    async def watched_trace(self, target: Target) -> dict:
        """The real trace of a call whose values are not literals, where the file makes it:
        the `__main__` block or the tests run again, and the first call of the function is
        traced (Tracer.watch_call). A call under the cursor in a top-level assert is made by
        that assert, which the file then runs, with the asserts before it, as their
        conditions alone (see _runnable)."""
        exec_settings = self.server.settings.execution
        fn = target.function
        # The call under the cursor is the first one made from its line; a recorded one is
        # the first made at all.
        from_line = target.call.line + 1 if target.call.origin == "cursor" else None
        running = _top_level_assert(target.info, target.call.line) if from_line is not None else None
        source = _runnable(target.info, running)
        group = (target.uri, "watched")
        # (the file as it runs without any assert: the traces from different asserts'
        # lines are of one version of the file, and must not drop each other's)
        version = self._memo_version(group, _runnable(target.info))
        key = make_key(version, fn.name, target.call.entry or "", from_line, running is not None)
        trace = await self._shared_run(key, group, version, lambda: self.server.executor.watch_call(
            exec_settings, source, fn.name, self.server.documents.path(target.uri),
            entry=target.call.entry, target_line=fn.start + 1, from_line=from_line))
        # The tracer calls what it ran "the entry point"; the user knows it as the file's tests.
        ran = {"tests": "the file's tests", "asserts": "the file's asserts"}.get(
            target.call.origin, "the test" if target.call.entry else None)
        message = trace.get("message") if isinstance(trace, dict) else None
        if ran and isinstance(message, str) and "the entry point" in message:
            trace = {**trace, "message": message.replace("the entry point", ran)}
        return trace

    async def _shared_run(self, key: str, group: tuple[str, str], version: str, run) -> dict:
        """The real trace of `key`: the memo's, else the one a run in flight for the same key
        gives (a hover during the diagnostics' run of that call: one run, not two, each up
        to the time limit, one after the other on the execution thread), else `run()`'s,
        kept (_remember_actual). Where the run waited for is cancelled (its diagnostics were
        cancelled by an edit, its hover by the client) or fails, the waiting request runs it
        itself; a waiter that is cancelled leaves the run to the others."""
        while True:
            memo = self._memo_get(key)
            if memo is not None:
                return memo
            pending = self._in_flight.get(key)
            if pending is None:
                break
            await asyncio.wait([pending])  # (cancelling this request cancels no one else's run)
            if not pending.cancelled() and pending.exception() is None:
                return pending.result()
        future = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            trace = await run()
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # (retrieved: a future no one waited for must not log it)
            raise
        finally:
            if self._in_flight.get(key) is future:
                del self._in_flight[key]
        self._remember_actual(key, trace, group, version)
        future.set_result(trace)
        return trace

    def _memo_version(self, group: tuple[str, str], code: str) -> str:
        """What the real traces of `group` (a document's, of one kind) depend on beside
        their call: the code the sandbox runs (`code`: the file's definitions, or the file
        as it runs), the interpreter and its installed packages (_environment), the limits,
        the workspace's other Python files (changes_elsewhere), and saves and clearCache
        (refresh). The first trace asked for with a new version (the document was edited,
        another file changed, a package was installed, a save) drops the group's traces of
        the versions before: no later trace can use them, and each may be megabytes."""
        exec_settings = self.server.settings.execution
        version = make_key("memo", group[1], code, self._environment(), exec_settings.timeoutSeconds,
                           exec_settings.memoryMB, list(exec_settings.preload), group[0],
                           self.changes_elsewhere(group[0]), self._refreshes)
        if self._memo_versions.get(group) != version:
            self._memo_versions[group] = version
            for key in [key for key, memo in self._actual_memo.items() if memo.group == group]:
                self._memo_bytes -= self._actual_memo.pop(key).size
        return version

    def memo_stats(self) -> dict[str, int]:
        """For semcoder/stats: the real traces kept, and their size as estimated."""
        return {"realTraces": len(self._actual_memo), "realTraceBytes": self._memo_bytes}

    def _memo_get(self, key: str) -> dict | None:
        memo = self._actual_memo.get(key)
        if memo is None:
            return None
        self._actual_memo.move_to_end(key)  # (most recently used last)
        return memo.trace

    def _remember_actual(self, key: str, trace: dict, group: tuple[str, str], version: str) -> None:
        """Keep a real trace: not a crashed one (the next run may succeed), nor one of a
        version that is no longer the latest (the document changed, or clearCache came,
        while it ran); then drop the least recently used past MEMO_MAX_ENTRIES or
        MEMO_BUDGET_BYTES (a trace larger than the whole budget is not kept)."""
        if trace.get("status") == "crashed" or self._memo_versions.get(group) != version:
            return
        size = trace_size(trace)
        if size > MEMO_BUDGET_BYTES:
            return
        old = self._actual_memo.pop(key, None)
        if old is not None:
            self._memo_bytes -= old.size
        self._actual_memo[key] = _Memo(trace, size, group, version)
        self._memo_bytes += size
        while self._actual_memo and (len(self._actual_memo) > MEMO_MAX_ENTRIES
                                     or self._memo_bytes > MEMO_BUDGET_BYTES):
            self._memo_bytes -= self._actual_memo.popitem(last=False)[1].size

    def _environment(self) -> tuple:
        """What the sandbox runs the code with, resolved as the executor resolves it: the
        workspace root, the interpreter (the setting; else the workspace's virtual
        environment, which may appear meanwhile; else the server's Python) and the
        modification times of its package folders, which change when a package is
        installed, upgraded or removed. About 30 microseconds (the folders are found once
        per interpreter)."""
        from semcoder_inference.tracer import find_python
        from semcoder_inference.tracer.python_finder import package_folders

        roots = self.server.workspace_roots()
        root = str(roots[0]) if roots else None
        configured = self.server.settings.execution.python
        try:
            python = find_python(root, configured or None)
        except SemcoderError:  # the run says why, and runs again once it exists
            return (root, None, configured)
        try:
            st = os.lstat(python)
            interpreter = (python, st.st_mtime_ns, st.st_ino)
        except OSError:
            interpreter = (python,)
        folders = self._package_folders.get(interpreter)
        if folders is None:
            folders = self._package_folders[interpreter] = package_folders(python)
        return (root, *interpreter, *(_stat(folder)[:1] for folder in folders))

    async def actual_trace(self, target: Target) -> dict:
        if target.call.watched:
            return await self.watched_trace(target)
        exec_settings = self.server.settings.execution
        # An assert's call is compared with its expected value in the sandbox, with `==`,
        # so that the trace says whether the assert passes as Python would decide it.
        expectation = sandbox_expectation(target.info, target.call)
        imported = imported_target(target)
        if imported is not None:
            # A function the file imports (its expected value a literal: calls._assert_site)
            # is traced in its own module, as the import runs it: its lines are that file's.
            call = imported.call_in_module(target.call.call)
            defs = imported.source  # (all of it: what the module does as it loads counts)
            path = imported.path
        else:
            call = target.call.call
            defs = definitions_only(target.info.text, _tree(target.info), call_needs(call))
            path = self.server.documents.path(target.uri)
        group = (target.uri, "actual")
        # (the document's text, not `defs`: each call runs only the set-up it needs, so
        # calls of one version of a file run different code, and must not drop each
        # other's traces as if the file had changed)
        version = self._memo_version(group, target.info.text)
        key = make_key(version, target.call.call, sorted(expectation.items()),
                       (imported.path, imported.source) if imported is not None else None)
        trace = await self._shared_run(key, group, version, lambda: self.server.executor.trace_call(
            exec_settings, defs, call, path, **expectation))
        if imported is not None and isinstance(trace, dict) and trace.get("call") == call:
            trace = {**trace, "call": target.call.call}  # (the call as the assert writes it)
        return trace

    async def import_failure(self, target: Target, actual: dict) -> dict | None:
        """Where a run raised while importing a module of the workspace, before the call
        (a test file's `from bank import Account`, where bank.py's own module-level code
        fails): {"module", "file" (relative to the document, None where it is not the
        workspace's), "line" (0-based, in that file; None where not known), "type",
        "message", "at" (the document's line of the import; None where the run was of the
        module itself)}. The tracer's traceback holds only the traced file's frames, so the
        module is imported alone, once (memoised as the traces are), to find where it raises.
        None for any other run."""
        if not isinstance(actual, dict) or actual.get("status") != "exception":
            return None
        exc = actual.get("exception") or {}
        near = self.server.documents.path(target.uri)
        imported = imported_target(target)
        if imported is not None:
            # Traced in its module, which raised as it loaded (its code never finished: no
            # module_s), not in the call.
            if "module_s" in actual:
                return None
            return {"module": imported.module, "file": relative(imported.path, near) if near.startswith("/")
                    else imported.path, "line": exc.get("line"), "type": exc.get("type"),
                    "message": exc.get("message"), "at": None}
        frames = [f for f in exc.get("traceback") or [] if isinstance(f.get("line"), int)]
        line = frames[0]["line"] if frames else exc.get("line")
        if not isinstance(line, int):
            return None
        statement = next((node for node in ast.walk(_tree(target.info)) if isinstance(node, (ast.Import, ast.ImportFrom))
                          and node.lineno - 1 <= line <= (node.end_lineno or node.lineno) - 1), None)
        if statement is None or (isinstance(statement, ast.ImportFrom) and statement.level):
            return None
        modules = [statement.module] if isinstance(statement, ast.ImportFrom) else [a.name for a in statement.names]
        failure = {"module": modules[0], "file": None, "line": None, "type": exc.get("type"),
                   "message": exc.get("message"), "at": line}
        if not near.startswith("/"):
            return failure
        from .imported import module_file, search_folders

        folders = search_folders(near, self.server.workspace_roots())
        found = next(((module, file) for module in modules if module
                      and (file := module_file(module, folders)) is not None and str(file) != near), None)
        if found is None:
            return failure
        module, file = found
        try:
            source = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return {**failure, "module": module, "file": relative(str(file), near)}
        group = (target.uri, "imports")
        version = self._memo_version(group, source)
        key = make_key(version, str(file))
        alone = await self._shared_run(key, group, version, lambda: self.server.executor.trace_call(
            self.server.settings.execution, source, "None", str(file)))
        failure.update(module=module, file=relative(str(file), near))
        raised = alone.get("exception") if isinstance(alone, dict) and alone.get("status") == "exception" else None
        if isinstance(raised, dict) and "module_s" not in alone:
            failure.update(line=raised.get("line"), type=raised.get("type"), message=raised.get("message"))
        return failure

    def start_prediction(self, target: Target, *, priority: int = INTERACTIVE, predict: bool = True) -> PredictionRun:
        # A call whose arguments are not literals (`ident(LIMIT)`, replayed in the module) is
        # no input the model's prompt can state either.
        unstated = target.call.watched or not target.call.literal
        imported = imported_target(target)
        if not predict or unstated or imported is not None:
            message = ("Prediction not requested." if not predict else WATCHED_NO_PREDICTION if unstated
                       else f"`{target.function.name}` is imported from `{imported.module}`: SemCoder predicts a "
                            "function in its own file (a `# semcoder: …` comment there gives it a call).")
            run = PredictionRun("", target.function.name, target.call.call, status="unavailable", message=message)
            run.done.set()
            return run
        key_code = self.prompt_code(target)
        roots = self.server.workspace_roots()
        path = self.server.documents.path(target.uri)
        return self.server.predictor.get_or_start(
            key_code=key_code, source=target.info.text, path=path if path != target.uri else None,
            workspace_root=str(roots[0]) if roots else None,
            call=target.call.call, function=target.function.name, priority=priority, uri=target.uri,
            source_hash=target.function.source_hash, function_source=target.function.source,
            function_start=target.function.start,
        )

    async def run(self, target: Target, *, priority: int = INTERACTIVE, predict: bool = True,
                  execute: bool = True) -> TraceJob:
        """Start the prediction, run the real trace meanwhile, and return the job."""
        run = self.start_prediction(target, priority=priority, predict=predict)
        actual, note = None, None
        if not self.server.settings.execution.enabled:
            note = EXECUTION_OFF_NOTE
        elif execute:
            actual = await self.actual_trace(target)
        failure = await self.import_failure(target, actual) if actual is not None else None
        job = TraceJob(target, actual, note, run, failure)
        self.server.remember_result(job)
        return job


def _what_runs(info: ModuleInfo, line: int) -> tuple[bool, str | None]:
    """Whether running the file runs `line` by itself, and how: (True, None) for the top
    level and the `__main__` block (the file run as `__main__`), (True, entry) in a
    zero-argument test function, (False, None) in another function or class."""
    for node in _tree(info).body:
        if node.lineno - 1 <= line <= (node.end_lineno or node.lineno) - 1:
            if _is_zero_argument_test(node):
                return True, entry_running([node.name])
            return not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)), None
    return False, None


def _runnable(info: ModuleInfo, running: ast.Assert | None = None) -> str:
    """The file as its `__main__` block or tests run it here: top-level asserts blanked (a
    failing one must not stop the run; they are checked one by one, as diagnostics). With
    `running` (a top-level assert whose line makes the call to trace), that assert runs, as
    an expression of its condition: the call is made where and as the file makes it, and a
    false condition stops nothing (see execution._as_condition). So do the top-level asserts
    before it: Python has run them when it reaches that line, and what they call may keep
    state (`assert counter() == 1` before `assert counter() == 2`: the second call gives 2).
    One that raises ends the run there, as it ends Python's; the asserts after it do not
    run (Python has not run them yet)."""
    from .execution import without_top_level_asserts

    tree = _tree(info)
    conditions = () if running is None else tuple(
        node for node in tree.body
        # (an assert that shares a line with the running one is left out: a line holds one)
        if isinstance(node, ast.Assert) and (node is running or (node.end_lineno or node.lineno) < running.lineno))
    return without_top_level_asserts(info.text, tree, conditions)


def _top_level_assert(info: ModuleInfo, line: int) -> ast.Assert | None:
    """The top-level assert whose condition covers `line` (0-based), if any."""
    for node in _tree(info).body:
        if isinstance(node, ast.Assert):
            test = node.test
            if test.lineno - 1 <= line <= (test.end_lineno or test.lineno) - 1:
                return node
    return None


def _stat(path: str) -> tuple:
    try:
        st = os.stat(path)
    except OSError:
        return ()
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)


def _tree(info: ModuleInfo):
    import ast

    if info.tree is None:
        info.tree = ast.parse(info.text)
    return info.tree


def _is_generator(fn: FunctionInfo) -> bool:
    """Whether `fn` is a generator function: a `yield` in its own body (not in a function
    or lambda inside it)."""
    try:
        tree = ast.parse(fn.source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    node = tree.body[0] if tree.body else None
    if not isinstance(node, ast.FunctionDef):  # (an `async def` with `yield` is no generator list() draws)
        return False
    pending = list(node.body)
    while pending:
        item = pending.pop()
        if isinstance(item, (ast.Yield, ast.YieldFrom)):
            return True
        if not isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            pending.extend(ast.iter_child_nodes(item))
    return False


def _shown(info: ModuleInfo, node: ast.AST) -> str:
    from .results import _code, one_line, shorten

    return _code(shorten(one_line(info.segment(node)), 80))


def _statement_around(tree: ast.Module, node: ast.AST) -> ast.stmt | None:
    """The innermost statement that holds `node`."""
    best = None
    for statement in ast.walk(tree):
        if isinstance(statement, ast.stmt) and not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                          ast.ClassDef)) \
                and any(child is node for child in ast.walk(statement)):
            best = statement  # (ast.walk goes outside in: the last is the innermost)
    return best


def _checked_call(statement: ast.stmt | None, node: ast.Call) -> tuple[bool, ast.expr | None]:
    """Whether `node` is the call an assert (or a TestCase's `self.assert…`) checks, and
    the expected value's expression where it compares the call with one."""
    if isinstance(statement, ast.Assert):
        test = statement.test
        if test is node or (isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and test.operand is node):
            return True, None
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
            if test.left is node:
                return True, test.comparators[0]
            if test.comparators[0] is node:
                return True, test.left
        return False, None
    call = statement.value if isinstance(statement, ast.Expr) else None
    if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr.startswith("assert"):
        args = call.args
        if call.func.attr in ("assertEqual", "assertEquals") and len(args) >= 2 and node in args[:2]:
            return True, args[1] if args[0] is node else args[0]
        if call.func.attr in ("assertTrue", "assertFalse") and args and args[0] is node:
            return True, None
    return False, None


def _imported_no_verdict(info: ModuleInfo, name: str, node: ast.Call) -> str | None:
    """Why the assert that checks `node` (a literal call of a function the file imports:
    Tracing.find_target) has no verdict of its own, in words; None where the call is no
    assert's check, or where the assert has a verdict (its diagnostic)."""
    if any(c.origin == "assert" and c.line == node.lineno - 1 and c.function == name for c in info.calls):
        return None  # (judged: the hover shows its verdict)
    imported = info.imported.get(name)
    if imported is None:
        return None
    tree = _tree(info)
    statement = _statement_around(tree, node)
    checked, expected = _checked_call(statement, node)
    if not checked:
        return None
    module = f"`{imported.module}`"
    alone = f"This is the call alone, run in a fresh import of {module}, with no verdict"
    if imported.why_not:
        return (f"{alone}: the assert gets none, since `{imported.real_name or name}` may not give, run alone, what "
                f"it gives under pytest ({imported.why_not}).")
    if info.tests_set_up:
        return f"{alone}: pytest sets this file's tests up from outside it ({info.tests_set_up})."
    if expected is not None:
        try:
            ast.literal_eval(expected)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return (f"{alone}: the assert's expected value {_shown(info, expected)} is not a literal, and the "
                    f"call is run in {module}, where it may not mean what it means here.")
    try:
        from .pytest_rules import _functions_run, _judged_asserts
        from .calls import _changes_imported_module
        from .state_rules import _module_of

        judged = [(found, place) for found, place in _judged_asserts(tree, _functions_run(tree))
                  if found.lineno == statement.lineno]
        if not judged:
            return (f"{alone}: the assert does not run as written whenever its code runs (it is under a branch, "
                    "in a `with` or `try` block, or in a test that is skipped, decorated or given fixtures), so "
                    "its verdict could not be pytest's.")
        if _changes_imported_module(imported, judged[0][1], _module_of(info), info):
            return (f"{alone}: code that runs before the assert (the module's, the test's own, earlier tests') "
                    f"may change what {module} holds, which a fresh import does not see.")
    except Exception:  # (the analysis' rules changed shape: say it generally)
        log.debug("could not tell why an imported call gets no verdict", exc_info=True)
    return f"{alone}: what runs before the assert may change what it sees."


def _parametrized_names(test: ast.AST) -> tuple[set[str], int | None]:
    """The argument names a test's `parametrize` marks give, and the line (0-based) of the
    first case."""
    names: set[str] = set()
    first = None
    for decorator in getattr(test, "decorator_list", ()):
        if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
                and decorator.func.attr == "parametrize" and decorator.args):
            continue
        given = decorator.args[0]
        if isinstance(given, ast.Constant) and isinstance(given.value, str):
            names.update(n.strip() for n in given.value.split(",") if n.strip())
        elif isinstance(given, (ast.List, ast.Tuple)):
            names.update(e.value for e in given.elts if isinstance(e, ast.Constant) and isinstance(e.value, str))
        cases = decorator.args[1] if len(decorator.args) > 1 else None
        if isinstance(cases, (ast.List, ast.Tuple)) and cases.elts and first is None:
            first = cases.elts[0].lineno - 1
    return names, first


def _untraced_call(info: ModuleInfo, test: FunctionInfo, line: int, col: int, runs: bool) -> str | None:
    """Why the call under the cursor, in a test, is not traced, in words that fit it; None
    where the cursor is on no call, or (a test run by itself here: `runs`) on a call of
    none of the functions the server traces (the test's own run is shown)."""
    node = innermost_call(info, line, col)
    if node is None or (isinstance(node.func, ast.Attribute) and node.func.attr.startswith("assert")
                        and isinstance(node.func.value, ast.Name) and node.func.value.id == "self"):
        return None
    from .cursor import _shadowed

    if _shadowed(info, node):
        return None  # (a name the test binds itself: not the module's function)
    shown = _shown(info, node)
    own = called(node, info.functions)
    imported_name = called(node, imported_callables(info))
    if own is None and imported_name is None:
        if runs:
            return None
        return (f"{shown} calls no function or method of this file, nor a function it imports from the workspace: "
                "those are what SemCoder traces.")
    read = {n.id for arg in [*node.args, *(k.value for k in node.keywords)] for n in ast.walk(arg)
            if isinstance(n, ast.Name)}
    tree_test = next((n for n in ast.walk(_tree(info)) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                      and n.lineno - 1 == test.def_line), None)
    params, first_case = _parametrized_names(tree_test) if tree_test is not None else (set(), None)
    from_cases = sorted(read & params)
    if from_cases:
        where = f" (line {first_case + 1})" if first_case is not None else ""
        return (f"{shown} takes {', '.join(f'`{n}`' for n in from_cases)} from the test's parametrize cases, so it "
                f"has no values of its own here: hover a case{where} to trace the test's call with that case's "
                "values.")
    arguments = set()
    if tree_test is not None:
        a = tree_test.args
        arguments = {arg.arg for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs]} - params - {"self", "cls"}
    fixtures = sorted(read & arguments)
    if fixtures:
        return (f"{shown} uses {', '.join(f'`{n}`' for n in fixtures)}, which pytest gives the test (a fixture) and "
                "SemCoder does not set up, so the call is not traced here; a call with literal arguments is.")
    if imported_name is not None and own is None:
        imported = info.imported[imported_name[0]]
        return (f"{shown} calls `{imported_name[0]}`, imported from `{imported.module}`, with values that are not "
                f"literals: a call of an imported function is traced, in its own module, only with literal "
                "arguments." + (" Hovering the test's name runs the whole test." if runs else ""))
    if own is not None and literal_call(node, info.functions):
        return (f"{shown} may see what code before it in the test left (an earlier call's state), so run alone it "
                "could give another value than in the test; and the test is not run by itself here (the test "
                "runner calls it, with its fixtures or cases), so this call is not traced.")
    return (f"{shown}: its arguments are not literals, and the test it is in is not run by itself here (the test "
            "runner calls it, with its fixtures or cases), so there is no run of this call to show; a call with "
            "literal arguments is traced.")
