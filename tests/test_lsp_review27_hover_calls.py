"""Hovering a call shows that call. A call of a function the test file imports from the
workspace, with literal arguments, is traced in its module even where its assert gets no
verdict (with the reason in words), not the whole test's run; a call that cannot be traced
says why, for that call, not "hover a call in it" (the test's own message). A run that
raised while importing a module of the workspace says which module, and where in it,
rather than blaming the test."""

from __future__ import annotations

import subprocess
import sys

from lsp_helpers import EXEC_ON, hover, line_of, open_document, pytest_outcomes, running_server, wait_for

SHOP = '''class Cart:
    def __init__(self):
        self.items = []

    def add(self, price):
        self.items.append(price)


USED = []


def apply_coupon(total, code):
    USED.append(code)
    if code == "HALF":
        return total / 2
    amount = int(code[3:])
    return max(total - amount, 0)


def is_even(n):
    return n % 2 == 0
'''

TEST_SHOP = '''import pytest
from shop import Cart, apply_coupon, is_even


def test_cart():
    c = Cart()
    c.add(3)
    assert len(c.items) == 1


def test_coupons():
    assert apply_coupon(10, "HALF") == 5
    assert apply_coupon(10, "OFFx") == 10


def test_roundtrip():
    assert apply_coupon(apply_coupon(40, "HALF"), "OFF5") == 15


@pytest.mark.parametrize("n, want", [
    (2, True),
    (3, False),
])
def test_even(n, want):
    assert is_even(n) == want
'''

BANK = '''def fee(cents):
    return cents // 10


RATE = 3
assert RATE == 4, "the rate is wrong"
'''

TEST_BANK = '''from bank import fee


def test_fee():
    assert fee(100) == 10
'''


async def test_a_call_of_an_imported_function_is_traced_in_its_module(tmp_path):
    (tmp_path / "shop.py").write_text(SHOP)
    path = tmp_path / "test_shop.py"
    path.write_text(TEST_SHOP)
    # (real pytest: the coupons test fails on `OFFx`, raising in apply_coupon)
    assert pytest_outcomes(tmp_path, "test_shop.py")["test_coupons"] == "FAILED"
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        await wait_for(lambda: uri in client.diagnostics)
        # The assert gets no verdict (apply_coupon keeps state: USED, which earlier calls
        # fill); the hover is the call, in its module, with that reason.
        line = line_of(TEST_SHOP, 'apply_coupon(10, "HALF")')
        text = await hover(client, uri, line, TEST_SHOP.splitlines()[line].index("apply_coupon") + 2)
        assert text.startswith('**SemCoder** · `apply_coupon(10, "HALF")` (under the cursor)'), text
        assert "returned `5.0`" in text and "total = 10" in text, text
        assert "test_coupons()" not in text and "no verdict" in text and "keeps state" in text, text
        assert "passes" not in text and "⚠" not in text, text
        line = line_of(TEST_SHOP, 'apply_coupon(10, "OFFx")')
        text = await hover(client, uri, line, TEST_SHOP.splitlines()[line].index("apply_coupon") + 2)
        assert text.startswith('**SemCoder** · `apply_coupon(10, "OFFx")` (under the cursor)'), text
        assert "raised `ValueError: invalid literal for int() with base 10: 'x'` at `shop.py` line 16" in text, text
        assert "This test ran alone" not in text, text
        # An inner call with literal arguments, in an assert of a call that has none: the inner call.
        line = line_of(TEST_SHOP, "apply_coupon(apply_coupon(40")
        text = await hover(client, uri, line, TEST_SHOP.splitlines()[line].index("apply_coupon(40") + 2)
        assert text.startswith('**SemCoder** · `apply_coupon(40, "HALF")` (under the cursor)'), text
        assert "returned `20.0`" in text and "test_roundtrip()" not in text, text
        # The outer call: why it is not traced, for that call.
        text = await hover(client, uri, line, TEST_SHOP.splitlines()[line].index("apply_coupon") + 2)
        assert text.startswith('**SemCoder** · `apply_coupon(apply_coupon(40, "HALF"), "OFF5")` calls '
                               "`apply_coupon`, imported from `shop`, with values that are not literals"), text
        # A call in a parametrized test whose arguments come from the cases: hover a case.
        line = line_of(TEST_SHOP, "assert is_even(n)")
        text = await hover(client, uri, line, TEST_SHOP.splitlines()[line].index("is_even") + 2)
        case = line_of(TEST_SHOP, "(2, True),") + 1
        assert text == ("**SemCoder** · `is_even(n)` takes `n` from the test's parametrize cases, so it has no values "
                        f"of its own here: hover a case (line {case}) to trace the test's call with that case's "
                        "values."), text
        # A call of neither the file's functions nor an imported one, in a test run by
        # itself: the test's run, as before. The test's own name: the test, run alone.
        text = await hover(client, uri, line_of(TEST_SHOP, "def test_cart"), 6)
        assert text.startswith("**SemCoder** · `test_cart()` (the test, run alone on the file's definitions)"), text


async def test_a_failing_import_names_the_module_and_its_line(tmp_path):
    (tmp_path / "bank.py").write_text(BANK)
    path = tmp_path / "test_bank.py"
    path.write_text(TEST_BANK)
    # (real pytest: an error collecting the file, raised in bank.py's line 6)
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_bank.py"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert "ERROR collecting test_bank.py" in ran.stdout and "bank.py:6" in ran.stdout, ran.stdout
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        await wait_for(lambda: uri in client.diagnostics)
        text = await hover(client, uri, line_of(TEST_BANK, "def test_fee"), 6)
        assert ("importing `bank` raised `AssertionError: the rate is wrong` at `bank.py` line 6, at this file's "
                "line 1: the test never ran") in text, text
        assert "raised `AssertionError: the rate is wrong` at line 1" not in text, text
        # The call under the cursor, traced in bank.py: the module raised as it loaded.
        line = line_of(TEST_BANK, "fee(100)")
        text = await hover(client, uri, line, TEST_BANK.splitlines()[line].index("fee") + 1)
        assert text.startswith("**SemCoder** · `fee(100)`"), text
        assert ("importing `bank` raised `AssertionError: the rate is wrong` at `bank.py` line 6, as the module "
                "loaded, before the call was made") in text, text
