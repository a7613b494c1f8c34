"""The cases of a `@pytest.mark.parametrize` test are checks, each on its own line: a
failing case was missed (its assert reads the test's arguments, which a call alone cannot
replay). Each case's values are written into the assert, which is judged as any other; a
case a mark may skip or expect to fail is left out, as is a test that binds an argument
again."""

from __future__ import annotations

from lsp_helpers import (
    EXEC_ON,
    diagnostics_for,
    hover,
    line_of,
    open_document,
    pytest_outcomes,
    running_server,
    wait_for,
)
from semcoder_lsp.calls import analyse
from semcoder_lsp.results import CALLED, CONDITION

PARAMETRIZED = '''import pytest


def double(x):
    return x * 2


@pytest.mark.parametrize("x, want", [
    (1, 2),
    (3, 7),
    pytest.param(4, 9, marks=pytest.mark.xfail),
    pytest.param(5, 10, id="five"),
])
def test_double(x, want):
    assert double(x) == want


@pytest.mark.parametrize("n", [0, 2, 5])
def test_quadruple_of_even(n):
    assert double(n) % 4 == 0


@pytest.mark.parametrize("n", [3])
def test_rebinds(n):
    n = n + 1
    assert double(n) == 7
'''


async def test_each_case_of_a_parametrized_test_is_a_check_on_its_line(tmp_path):
    """`(3, 7)` fails on its own line, with its values; `n = 5` of a one-argument
    parametrize on the line of its list; the xfail case and the test that rebinds its
    argument get no verdict. pytest fails the same two cases."""
    path = tmp_path / "test_double.py"
    path.write_text(PARAMETRIZED)
    expected = [
        (line_of(PARAMETRIZED, "(3, 7)"), "assert failed: double(3) returned 6, expected 7"),
        (line_of(PARAMETRIZED, "[0, 2, 5]"), "assert failed: double(5) % 4 == 0 is false (double(5) returned 10)"),
    ]
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        await wait_for(lambda: len(diagnostics_for(client, uri)) == len(expected), timeout=30)
        assert [(d.range.start.line, d.message) for d in diagnostics_for(client, uri)] == expected
        # hovering a case traces it, with its verdict
        text = await hover(client, uri, line_of(PARAMETRIZED, "(1, 2)"), 6)
        assert text.startswith("**SemCoder** · `double(1)` (from an assert)"), text
        assert "✓ the assert passes: `double(1) == 2`" in text, text
        text = await hover(client, uri, line_of(PARAMETRIZED, 'id="five"'), 20)
        assert "✓ the assert passes: `double(5) == 10`" in text, text
        text = await hover(client, uri, line_of(PARAMETRIZED, "(3, 7)"), 6)
        assert "⚠ assert failed: double(3) returned 6, expected 7" in text, text
    outcomes = pytest_outcomes(tmp_path, path.name)
    assert outcomes == {"test_double[1-2]": "PASSED", "test_double[3-7]": "FAILED", "test_double[4-9]": "XFAIL",
                        "test_double[five]": "PASSED", "test_quadruple_of_even[0]": "PASSED",
                        "test_quadruple_of_even[2]": "PASSED", "test_quadruple_of_even[5]": "FAILED",
                        "test_rebinds[3]": "FAILED"}, outcomes


