"""A function of the file itself that reads the environment, the home, temporary or
working folder, the command line or `hash()` gets no verdict: a sandboxed run has those of
its own, so its value is not the one pytest (or the user's shell) sees. Its asserts had a
verdict: "assert failed" on tests pytest passes (`Path.home()`, `os.getcwd()`), and "✓
passes" on tests that fail in the user's shell. As for imported functions (imported.py),
with the reason kept for the hover (ModuleInfo.unjudged). Every fixture's truth is pytest's."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from lsp_helpers import EXEC_ON, diagnostics_for, hover, line_of, open_document, pytest_outcomes, running_server, wait_for
from semcoder_lsp.calls import analyse

HOME = str(Path.home())
TMP = tempfile.gettempdir()

CONFIG = f'''import hashlib
import os
import sys
import tempfile
from os import getenv as env
from pathlib import Path

MODE = os.environ.get("APP_MODE", "dev")


def get_mode():
    return os.environ.get("APP_MODE", "dev")


def mode_constant():
    return MODE


def aliased():
    return env("APP_MODE", "dev")


def config_path(name):
    return str(Path.home() / ".config" / name)


def expanded(name):
    return os.path.expanduser("~/" + name)


def cwd_name():
    return os.path.basename(os.getcwd())


def absolute(name):
    return os.path.abspath(name)


def scratch():
    return tempfile.gettempdir()


def program():
    return len(sys.argv) > 0


def bucket(word):
    return hash(word) % 2 == hash(word) % 2


def here():
    return os.path.dirname(os.path.abspath(__file__)) != ""


def digest(word):
    return hashlib.sha1(word.encode()).hexdigest()[:4]


def double(x):
    return 2 * x


def test_env():
    assert get_mode() == "dev"
    assert mode_constant() == "dev"
    assert aliased() == "dev"


def test_folders():
    assert config_path("app") == "{HOME}/.config/app"
    assert expanded("x") == "{HOME}/x"
    assert cwd_name() == Path.cwd().name
    assert absolute("a") == os.path.join(os.getcwd(), "a")
    assert scratch() == {TMP!r}


def test_others():
    assert program()
    assert bucket("a")
    assert double(2) == os.environ.get("FOUR", 4)


def test_plain():
    assert here()
    assert digest("a") == "86f7"
    assert double(2) == 5
'''


def test_no_verdict_for_the_files_own_functions_that_read_the_environment(tmp_path):
    path = tmp_path / "config.py"
    path.write_text(CONFIG)
    info = analyse(CONFIG)
    judged = [(c.call, c.expected) for c in info.calls if c.origin == "assert"]
    # (`__file__`-made paths, hashlib: the same in any run)
    assert judged == [("here()", "a true value"), ('digest("a")', '"86f7"'), ("double(2)", "5")]
    unjudged = {line + 1: why for line, why in info.unjudged.items()}
    for needle, what in [('get_mode() == "dev"', "an environment variable (`os.environ`)"),
                         ('mode_constant() == "dev"', "an environment variable (`os.environ`)"),
                         ('aliased() == "dev"', "an environment variable (`env`)"),
                         ('config_path("app")', "the home folder (`Path.home()`)"),
                         ('expanded("x")', "the home folder (`os.path.expanduser`)"),
                         ("cwd_name() ==", "the working folder"),
                         ('absolute("a")', "the working folder"),
                         ("scratch() ==", "the temporary folder (`tempfile.gettempdir`)"),
                         ("assert program()", "the command line (`sys.argv`)"),
                         ('bucket("a")', "`hash()`"),
                         ('double(2) == os.environ', "an environment variable (`os.environ`)")]:
        line = line_of(CONFIG, needle) + 1
        assert line in unjudged and what in unjudged[line], (needle, unjudged.get(line))
    assert "a sandboxed run has an environment, home, temporary and working folder of its own" in unjudged[
        line_of(CONFIG, 'config_path("app")') + 1]
    assert pytest_outcomes(tmp_path, "config.py") == {
        "test_env": "PASSED", "test_folders": "PASSED", "test_others": "PASSED", "test_plain": "FAILED"}


DOCTESTS = '''import os


def get_mode():
    """
    >>> get_mode()
    'dev'
    """
    return os.environ.get("APP_MODE", "dev")


def double(x):
    """
    >>> double(2)
    5
    """
    return 2 * x
'''


def test_a_doctest_of_a_function_reading_the_environment_gets_no_verdict_and_says_why(tmp_path):
    from semcoder_lsp.calls import doctest_example_at

    info = analyse(DOCTESTS)
    assert [(c.call, c.origin) for c in info.calls if c.origin == "doctest"] == [("double(2)", "doctest")]
    line = line_of(DOCTESTS, ">>> get_mode()")
    why = doctest_example_at(info, line, 10)
    assert isinstance(why, str) and why.startswith("This doctest example gets no verdict: it reads an environment "
                                                   "variable (`os.environ`)"), why
    assert info.unjudged[line] in why


async def test_the_server_shows_no_verdict_for_them(tmp_path):
    """Through the server: the only Error is `double(2) == 5`'s; the home folder's assert,
    which pytest passes, had "assert failed: config_path("app") returned
    '/tmp/semcoder-sandbox-…/run/.config/app'", and its hover said so."""
    path = tmp_path / "config.py"
    path.write_text(CONFIG)
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        await wait_for(lambda: any("double(2)" in d.message for d in diagnostics_for(client, uri)), timeout=60)
        await asyncio.sleep(2)  # (settled: the last publication is the pass's whole answer)
        assert [d.message for d in diagnostics_for(client, uri)] == ["assert failed: double(2) returned 4, expected 5"]
        line = line_of(CONFIG, 'config_path("app")')
        text = await hover(client, uri, line, CONFIG.splitlines()[line].index("config_path"))
        assert text is not None and "assert failed" not in text and "✓" not in text, text
        # ... and says why, beside the sandbox's run
        assert "_This assert gets no verdict: it reads the home folder (`Path.home()`)" in text, text
