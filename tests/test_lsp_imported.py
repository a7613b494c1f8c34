"""A test file imports what it tests (`from app import scale`): its asserts on such a
function are checks too (they had no verdict at all: a failing one was missed), where the
function's own module shows it keeps no state that earlier code may have left behind.
Every fixture's truth is pytest's."""

from __future__ import annotations

import ast
from pathlib import Path

from lsprotocol import types

from lsp_helpers import EXEC_ON, diagnostics_for, hover, judged_asserts, line_of, open_document, pytest_outcomes, running_server, wait_for
from semcoder_lsp.imported import ImportReader, imports_of

APP = '''import functools
import random

import helpers

FACTOR = 1
_SEEN = []
LIMITS = {"top": 10}


def scale(x):
    return x * FACTOR


def clamp(x):
    return min(x, LIMITS["top"])


def register(name):
    _SEEN.append(name)
    return len(_SEEN)


def seen():
    return len(_SEEN)


@functools.lru_cache(maxsize=None)
def cached_double(x):
    return 2 * x


def roll():
    return random.randint(1, 6)


def shout(text):
    return helpers.upper(text) + "!"
'''

HELPERS = '''def upper(text):
    return text.upper()
'''

TESTS = '''import app
from app import cached_double, clamp, register, roll, scale, seen, shout
from app import LIMITS
from app import scale as times

WANT = 4


def test_scale():
    assert scale(3) == 3
    assert scale(2) == 5


def test_alias():
    assert times(4) == 5
    assert times(4) == WANT


def test_register():
    register("a")
    assert register("b") == 2
    assert seen() == 2


def test_factor():
    app.FACTOR = 2
    assert scale(3) == 6
    app.FACTOR = 1


def test_limits():
    LIMITS["top"] = 2
    assert clamp(5) == 2
    LIMITS["top"] = 10


def test_cached():
    assert cached_double(2) == 4


def test_roll():
    assert 1 <= roll() <= 6


def test_shout():
    assert shout("hi") == "HI!"
'''


def _write(folder: Path) -> Path:
    (folder / "app.py").write_text(APP)
    (folder / "helpers.py").write_text(HELPERS)
    path = folder / "test_app.py"
    path.write_text(TESTS)
    return path


def test_which_asserts_on_imported_functions_arejudged_asserts(tmp_path):
    """Judged: a function of no state (`scale`), even one reading a module constant. Not:
    one that keeps state (`register`, and `seen`, which reads what it changes), one reading
    what the test changed (`app.FACTOR = 2`, `LIMITS["top"] = 2`), a decorated one
    (`lru_cache` keeps results), `random`'s, one using another module of the workspace."""
    path = _write(tmp_path)
    # (an expected value that is a name of the test file: the call is traced in app.py, where it is not)
    assert judged_asserts(path, [tmp_path]) == [("scale(3)", "3"), ("scale(2)", "5"), ("times(4)", "5")]
    assert pytest_outcomes(tmp_path, path.name) == {
        "test_scale": "FAILED", "test_register": "PASSED", "test_factor": "PASSED", "test_limits": "PASSED",
        "test_cached": "PASSED", "test_roll": "PASSED", "test_shout": "PASSED", "test_alias": "FAILED"}


