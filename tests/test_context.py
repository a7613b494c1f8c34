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


def _runs(text, call):
    """Execute the snippet on its own and evaluate `call` in it (the snippet must define
    every name it uses)."""
    namespace: dict = {}
    exec(compile(text, "<snippet>", "exec"), namespace)
    return eval(call, namespace)


def test_a_statement_binding_several_used_names_appears_once():
    source = textwrap.dedent(
        """\
        A, B = 1, 2
        C = D = 3
        UNUSED = 4


        def f():
            return A + B + C + D
        """
    )
    result = slice_function(source, "f", path="/proj/m.py")
    text = result.text
    assert text.count("A, B = 1, 2") == 1 and text.count("C = D = 3") == 1
    assert "UNUSED" not in text
    assert text.index("A, B = 1, 2") < text.index("C = D = 3") < text.index("def f")  # source order
    assert _runs(text, "f()") == 9
    lines = snippet_lines(result)
    assert result.line_map[lines.index("C = D = 3") + 1] == ("/proj/m.py", 2)


def test_global_declaration_makes_the_module_binding_a_dependency():
    source = textwrap.dedent(
        """\
        COUNT = 0
        TOTAL = 10


        def bump():
            global COUNT
            COUNT += 1
            return COUNT


        def local_only():
            TOTAL = 5
            return TOTAL


        def outer():
            def inner():
                global TOTAL
                TOTAL += 1
            inner()
            return TOTAL
        """
    )
    result = slice_function(source, "bump")
    assert "COUNT = 0" in result.text and "TOTAL" not in result.text
    assert _runs(result.text, "bump()") == 1
    assert "TOTAL = 10" not in slice_function(source, "local_only").text  # still a local
    # `global` inside a nested function reaches the module too, and does not make the name
    # a local of the enclosing function.
    nested = slice_function(source, "outer").text
    assert "TOTAL = 10" in nested and "COUNT" not in nested
    assert _runs(nested, "outer()") == 11


def test_nonlocal_names_belong_to_the_enclosing_function():
    source = textwrap.dedent(
        """\
        total = 99
        step = 7


        def counter():
            total = 0

            def add(v):
                nonlocal total
                total += v + step

            add(1)
            return total
        """
    )
    text = slice_function(source, "counter").text
    assert "total = 99" not in text  # `total` is counter's own, shared with add
    assert "step = 7" in text  # read inside the closure: the module's
    assert _runs(text, "counter()") == 8


def test_names_bound_inside_the_function_other_ways_are_not_module_dependencies():
    source = textwrap.dedent(
        """\
        import os
        helper = None
        err = "module"
        x = "module"


        def f(items):
            import json
            def helper(v):
                return v
            try:
                json.loads("[")
            except ValueError as err:
                pass
            squares = [x * x for x in items]
            return helper(squares)
        """
    )
    text = slice_function(source, "f").text
    assert "import os" not in text and "helper = None" not in text
    assert 'err = "module"' not in text and 'x = "module"' not in text
    assert _runs(text, "f([2, 3])") == [4, 9]


def test_star_import_is_kept_when_a_used_name_is_otherwise_unbound():
    source = textwrap.dedent(
        """\
        from collections import *
        from os.path import join


        def tally(words):
            d = defaultdict(int)
            for word in words:
                d[word] += 1
            return dict(d)


        def plain(x):
            return len(x)
        """
    )
    text = slice_function(source, "tally").text
    assert "from collections import *" in text and "join" not in text
    assert _runs(text, "tally(['a', 'b', 'a'])") == {"a": 2, "b": 1}
    # A builtin, or a name the module binds itself, does not need the star import.
    assert "import *" not in slice_function(source, "plain").text


def test_star_import_from_a_workspace_module_resolves_to_the_definition(tmp_path):
    (tmp_path / "units.py").write_text("SCALE = 3\n\n\ndef scale(x):\n    return x * SCALE\n\n\ndef other():\n    pass\n")
    source = "from units import *\n\n\ndef run(x):\n    return scale(x) + 1\n"
    app = tmp_path / "app.py"
    app.write_text(source)
    text = slice_function(source, "run", path=str(app), workspace_root=str(tmp_path)).text
    assert "def scale" in text and "SCALE = 3" in text and "def other" not in text
    assert "import *" not in text
    assert _runs(text, "run(2)") == 7


