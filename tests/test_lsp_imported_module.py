"""A test file that imports the module itself (`import app`, `import app as a`) and calls
its functions through it (`assert app.scale(2) == 5`): those asserts are checks too, on
the same terms as `from app import scale` (test_lsp_imported.py). They had no verdict at
all: a failing one was missed. Every fixture's truth is pytest's, each file run alone."""

from __future__ import annotations


from lsprotocol import types

from lsp_helpers import EXEC_ON, diagnostics_for, hover, judged_asserts, line_of, open_document, pytest_outcomes, running_server, wait_for

APP = '''FACTOR = 2
CONFIG = {"k": 1}


def scale(x):
    return x * FACTOR


def conf():
    return CONFIG["k"]
'''

TESTS = '''import app
import app as a


def test_scale():
    assert app.scale(3) == 6
    assert app.scale(2) == 5


def test_alias():
    assert a.scale(4) == 9


def test_calls_first():
    app.scale(1)
    assert app.scale(5) == 11
'''


def test_the_module_s_functions_called_through_it_arejudged_asserts(tmp_path):
    """Judged: `app.scale(…)` and `a.scale(…)` (the module under another name), also after a
    call of a function of no state (`app.scale(1)` changes nothing)."""
    (tmp_path / "app.py").write_text(APP)
    path = tmp_path / "test_app.py"
    path.write_text(TESTS)
    assert judged_asserts(path) == [("app.scale(3)", "6"), ("app.scale(2)", "5"), ("a.scale(4)", "9"), ("app.scale(5)", "11")]
    assert pytest_outcomes(tmp_path, path.name) == {
        "test_scale": "FAILED", "test_alias": "FAILED", "test_calls_first": "FAILED"}


# Test files that pass under pytest, whose `app.f(…)` replayed alone would not see what
# pytest's sees: no verdict.
NO_VERDICT = {
    "the test changes the module's dict first": (
        "def test_b():\n    app.CONFIG[\"k\"] = 3\n    assert app.conf() == 3\n"),
    "an earlier test changes the module's constant": (
        "def test_a():\n    app.FACTOR = 3\n\n\ndef test_b():\n    assert app.scale(1) == 3\n"),
    "a helper of the test file changes the module": (
        "def bump():\n    app.FACTOR = 10\n\n\ndef test_b():\n    bump()\n    assert app.scale(1) == 10\n"),
    "the test file replaces the function": (
        "app.scale = lambda x: 0\n\n\ndef test_b():\n    assert app.scale(1) == 0\n"),
    "the module is handed to other code first": (
        "def test_a():\n    vars(app)[\"FACTOR\"] = 5\n\n\ndef test_b():\n    assert app.scale(1) == 5\n"),
    "a fixture patches the module": (
        "def test_b(monkeypatch):\n    monkeypatch.setattr(app, \"FACTOR\", 3)\n    assert app.scale(1) == 3\n"),
    "the test file binds the module's name again": (
        "import types\n\napp = types.SimpleNamespace(scale=lambda x: 7)\n\n\ndef test_b():\n    assert app.scale(1) == 7\n"),
}


def test_no_verdict_where_the_module_may_hold_what_earlier_code_left(tmp_path):
    for name, body in NO_VERDICT.items():
        folder = tmp_path / name.replace(" ", "_").replace("'", "")
        folder.mkdir()
        (folder / "app.py").write_text(APP)
        (folder / "test_p.py").write_text("import app\n\n\n" + body)
        assert judged_asserts(folder / "test_p.py") == [], name
        assert set(pytest_outcomes(folder, "test_p.py").values()) == {"PASSED"}, name