def test_where_an_imported_module_is_found(tmp_path):
    """As a run finds it: the file's folder, then the workspace root; a package's module or
    `__init__.py`; not a relative import, nor a module that is not a file of the workspace."""
    root = tmp_path / "project"
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pkg" / "__init__.py").write_text("def first(x):\n    return x\n")
    (root / "pkg" / "sub" / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    test = root / "tests" / "test_calc.py"
    test.write_text("from pkg.sub.calc import add\nfrom pkg import first\nfrom json import dumps\n"
                    "from .near import other\n\n\n"
                    "def test_add():\n    assert add(1, 2) == 4\n    assert first(1) == 1\n    assert dumps(1) == '1'\n")
    assert judged_asserts(test, [root]) == [("add(1, 2)", "4"), ("first(1)", "1")]
    assert judged_asserts(test, []) == []  # (no workspace root: the test's folder alone has no pkg)


async def test_an_imported_function_s_failing_assert_is_a_diagnostic_until_its_module_is_fixed(tmp_path):
    path = _write(tmp_path)
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        await wait_for(lambda: diagnostics_for(client, uri))
        found = diagnostics_for(client, uri)
        assert [(d.range.start.line, d.message) for d in found] == [
            (line_of(TESTS, "scale(2) == 5"), "assert failed: scale(2) returned 2, expected 5"),
            (line_of(TESTS, "times(4) == 5"), "assert failed: times(4) returned 4, expected 5")]
        text = await hover(client, uri, line_of(TESTS, "scale(2) == 5"), 12)
        assert "⚠ assert failed: scale(2) returned 2, expected 5" in text, text
        # traced in its module, as the import runs it: the table is app.py's lines
        assert "_`scale` is defined in `app.py`: the lines below are that file's._" in text, text
        assert f"| {line_of(APP, 'def scale') + 1} `def scale(x):` | `x = 2` |" in text, text
        text = await hover(client, uri, line_of(TESTS, "scale(3) == 3"), 12)
        assert "✓ the assert passes: `scale(3) == 3`" in text, text
        # No quick fix here: the function's code is in app.py.
        actions = await client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), range=found[0].range,
            context=types.CodeActionContext(diagnostics=found[:1])))
        assert not actions

        # app.py changes on disk (`FACTOR = 2.5`): the check runs again on the new module.
        (tmp_path / "app.py").write_text(APP.replace("FACTOR = 1", "FACTOR = 2.5"))
        client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[
            types.FileEvent(uri=(tmp_path / "app.py").as_uri(), type=types.FileChangeType.Changed)]))
        await wait_for(lambda: [d.message for d in diagnostics_for(client, uri)] == [
            "assert failed: scale(3) returned 7.5, expected 3", "assert failed: scale(2) returned 5.0, expected 5",
            "assert failed: times(4) returned 10.0, expected 5"][::2])

        # ... and once scale keeps state, its asserts get no verdict.
        (tmp_path / "app.py").write_text(APP.replace("    return x * FACTOR", "    _SEEN.append(x)\n    return x * FACTOR"))
        client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[
            types.FileEvent(uri=(tmp_path / "app.py").as_uri(), type=types.FileChangeType.Changed)]))
        await wait_for(lambda: diagnostics_for(client, uri) == [])


