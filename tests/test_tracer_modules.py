"""The module a traced file runs as: named as `import` names it, in its package when it lies
in one (relative imports resolve, the package's __init__ runs first), and the same module
for code that imports it back."""

from __future__ import annotations

from pathlib import Path

import pytest

from semcoder_inference.tracer import Tracer
from semcoder_inference.tracer.pool import module_path
from test_tracer_interpreters import _interpreters


@pytest.fixture(scope="module")
def tracer():
    with Tracer(workers=1) as t:
        yield t


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_module_path_names_a_file_as_import_does(tmp_path):
    write(tmp_path, {"shop/__init__.py": "", "shop/cart/__init__.py": "", "shop/cart/items.py": "",
                     "shop/prices.py": "", "loose.py": "", "my-dir/__init__.py": "", "my-dir/x.py": ""})
    assert module_path(str(tmp_path / "shop/cart/items.py")) == ("shop.cart.items", str(tmp_path), False)
    assert module_path(str(tmp_path / "shop/prices.py")) == ("shop.prices", str(tmp_path), False)
    assert module_path(str(tmp_path / "shop/cart/__init__.py")) == ("shop.cart", str(tmp_path), True)
    assert module_path(str(tmp_path / "loose.py")) is None  # a module of its own
    assert module_path(str(tmp_path / "my-dir/x.py")) is None  # no package can be named so
    assert module_path(str(tmp_path / "shop/notes.txt")) is None


def test_a_file_in_a_package_runs_as_its_module_and_its_relative_imports_resolve(tracer, tmp_path):
    write(tmp_path, {
        "shop/__init__.py": "OPENED = []\n",
        "shop/prices.py": "def with_tax(x):\n    return round(x * 1.2, 2)\n",
        "shop/cart.py": "from .prices import with_tax\nfrom . import OPENED\n\n"
                        "class Cart:\n    pass\n\n"
                        "def total(xs):\n    t = sum(with_tax(x) for x in xs)\n"
                        "    return t, __name__, __package__, repr(Cart)\n",
    })
    path = tmp_path / "shop/cart.py"
    trace = tracer.trace_call(path.read_text(), "total([10, 5])", filename=str(path))
    assert trace["status"] == "ok", trace["message"]
    assert trace["return"]["repr"] == "(18.0, 'shop.cart', 'shop', \"<class 'shop.cart.Cart'>\")"
    assert [e["changes"] for e in trace["events"] if e["kind"] == "line"] == [{"t": "18.0"}, {}]


def test_a_package_that_imports_the_module_first_gets_it_from_disk_and_the_edit_is_what_is_traced(tracer, tmp_path):
    """The editor's buffer may differ from the file: the package's __init__ (run first, as
    import does) loads the saved file, and the call runs the buffer's code. An error in
    the __init__ is the run's, as it would be the user's."""
    write(tmp_path, {
        "calc/__init__.py": "from .ops import double\n",
        "calc/ops.py": "def double(x):\n    return 2 * x\n",
    })
    path = tmp_path / "calc/ops.py"
    edited = "import calc\n\ndef double(x):\n    return 3 * x\n\ndef both(x):\n    return double(x), calc.double(x)\n"
    trace = tracer.trace_call(edited, "both(5)", filename=str(path))
    assert trace["status"] == "ok", trace["message"]
    assert trace["return"]["repr"] == "(15, 10)"
    (tmp_path / "calc/__init__.py").write_text("raise RuntimeError('half-written package')\n")
    broken = tracer.trace_call(edited, "both(5)", filename=str(path))
    assert broken["status"] == "exception"
    assert broken["exception"]["message"] == (
        "half-written package (raised while importing the package `calc` the file lies in, "
        f"at {tmp_path / 'calc' / '__init__.py'} line 1)")


def test_a_module_on_its_own_is_named_by_its_file_and_imported_back_as_itself(tracer, tmp_path):
    """A helper that imports the traced module gets the module being traced (before, a
    second copy from disk, whose globals the trace never saw). A file named like a module of
    the standard library keeps a private name: taking that name would break the library."""
    write(tmp_path, {
        "counter.py": "import helper\nCOUNT = [0]\n\ndef bump_twice():\n    helper.bump()\n    helper.bump()\n"
                      "    return COUNT[0], __name__\n",
        "helper.py": "def bump():\n    import counter\n    counter.COUNT[0] += 1\n",
        "json.py": "import collections\n\ndef f():\n    return __name__, collections.Counter('aab')['a']\n",
    })
    path = tmp_path / "counter.py"
    trace = tracer.trace_call(path.read_text(), "bump_twice()", filename=str(path))
    assert trace["return"]["repr"] == "(2, 'counter')", trace["message"]
    assert [e.get("globals") for e in trace["events"] if e["kind"] == "line"][:2] == [
        {"COUNT": "[1]"}, {"COUNT": "[2]"}]
    clash = tmp_path / "json.py"
    trace = tracer.trace_call(clash.read_text(), "f()", filename=str(clash))
    assert trace["return"]["repr"] == "('__semcoder_traced__', 2)", trace["message"]


def test_a_script_in_a_package_is_watched_as_python_m_runs_it(tracer, tmp_path):
    write(tmp_path, {
        "tools/__init__.py": "",
        "tools/text.py": "def shout(s):\n    return s.upper() + '!'\n",
        "tools/main.py": "from .text import shout\n\ndef greet(name):\n    return shout('hi ' + name)\n\n"
                         "if __name__ == '__main__':\n    print(__spec__.name, __package__)\n    greet('ann')\n",
    })
    path = tmp_path / "tools/main.py"
    trace = tracer.watch_call(path.read_text(), "greet", filename=str(path))
    assert trace["status"] == "ok", trace["message"]
    assert trace["return"]["repr"] == "'HI ANN!'"
    assert trace["stdout"] == "tools.main tools\n"


@pytest.mark.parametrize("python", _interpreters())
def test_packages_resolve_under_each_interpreter(python, tmp_path):
    write(tmp_path, {
        "shop/__init__.py": "from .cart import total\n",
        "shop/prices.py": "def with_tax(x):\n    return round(x * 1.2, 2)\n",
        "shop/cart.py": "from .prices import with_tax\n\ndef total(xs):\n    return sum(map(with_tax, xs)), __name__\n",
    })
    path = tmp_path / "shop/cart.py"
    with Tracer(python=python, workers=1) as tracer:
        trace = tracer.trace_call(path.read_text(), "total([10, 5])", filename=str(path))
    assert trace["return"]["repr"] == "(18.0, 'shop.cart')", trace["message"]
