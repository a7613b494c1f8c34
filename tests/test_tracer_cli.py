"""`semcoder trace`: the table, --json (only JSON on stdout), --monologue, --record, limits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from semcoder_inference.errors import SettingsError
from semcoder_inference.tracer import find_python

SEMCODER = [sys.executable, "-m", "semcoder_inference.cli"]


@pytest.fixture()
def program(tmp_path) -> Path:
    path = tmp_path / "prog.py"
    path.write_text(
        "def f(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total\n\n"
        "def spin():\n    while True:\n        pass\n\n"
        "if __name__ == '__main__':\n    f([1, 2])\n    f([5])\n"
    )
    return path


def semcoder(*args, check=True):
    proc = subprocess.run([*SEMCODER, *args], capture_output=True, text=True, timeout=60)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_table_json_and_monologue(program):
    table = semcoder("trace", str(program), "--call", "f([1, 2])").stdout
    assert table.splitlines()[0] == "| line | values |" and "| 5 | return `3` |" in table
    out = semcoder("trace", str(program), "--call", "f([1, 2])", "--json").stdout
    trace = json.loads(out)  # nothing but JSON on stdout
    assert trace["status"] == "ok" and trace["return"] == {"repr": "3", "literal": True}
    assert trace["events"][0]["changes"] == {"xs": "[1, 2]"}
    mono = semcoder("trace", str(program), "--call", "f([1, 2])", "--monologue").stdout
    assert mono.startswith("1. The function `f` is called with `xs = [1, 2]`.")
    assert "`total` is updated to `3`" in mono



def test_the_table_is_followed_by_what_the_run_printed_on_both_streams(tmp_path):
    path = tmp_path / "noisy.py"
    path.write_text("import sys\n\ndef f():\n    print('out')\n    print('err', file=sys.stderr)\n    return 1\n")
    table = semcoder("trace", str(path), "--call", "f()").stdout
    assert table.endswith("| 6 | return `1` |\n\nstdout:\nout\n\nstderr:\nerr\n"), table


def test_limit_flags_and_exit_status(program):
    proc = semcoder("trace", str(program), "--call", "spin()", "--timeout", "0.5", "--json", check=False)
    assert proc.returncode == 1
    trace = json.loads(proc.stdout)
    assert trace["status"] == "timeout" and trace["message"].startswith("timed out after 0.5 s at line")
    few = json.loads(semcoder("trace", str(program), "--call", "f(list(range(100)))", "--max-events", "10", "--json").stdout)
    assert len(few["events"]) == 10 and few["truncated"]["events"]


def test_record_calls(program):
    out = semcoder("trace", str(program), "--record", "f").stdout
    assert out.splitlines() == ["f([1, 2])", "f([5])"]


def test_user_mistakes_are_one_paragraph_errors(tmp_path):
    proc = semcoder("trace", str(tmp_path / "missing.py"), "--call", "f()", check=False)
    assert proc.returncode == 2 and proc.stderr.startswith("semcoder: There is no file")
    assert "Traceback" not in proc.stderr
    proc = semcoder("trace", str(tmp_path / "missing.py"), "--call", "f()", "--timeout", "-1", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    proc = semcoder("trace", "--call", "f()", check=False)  # no file (only --schema needs none)
    assert proc.returncode == 2 and proc.stderr.startswith("semcoder: Which file?")


def test_find_python(tmp_path):
    assert find_python(tmp_path, None) == sys.executable
    venv_python = tmp_path / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.symlink_to(sys.executable)
    assert find_python(tmp_path, None) == str(venv_python)
    assert find_python(tmp_path, sys.executable) == sys.executable
    with pytest.raises(SettingsError):
        find_python(tmp_path, str(tmp_path / "nope" / "python"))


def test_traces_run_under_the_workspace_interpreter(tmp_path, program):
    """A workspace venv is what runs the code: its site-packages resolve."""
    venv = tmp_path / "ws" / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    site = next((venv / "lib").glob("python*/site-packages"))
    (site / "only_in_workspace_venv.py").write_text("VALUE = 'from the venv'\n")
    user_file = tmp_path / "ws" / "use.py"
    user_file.write_text("import only_in_workspace_venv, sys\ndef f():\n    return only_in_workspace_venv.VALUE, sys.prefix\n")
    trace = json.loads(semcoder("trace", str(user_file), "--call", "f()", "--json").stdout)
    assert trace["status"] == "ok", trace["message"]
    value, prefix = eval(trace["return"]["repr"])
    assert value == "from the venv" and Path(prefix) == venv


def test_an_interpreter_that_cannot_run_the_tracer_is_explained(tmp_path):
    from semcoder_inference.errors import SemcoderError
    from semcoder_inference.tracer import Tracer

    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'this is not python' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(SemcoderError) as info:
        Tracer(python=str(fake)).trace_call("def f():\n    return 1\n", "f()")
    assert "could not start the tracer" in str(info.value) and "this is not python" in str(info.value)


def test_watch_traces_the_first_call_where_the_script_makes_it(tmp_path):
    path = tmp_path / "shop.py"
    path.write_text("class Cart:\n    def __init__(self):\n        self.items = [3, 4]\n\n"
                    "def count(cart):\n    n = len(cart.items)\n    return n\n\n"
                    "if __name__ == '__main__':\n    print(count(Cart()))\n")
    table = semcoder("trace", str(path), "--watch", "count").stdout
    assert "| 6 `n = len(cart.items)` | `n = 2` |" in table
    assert "called from line 10: count(<Cart items=[3, 4]>)" in table
    trace = json.loads(semcoder("trace", str(path), "--watch", "count", "--entry", "count(Cart())", "--json").stdout)
    assert trace["caller_line"] is None and trace["return"]["repr"] == "2"
    # Only a call from a given line: the second one.
    path.write_text(path.read_text() + "    print(count(Cart()) + len([1]))\n")
    table = semcoder("trace", str(path), "--watch", "count", "--from-line", "11").stdout
    assert "called from line 11: count(<Cart items=[3, 4]>)" in table
    missing = semcoder("trace", str(path), "--watch", "nothing", check=False)
    assert missing.returncode == 1 and "running the module never called nothing" in missing.stdout


def test_files_are_read_as_python_reads_them(tmp_path):
    """A UTF-8 byte order mark (Windows editors write one) and a coding line: Python runs
    such files, and `semcoder trace` refused them ("invalid non-printable character U+FEFF",
    "'utf-8' codec can't decode")."""
    bom = tmp_path / "bom.py"
    bom.write_bytes(b"\xef\xbb\xbfdef f(x):\r\n    return x + 1\r\n")
    latin = tmp_path / "latin.py"
    latin.write_bytes("# -*- coding: latin-1 -*-\ndef g():\n    return 'caf\xe9'\n".encode("latin-1"))
    assert "| 2 | return `2` |" in semcoder("trace", str(bom), "--call", "f(1)").stdout
    assert "| 3 | return `'café'` |" in semcoder("trace", str(latin), "--call", "g()").stdout
    broken = tmp_path / "broken.py"
    broken.write_bytes(b"def h():\n    return '\xff'\n")
    failed = semcoder("trace", str(broken), "--call", "h()", check=False)
    assert failed.returncode != 0 and "is not UTF-8 text (invalid byte at offset" in failed.stderr
