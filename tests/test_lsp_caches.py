"""semcoder-lsp end to end: what the server keeps of real runs, and when it runs them again.

Real traces are kept in memory (a byte budget, least recently used first, only the latest
version of each document); `semcoder.clearCache` forgets them all, and the calls recorded
by running the files; a save runs them again (a data file the code reads may have
changed); installing a package in the workspace's interpreter, or a virtual environment
appearing in the workspace, runs them again; `execution.python` set to a command name
is looked up on PATH, never in the workspace.
"""

from __future__ import annotations

import os
import subprocess
import sys

from lsprotocol import types

from lsp_helpers import (
    EXEC_ON,
    diagnostics_for,
    hover,
    line_of,
    open_document,
    replace_document,
    request,
    running_server,
    server_env,
    wait_for,
)

MIB = 1024 * 1024
MEMO_BUDGET = 128 * MIB  # the real traces kept, at most (docs/server.md, tracing.MEMO_BUDGET_BYTES)

READS_CONFIG = """import json

def threshold():
    with open("config.json") as fh:
        return json.load(fh)["limit"]

assert threshold() == 10
"""


def _project(tmp_path, text: str, name: str = "m.py"):
    root = tmp_path / "project"
    root.mkdir(exist_ok=True)
    (root / name).write_text(text)
    return root


def _messages(client, uri: str) -> list[str]:
    return [d.message for d in diagnostics_for(client, uri)]


async def _hover_at(client, uri: str, text: str, needle: str, inside: str) -> str:
    line = line_of(text, needle)
    value = await hover(client, uri, line, text.splitlines()[line].index(inside) + 1)
    assert value is not None
    return value


async def _clear_cache(client) -> dict:
    from semcoder_lsp.convert import plain

    return plain(await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="semcoder.clearCache", arguments=[])))


def _save(client, uri: str) -> None:
    client.text_document_did_save(types.DidSaveTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=uri)))


async def test_clear_cache_forgets_real_traces_and_says_so(tmp_path):
    root = _project(tmp_path, READS_CONFIG)
    (root / "config.json").write_text('{"limit": 10}')
    async with running_server(tmp_path, init_options=EXEC_ON, root=root) as client:
        uri = open_document(client, root / "m.py")
        value = await _hover_at(client, uri, READS_CONFIG, "assert threshold()", "threshold")
        assert "returned `10`" in value and "the assert passes" in value, value
        (root / "config.json").write_text('{"limit": 99}')  # no save, no watcher event
        answer = await _clear_cache(client)
        # The open document's checks ran again: the assert fails now, as Python's would.
        await wait_for(lambda: any("returned 99, expected 10" in m for m in _messages(client, uri)), timeout=60)
        value = await _hover_at(client, uri, READS_CONFIG, "assert threshold()", "threshold")
        assert "returned `99`" in value and "assert failed" in value, value
        # The answer, and a message, say what was cleared.
        assert answer["ok"] is True
        assert answer["cleared"]["realTraces"] >= 1, answer
        assert f"{answer['cleared']['realTraces']} real trace" in answer["message"], answer
        assert "recorded for 0 functions" in answer["message"], answer
        assert any(m.message == answer["message"] and m.type == types.MessageType.Info for m in client.messages)


RECORDS_FROM_DATA = """import json

def scale(x):
    return x * 2

if __name__ == "__main__":
    with open("n.json") as fh:
        scale(json.load(fh))
"""


async def test_clear_cache_forgets_recorded_calls(tmp_path):
    root = _project(tmp_path, RECORDS_FROM_DATA)
    (root / "n.json").write_text("3")
    async with running_server(tmp_path, init_options=EXEC_ON, root=root) as client:
        uri = open_document(client, root / "m.py")
        value = await _hover_at(client, uri, RECORDS_FROM_DATA, "def scale", "scale")
        assert "scale(3)" in value and "returned `6`" in value, value
        (root / "n.json").write_text("5")
        answer = await _clear_cache(client)
        value = await _hover_at(client, uri, RECORDS_FROM_DATA, "def scale", "scale")
        assert "scale(5)" in value and "returned `10`" in value, value
        assert answer["cleared"]["recordedFunctions"] == 1, answer