async def test_a_failing_assert_through_the_module_is_a_diagnostic_traced_in_the_module(tmp_path):
    (tmp_path / "app.py").write_text(APP)
    path = tmp_path / "test_app.py"
    path.write_text(TESTS)
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        await wait_for(lambda: len(diagnostics_for(client, uri)) == 3)
        found = diagnostics_for(client, uri)
        assert [(d.range.start.line, d.message) for d in found] == [
            (line_of(TESTS, "app.scale(2) == 5"), "assert failed: app.scale(2) returned 4, expected 5"),
            (line_of(TESTS, "a.scale(4) == 9"), "assert failed: a.scale(4) returned 8, expected 9"),
            (line_of(TESTS, "app.scale(5) == 11"), "assert failed: app.scale(5) returned 10, expected 11")]
        assert found[0].data["importedFrom"] == str(tmp_path / "app.py")
        line = line_of(TESTS, "app.scale(2) == 5")
        text = await hover(client, uri, line, TESTS.splitlines()[line].index("scale"))
        assert "⚠ assert failed: app.scale(2) returned 4, expected 5" in text, text
        assert "_`scale` is defined in `app.py`: the lines below are that file's._" in text, text
        assert f"| {line_of(APP, 'def scale') + 1} `def scale(x):` | `x = 2` |" in text, text

        # app.py changes on disk (`FACTOR = 2.5`): the checks run again on the new module.
        (tmp_path / "app.py").write_text(APP.replace("FACTOR = 2", "FACTOR = 2.5"))
        client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[
            types.FileEvent(uri=(tmp_path / "app.py").as_uri(), type=types.FileChangeType.Changed)]))
        await wait_for(lambda: [d.message for d in diagnostics_for(client, uri)] == [
            "assert failed: app.scale(3) returned 7.5, expected 6",  # (5.0 == 5: app.scale(2) passes now)
            "assert failed: a.scale(4) returned 10.0, expected 9", "assert failed: app.scale(5) returned 12.5, expected 11"])


TEXT = '''def words(s):
    return s.split()


def maybe(x):
    return None if x < 0 else x
'''

SHADOWS_LEN = '''def len(x):
    return 99


def words(s):
    return s.split()
'''

CONDITIONS = '''import text
from text import maybe, words

LIMIT = 2


def test_len():
    assert len(words("a b c")) == 2
    assert len(text.words("a b")) == 2


def test_none():
    assert maybe(-1) is None
    assert maybe(3) is None


def test_in():
    assert "d" in words("a b c")


def test_a_name_of_this_file():
    assert len(words("a b c")) == LIMIT
'''


def test_a_condition_around_an_imported_call_is_judged_where_it_means_the_same_in_its_module(tmp_path):
    """The condition is checked in the function's module: judged where its names are
    builtins that neither file binds; not with a name of the test file (`LIMIT`), nor where
    the module defines a builtin's name itself (its own `len`)."""
    (tmp_path / "text.py").write_text(TEXT)
    path = tmp_path / "test_text.py"
    path.write_text(CONDITIONS)
    assert pytest_outcomes(tmp_path, path.name) == {
        "test_len": "FAILED", "test_none": "FAILED", "test_in": "FAILED", "test_a_name_of_this_file": "FAILED"}
    assert judged_asserts(path) == [
        ('words("a b c")', "the condition: len(_semcoder_called_) == 2"),
        ('text.words("a b")', "the condition: len(_semcoder_called_) == 2"),
        ("maybe(-1)", "the condition: _semcoder_called_ is None"), ("maybe(3)", "the condition: _semcoder_called_ is None"),
        ('words("a b c")', 'the condition: "d" in _semcoder_called_')]
    shadowed = tmp_path / "shadowed"
    shadowed.mkdir()
    (shadowed / "text.py").write_text(SHADOWS_LEN)
    (shadowed / "test_s.py").write_text('from text import words\n\n\ndef test_s():\n    assert len(words("a b c")) == 3\n')
    assert pytest_outcomes(shadowed, "test_s.py") == {"test_s": "PASSED"}
    assert judged_asserts(shadowed / "test_s.py") == []


async def test_a_failing_condition_around_an_imported_call_is_a_diagnostic(tmp_path):
    (tmp_path / "text.py").write_text(TEXT)
    path = tmp_path / "test_text.py"
    path.write_text(CONDITIONS)
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        await wait_for(lambda: len(diagnostics_for(client, uri)) == 3)
        assert [(d.range.start.line, d.message) for d in diagnostics_for(client, uri)] == [
            (line_of(CONDITIONS, 'len(words("a b c")) == 2'),
             "assert failed: len(words(\"a b c\")) == 2 is false (words(\"a b c\") returned ['a', 'b', 'c'])"),
            (line_of(CONDITIONS, "maybe(3) is None"), "assert failed: maybe(3) is None is false (maybe(3) returned 3)"),
            (line_of(CONDITIONS, '"d" in'),
             "assert failed: \"d\" in words(\"a b c\") is false (words(\"a b c\") returned ['a', 'b', 'c'])")]
        line = line_of(CONDITIONS, 'text.words("a b")')
        text = await hover(client, uri, line, CONDITIONS.splitlines()[line].index("words"))
        assert '✓ the assert passes: `len(text.words("a b")) == 2` is true' in text, text
