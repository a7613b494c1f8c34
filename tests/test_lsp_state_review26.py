"""Ways of changing a module's state that the earlier-state rules missed (a review of the
verdicts against real runs): a function that writes through `globals()` or through
`sys.modules[__name__]` (setattr, an attribute, importlib.import_module), a module name
bound to a lambda that changes a global, a mutator passed rather than called
(`map(ITEMS.append, xs)`), and the process's state a module keeps (`decimal.getcontext().prec
= 3`, `random.seed(5)`). Each file here runs as the comments say (pytest, python); each line
marked `# no verdict` passes for real and had a false "assert failed" before. Lines marked
`# judged` keep their verdict: each fails for real, and the rule does not switch judging off
for it (an assert before the change, or of a function that reaches none of it)."""

from __future__ import annotations

import json
import subprocess
import sys

from lsp_helpers import pytest_outcomes
from test_lsp_state_review25 import check_marks, marked  # (the same marks, read the same way)


def check_pytest(tmp_path, name: str, source: str) -> None:
    """pytest fails exactly the tests of the lines marked `# judged`, and passes the others."""
    path = tmp_path / name
    path.write_text(source)
    outcomes = pytest_outcomes(tmp_path, name)
    lines = source.splitlines()
    failing = set()
    for i in marked(source, "# judged"):
        test = next(line for line in reversed(lines[:i]) if line.startswith("def test"))
        failing.add(test[4:test.index("(")])
    assert outcomes and {t for t, o in outcomes.items() if o == "FAILED"} == failing, outcomes
    assert {o for t, o in outcomes.items() if t not in failing} == {"PASSED"}, outcomes
    check_marks(source)


# -- 1: a function that writes the module's names through globals() -------------------------

GLOBALS = '''FACTOR = 2


def scale(x):
    return x * FACTOR


def set_factor(f):
    globals()["FACTOR"] = f


def set_factor_alias(f):
    names = globals()
    names.update(FACTOR=f)


def double(x):
    return x * 2


def test_first():
    assert scale(2) == 5  # judged


def test_set():
    set_factor(3)


def test_scale():
    assert scale(2) == 6  # no verdict


def test_set_alias():
    set_factor_alias(5)
    assert scale(2) == 10  # no verdict


def test_pure():
    set_factor(4)
    assert double(2) == 5  # judged


def test_direct():
    globals()["FACTOR"] = 7
    assert scale(1) == 7  # no verdict
'''


def test_a_function_writing_through_globals_changes_the_module_names(tmp_path):
    """`globals()["FACTOR"] = f` (or through a local holding globals()) in a function an
    earlier test calls, or in the test itself: `scale(2)` sees the new FACTOR."""
    check_pytest(tmp_path, "test_globals.py", GLOBALS)


# -- 2: a module name bound to a lambda is a function ------------------------------------------

LAMBDAS = '''CONFIG = {"debug": False}
set_debug = lambda: CONFIG.update(debug=True)  # noqa: E731
size = lambda: len(CONFIG)  # noqa: E731


def is_debug():
    return CONFIG["debug"]


def double(x):
    return x * 2


def test_first():
    size()
    assert is_debug()  # judged


def test_set():
    set_debug()


def test_debug():
    assert is_debug()  # no verdict


def test_pure():
    set_debug()
    assert double(2) == 5  # judged
'''


def test_a_lambda_bound_at_module_level_that_changes_a_global_keeps_state(tmp_path):
    """`set_debug = lambda: CONFIG.update(debug=True)`, called in an earlier test: a later
    `is_debug()` sees it. (A lambda that changes nothing, `size()`, leaves the assert after
    it judged.)"""
    check_pytest(tmp_path, "test_lambdas.py", LAMBDAS)


# -- 3: a mutator passed as a reference changes its object -------------------------------------

MAPPED = '''ITEMS = []


def count():
    return len(ITEMS)


def add_all(xs):
    for _ in map(ITEMS.append, xs):
        pass


def double(x):
    return x * 2


def test_first():
    assert count() == 1  # judged


def test_fill():
    list(map(ITEMS.append, [1, 2]))


def test_count():
    assert count() == 2  # no verdict


def test_add_all():
    add_all([3])
    assert count() == 3  # no verdict


def test_pure():
    list(map(str, [1]))
    assert double(2) == 5  # judged
'''


def test_a_mutator_passed_not_called_changes_its_object(tmp_path):
    """`list(map(ITEMS.append, [1, 2]))` in an earlier test, or in a function it calls,
    fills ITEMS: `count()` sees it. (`map(str, ...)` changes nothing.)"""
    check_pytest(tmp_path, "test_mapped.py", MAPPED)


# -- 4: the process's state a module keeps: decimal's context, random's generator ---------------