def test_which_parametrized_tests_give_checks():
    """Only a single parametrize mark that gives every argument, with literal cases."""
    def checks(decorator: str, signature: str, body: str = "    assert double(x) == 2\n") -> list[tuple[str, str]]:
        source = f"import pytest\n\ndef double(x):\n    return x * 2\n\n{decorator}\ndef test_it({signature}):\n{body}"
        return [(c.call, c.expected) for c in analyse(source).calls]

    assert checks('@pytest.mark.parametrize("x", [1, (2,), "a"])', "x") == [
        ("double(1)", "2"), ("double((2,))", "2"), ('double("a")', "2")]
    assert checks('@pytest.mark.parametrize(("x", "y"), [(1, 2)])', "x, y",
                  "    assert double(x) == y\n") == [("double(1)", "2")]
    assert checks('@pytest.mark.parametrize("x", [1, len("ab")])', "x") == [("double(1)", "2")]  # literals only
    method = "import pytest\n\ndef double(x):\n    return x * 2\n\nclass TestDouble:\n" \
             '    @pytest.mark.parametrize("x", [3])\n    def test_it(self, x):\n        assert double(x) == 6\n'
    assert [(c.call, c.expected) for c in analyse(method).calls] == [("double(3)", "6")]
    # another argument (a fixture), a second mark, indirect, an argument read in a comprehension
    assert checks('@pytest.mark.parametrize("x", [1])', "x, tmp_path") == []
    assert checks('@pytest.mark.parametrize("x", [1])\n@pytest.mark.parametrize("y", [2])', "x, y") == []
    assert checks('@pytest.mark.parametrize("x", [1], indirect=True)', "x") == []
    assert checks('@pytest.mark.parametrize("x", [1])', "x", "    assert double(x) in [x for x in (2,)]\n") == []


def test_a_cases_values_are_written_in_as_python_reads_them():
    """`-2` where the test has `x ** 2` is `(-2) ** 2` (written bare it is -4: a repair that
    made square return -(x * x) was verified); `3.real` does not parse."""
    source = ('import pytest\n\ndef square(x):\n    return x * x\n\n'
              '@pytest.mark.parametrize("x", [-2, 3, 1 + 2j, "ab"])\n'
              'def test_square(x):\n    assert square(x) == x ** 2\n    assert square(x) != x.real\n')
    assert [(c.call, c.expected) for c in analyse(source).calls] == [
        ("square(-2)", "(-2) ** 2"), ("square(3)", "3 ** 2"), ("square(1 + 2j)", "(1 + 2j) ** 2"),
        ('square("ab")', '"ab" ** 2'),
        ("square(-2)", f"{CONDITION}{CALLED} != (-2).real"), ("square(3)", f"{CONDITION}{CALLED} != (3).real"),
        ("square(1 + 2j)", f"{CONDITION}{CALLED} != (1 + 2j).real"), ('square("ab")', f'{CONDITION}{CALLED} != "ab".real')]


def test_cases_that_may_see_what_an_earlier_case_or_statement_left_get_no_verdict():
    """A later case runs after the test has run for the cases before it (`add` keeps state:
    pytest fails its second case, which replayed alone passed); an argument whose value a
    call may change in place, read twice, is not the literal the second time."""
    keeps_state = ('import pytest\nseen = []\n\ndef add(x):\n    seen.append(x)\n    return len(seen)\n\n'
                   '@pytest.mark.parametrize("x", [\n    1,\n    2,\n])\ndef test_add(x):\n    assert add(x) == 1\n')
    assert [(c.call, c.line) for c in analyse(keeps_state).calls] == [("add(1)", 8)]
    mutates = ('import pytest\n\ndef pop_last(items):\n    return items.pop()\n\n'
               '@pytest.mark.parametrize("items", [[1, 2, 3]])\ndef test_pop(items):\n'
               '    assert pop_last(items) == 3\n    assert pop_last(items) == 2\n')
    assert analyse(mutates).calls == []
    once = mutates.replace("    assert pop_last(items) == 2\n", "")
    assert [c.call for c in analyse(once).calls] == ["pop_last([1, 2, 3])"]


