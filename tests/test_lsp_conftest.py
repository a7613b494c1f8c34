"""A `conftest.py` sets up the tests below its folder from outside their file: its autouse
fixtures, hooks and plugins run under pytest and never in the replay of one assert. The
tests of a file it may set up get no verdict (there was a false "assert failed" on a test
pytest passes); the hover says why. Which conftest.py files count, and what in them sets
tests up, is checked against real pytest."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types

from lsp_helpers import EXEC_ON, diagnostics_for, hover, line_of, open_document, pytest_outcomes, running_server, wait_for
from semcoder_lsp.pytest_setup import conftest_files, setting_up

# The function under test reads the environment, which a conftest.py may set for each test.
TESTS = '''import os


def scale(x):
    return x * int(os.environ.get("SCALE", "1"))


def test_scale():
    assert scale(3) == 6


def test_other():
    assert scale(1) == 5
'''

DOUBLING = '''import pytest


@pytest.fixture(autouse=True)
def doubled(monkeypatch):
    monkeypatch.setenv("SCALE", "2")
'''


# (a function that reads the environment gets no verdict in any case, a sandboxed run having
# its own: here the fixture sets what the function reads by another way)
TESTS_SET_BY_FIXTURE = '''import builtins


def scale(x):
    return x * getattr(builtins, "SCALE", 1)


def test_scale():
    assert scale(3) == 6


def test_other():
    assert scale(1) == 5
'''

DOUBLING_SET = '''import builtins

import pytest


@pytest.fixture(autouse=True)
def doubled(monkeypatch):
    monkeypatch.setattr(builtins, "SCALE", 2, raising=False)
'''


async def test_tests_a_conftest_sets_up_get_no_verdict_until_it_no_longer_does(tmp_path):
    TESTS = TESTS_SET_BY_FIXTURE
    conftest = tmp_path / "conftest.py"
    conftest.write_text(DOUBLING_SET)
    path = tmp_path / "test_app.py"
    path.write_text(TESTS)
    # pytest, with the fixture: scale(3) is 6 (passes), scale(1) is 2 (fails)
    assert pytest_outcomes(tmp_path, path.name) == {"test_scale": "PASSED", "test_other": "FAILED"}
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        await wait_for(lambda: uri in client.diagnostics)
        assert diagnostics_for(client, uri) == []  # (there was "scale(3) returned 3, expected 6")
        value = await hover(client, uri, line_of(TESTS, "scale(3)"), 12)
        assert ("pytest sets this file's tests up from outside it (`conftest.py` has the autouse fixture "
                "`doubled`); this run is without that set-up") in value, value

        # The fixture goes (another program writes conftest.py; the watcher says so): the
        # replay is pytest's run again, and both asserts are judged.
        conftest.write_text("import pytest\n\n\n@pytest.fixture\ndef unused():\n    return 1\n")
        client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[
            types.FileEvent(uri=conftest.as_uri(), type=types.FileChangeType.Changed)]))
        await wait_for(lambda: len(diagnostics_for(client, uri)) == 2)
        assert [d.message for d in diagnostics_for(client, uri)] == [
            "assert failed: scale(3) returned 3, expected 6", "assert failed: scale(1) returned 1, expected 5"]
        value = await hover(client, uri, line_of(TESTS, "scale(3)"), 12)
        assert "pytest sets" not in value, value
    assert pytest_outcomes(tmp_path, path.name) == {"test_scale": "FAILED", "test_other": "FAILED"}


# What in a conftest.py sets tests up (each makes TESTS' `test_other` pass as pytest runs it:
# scale(1) == 5 holds only through it), and what does not.
SETS_UP = {
    "an autouse fixture": (DOUBLING, "has the autouse fixture `doubled`"),
    "a hook": ('''import os


def pytest_runtest_setup(item):
    os.environ["SCALE"] = "5"
''', "has the hook `pytest_runtest_setup`"),
    "code run as it loads": ('''import os

os.environ["SCALE"] = "5"
''', "runs code at line 3 as pytest loads it"),
    "plugins": ('pytest_plugins = ["fives"]\n', "loads plugins (`pytest_plugins`)"),
    "an imported fixture": ("from fives import fives  # noqa: F401\n",
                            "imports `fives`, which has the autouse fixture `fives`"),
    "an import that runs code": ("import loader  # noqa: F401\n",
                                 "imports `loader`, which runs code at line 3 as pytest loads it"),
    "autouse in options": ('''import pytest

OPTIONS = {"autouse": True}


@pytest.fixture(**OPTIONS)
def fives(monkeypatch):
    monkeypatch.setenv("SCALE", "5")
''', "has the autouse fixture `fives`"),
    "a syntax error": ("def broken(:\n", "cannot be read or parsed (pytest would stop at it)"),
}

QUIET = '''"""Shared fixtures."""
from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

collect_ignore = ["setup.py"]


class Helpers:
    @pytest.fixture(autouse=True)
    def never_used(self):
        raise AssertionError("pytest takes no fixture from a conftest's class")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a slow test")


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true")


@pytest.fixture
def five():
    return 5
'''

FIVES_PLUGIN = '''import pytest


@pytest.fixture(autouse=True)
def fives(monkeypatch):
    monkeypatch.setenv("SCALE", "5")
'''


@pytest.mark.parametrize("name", sorted(SETS_UP))
def test_what_in_a_conftest_sets_tests_up(name, tmp_path):
    source, why = SETS_UP[name]
    (tmp_path / "conftest.py").write_text(source)
    (tmp_path / "fives.py").write_text(FIVES_PLUGIN)
    (tmp_path / "loader.py").write_text('import os\n\nos.environ["SCALE"] = "5"\n')
    assert setting_up([tmp_path / "conftest.py"], tmp_path) == f"`conftest.py` {why}"
    if name not in ("a syntax error", "an autouse fixture"):
        # pytest really does run it: scale(1) == 5 passes only through the conftest
        (tmp_path / "fives.py").write_text(FIVES_PLUGIN)
        (tmp_path / "loader.py").write_text('import os\n\nos.environ["SCALE"] = "5"\n')
        (tmp_path / "test_app.py").write_text(TESTS)
        assert pytest_outcomes(tmp_path, "test_app.py")["test_other"] == "PASSED", name


def test_what_in_a_conftest_does_not_set_tests_up(tmp_path):
    (tmp_path / "conftest.py").write_text(QUIET)
    assert setting_up([tmp_path / "conftest.py"], tmp_path) is None


def test_which_conftest_files_a_test_file_has(tmp_path):
    """Those of its folder and the folders above it, up to the workspace root (outside
    every root: up to a project's marker); not a sibling folder's, nor one above the root."""
    root = tmp_path / "project"
    tests = root / "tests" / "unit"
    tests.mkdir(parents=True)
    (root / "other").mkdir()
    for folder in (tmp_path, root, root / "tests", root / "other"):
        (folder / "conftest.py").write_text(QUIET)
    test_file = str(tests / "test_x.py")
    assert conftest_files(test_file, [root]) == [root / "tests" / "conftest.py", root / "conftest.py"]
    assert conftest_files(test_file, [Path("/elsewhere")]) == [
        root / "tests" / "conftest.py", root / "conftest.py", tmp_path / "conftest.py"]
    (root / "pyproject.toml").write_text("")
    assert conftest_files(test_file, []) == [
        root / "tests" / "conftest.py", root / "conftest.py", root / "pyproject.toml"]  # (its options count too)
    # the nearest that sets up is named, by its path from the test's folder
    (root / "conftest.py").write_text(DOUBLING)
    assert setting_up(conftest_files(test_file, [root]), tests) == (
        "`../../conftest.py` has the autouse fixture `doubled`")


def test_a_configuration_file_s_usefixtures_sets_every_test_up(tmp_path):
    """`usefixtures` in pytest.ini runs a fixture for every test, as autouse does."""
    (tmp_path / "conftest.py").write_text(
        "import pytest\n\n\n@pytest.fixture\ndef fives(monkeypatch):\n    monkeypatch.setenv(\"SCALE\", \"5\")\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\nusefixtures = fives\n")
    (tmp_path / "test_app.py").write_text(TESTS)
    files = conftest_files(str(tmp_path / "test_app.py"), [tmp_path])
    assert files == [tmp_path / "conftest.py", tmp_path / "pytest.ini"]
    assert setting_up(files, tmp_path) == "`pytest.ini` sets `usefixtures`"
    assert pytest_outcomes(tmp_path, "test_app.py")["test_other"] == "PASSED"
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -q\n")
    assert setting_up(files, tmp_path) is None
    for written in ("addopts = -q -p fives", "addopts = -pfives", "addopts =\n    -q\n    -p fives"):
        (tmp_path / "pytest.ini").write_text(f"[pytest]\n{written}\n")
        assert setting_up(files, tmp_path) == "`pytest.ini` loads a plugin (`addopts = -p …`)", written
    for written, words in (("filterwarnings = error", "sets `filterwarnings` (a warning may fail a test)"),
                           ("addopts = -W error", "makes warnings errors (`addopts = -W …`)"),
                           ("addopts = --import-mode=importlib", "changes how tests are imported (`addopts`)"),
                           ("pythonpath = src", "sets `pythonpath` (where tests import from)")):
        (tmp_path / "pytest.ini").write_text(f"[pytest]\n{written}\n")
        assert setting_up(files, tmp_path) == f"`pytest.ini` {words}", written
    (tmp_path / "pytest.ini").unlink()
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = ["-p", "fives"]\n')
    (tmp_path / "fives.py").write_text(FIVES_PLUGIN)
    files = conftest_files(str(tmp_path / "test_app.py"), [tmp_path])
    assert setting_up(files, tmp_path) == "`pyproject.toml` loads a plugin (`addopts = -p …`)"
    assert pytest_outcomes(tmp_path, "test_app.py")["test_other"] == "PASSED"  # (fives.py is a plugin here)


def test_a_change_on_disk_of_a_module_a_conftest_imports_is_seen(tmp_path):
    """The set-up found for a file holds while the conftest.py and what it imports from the
    workspace are unchanged: `fives.py` coming to hold an autouse fixture is seen (only the
    conftest.py and the configuration files were watched before)."""
    from types import SimpleNamespace

    from semcoder_lsp.documents import DocumentStore

    (tmp_path / "conftest.py").write_text("from fives import helper  # noqa: F401\n")
    (tmp_path / "fives.py").write_text("def helper():\n    return 5\n")
    (tmp_path / "test_app.py").write_text(TESTS)
    store = DocumentStore(SimpleNamespace(workspace=SimpleNamespace(text_documents={}),
                                          workspace_roots=lambda: [tmp_path]))
    uri = (tmp_path / "test_app.py").as_uri()
    assert store.tests_set_up(uri) is None
    (tmp_path / "fives.py").write_text("def helper():\n    return 5\n\n\n" + FIVES_PLUGIN)
    assert store.tests_set_up(uri) == "`conftest.py` imports `fives`, which has the autouse fixture `fives`"
