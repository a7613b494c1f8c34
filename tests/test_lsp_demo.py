"""`make demo` runs a scripted editor session through the real server."""

from __future__ import annotations

import os
import subprocess
import sys

from lsp_helpers import REPO, copy_demo


def test_demo_without_model_shows_real_trace_diagnostic_and_how_to_get_a_model(tmp_path):
    demo = copy_demo(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMCODER_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    out = subprocess.run([sys.executable, "-m", "semcoder_lsp.demo", str(demo / "shapes.py")],
                         capture_output=True, text=True, timeout=180, env=env, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout
    assert "semcoder model pull tensorblock/semcoder_s_1030-GGUF:semcoder_s_1030-Q4_K_M.gguf" in text
    assert "returned `12`" in text and "area = 12" in text
    assert "error: assert failed: average([1, 2, 3]) returned 3.0, expected 2.0" in text
    assert "line 21: error: doctest failed: average([2, 4, 6]) returned 6.0, expected 4.0" in text
    assert "offered: Repair with SemCoder" in text
    assert "No repair candidate" in text
