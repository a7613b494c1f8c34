"""The VS Code extension's tests, as part of the one pytest run of `make test`.

- unit: the extension's pure logic (settings mapping, restart policy, panel and status state,
  model specs) with node's built-in test runner on the compiled modules;
- in-host: test modules running inside a real VS Code extension host (code-server 4.100.3), with
  the packaged .vsix installed, against the real `semcoder-lsp` server — once in a trusted
  workspace and once in an untrusted one (restricted mode);
- ui: chromium drives the workbench: hover a call, open the trace panel, apply the quick fix;
  screenshots go to test-artifacts/.

`scripts/build-extension.sh` (run by `make test`, and again here: it is a no-op when up to date)
provides node_modules, the .vsix and code-server. The server uses the documented replay test
hook (SEMCODER_REPLAY_SCRIPT) for deterministic predictions; execution is real.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXT = REPO / "vscode-extension"
SERVER = Path(sys.executable).parent / "semcoder-lsp"

pytestmark = [pytest.mark.vscode, pytest.mark.slow]


@pytest.fixture(scope="module")
def built_extension() -> Path:
    done = subprocess.run(["bash", str(REPO / "scripts" / "build-extension.sh")], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"scripts/build-extension.sh failed:\n{done.stderr[-4000:]}"
    vsix = EXT / "dist" / "semcoder-lsp.vsix"
    assert vsix.is_file(), f"{vsix} was not built"
    assert SERVER.is_file(), f"{SERVER} is missing: install the project (make venv)"
    return vsix


def run_node(args: list[str], timeout: int) -> tuple[str, list[str], list[str]]:
    done = subprocess.run(["node", *args], cwd=EXT, capture_output=True, text=True, timeout=timeout)
    passed = re.findall(r"^ok - (.+)$", done.stdout, re.M)
    failed = re.findall(r"^not ok - (.+)$", done.stdout, re.M)
    report = f"exit {done.returncode}\n--- stdout ---\n{done.stdout[-6000:]}\n--- stderr ---\n{done.stderr[-3000:]}"
    # Keep the whole output for CI artifacts: the extension host's own log lines are in stderr.
    logs = REPO / "test-artifacts"
    logs.mkdir(exist_ok=True)
    (logs / f"vscode-{args[2] if len(args) > 2 else 'run'}.log").write_text(done.stdout + "\n--- stderr ---\n" + done.stderr)
    assert done.returncode == 0 and not failed, report
    return report, passed, failed


def test_unit_tests_of_the_extension_logic(built_extension):
    done = subprocess.run(["npm", "run", "-s", "test:unit"], cwd=EXT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    passed = int(re.search(r"^# pass (\d+)$", done.stdout, re.M).group(1))
    assert re.search(r"^# fail 0$", done.stdout, re.M)
    assert passed >= 27, f"only {passed} unit tests ran"


def test_in_host_trusted_workspace(built_extension):
    report, passed, _ = run_node(["test-host/run.mjs", "--suite", "trusted", "--server", str(SERVER), "--vsix", str(built_extension)], timeout=420)
    names = " | ".join(passed)
    for must in ("real return value", "inlay hints", "diagnostics appear", "quick fix for the failing assert", "streams partial results",
                 "Stop cancels", "clear error", "restarted with backoff", "Predict input", "Explain", "Repair fixes", "cannot start"):
        assert must in names, f"in-host test '{must}' did not pass:\n{report}"


def test_in_host_untrusted_workspace_executes_nothing(built_extension):
    report, passed, _ = run_node(["test-host/run.mjs", "--suite", "untrusted", "--server", str(SERVER), "--vsix", str(built_extension)], timeout=420)
    assert any("nothing executes" in p for p in passed), report
    assert any("granting trust reaches the running server" in p for p in passed), report


def test_ui_smoke_hover_panel_quick_fix(built_extension):
    artifacts = REPO / "test-artifacts"
    report, passed, _ = run_node(
        ["test-host/run.mjs", "--suite", "ui", "--server", str(SERVER), "--vsix", str(built_extension), "--artifacts", str(artifacts)],
        timeout=420,
    )
    assert len(passed) == 4, report
    for shot in ("hover.png", "trace-panel.png", "quick-fix-menu.png", "quick-fix-applied.png"):
        assert (artifacts / shot).stat().st_size > 10_000, f"screenshot {shot} is missing or empty"
