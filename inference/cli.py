"""The `semcoder` command.

Sub-commands come from the entry-point group `semcoder.commands`: each entry point is a
`register(subparsers)` function. This keeps the CLI core in inference/ while training/
adds its own commands, without inference importing training.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from importlib.metadata import entry_points

from . import __version__
from .errors import SemcoderError

log = logging.getLogger("semcoder")


def command_group(subparsers: argparse._SubParsersAction, name: str, help: str) -> argparse._SubParsersAction:
    """Return the sub-parsers of a command group such as `semcoder model`, creating it once.

    Several packages add commands to one group (inference adds `model pull|info`, training
    adds `model export|quantize|build-tiny`), so the group is shared rather than re-created.
    """
    if name in subparsers.choices:
        return subparsers.choices[name]._semcoder_group  # type: ignore[attr-defined]
    parser = subparsers.add_parser(name, help=help, description=help)
    group = parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND")
    parser._semcoder_group = group  # type: ignore[attr-defined]
    parser.set_defaults(handler=lambda args, p=parser: p.print_help(sys.stderr) or 2)
    return group


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a log level; choose one of {', '.join(LOG_LEVELS)}")
    return level


def _add_log_level(parser: argparse.ArgumentParser, default: str | object) -> None:
    parser.add_argument(
        "--log-level",
        type=_log_level,
        default=default,
        metavar="{" + ",".join(LOG_LEVELS) + "}",
        help="log level for stderr (default WARNING); may come before or after the command",
    )


def _log_level_everywhere(parser: argparse.ArgumentParser) -> None:
    """Accept --log-level after any (sub-)command too (`semcoder predict ... --log-level DEBUG`,
    as error hints suggest). SUPPRESS: a sub-command that is not given it does not reset the
    value given before the command."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in set(action.choices.values()):
                if "--log-level" not in sub._option_string_actions:
                    _add_log_level(sub, argparse.SUPPRESS)
                _log_level_everywhere(sub)


def _robust_stdio() -> None:
    """Print what cannot be encoded (a monologue's `²` or `世界` on a latin-1 or ASCII terminal)
    as backslash escapes instead of failing with UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # closed or detached: nothing to print to anyway
                pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="semcoder",
        description="SemCoder: predicted and real execution traces for Python code.",
    )
    parser.add_argument("--version", action="version", version=f"semcoder {__version__}")
    _add_log_level(parser, "WARNING")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Order by name so `--help` is stable whatever order the metadata lists them in.
    for ep in sorted(entry_points(group="semcoder.commands"), key=lambda e: e.name):
        try:
            register = ep.load()
        except ImportError as exc:  # an optional extra is missing; keep the rest usable
            log.debug("commands %s unavailable: %s", ep.name, exc)
            continue
        register(sub)
    _log_level_everywhere(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    _robust_stdio()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(handler(args) or 0)
    except SemcoderError as exc:
        print(f"semcoder: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("semcoder: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`semcoder trace --json ... | head`): not an error of ours.
        # Point stdout at /dev/null so that flushing it at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
