"""The benchmarks' own guard: they say when other processes were using CPU as they began
(a stray worker once skewed a whole afternoon of figures unnoticed)."""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
import time

from conftest import REPO_ROOT

# Loaded by path: putting bench/ on sys.path would shadow the standard library's `trace`.
_spec = importlib.util.spec_from_file_location("semcoder_bench_common", REPO_ROOT / "bench" / "common.py")
common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(common)


def test_a_busy_process_elsewhere_is_seen_and_reported():
    busy = subprocess.Popen([sys.executable, "-c", "while True:\n    pass\n"])
    try:
        time.sleep(0.3)
        used = common.cpu_used_elsewhere(1.0)
    finally:
        busy.kill()
        busy.wait()
    assert used >= 0.6
    out = io.StringIO()
    common.warn_if_busy(used, out=out)
    assert f"other processes used {used:.2f} CPUs" in out.getvalue()
    quiet = io.StringIO()
    common.warn_if_busy(0.1, out=quiet)
    assert quiet.getvalue() == ""
