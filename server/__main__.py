"""`semcoder-lsp`: the language server on stdio (or TCP for debugging).

Nothing but protocol goes to stdout: logs go to stderr or --log-file.
"""

from __future__ import annotations

import os
import sys

# `python -m semcoder_lsp` puts the working folder first on sys.path, and an editor starts
# the server in the user's workspace: a `json.py` or `re.py` there would be imported in
# place of the standard library's, by the server itself. The package is installed: the
# working folder is not needed to find it.
if __name__ == "__main__" and sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

import argparse  # noqa: E402
import logging  # noqa: E402

from . import __version__


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    if not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"the port of {text!r} must be 1 to 65535")
    return host or "127.0.0.1", int(port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="semcoder-lsp",
        description="SemCoder language server: predicted and real execution traces for Python.",
    )
    parser.add_argument("--version", action="version", version=f"semcoder-lsp {__version__}")
    parser.add_argument("--tcp", metavar="HOST:PORT", type=_host_port,
                        help="listen on TCP instead of stdio (for debugging)")
    parser.add_argument("--log-file", metavar="PATH", help="write logs here instead of stderr")
    parser.add_argument("--log-level", default="warning", type=str.lower,  # DEBUG as `semcoder` takes it
                        choices=["debug", "info", "warning", "error"], help="default: warning")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: logging.Handler
    if args.log_file:
        try:
            handler = logging.FileHandler(args.log_file, encoding="utf-8")
        except OSError as exc:
            print(f"semcoder-lsp: cannot open log file {args.log_file}: {exc.strerror}", file=sys.stderr)
            return 2
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(args.log_level.upper())
    if args.log_level != "debug":
        logging.getLogger("pygls").setLevel(logging.WARNING)  # pygls logs every message at info

    from .server import create_server

    server = create_server()
    logging.getLogger("semcoder_lsp").info(
        "semcoder-lsp %s on %s", __version__, f"tcp {args.tcp[0]}:{args.tcp[1]}" if args.tcp else "stdio")
    try:
        if args.tcp:
            host, port = args.tcp
            try:
                server.start_tcp(host, port)
            except OSError as exc:  # a busy port, an address not of this machine, a name that does not resolve
                print(f"semcoder-lsp: cannot listen on {host}:{port}: {exc.strerror or exc}.", file=sys.stderr)
                return 2
        else:
            server.start_io()
    finally:
        server.shutdown_work()
    return 0


if __name__ == "__main__":
    sys.exit(main())
