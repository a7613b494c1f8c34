"""`semcoder trace FILE --call "f(...)"`: run a call in the sandbox and show its trace."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import SemcoderError
from ..sources import read_python
from .limits import Limits
from .pool import ISOLATION_MODES, Tracer
from .python_finder import find_python
from .render import render_monologue, render_output, render_table
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
                      help="print the JSON Schema of what --json prints (semcoder.trace/1), and nothing else")
    parser.add_argument("--entry", help='with --record or --watch: code to run after the module, e.g. "main()"')
    parser.add_argument("--max-calls", type=int, default=5, help="with --record: how many calls (default 5)")
    parser.add_argument("--from-line", type=int, metavar="N",
                        help="with --watch: trace the first call made from line N of FILE")
    parser.add_argument("--expect", help="also check that the call returns this value (a Python expression)")
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


def run_trace(args: argparse.Namespace) -> int:
    if args.schema:
        print(json.dumps(json_schema(), indent=2))
        return 0
    if not args.file:
        raise SemcoderError("Which file? Give the Python file that defines the function.",
                            hint='e.g. semcoder trace shapes.py --call "area(2, 3)"')
    path = Path(args.file)
    source = read_python(path)  # (a BOM or a coding line, as Python reads the file)
    limits = Limits(
        timeout_s=args.timeout, cpu_s=args.cpu_seconds, memory_mb=args.memory_mb,
        max_output_bytes=args.max_output, max_events=args.max_events, max_depth=args.max_depth,
        recursion_limit=args.recursion_limit, max_repr=args.max_repr,
    ).validated()
    workspace = Path(args.workspace) if args.workspace else path.resolve().parent
    python = find_python(workspace, args.python)
    with Tracer(python=python, limits=limits, isolation=args.isolation, workers=1) as tracer:
        if args.record:
            calls = tracer.record_calls(source, target=args.record, max_calls=args.max_calls,
                                        filename=str(path.resolve()), entry=args.entry)
            result = tracer.last_record_result
            if args.json:
                print(json.dumps({"calls": calls, "status": result.get("status"), "message": result.get("message")}, indent=2))
            else:
                for call in calls:
                    print(call["call"])
                if not calls:
                    print(f"no calls of {args.record} ({result.get('message')})", file=sys.stderr)
            return 0 if result.get("status") == "ok" else 1
        if args.watch:
            trace = tracer.watch_call(source, target=args.watch, filename=str(path.resolve()), entry=args.entry,
                                      from_line=args.from_line)
        else:
            trace = tracer.trace_call(source, args.call, filename=str(path.resolve()), expect=args.expect)
    if args.json:
        print(json.dumps(trace, indent=2, ensure_ascii=False))
    elif args.monologue:
        print(render_monologue(trace, source))
    else:
        print(render_table(trace, source))
        print(render_output(trace), end="")
        if trace.get("caller_line"):
            print(f"\ncalled from line {trace['caller_line']}: {trace.get('call')}")
        if trace.get("assertion") is not None:
            print("\nassertion " + ("passed" if trace["assertion"].get("passed") else "FAILED"))
    ok = trace.get("status") == "ok" and (trace.get("assertion") is None or trace["assertion"].get("passed"))
    return 0 if ok else 1
