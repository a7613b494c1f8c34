"""`semcoder trace FILE --call "f(...)"`: run a call in the sandbox and show its trace."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..cli_predict import check_call, check_source_text
from ..errors import SemcoderError, SettingsError
from ..sources import read_python
from .limits import Limits
from .pool import ISOLATION_MODES, Tracer
from .python_finder import find_python
from .render import describe_assertion, render_monologue, render_output, render_table
from .schema import json_schema


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "trace",
        help="run a call in the sandbox and print its line-by-line trace",
        description="Run FILE as a module, then CALL, in a sandboxed process, and print the trace "
        "(a line | values table by default).",
    )
    parser.add_argument("file", nargs="?", help="the Python file that defines the function")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--call", help='the call to trace, e.g. "f(1, [2])"')
    what.add_argument("--record", metavar="FUNCTION",
                      help="run FILE as a script (or --entry) and list the first calls of FUNCTION")
    what.add_argument("--watch", metavar="FUNCTION",
                      help="run FILE as a script (or --entry) and trace the first call of FUNCTION "
                      "(or Class.method) where it happens, whatever its arguments")
    what.add_argument("--schema", action="store_true",
                      help="print the JSON Schema of what --call/--watch --json print (semcoder.trace/1), and nothing "
                           "else; --record --json prints {calls, status, message} instead (docs/trace-schema.md)")
    parser.add_argument("--entry", help='with --record or --watch: code to run after the module, e.g. "main()"')
    parser.add_argument("--max-calls", type=int, default=None, help="with --record: how many calls (default 5)")
    parser.add_argument("--from-line", type=int, metavar="N",
                        help="with --watch: trace the first call made from line N of FILE")
    parser.add_argument("--expect", help="with --call: also check that the call returns this value (a Python expression)")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the structured trace as JSON (only JSON on stdout)")
    out.add_argument("--monologue", action="store_true", help="print a SemCoder-style forward monologue; its [Lk] labels are SemCoder's, counted as in its prompts: [Lk] is line k-4 of the file")
    parser.add_argument("--python", help="interpreter to run the code with (default: the workspace's venv, else this Python)")
    parser.add_argument("--workspace", help="folder to look for .venv/venv/env in (default: the file's folder)")
    parser.add_argument("--isolation", choices=ISOLATION_MODES, default="auto",
                        help="auto: namespaces when Linux allows them, and the seccomp filter on x86-64, "
                             "with audit hooks + rlimits; audit: audit hooks + rlimits only")
    defaults = Limits()
    parser.add_argument("--timeout", type=float, default=defaults.timeout_s, help="wall-clock seconds (default %(default)s)")
    parser.add_argument("--cpu-seconds", type=float, default=defaults.cpu_s, help="CPU seconds (default %(default)s)")
    parser.add_argument("--memory-mb", type=int, default=defaults.memory_mb, help="memory in MB (default %(default)s)")
    parser.add_argument("--max-events", type=int, default=defaults.max_events, help="trace events kept (default %(default)s)")
    parser.add_argument("--max-output", type=int, default=defaults.max_output_bytes, help="bytes of stdout/stderr kept (default %(default)s)")
    parser.add_argument("--max-depth", type=int, default=defaults.max_depth, help="nested calls traced (default %(default)s)")
    parser.add_argument("--recursion-limit", type=int, default=defaults.recursion_limit, help="Python recursion limit (default %(default)s)")
    parser.add_argument("--max-repr", type=int, default=defaults.max_repr, help="characters per value (default %(default)s)")
    parser.set_defaults(handler=run_trace)


# The flags that set each limit, so that an error names what the user typed.
LIMIT_FLAGS = {"timeout_s": "--timeout", "cpu_s": "--cpu-seconds", "memory_mb": "--memory-mb",
               "max_output_bytes": "--max-output", "max_events": "--max-events", "max_depth": "--max-depth",
               "recursion_limit": "--recursion-limit", "max_repr": "--max-repr"}


def _check_options(args: argparse.Namespace, source: str, path: Path) -> None:
    """Refuse options that the chosen mode would ignore, and values that make no sense,
    before anything runs (a usage error: exit 2)."""
    mode = "--call" if args.call is not None else "--record" if args.record else "--watch"
    only = {"--entry": (args.entry, ("--record", "--watch")), "--max-calls": (args.max_calls, ("--record",)),
            "--from-line": (args.from_line, ("--watch",)), "--expect": (args.expect, ("--call",))}
    for flag, (value, modes) in only.items():
        if value is not None and mode not in modes:
            raise SettingsError(f"{flag} goes with {' or '.join(modes)}, not with {mode}: it would be ignored.",
                                hint=f"Leave {flag} out, or use {' or '.join(modes)}.")
    if args.call is not None:
        check_call(args.call)
    if args.max_calls is not None and args.max_calls < 1:
        raise SettingsError(f"--max-calls must be at least 1, got {args.max_calls}.")
    if args.from_line is not None:
        count = len(source.splitlines())
        if not 1 <= args.from_line <= count:
            raise SettingsError(f"--from-line {args.from_line} is not a line of {path} (it has {count} lines).",
                                hint="Give the number of the line that makes the call.")
    if args.workspace and not Path(args.workspace).expanduser().is_dir():
        raise SettingsError(f"--workspace {args.workspace} is not a folder.",
                            hint="Give the folder to look for .venv/venv/env in, or leave --workspace out.")


def run_trace(args: argparse.Namespace) -> int:
    if args.schema:
        print(json.dumps(json_schema(), indent=2))
        return 0
    if not args.file:
        raise SemcoderError("Which file? Give the Python file that defines the function.",
                            hint='e.g. semcoder trace shapes.py --call "area(2, 3)"')
    path = Path(args.file)
    source = read_python(path)  # (a BOM or a coding line, as Python reads the file)
    check_source_text(source, path)
    limits = Limits(
        timeout_s=args.timeout, cpu_s=args.cpu_seconds, memory_mb=args.memory_mb,
        max_output_bytes=args.max_output, max_events=args.max_events, max_depth=args.max_depth,
        recursion_limit=args.recursion_limit, max_repr=args.max_repr,
    ).validated(LIMIT_FLAGS)
    _check_options(args, source, path)
    workspace = Path(args.workspace).expanduser() if args.workspace else path.resolve().parent
    python = find_python(workspace, args.python)
    with Tracer(python=python, limits=limits, isolation=args.isolation, workers=1) as tracer:
        if args.record:
            max_calls = 5 if args.max_calls is None else args.max_calls
            calls = tracer.record_calls(source, target=args.record, max_calls=max_calls,
                                        filename=str(path.resolve()), entry=args.entry)
            result = tracer.last_record_result
            if args.json:
                print(json.dumps({"calls": calls, "status": result.get("status"), "message": result.get("message")}, indent=2))
            else:
                for call in calls:
                    print(call["call"])
                if not calls:
                    print(f"no calls of {args.record} ({result.get('message')})", file=sys.stderr)
            if result.get("status") != "ok" and (calls or args.json):
                # Why the exit status is 1 although calls were listed: the script itself failed.
                print(f"semcoder: the run ended with {result.get('status')}: {result.get('message')}"
                      + (f" (after {len(calls)} call{'s' if len(calls) != 1 else ''} of {args.record})" if calls else ""),
                      file=sys.stderr)
            return 0 if result.get("status") == "ok" else 1
        if args.watch:
            trace = tracer.watch_call(source, target=args.watch, filename=str(path.resolve()), entry=args.entry,
                                      from_line=args.from_line)
            _say_from_line(trace, args)
        else:
            trace = tracer.trace_call(source, args.call, filename=str(path.resolve()), expect=args.expect)
    assertion = trace.get("assertion")
    failed = assertion is not None and not assertion.get("passed")
    if args.json:
        print(json.dumps(trace, indent=2, ensure_ascii=False))
    elif args.monologue:
        text = render_monologue(trace, source)
        if failed:
            text += f"\nThe expectation fails: {describe_assertion(assertion, trace)}."
        print(text)
    else:
        print(render_table(trace, source))
        print(render_output(trace), end="")
        if trace.get("caller_line"):
            print(f"\ncalled from line {trace['caller_line']}: {trace.get('call')}")
        if assertion is not None:
            print("\nassertion " + (f"FAILED: {describe_assertion(assertion, trace)}" if failed else "passed"))
    ok = trace.get("status") == "ok" and not failed
    return 0 if ok else 1


def _say_from_line(trace: dict, args: argparse.Namespace) -> None:
    """A run that failed before the watched call says "before f was called"; with
    --from-line, f may have been called, but not from that line: say so."""
    if args.from_line is None:
        return
    message = str(trace.get("message") or "")
    before = f", before {args.watch} was called"
    if message.endswith(before):
        trace["message"] = message + f" from line {args.from_line}"