async def test_a_save_runs_every_real_trace_again(tmp_path):
    """A data file the code reads changed (the server is told of Python files only): a
    save of a document runs the traces again, its own and the other open documents'."""
    root = _project(tmp_path, READS_CONFIG)
    other_text = READS_CONFIG.replace("def threshold", "def limit").replace("threshold()", "limit()")
    (root / "other.py").write_text(other_text)
    (root / "config.json").write_text('{"limit": 10}')
    async with running_server(tmp_path, init_options=EXEC_ON, root=root) as client:
        uri = open_document(client, root / "m.py")
        other = open_document(client, root / "other.py")
        await wait_for(lambda: uri in client.diagnostics and other in client.diagnostics, timeout=60)
        value = await _hover_at(client, uri, READS_CONFIG, "assert threshold()", "threshold")
        assert "returned `10`" in value, value
        assert _messages(client, uri) == [] and _messages(client, other) == []
        (root / "config.json").write_text('{"limit": 99}')
        _save(client, uri)  # saved as it was: nothing of a Python file changed on disk
        await wait_for(lambda: any("returned 99" in m for m in _messages(client, uri)), timeout=60)
        await wait_for(lambda: any("returned 99" in m for m in _messages(client, other)), timeout=60)
        value = await _hover_at(client, uri, READS_CONFIG, "assert threshold()", "threshold")
        assert "returned `99`" in value, value


USES_PACKAGE = """def double(x):
    import mylib
    return mylib.twice(x)

assert double(2) == 4
"""


def _venv(root):
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / ".venv")], check=True, timeout=120)
    return next((root / ".venv" / "lib").glob("python3*/site-packages"))


async def test_a_package_installed_in_the_workspace_environment_is_seen(tmp_path):
    root = _project(tmp_path, USES_PACKAGE, "app.py")
    site = _venv(root)
    async with running_server(tmp_path, init_options=EXEC_ON, root=root) as client:
        uri = open_document(client, root / "app.py")
        value = await _hover_at(client, uri, USES_PACKAGE, "assert double(2)", "double")
        assert "ModuleNotFoundError" in value, value
        (site / "mylib.py").write_text("def twice(x):\n    return 2 * x\n")  # `pip install mylib`
        value = await _hover_at(client, uri, USES_PACKAGE, "assert double(2)", "double")
        assert "returned `4`" in value and "ModuleNotFoundError" not in value, value


WHERE = """def where():
    import sys
    return sys.prefix

# semcoder: where()
"""


async def test_a_virtual_environment_made_in_the_workspace_is_used(tmp_path):
    """execution.python empty: the interpreter is the workspace's .venv once there is one,
    and its traces are not those of the interpreter used before."""
    root = _project(tmp_path, WHERE, "w.py")
    async with running_server(tmp_path, init_options=EXEC_ON, root=root) as client:
        uri = open_document(client, root / "w.py")
        before = await _hover_at(client, uri, WHERE, "def where", "where")
        assert str(root / ".venv") not in before, before
        _venv(root)
        after = await _hover_at(client, uri, WHERE, "def where", "where")
        assert f"returned `{str(root / '.venv')!r}`" in after, after


def _big_trace_source(calls: list[str]) -> str:
    """A function whose trace is about 23 MB in the server (20,000 events of six 60- to
    300-character values), and `# semcoder:` calls of it (each checked on open)."""
    return ("def f(n):\n"
            "    for i in range(n):\n"
            "        a = b = c = d = e = g = str(i) * 60\n"
            "    return n\n\n" + "".join(f"# semcoder: {call}\n" for call in calls))