def test_only_tests_pytest_runs_as_written_give_cases():
    """As pytest reads the mark: a list of names unpacks each case, one name in a string
    does not ("x," is read either way by different versions: none); a function pytest
    does not collect, and a test with a fixture (`usefixtures`) or `filterwarnings`, none."""
    def calls(decorators: str, name: str = "test_it") -> list[str]:
        source = (f"import pytest\n\ndef square(x):\n    return x * x\n\n{decorators}\n"
                  f"def {name}(x):\n    assert square(x) == 1\n")
        return [c.call for c in analyse(source).calls]

    assert calls('@pytest.mark.parametrize(["x"], [(1,), (2,)])') == ["square(1)", "square(2)"]
    assert calls('@pytest.mark.parametrize("x", [(1,)])') == ["square((1,))"]
    assert calls('@pytest.mark.parametrize("x,", [(1,)])') == []
    assert calls('@pytest.mark.parametrize("x", [3])', name="check_it") == []
    assert calls('@pytest.mark.usefixtures("triple")\n@pytest.mark.parametrize("x", [3])') == []
    assert calls('@pytest.mark.filterwarnings("error")\n@pytest.mark.parametrize("x", [3])') == []


ONE_LINE = '''import pytest


def double(x):
    return x * 2


@pytest.mark.parametrize("x, want", [(1, 2), (2, 5)])
def test_double(x, want):
    assert double(x) == want
'''


async def test_hovering_a_case_on_a_line_of_several_traces_that_case(tmp_path):
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "test_one_line.py", ONE_LINE)
        line = line_of(ONE_LINE, "(2, 5)")
        await wait_for(lambda: diagnostics_for(client, uri))
        assert [d.message for d in diagnostics_for(client, uri)] == ["assert failed: double(2) returned 4, expected 5"]
        text = await hover(client, uri, line, ONE_LINE.splitlines()[line].index("(2, 5)") + 2)
        assert text.startswith("**SemCoder** · `double(2)`") and "⚠ assert failed: double(2) returned 4" in text, text
        text = await hover(client, uri, line, ONE_LINE.splitlines()[line].index("(1, 2)") + 2)
        assert text.startswith("**SemCoder** · `double(1)`") and "✓ the assert passes" in text, text


CASES_ON_ONE_LINE = '''import pytest


def double(x):
    return x * 2


@pytest.mark.parametrize("x, want", [(1, 2), (3, 7), ("😀", "😀"), ("é", "éé")])
def test_double(x, want):
    assert double(x) == want


@pytest.mark.parametrize("x, want", [
    (5,
     11),
])
def test_over_two_lines(x, want):
    assert double(x) == want
'''


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


async def test_a_case_s_diagnostic_marks_that_case_alone(tmp_path):
    """Several cases on one line each get a diagnostic of their own, over the case's text
    (in the editor's UTF-16 columns), not the whole line; a case written over two lines is
    marked on its first, from where it starts."""
    path = tmp_path / "test_cases.py"
    path.write_text(CASES_ON_ONE_LINE, encoding="utf-8")
    row = line_of(CASES_ON_ONE_LINE, "(3, 7)")
    text = CASES_ON_ONE_LINE.splitlines()[row]
    emoji = text.index('("😀"')
    two_lines = line_of(CASES_ON_ONE_LINE, "(5,")
    expected = [
        (row, text.index("(3, 7)"), text.index("(3, 7)") + 6, "assert failed: double(3) returned 6, expected 7"),
        (row, emoji, emoji + _utf16('("😀", "😀")'), "assert failed: double(\"😀\") returned '😀😀', expected \"😀\""),
        (two_lines, 4, 7, "assert failed: double(5) returned 10, expected 11"),
    ]
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        await wait_for(lambda: len(diagnostics_for(client, uri)) == len(expected), timeout=30)
        found = [(d.range.start.line, d.range.start.character, d.range.end.character, d.message)
                 for d in diagnostics_for(client, uri)]
        assert found == expected
        assert all(d.range.end.line == d.range.start.line for d in diagnostics_for(client, uri))
        # the hover at the second failing case (past the emoji's two UTF-16 units) is that case's
        value = await hover(client, uri, row, emoji + 2)
        assert "⚠ assert failed: double(\"😀\") returned '😀😀', expected \"😀\"" in value, value
    outcomes = pytest_outcomes(tmp_path, path.name)
    assert sorted(name for name, outcome in outcomes.items() if outcome == "FAILED") == [
        "test_double[3-7]", "test_double[\\U0001f600-\\U0001f600]", "test_over_two_lines[5-11]"], outcomes
