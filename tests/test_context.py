"""Dependency slicing: same-file helpers, methods, workspace modules, budgets, line maps."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from semcoder_inference.context import (
    FunctionNotFoundError,
    SourceSyntaxError,
    slice_function,
)
from semcoder_inference.errors import SemcoderError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

MODULE = textwrap.dedent(
    '''\
    import os
    import re as regex
    from collections import Counter, OrderedDict

    LIMIT = 10
    UNUSED = 99
    PATTERN = regex.compile(r"\\w+")


    def words(text):
        return PATTERN.findall(text)


    def top(text, n=LIMIT):
        counts = Counter(words(text))
        return counts.most_common(n)


    def unrelated():
        return os.getcwd()


    def shadow(LIMIT):
        return LIMIT + 1


    def fact(n):
        return 1 if n <= 1 else n * fact(n - 1)
    '''
)


def snippet_lines(result):
    return result.text.split("\n")


def test_transitive_same_file_dependencies_and_imports():
    result = slice_function(MODULE, "top", path="/proj/text.py")
    text = result.text
    assert "def top(" in text and "def words(" in text
    assert "PATTERN = regex.compile" in text and "LIMIT = 10" in text
    assert "import re as regex" in text and "from collections import Counter" in text
    # Only what is used: no unrelated function, constant or import.
    assert "unrelated" not in text and "UNUSED" not in text and "import os" not in text
    assert "OrderedDict" not in text
    ast.parse(text)  # the snippet is a valid module
    # Every non-blank snippet line maps back to the identical file line.
    file_lines = MODULE.split("\n")
    for number, line in enumerate(snippet_lines(result), start=1):
        if line.strip() and not line.startswith(("import", "from")):
            path, file_line = result.line_map[number]
            assert path == "/proj/text.py"
            assert file_lines[file_line - 1] == line


def test_import_lines_map_to_the_import_statement():
    result = slice_function(MODULE, "top", path="/proj/text.py")
    lines = snippet_lines(result)
    number = lines.index("from collections import Counter") + 1
    assert result.line_map[number] == ("/proj/text.py", 3)


def test_parameters_shadow_module_names_and_recursion_is_fine():
    assert "LIMIT = 10" not in slice_function(MODULE, "shadow").text
    result = slice_function(MODULE, "fact")
    assert result.text.count("def fact") == 1 and len(result.parts) == 1


def test_budget_keeps_nearest_dependencies_first():
    def count(text):
        return len(text.split())

    full = slice_function(MODULE, "top", count_tokens=count)
    assert full.dropped == ()
    # Room for the target and its direct references, not for what `words` needs (PATTERN).
    target_only = slice_function(MODULE, "top", count_tokens=count, budget=1)
    assert [p.kind for p in target_only.parts] == ["target"]
    assert set(target_only.dropped) >= {"words", "LIMIT"}
    budget = count(full.text) - 5  # "import re as regex" is 4 words, PATTERN 3
    trimmed = slice_function(MODULE, "top", count_tokens=count, budget=budget)
    assert trimmed.tokens <= budget
    assert "def words(" in trimmed.text  # depth 1 kept
    assert "PATTERN" in trimmed.dropped  # depth 2 dropped first
    assert "import re as regex" not in trimmed.text  # only PATTERN needed it


def test_method_slice_keeps_init_and_self_calls():
    source = (EXAMPLES / "shapes.py").read_text()
    result = slice_function(source, "Rectangle.describe", path=str(EXAMPLES / "shapes.py"))
    text = result.text
    assert text.startswith("class Rectangle:")
    assert "def __init__" in text and "def area" in text and "def describe" in text
    assert "def scaled" not in text
    assert '"""An axis-aligned' not in text
    ast.parse(text)
    describe = snippet_lines(result).index("    def describe(self):") + 1
    file_line = source.split("\n").index("    def describe(self):") + 1
    assert result.line_map[describe] == (str(EXAMPLES / "shapes.py"), file_line)