async def test_real_traces_kept_stay_within_the_memory_budget(tmp_path):
    calls = [f"f({20000 + k})" for k in range(12)]  # 12 traces of about 23 MB: 280 MB
    text = _big_trace_source(calls)
    root = _project(tmp_path, text)
    settings = {"execution": {"enabled": True, "timeoutSeconds": 30}}
    async with running_server(tmp_path, init_options=settings, root=root) as client:
        start = await request(client, "semcoder/stats", {})
        uri = open_document(client, root / "m.py")
        await wait_for(lambda: uri in client.diagnostics, timeout=240)  # every call checked
        stats = await request(client, "semcoder/stats", {})
        # The server's peak memory grew by the budget and the trace in hand, not by 12 traces.
        grown = (stats["maxRssKb"] - start["maxRssKb"]) * 1024
        assert grown < MEMO_BUDGET + 90 * MIB, (grown / MIB, stats)
        assert 0 < stats["realTraces"] < len(calls), stats
        assert 100 * MIB < stats["realTraceBytes"] <= MEMO_BUDGET, stats
        # The least recently used went first: the last call's trace is still there.
        value = await _hover_at(client, uri, text, calls[-1], "f(")
        assert f"returned `{20011}`" in value
        assert (await request(client, "semcoder/stats", {}))["realTraces"] == stats["realTraces"]
    from semcoder_lsp.tracing import MEMO_BUDGET_BYTES

    assert MEMO_BUDGET_BYTES == MEMO_BUDGET


async def test_edits_keep_only_the_latest_version_of_a_document(tmp_path):
    text = _big_trace_source(["f(20000)"])
    root = _project(tmp_path, text)
    async with running_server(tmp_path, init_options=EXEC_ON, root=root) as client:
        uri = open_document(client, root / "m.py")
        value = await _hover_at(client, uri, text, "# semcoder: f(20000)", "f(")
        assert "returned `20000`" in value, value
        start = await request(client, "semcoder/stats", {})
        for version in range(2, 8):
            text = text.replace("return n", "return n + 0")
            replace_document(client, uri, text, version)
            value = await _hover_at(client, uri, text, "# semcoder: f(20000)", "f(")
            assert "returned `20000`" in value, value
        stats = await request(client, "semcoder/stats", {})
        # Memory for the latest trace and the one in hand, not one more trace per edit (23 MB).
        grown = (stats["maxRssKb"] - start["maxRssKb"]) * 1024
        assert grown < 60 * MIB, (grown / MIB, stats)
        # One trace (of the latest text), not one per edit.
        assert stats["realTraces"] == 1, stats
        assert stats["realTraceBytes"] < 40 * MIB, stats


async def test_a_command_name_as_interpreter_is_looked_up_on_path_not_in_the_workspace(tmp_path):
    """`execution.python: "python3"` is the python3 on PATH: an executable `python3` the
    workspace ships is not run (it would run outside the sandbox, as the server's user)."""
    root = _project(tmp_path, WHERE, "w.py")
    marker = tmp_path / "workspace-python3-ran"
    planted = root / "python3"
    planted.write_text(f"#!/bin/sh\necho ran > '{marker}'\nexec '{sys.executable}' \"$@\"\n")
    planted.chmod(0o755)
    on_path = tmp_path / "bin"
    on_path.mkdir()
    (on_path / "python3").symlink_to(sys.executable)
    env = server_env(tmp_path, PATH=f"{on_path}{os.pathsep}{os.environ.get('PATH', '')}")
    settings = {"execution": {"enabled": True, "python": "python3"}}
    async with running_server(tmp_path, init_options=settings, root=root, env=env) as client:
        uri = open_document(client, root / "w.py")
        value = await _hover_at(client, uri, WHERE, "def where", "where")
        assert "#### Actual run" in value and "returned `'/" in value, value
    assert not marker.exists()  # the workspace's own python3 never ran
    missing = {"execution": {"enabled": True, "python": "python3.invalid-name"}}
    async with running_server(tmp_path, init_options=missing, root=root, env=env) as client:
        uri = open_document(client, root / "w.py")
        value = await _hover_at(client, uri, WHERE, "def where", "where")
        assert "'python3.invalid-name' was not found on PATH" in value, value