PROCESS = '''import decimal
import random
from decimal import Decimal


def third():
    return str(Decimal(1) / Decimal(3))


def third_local():
    from decimal import Decimal as D
    return str(D(1) / D(3))


def set_precision(p):
    decimal.getcontext().prec = p


def roll():
    return random.randint(1, 1000)


def double(x):
    return x * 2


def test_first():
    decimal.Decimal(1)
    assert third() == "0.333"  # judged


def test_precision():
    decimal.getcontext().prec = 3


def test_third():
    assert third() == "0.333"  # no verdict


def test_third_local():
    assert third_local() == "0.333"  # no verdict


def test_helper():
    set_precision(4)
    assert third() == "0.3333"  # no verdict


def test_seed():
    random.seed(5)
    assert roll() == 638  # no verdict


def test_pure():
    decimal.getcontext().prec = 3
    random.seed(5)
    assert double(2) == 5  # judged
'''


def test_a_change_of_the_decimal_context_or_the_random_seed_in_a_test(tmp_path):
    """`decimal.getcontext().prec = 3` in an earlier test (or a helper it calls) changes
    what `Decimal(1) / Decimal(3)` gives later; `random.seed(5)` what `randint` draws. A
    function that reaches neither keeps its verdict; so does `third()` after a mere
    `decimal.Decimal(1)`."""
    check_pytest(tmp_path, "test_process.py", PROCESS)


# -- 5: writing the module's names through sys.modules -----------------------------------------

MODULES = '''import importlib
import sys
from sys import modules

FACTOR = 2


def scale(x):
    return x * FACTOR


def set_factor(f):
    setattr(sys.modules[__name__], "FACTOR", f)


def set_factor_attribute(f):
    sys.modules[__name__].FACTOR = f


def set_factor_imported(f):
    importlib.import_module(__name__).FACTOR = f


def set_factor_from(f):
    modules[__name__].FACTOR = f


def double(x):
    return x * 2


def test_first():
    assert scale(2) == 5  # judged


def test_set():
    set_factor(4)


def test_scale():
    assert scale(2) == 8  # no verdict


def test_attribute():
    set_factor_attribute(5)
    assert scale(2) == 10  # no verdict


def test_imported():
    set_factor_imported(6)
    assert scale(2) == 12  # no verdict


def test_from():
    set_factor_from(7)
    assert scale(2) == 14  # no verdict


def test_pure():
    set_factor(4)
    assert double(2) == 5  # judged
'''


def test_writing_the_module_through_sys_modules_changes_its_names(tmp_path):
    """`setattr(sys.modules[__name__], "FACTOR", f)`, `sys.modules[__name__].FACTOR = f`,
    `importlib.import_module(__name__).FACTOR = f`, `modules[__name__].FACTOR = f` after
    `from sys import modules`: a later `scale(2)` sees the new FACTOR."""
    check_pytest(tmp_path, "test_modules.py", MODULES)


# -- All five at the module level, run as a script -----------------------------------------------

# Runs a script's statements one by one in its `__main__` module (sys.modules holds it, as
# `python script.py` does), each failing assert passed over.
EACH_ASSERT = '''import ast, json, sys, types
text = open(sys.argv[1]).read()
main = types.ModuleType("__main__")
sys.modules["__main__"] = main
failed = []
for node in ast.parse(text).body:
    try:
        exec(compile(ast.Module([node], []), sys.argv[1], "exec"), main.__dict__)
    except AssertionError:
        if not isinstance(node, ast.Assert):
            raise
        failed.append(node.lineno - 1)
print(json.dumps(failed))
'''


def failing_asserts(tmp_path, name: str) -> list[int]:
    """The 0-based lines of the asserts of the script `name` that fail when Python runs it."""
    driver = tmp_path / "each_assert.py"
    driver.write_text(EACH_ASSERT)
    ran = subprocess.run([sys.executable, str(driver), name], capture_output=True, text=True, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


SCRIPT = '''import sys

FACTOR = 2
ITEMS = []
CONFIG = {"debug": False}
set_debug = lambda: CONFIG.update(debug=True)  # noqa: E731


def scale(x):
    return x * FACTOR


def count():
    return len(ITEMS)


def is_debug():
    return CONFIG["debug"]


def set_factor(f):
    globals()["FACTOR"] = f


def set_factor_module(f):
    setattr(sys.modules[__name__], "FACTOR", f)


def double(x):
    return x * 2


assert scale(2) == 5  # judged
assert count() == 1  # judged
assert is_debug()  # judged
list(map(ITEMS.append, [1, 2]))
assert count() == 2  # no verdict
set_factor(3)
assert scale(2) == 6  # no verdict
set_factor_module(4)
assert scale(2) == 8  # no verdict
set_debug()
assert is_debug()  # no verdict
assert double(2) == 5  # judged
'''


def test_the_same_changes_by_the_module_itself(tmp_path):
    """The same changes made by the module's own statements, before its later asserts."""
    path = tmp_path / "script.py"
    path.write_text(SCRIPT)
    assert set(failing_asserts(tmp_path, path.name)) == marked(SCRIPT, "# judged")
    check_marks(SCRIPT)
