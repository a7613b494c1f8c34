"""`semcoder-lsp`'s own arguments (review 27): a --tcp port out of range or already in use is
a one-line error with exit status 2, not a traceback; --log-level takes either case."""

from __future__ import annotations

import socket
import subprocess
import sys

LSP = [sys.executable, "-m", "semcoder_lsp"]


def test_a_port_out_of_range_is_a_usage_error():
    done = subprocess.run(LSP + ["--tcp", "127.0.0.1:99999"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "must be 1 to 65535" in done.stderr


def test_a_busy_port_is_said_plainly():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(LSP + ["--tcp", f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert f"semcoder-lsp: cannot listen on 127.0.0.1:{port}" in done.stderr and "in use" in done.stderr


def test_log_level_takes_either_case_as_semcoder_does():
    from semcoder_lsp.__main__ import build_parser

    assert build_parser().parse_args(["--log-level", "DEBUG"]).log_level == "debug"
    assert build_parser().parse_args(["--log-level", "warning"]).log_level == "warning"
