"""unittest's TestCase classes as pytest runs them: their tests by name, not as written
(an assert after a test written below it but run before it was judged as if nothing ran
first: a false pass where pytest fails), and whatever the class is called (a TestCase
named `CartChecks` was not taken for tests: "supply a call…" lenses on each of them)."""

from __future__ import annotations

from lsprotocol import types

from lsp_helpers import EXEC_ON, diagnostics_for, hover, line_of, open_document, pytest_outcomes, running_server, wait_for
from semcoder_lsp.calls import analyse, is_test

ORDER = '''import unittest

ITEMS = []


def add(x):
    ITEMS.append(x)


def count():
    return len(ITEMS)


class CartChecks(unittest.TestCase):
    def test_b_empty(self):
        assert count() == 0

    def test_a_fill(self):
        add(1)


class TestPlainOrder:
    def test_z_first(self):
        assert count() == 1

    def test_y_second(self):
        add(2)
'''


def test_a_testcase_s_tests_run_by_name(tmp_path):
    path = tmp_path / "test_order.py"
    path.write_text(ORDER)
    # pytest: CartChecks.test_a_fill runs before test_b_empty; TestPlainOrder's as written.
    assert pytest_outcomes(tmp_path, path.name) == {
        "test_a_fill": "PASSED", "test_b_empty": "FAILED", "test_z_first": "PASSED", "test_y_second": "PASSED"}
    info = analyse(ORDER)
    assert info.test_order == {"CartChecks.test_a_fill": 0, "CartChecks.test_b_empty": 1,
                               "TestPlainOrder.test_z_first": 2, "TestPlainOrder.test_y_second": 3}
    # Neither count() is judged: each runs after a test that added to ITEMS.
    assert [c.call for c in info.calls if c.origin == "assert"] == []
    assert line_of(ORDER, "assert count() == 0") in info.order_dependent
    assert is_test(info.functions["CartChecks.test_b_empty"], info)
    assert not is_test(info.functions["add"], info)


async def test_a_testcase_of_any_name_is_a_test_class(tmp_path):
    path = tmp_path / "test_order.py"
    path.write_text(ORDER)
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        lenses = await client.text_document_code_lens_async(types.CodeLensParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))
        titles = {lens.range.start.line: lens.command.title for lens in lenses}
        for name in ("def test_b_empty", "def test_a_fill", "def test_z_first"):
            assert line_of(ORDER, name) not in titles, (name, titles)
        text = await hover(client, uri, line_of(ORDER, "def test_a_fill"), 8)
        assert "`CartChecks.test_a_fill` is a test, which the test runner calls itself" in text, text


CHECKS = '''import unittest

WANT = 9


def scale(x):
    return x * 2


class CalcChecks(unittest.TestCase):
    def test_equal(self):
        self.assertEqual(scale(2), 4)
        self.assertEqual(scale(3), 7)

    def test_truth(self):
        self.assertTrue(scale(0))
        self.assertFalse(scale(1), "must be zero")

    def test_reversed(self):
        self.assertEqual(9, scale(4))

    def test_no_verdict(self):
        self.assertEqual(WANT, scale(4))
        self.assertEqual(len([scale(1)]), 2)
        self.assertEqual(scale(1), 3, msg=f"got {scale(1)}")
'''

CUSTOM = '''import unittest


def scale(x):
    return x * 2


class Base(unittest.TestCase):
    def assertEqual(self, first, second, msg=None):
        pass


class Checks(Base):
    def test_custom(self):
        self.assertEqual(scale(1), 3)
'''


def test_unittest_s_assert_equal_true_and_false_are_checks(tmp_path):
    """`self.assertEqual(f(2), 4)` checks what `assert f(2) == 4` does (`assertTrue`,
    `assertFalse`: the truth of the value); not where the expected value is a name, the call
    sits in a condition, the message is computed, or the file defines its own assertEqual."""
    (tmp_path / "test_checks.py").write_text(CHECKS)
    (tmp_path / "test_custom.py").write_text(CUSTOM)
    assert pytest_outcomes(tmp_path, "test_checks.py") == {
        "test_equal": "FAILED", "test_no_verdict": "FAILED", "test_reversed": "FAILED", "test_truth": "FAILED"}
    assert pytest_outcomes(tmp_path, "test_custom.py") == {"test_custom": "PASSED"}
    info = analyse(CHECKS)
    assert [(c.call, c.expected, c.line) for c in info.calls if c.origin == "assert"] == [
        ("scale(2)", "4", line_of(CHECKS, "scale(2), 4")), ("scale(3)", "7", line_of(CHECKS, "scale(3), 7")),
        ("scale(0)", "a true value", line_of(CHECKS, "assertTrue")),
        ("scale(1)", "a false value", line_of(CHECKS, "assertFalse")),
        ("scale(4)", "9", line_of(CHECKS, "9, scale(4)"))]
    assert [c.call for c in analyse(CUSTOM).calls if c.origin == "assert"] == []


async def test_a_failing_assert_equal_is_a_diagnostic(tmp_path):
    path = tmp_path / "test_checks.py"
    path.write_text(CHECKS)
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        await wait_for(lambda: len(diagnostics_for(client, uri)) == 4)
        assert [(d.range.start.line, d.message) for d in diagnostics_for(client, uri)] == [
            (line_of(CHECKS, "scale(3), 7"), "assert failed: scale(3) returned 6, expected 7"),
            (line_of(CHECKS, "assertTrue"), "assert failed: scale(0) returned 0, expected a true value"),
            (line_of(CHECKS, "assertFalse"), "assert failed: scale(1) returned 2, expected a false value"),
            (line_of(CHECKS, "9, scale(4)"), "assert failed: scale(4) returned 8, expected 9")]
        line = line_of(CHECKS, "scale(2), 4")
        text = await hover(client, uri, line, CHECKS.splitlines()[line].index("scale"))
        assert "✓ the assert passes: `scale(2) == 4`" in text, text
