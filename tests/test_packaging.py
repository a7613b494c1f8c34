"""The project installs as one distribution with project-specific import names, and the
base install (server + inference) never needs torch."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_base_dependencies_leave_out_torch_and_training_stack():
    deps = " ".join(_pyproject()["project"]["dependencies"]).lower()
    for heavy in ("torch", "transformers", "peft", "accelerate"):
        assert heavy not in deps, f"{heavy} must only be in the train extra"
    train = " ".join(_pyproject()["project"]["optional-dependencies"]["train"])
    # The pin keeps pip on the CPU build that lies on disk (an unpinned torch pulls CUDA).
    assert "torch==2.13.0" in train


def test_server_and_inference_modules_do_not_import_torch():
    code = (
        "import importlib, pkgutil, sys\n"
        "import semcoder_inference, semcoder_lsp\n"
        "names = []\n"
        "for pkg in (semcoder_inference, semcoder_lsp):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        if m.name.endswith('.runtime') or m.name.endswith('__main__'):\n"
        "            continue\n"
        "        importlib.import_module(m.name); names.append(m.name)\n"
        "heavy = sorted(k for k in ('torch', 'transformers', 'peft') if k in sys.modules)\n"
        "print(len(names), heavy)\n"
        "sys.exit(1 if heavy else 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    imported = int(out.stdout.split()[0])
    assert imported >= 5, out.stdout  # the walk really found the modules


def test_no_generic_top_level_names_are_importable(tmp_path):
    # Run from an empty folder so the repository itself is not on sys.path.
    code = "import importlib.util as u; print([n for n in ('server', 'inference', 'training') if u.find_spec(n)])"
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.slow
def test_wheel_holds_only_project_specific_packages(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("semcoder_lsp-*.whl")
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    packages = {t for t in tops if not t.endswith(".dist-info")}
    assert packages == {"semcoder_lsp", "semcoder_inference", "semcoder_training"}
    # Sub-packages are shipped too (a missing entry in pyproject's package list would drop them).
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("semcoder_inference/tracer/") for n in names)
    # Data files too: `semcoder trace --schema` prints the installed JSON Schema.
    assert "semcoder_inference/tracer/trace.schema.json" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "semcoder = semcoder_inference.cli:main" in text
    assert "semcoder-lsp = semcoder_lsp.__main__:main" in text


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    readme = (REPO / "README.md").read_text()
    assert "make test" in ci
    assert "make test" in readme and "make demo" in readme