def test_workspace_modules_resolve(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "units.py").write_text(
        "import math\n\nSCALE = 2\n\n\ndef scale(x):\n    return math.floor(x * SCALE)\n\n\ndef other():\n    pass\n"
    )
    (pkg / "api.py").write_text("from .units import scale\n\n\ndef double_scale(x):\n    return scale(scale(x))\n")
    app = tmp_path / "app.py"
    source = "from pkg.api import double_scale\nimport json\n\n\ndef run(x):\n    return json.dumps(double_scale(x))\n"
    app.write_text(source)
    result = slice_function(source, "run", path=str(app), workspace_root=str(tmp_path))
    text = result.text
    assert "def double_scale" in text and "def scale" in text and "SCALE = 2" in text
    assert "import math" in text and "import json" in text
    assert "from pkg.api import" not in text  # replaced by the definition itself
    assert "def other" not in text
    namespace: dict = {}
    exec(compile(text, "<snippet>", "exec"), namespace)  # the snippet really runs on its own
    assert namespace["run"](3.2) == "12"  # floor(floor(6.4) * 2)
    # Lines from the other files map to those files.
    lines = snippet_lines(result)
    scale_line = lines.index("def scale(x):") + 1
    assert result.line_map[scale_line] == (str((pkg / "units.py").resolve()), 6)
    run_line = lines.index("def run(x):") + 1
    assert result.line_map[run_line] == (str(app.resolve()), 5)
    assert result.lines_in(str(app.resolve()), [scale_line, run_line]) == [5]


def test_without_workspace_root_absolute_imports_stay_imports(tmp_path):
    source = "from pkg.api import double_scale\n\n\ndef run(x):\n    return double_scale(x)\n"
    result = slice_function(source, "run", path=str(tmp_path / "app.py"))
    assert result.text.startswith("from pkg.api import double_scale\n")


def test_missing_function_and_syntax_errors_are_clear():
    with pytest.raises(FunctionNotFoundError, match=r"no function `nope`.*Functions there: words, top"):
        slice_function(MODULE, "nope")
    with pytest.raises(FunctionNotFoundError):
        slice_function(MODULE, "LIMIT")  # a constant is not a function
    with pytest.raises(SourceSyntaxError, match="broken.py has a syntax error at line 1"):
        slice_function("def f(:\n  pass\n\n", "f", path="/x/broken.py")
    with pytest.raises(SourceSyntaxError, match="line 5"):
        slice_function("def g():\n    return 1\n\n\ndef f(x:\n    return g()\n", "f", path="/x/broken.py")
    assert issubclass(SourceSyntaxError, SemcoderError)


def test_example_module_runs_and_has_a_failing_assert():
    """examples/shapes.py is the demo module: it runs, and its last assert fails."""
    result = subprocess.run([sys.executable, str(EXAMPLES / "shapes.py")], capture_output=True, text=True)
    assert result.returncode == 1
    assert "AssertionError: a == c should be isosceles" in result.stderr
    assert "125663.71" in result.stdout  # circle_area(2, "m")


def test_method_parameters_shadow_module_names_inside_classes():
    source = textwrap.dedent(
        """\
        data = [1, 2, 3]
        DEFAULT = 5


        def helper(x):
            return x


        class Box:
            def __init__(self, data, size=DEFAULT):
                self.data = helper(data)


        def make():
            return Box([1])
        """
    )
    text = slice_function(source, "make").text
    assert "class Box" in text and "def helper" in text and "DEFAULT = 5" in text
    assert "data = [1, 2, 3]" not in text  # `data` in __init__ is its parameter


def test_a_syntax_error_elsewhere_does_not_stop_a_prediction():
    """While one function is being edited, the others can still be sliced, at their real lines."""
    source = textwrap.dedent(
        """\
        import math

        RATE = 2


        @staticmethod
        def helper(x):
            return math.sqrt(x) * RATE


        def being_typed(y:
            return y +


        def target(z):
            try:
                return helper(z)
            except ValueError:
                return None
        """
    )
    result = slice_function(source, "target", path="/proj/edit.py")
    assert "def helper" in result.text and "@staticmethod" in result.text and "RATE = 2" in result.text
    assert "being_typed" not in result.text
    lines = result.text.split("\n")
    assert result.line_map[lines.index("def target(z):") + 1] == ("/proj/edit.py", 15)
    assert "except ValueError:" in result.text