# Projects whose test passes under pytest, and whose imported call, replayed alone, would
# not see what pytest's sees (each had a false "assert failed"): no verdict.
NO_VERDICT = {
    "a helper of the test file changes the module's class": {
        "app.py": "class Settings:\n    factor = 2\n\n\ndef scale(x):\n    return x * Settings.factor\n",
        "test_p.py": "from app import Settings, scale\n\n\ndef bump():\n    Settings.factor = 3\n\n\n"
                     "def test_a():\n    bump()\n\n\ndef test_b():\n    assert scale(2) == 6\n",
    },
    "an alias of the module's dict, changed in an earlier test": {
        "app.py": 'SETTINGS = {"factor": 2}\n\n\ndef scale(x):\n    return x * SETTINGS["factor"]\n',
        "test_p.py": "from app import SETTINGS, scale\n\n\ndef test_a():\n    s = SETTINGS\n    s[\"factor\"] = 5\n\n\n"
                     "def test_b():\n    assert scale(2) == 10\n",
    },
    "another module of the workspace changes it": {
        "app.py": "FACTOR = 2\n\n\ndef scale(x):\n    return x * FACTOR\n",
        "other.py": "import app\n\n\ndef set_factor(f):\n    app.FACTOR = f\n",
        "test_p.py": "from app import scale\nfrom other import set_factor\n\n\ndef test_a():\n    set_factor(3)\n\n\n"
                     "def test_b():\n    assert scale(2) == 6\n",
    },
    "through sys.modules": {
        "app.py": "FACTOR = 2\n\n\ndef scale(x):\n    return x * FACTOR\n",
        "test_p.py": "import sys\n\nfrom app import scale\n\n\ndef test_a():\n    sys.modules[\"app\"].FACTOR = 4\n\n\n"
                     "def test_b():\n    assert scale(2) == 8\n",
    },
    "a counter in a closure": {
        "app.py": "def _make_counter():\n    n = [0]\n\n    def inc():\n        n[0] += 1\n        return n[0]\n    return inc\n\n\n"
                  "_inc = _make_counter()\n\n\ndef next_ticket():\n    return _inc()\n",
        "test_p.py": "from app import next_ticket\n\n\ndef test_a():\n    next_ticket()\n\n\n"
                     "def test_b():\n    assert next_ticket() == 2\n",
    },
    "the environment": {
        "app.py": "import os\n\n\ndef home_name():\n    return os.environ.get(\"APP_NAME\", \"none\")\n",
        "test_p.py": "import os\n\nfrom app import home_name\n\nos.environ[\"APP_NAME\"] = \"demo\"\n\n\n"
                     "def test_b():\n    assert home_name() == \"demo\"\n",
    },
    "its package's __init__ changes it": {
        "shop/__init__.py": 'from .pricing import CURRENCIES\n\nCURRENCIES["EUR"] = 0.9\n',
        "shop/pricing.py": 'CURRENCIES = {"USD": 1.0}\n\n\ndef supported():\n    return sorted(CURRENCIES)\n',
        "test_p.py": 'from shop.pricing import supported\n\n\ndef test_b():\n    assert supported() == ["EUR", "USD"]\n',
    },
    "a relative import in another module changes it": {
        "pkg/__init__.py": "",
        "pkg/core.py": "FACTOR = 2\n\n\ndef scale(x):\n    return x * FACTOR\n",
        "pkg/config.py": "from . import core\n\n\ndef set_factor(f):\n    core.FACTOR = f\n",
        "test_p.py": "from pkg.config import set_factor\nfrom pkg.core import scale\n\n\ndef test_a():\n    set_factor(3)\n\n\n"
                     "def test_b():\n    assert scale(2) == 6\n",
    },
    "the module bound by another name": {
        "pkg/__init__.py": "",
        "pkg/core.py": "FACTOR = 2\n\n\ndef scale(x):\n    return x * FACTOR\n",
        "test_p.py": "from pkg import core\nfrom pkg.core import scale\n\n\ndef test_a():\n    core.FACTOR = 5\n\n\n"
                     "def test_b():\n    assert scale(2) == 10\n",
    },
    "a module imported through another changes it": {
        "core.py": 'RATES = {"full": 0.2}\n\n\ndef tax(amount, rate):\n    return amount * RATES[rate]\n',
        "settings.py": 'import core\n\ncore.RATES["reduced"] = 0.05\n',
        "service.py": "import settings  # noqa: F401\n",
        "test_p.py": 'import service  # noqa: F401\nfrom core import tax\n\n\ndef test_b():\n    assert tax(100, "reduced") == 5.0\n',
    },
    "a file found from the working folder": {
        "pkg/__init__.py": "",
        "pkg/settings.ini": "[x]\n",
        "pkg/paths.py": 'import os\n\n\ndef has_settings():\n    return os.path.exists("settings.ini")\n',
        "test_p.py": "from pkg.paths import has_settings\n\n\ndef test_b():\n    assert not has_settings()\n",
    },
    "the home folder": {
        "app.py": "from pathlib import Path\n\n\ndef config_dir(name):\n    return str(Path.home() / \".config\" / name)\n",
        "test_p.py": f'from app import config_dir\n\n\ndef test_b():\n    assert config_dir("x") == "{Path.home()}/.config/x"\n',
    },
    "a plugin the test module loads": {
        "app.py": "FACTOR = 2\n\n\ndef scale(x):\n    return x * FACTOR\n",
        "myplugin.py": "import pytest\n\nimport app\n\n\n@pytest.fixture(autouse=True)\ndef three(monkeypatch):\n"
                       "    monkeypatch.setattr(app, \"FACTOR\", 3)\n",
        "test_p.py": 'from app import scale\n\npytest_plugins = ["myplugin"]\n\n\ndef test_b():\n    assert scale(2) == 6\n',
    },
    "a module named as the standard library's": {
        "json.py": "def double(x):\n    return 2 * x\n",
        "test_p.py": "def test_b():\n    from calc import double\n    assert double(2) == 4\n",
        "calc.py": "def double(x):\n    return 2 * x\n",
    },
}