def test_module_level_try_and_if_blocks_that_bind_a_used_name_are_kept_whole():
    source = textwrap.dedent(
        """\
        import sys as system
        import json
        try:
            import numpy as np
        except ImportError:
            np = None
        try:
            import ujson
        except ImportError:
            ujson = json

        if system.platform == "never":
            SEP = "/"
        else:
            SEP = "-"
        if system.platform == "never":
            OTHER = 1


        def join(parts):
            return SEP.join(parts) + str(np is None or np.__name__)
        """
    )
    result = slice_function(source, "join", path="/proj/m.py")
    text = result.text
    assert "try:\n    import numpy as np\nexcept ImportError:\n    np = None" in text
    assert 'if system.platform == "never":\n    SEP = "/"\nelse:\n    SEP = "-"' in text
    assert "import sys as system" in text  # the if statement's own dependency
    assert "ujson" not in text and "OTHER" not in text and "import json" not in text
    assert text.count("SEP = ") == 2 and text.count("np = None") == 1
    ast.parse(text)
    assert _runs(text, "join(['a', 'b'])") in ("a-bTrue", "a-bnumpy")
    lines = snippet_lines(result)
    assert result.line_map[lines.index("else:") + 1] == ("/proj/m.py", 14)


def test_a_plain_binding_wins_over_a_block_that_rebinds_the_name():
    """"Only there": a name with a plain module-level binding keeps the existing slice."""
    source = textwrap.dedent(
        """\
        LIMIT = 5
        if False:
            LIMIT = 6


        def f():
            return LIMIT
        """
    )
    text = slice_function(source, "f").text
    assert "LIMIT = 5" in text and "if False" not in text


def test_the_reviewers_module_slices_into_a_snippet_that_runs():
    source = textwrap.dedent(
        """\
        import os, sys as system
        from collections import *
        try:
            import numpy as np
        except ImportError:
            np = None

        A, B = 1, 2
        X: int = 3
        COUNT = 0
        if system.platform == "linux":
            SEP = "/"
        else:
            SEP = "\\\\"
        for _i in range(3):
            COUNT += _i


        def uses_all(v):
            global COUNT
            COUNT += 1
            d = defaultdict(int)
            d[v] += A + B + X
            return SEP.join([os.sep, str(d[v]), str(np), str(Later(v).get())])


        class Later:
            def __init__(self, v):
                self.v = v

            def get(self):
                return helper(self.v)


        def helper(v):
            return v * 2
        """
    )
    text = slice_function(source, "uses_all").text
    assert text.count("A, B = 1, 2") == 1 and "COUNT = 0" in text
    assert "from collections import *" in text and "import sys as system" in text
    for name in ("np", "SEP", "defaultdict", "Later", "helper", "os"):
        assert name in text
    result = _runs(text, "uses_all(1)")
    assert "6" in result and "2" in result


def test_star_imports_chain_through_workspace_modules(tmp_path):
    (tmp_path / "base.py").write_text("from collections import *\nfrom common import *\n\nLIMIT = 4\n")
    (tmp_path / "common.py").write_text("from base import *\n\n\ndef clamp(x):\n    return min(x, LIMIT)\n")
    source = "from common import *\n\n\ndef run(words):\n    return clamp(len(Counter(words)))\n"
    app = tmp_path / "app.py"
    app.write_text(source)
    text = slice_function(source, "run", path=str(app), workspace_root=str(tmp_path)).text
    # clamp from common; LIMIT from base (through common's star import, cycles and all);
    # Counter through base's star import of a module outside the workspace.
    assert "def clamp" in text and "LIMIT = 4" in text and "from collections import *" in text
    assert "from common import *" not in text and "from base import *" not in text
    assert _runs(text, "run('abcdef')") == 4


def test_class_body_names_are_the_class_s_own_in_a_method_slice():
    source = textwrap.dedent(
        """\
        a = 5
        size = 9


        class K:
            a = 1
            b = a + 1

            def m(self, n=b):
                return size + n + self.a
        """
    )
    text = slice_function(source, "K.m").text
    assert "a = 5" not in text and "size = 9" in text  # `a` in `b = a + 1` is the class's
    assert _runs(text, "K().m()") == 12
