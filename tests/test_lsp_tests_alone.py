"""A test that depends on the tests above it (they fill a module global) raises when run
alone, and passes under pytest: its hover says it ran alone and how many tests pytest runs
before it, so that its raise is not read as pytest's verdict."""

from __future__ import annotations

from lsp_helpers import EXEC_ON, hover, line_of, open_document, pytest_outcomes, running_server

CART = '''DEFAULT_CART = ["apple"]


def add_to_cart(cart, item):
    cart.append(item)
    return len(cart)


def test_add_first():
    assert add_to_cart(DEFAULT_CART, "pear") == 2


def test_add_second():
    assert add_to_cart(DEFAULT_CART, "fig") == 3
    assert len(DEFAULT_CART) == 3
    assert add_to_cart(DEFAULT_CART, "kiwi") == 4


def test_alone():
    assert add_to_cart([], "kiwi") == 1
'''


async def test_a_test_that_raised_alone_says_how_many_tests_pytest_runs_before_it(tmp_path):
    path = tmp_path / "test_cart.py"
    path.write_text(CART)
    assert pytest_outcomes(tmp_path, path.name) == {
        "test_add_first": "PASSED", "test_add_second": "PASSED", "test_alone": "PASSED"}
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        text = await hover(client, uri, line_of(CART, "def test_add_second"), 6)
        assert "raised `AssertionError`" in text, text
        assert ("_This test ran alone, on the file's definitions: under pytest the test before it runs first, "
                "in the same process, and what it leaves (a module global, a cache) may change what it sees._"
                ) in text, text
        # a call after the line where the test raised, run alone: said in the user's words
        row = line_of(CART, '"kiwi"')
        text = await hover(client, uri, row, 14)
        assert f"⚠ running the test never called add_to_cart from line {row + 1}" in text, text
        text = await hover(client, uri, line_of(CART, "def test_alone") + 1, 20)
        assert "returned `1`" in text and "ran alone" not in text, text
        # a test that passes alone, and the first test, say nothing of it
        for needle in ("def test_alone", "def test_add_first"):
            text = await hover(client, uri, line_of(CART, needle), 6)
            assert "ran alone" not in text, (needle, text)
