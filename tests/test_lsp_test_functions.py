"""pytest calls a test function itself, with its fixtures or parametrize cases: the server
does not ask the user to supply a call for one (a lens "supply a call…" on every test, a
hover suggesting `# semcoder: test_truncate(...)`, `TestVec(...).test_add(...)`); a test
or a `main` that takes no arguments is traced as `f()`, and its lens says so."""

from __future__ import annotations

from lsprotocol import types

from lsp_helpers import EXEC_ON, hover, line_of, open_document, pytest_outcomes, running_server

TESTS = '''import unittest

import pytest


def truncate(s, width):
    return s[:width]


def main():
    return truncate("abcdef", 3)


@pytest.mark.parametrize("s, want", [("abc", "ab")])
def test_cases(s, want):
    assert truncate(s, 2) == want


def test_fixture(tmp_path):
    assert truncate(str(tmp_path), 0) == ""


def test_plain():
    assert truncate("xyz", 1) == "x"


class TestVec(unittest.TestCase):
    def test_add(self):
        self.assertEqual(truncate("ab", 1), "a")
'''


async def test_tests_get_no_supply_a_call_lens_and_zero_argument_functions_name_their_call(tmp_path):
    path = tmp_path / "test_trunc.py"
    path.write_text(TESTS)
    assert set(pytest_outcomes(tmp_path, path.name).values()) == {"PASSED"}
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        lenses = await client.text_document_code_lens_async(types.CodeLensParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))
        titles = {lens.range.start.line: lens.command.title for lens in lenses}
        assert titles[line_of(TESTS, "def main")] == "SemCoder: main()"
        assert titles[line_of(TESTS, "def test_plain")] == "SemCoder: test_plain()"
        for name in ("def test_cases", "def test_fixture", "def test_add"):
            assert line_of(TESTS, name) not in titles, (name, titles)
        text = await hover(client, uri, line_of(TESTS, "def test_fixture"), 6)
        assert text == ("**SemCoder** · `test_fixture` is a test, which the test runner calls itself (with its "
                        "fixtures or parametrize cases): hover a call in it, one of its asserts, or one of its cases "
                        "to trace it."), text
        text = await hover(client, uri, line_of(TESTS, "def test_add"), 6)
        assert "`TestVec.test_add` is a test, which the test runner calls itself" in text, text
        text = await hover(client, uri, line_of(TESTS, "def main"), 6)
        assert "returned `'abc'`" in text, text
