"""An independent editor drives semcoder-lsp: headless Neovim (Debian's 0.7) with its
built-in LSP client opens a file, hovers a call with execution enabled, receives the
failing-assert diagnostic and lists the code actions: on the demo file, on a class whose
methods are traced, and on a script whose call with an object is traced where it runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import conftest
from lsp_helpers import copy_demo, line_of
from test_lsp_methods import BASKET

SCRIPT = Path(__file__).parent / "nvim" / "semcoder_session.lua"


def neovim_session(tmp_path: Path, root: Path, path: Path, hover_line: int, hover_col: int) -> dict:
    """Run tests/nvim/semcoder_session.lua on `path`: what Neovim saw, as a dict."""
    nvim = shutil.which("nvim")
    assert nvim, "Neovim is needed for this test: run `make system-deps` (Debian package neovim)"
    out = tmp_path / "nvim-result.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMCODER_")}
    env.update(
        SEMCODER_NVIM_OUT=str(out), SEMCODER_PYTHON=sys.executable, SEMCODER_ROOT=str(root),
        SEMCODER_FILE=str(path), SEMCODER_HOVER_LINE=str(hover_line), SEMCODER_HOVER_COL=str(hover_col),
        XDG_CACHE_HOME=str(tmp_path / "cache"), XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "data"), XDG_STATE_HOME=str(tmp_path / "state"),
    )
    proc = subprocess.run(
        [nvim, "--headless", "--clean", "-u", "NONE", "-c", f"luafile {SCRIPT}"],
        env=env, cwd=root, capture_output=True, text=True, timeout=180,
    )
    assert out.exists(), f"Neovim wrote no result (rc={proc.returncode}): {proc.stderr[-2000:]}"
    result = json.loads(out.read_text())
    assert "error" not in result, result
    assert result["steps"] == ["initialized", "hover", "diagnostics", "code actions"]
    return result


def test_neovim_hover_diagnostic_and_code_actions(tmp_path):
    demo = copy_demo(tmp_path)
    path = demo / "shapes.py"
    text = path.read_text()
    hover_line = line_of(text, "assert rectangle_area(3, 4)")
    result = neovim_session(tmp_path, demo, path, hover_line,
                            text.splitlines()[hover_line].index("rectangle_area") + 3)
    assert "rectangle_area(3, 4)" in result["hover"] and "returned `12`" in result["hover"]
    failing = line_of(text, "assert average([1, 2, 3])")
    messages = {d["line"]: d["message"] for d in result["diagnostics"]}
    assert messages[failing] == "assert failed: average([1, 2, 3]) returned 3.0, expected 2.0"
    assert {"title": "Repair with SemCoder", "kind": "quickfix"} in result["actions"]


def session_on_file(tmp_path: Path, name: str, text: str, hover_line: int, hover_col: int) -> dict:
    """neovim_session on a one-file project holding `text`."""
    root = tmp_path / "project"
    root.mkdir()
    path = root / name
    path.write_text(text)
    return neovim_session(tmp_path, root, path, hover_line, hover_col)


def test_neovim_traces_a_method(tmp_path):
    hover_line = line_of(BASKET, "cut = subtotal")
    result = session_on_file(tmp_path, "basket.py", BASKET, hover_line, 10)
    assert "`Basket([10, 20, 30]).total(50)` (from an assert)" in result["hover"]
    assert "subtotal = 60" in result["hover"] and "returned `30`" in result["hover"]
    failing = line_of(BASKET, "assert Basket([5, 7]).cheapest()")
    messages = {d["line"]: d["message"] for d in result["diagnostics"]}
    assert messages[failing] == "assert failed: Basket([5, 7]).cheapest() returned 5, expected 6"
    assert {"title": "Repair with SemCoder", "kind": "quickfix"} in result["actions"]


# conftest's Basket, a class whose instances no literal can rebuild.
CART = conftest.BASKET + """

def inverse(x):
    # semcoder: inverse(0)
    return 1 / x


if __name__ == "__main__":
    cart = Basket([3, 4])
    print(cart.total())
"""


def test_neovim_hovers_a_call_the_script_makes_with_an_object(tmp_path):
    hover_line = line_of(CART, "print(cart.total())")
    result = session_on_file(tmp_path, "cart.py", CART, hover_line, CART.splitlines()[hover_line].index("total") + 1)
    assert f"`Basket.total(<Basket prices=[3, 4]>)` (traced where it runs, from line {hover_line + 1})" \
        in result["hover"]
    assert "returned `7`" in result["hover"] and "t = 3 → 7" in result["hover"]
    # the `# semcoder:` call raises: an error where it raised, with the repair offered
    messages = {d["line"]: d["message"] for d in result["diagnostics"]}
    assert messages == {line_of(CART, "return 1 / x"): "inverse(0) raised ZeroDivisionError: division by zero"}
    assert {"title": "Repair with SemCoder", "kind": "quickfix"} in result["actions"]
