"""Arguments written as arithmetic of numbers (`human_size(1024 ** 5)`, `5 * 1024 ** 3`,
`-1.5 * 2`) are literals, as Python folds them into constants: such an assert had no
verdict (ast.literal_eval refuses them). Within bounds: `10 ** 10 ** 10` is no literal
(evaluating it would take minutes). The call's text stays as written. Every fixture's
truth is pytest's."""

from __future__ import annotations

import ast
import time

from lsp_helpers import pytest_outcomes
from semcoder_lsp.calls import analyse
from semcoder_lsp.imported import ImportReader, imports_of, modules_imported, search_folders

SIZES = '''def human_size(n):
    for unit in ["B", "KB", "MB", "GB", "TB"]:
        if n < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PB"


def scale(x, by=1):
    return x * by


def test_sizes():
    assert human_size(1024 ** 5) == "1.0 PB"
    assert human_size(5 * 1024 ** 3) == "5.0 GB"
    assert scale(-1.5 * 2, by=2 ** 3) == -24.0
    assert scale([1024 ** 2, 7 // 2]) == [1048576, 3]
    assert human_size(2 ** 40 - 1) == "1.0 TB"
    assert human_size(10 ** 10 ** 10) == "?"
'''


def test_arithmetic_of_numbers_is_a_literal_argument(tmp_path):
    (tmp_path / "test_sizes.py").write_text(SIZES)
    started = time.monotonic()
    info = analyse(SIZES)
    assert time.monotonic() - started < 5
    assert [(c.call, c.expected) for c in info.calls if c.origin == "assert"] == [
        ("human_size(1024 ** 5)", '"1.0 PB"'), ("human_size(5 * 1024 ** 3)", '"5.0 GB"'),
        ("scale(-1.5 * 2, by=2 ** 3)", "-24.0"), ("scale([1024 ** 2, 7 // 2])", "[1048576, 3]"),
        ("human_size(2 ** 40 - 1)", '"1.0 TB"')]
    # (`2 ** 40 - 1` is 1024.0 GB: the last assert, which would take minutes, is never reached)
    assert pytest_outcomes(tmp_path, "test_sizes.py") == {"test_sizes": "FAILED"}


def test_an_imported_functions_arithmetic_arguments_and_expected_value(tmp_path):
    (tmp_path / "sizes.py").write_text(SIZES.split("\n\ndef test_sizes")[0] + "\n")
    test = tmp_path / "test_p.py"
    test.write_text('from sizes import human_size, scale\n\n\ndef test_a():\n    assert human_size(1024 ** 5) == "1.0 PB"\n'
                    "    assert scale(3, by=2 ** 10) == 3 * 2 ** 10\n\n\n"
                    'def test_b():\n    assert human_size(3 * 1024 ** 2) == "3.0 KB"\n')
    text = test.read_text()
    reader = ImportReader()
    resolved = reader.resolve(imports_of(ast.parse(text)), str(test), [tmp_path])
    imported = reader.functions(resolved, search_folders(str(test), [tmp_path]), modules_imported(ast.parse(text)))
    assert [(c.call, c.expected) for c in analyse(text, None, imported).calls if c.origin == "assert"] == [
        ("human_size(1024 ** 5)", '"1.0 PB"'), ("scale(3, by=2 ** 10)", "3 * 2 ** 10"),
        ("human_size(3 * 1024 ** 2)", '"3.0 KB"')]
    assert pytest_outcomes(tmp_path, "test_p.py") == {"test_a": "PASSED", "test_b": "FAILED"}


def test_bounds_of_the_arithmetic():
    from semcoder_lsp.callees import _is_literal

    def literal(text: str) -> bool:
        return _is_literal(ast.parse(text, mode="eval").body)

    assert all(map(literal, ["1024 ** 5", "-1.5 * 2", "2 ** 64", "[2 ** 10, {1: 3 % 2}]", "7 // 2 + 1 / 4", "1 + 2j"]))
    assert not any(map(literal, ["10 ** 10 ** 10", "2 ** 65", "(2 ** 200) ** 60", "1 / 0", "x * 2", "'a' * 3",
                                 "f(2) ** 2", "2 ** 10 ** 2"]))
    assert literal(" + ".join(["1"] * 40)) and not literal(" + ".join(["1"] * 200))