def test_no_verdict_where_the_imported_module_may_hold_what_earlier_code_left(tmp_path):
    for name, files in NO_VERDICT.items():
        folder = tmp_path / name.replace(" ", "_").replace("'", "")
        folder.mkdir()
        for file, text in files.items():
            (folder / file).parent.mkdir(parents=True, exist_ok=True)
            (folder / file).write_text(text)
        assert judged_asserts(folder / "test_p.py", [folder]) == [], name
        assert set(pytest_outcomes(folder, "test_p.py").values()) == {"PASSED"}, name


def test_a_package_wins_over_a_module_of_its_name_and_a_test_package_imports_from_above_it(tmp_path):
    """As Python and pytest find them: `app/__init__.py` before `app.py`; from a test in
    a package (`tests/__init__.py`), the first folder above it that is none, not the test's
    own folder. Each assert passes under pytest, and is judged so (no error)."""
    (tmp_path / "app.py").write_text("def scale(x):\n    return x * 2\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("def scale(x):\n    return x * 3\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "__init__.py").write_text("")
    (tmp_path / "tests" / "app.py").write_text("def scale(x):\n    return x * 5\n")
    test = tmp_path / "tests" / "test_p.py"
    test.write_text("from app import scale\n\n\ndef test_b():\n    assert scale(2) == 6\n")
    reader = ImportReader()
    resolved = reader.resolve(imports_of(ast.parse(test.read_text())), str(test), [tmp_path])
    assert [file for *_, file in resolved] == [tmp_path / "app" / "__init__.py"]
    assert judged_asserts(test, [tmp_path]) == [("scale(2)", "6")]
    assert pytest_outcomes(tmp_path, "tests/test_p.py") == {"test_b": "PASSED"}


def test_a_module_constant_made_plainly_is_a_value_and_one_filled_as_it_loads_is_not(tmp_path):
    """A pattern compiled from a literal is a value; a list the module's own loop fills as
    it loads is not judged (`words`); `shout` reads only the pattern. A
    call of `words` before `shout`'s would leave `shout` unjudged too: a function of the
    module that is not known to keep no state may change it.)"""
    (tmp_path / "app.py").write_text(
        'import re\n\nWORDS = []\nfor w in "a b".split():\n    WORDS.append(w)\n\nPATTERN = re.compile(r"[a-z]+")\n\n\n'
        'def words():\n    return "".join(WORDS)\n\n\ndef shout(text):\n    return PATTERN.sub(lambda m: m.group().upper(), text)\n')
    test = tmp_path / "test_p.py"
    test.write_text('from app import shout, words\n\n\ndef test_b():\n    assert shout("a1") == "A2"\n    assert words() == "ab"\n')
    assert judged_asserts(test, [tmp_path]) == [('shout("a1")', '"A2"')]
    assert pytest_outcomes(tmp_path, "test_p.py") == {"test_b": "FAILED"}


def test_a_change_on_disk_of_a_module_imported_on_the_way_is_seen(tmp_path):
    """The document's analysis holds while every file read for its imported functions is
    as it was: the module itself, and the workspace modules imported on the way
    (`service` imports `settings`, which comes to change `app` as it loads). Only the files
    the document imports directly were watched before: the verdict stayed."""
    from types import SimpleNamespace

    from semcoder_lsp.documents import DocumentStore

    (tmp_path / "app.py").write_text("FACTOR = 2\n\n\ndef scale(x):\n    return x * FACTOR\n")
    (tmp_path / "service.py").write_text("import settings  # noqa: F401\n")
    (tmp_path / "settings.py").write_text("LEVEL = 1\n")
    test = tmp_path / "test_p.py"
    test.write_text("import service  # noqa: F401\nfrom app import scale\n\n\ndef test_b():\n    assert scale(2) == 6\n")
    store = DocumentStore(SimpleNamespace(workspace=SimpleNamespace(text_documents={}),
                                          workspace_roots=lambda: [tmp_path]))
    judged = [c.call for c in store.analysis(test.as_uri()).calls if c.origin == "assert"]
    assert judged == ["scale(2)"]
    (tmp_path / "settings.py").write_text("import app\n\napp.FACTOR = 3\n")
    assert [c.call for c in store.analysis(test.as_uri()).calls if c.origin == "assert"] == []
    assert pytest_outcomes(tmp_path, test.name) == {"test_b": "PASSED"}  # (3 * 2: what the server no longer judges)
