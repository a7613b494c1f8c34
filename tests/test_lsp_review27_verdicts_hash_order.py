"""A doctest example whose expected output shows a set of strings (`{'a', 'b'}`) passes or
fails by chance: the set's order follows the strings' hashes, which Python randomises per
process (PYTHONHASHSEED), so `pytest --doctest-modules` passes it under some seeds and fails
it under others. It had a verdict, a different one from one server session to the next
("✓ the doctest passes" where pytest fails half the time). It gets none now, and its hover
says why. Asserts compare sets with `==`, whatever their order: they are unchanged."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from lsp_helpers import EXEC_ON, diagnostics_for, hover, line_of, open_document, running_server, wait_for
from semcoder_lsp.calls import analyse, doctest_example_at

TAGS = '''def unique_tags(text):
    """Unique tags.

    >>> unique_tags("#a #b #a")
    {'a', 'b'}
    """
    return {t[1:] for t in text.split() if t.startswith("#")}


def letters():
    """
    >>> letters()
    frozenset({'a', 'b', 'c', 'd'})
    """
    return frozenset("abcd")


def digits():
    """
    >>> digits()
    {1, 2, 3}
    """
    return {3, 2, 1}


def double(x):
    """
    >>> double(2)
    5
    """
    return 2 * x


def test_tags():
    assert unique_tags("#a #b #a") == {"b", "a"}
'''


def _doctest_outcomes(folder, seed: int) -> dict[str, str]:
    ran = subprocess.run([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "--doctest-modules",
                          "tags.py"], capture_output=True, text=True, cwd=folder,
                         env={**os.environ, "PYTHONHASHSEED": str(seed)})
    return {line.split("::")[-1].split()[0]: line.split()[1] for line in ran.stdout.splitlines()
            if line.startswith("tags.py::")}


def test_a_doctest_showing_a_set_of_strings_gets_no_verdict(tmp_path):
    (tmp_path / "tags.py").write_text(TAGS)
    info = analyse(TAGS)
    checks = [(c.call, c.origin) for c in info.calls if c.origin in ("doctest", "assert")]
    assert checks == [('unique_tags("#a #b #a")', "assert"), ("digits()", "doctest"), ("double(2)", "doctest")]
    for needle in ('>>> unique_tags("#a #b #a")', ">>> letters()"):
        line = line_of(TAGS, needle)
        why = doctest_example_at(info, line, 10)
        assert isinstance(why, str) and why.startswith(
            "This doctest example gets no verdict: the order of a set of strings changes from run to run "
            "(hash randomisation"), why
        assert info.unjudged[line] in why
    # pytest's truth: by chance, seed by seed (a set of numbers has one order; the assert's `==` none).
    seen: dict[str, set[str]] = {}
    for seed in range(40):
        for test, outcome in _doctest_outcomes(tmp_path, seed).items():
            seen.setdefault(test, set()).add(outcome)
        if seen.get("tags.unique_tags") == {"PASSED", "FAILED"}:
            break
    assert seen["tags.unique_tags"] == {"PASSED", "FAILED"}, seen
    assert seen["tags.digits"] == {"PASSED"} and seen["tags.double"] == {"FAILED"}
    assert seen["test_tags"] == {"PASSED"}


def test_which_outputs_show_a_set_whose_order_is_by_chance():
    from semcoder_lsp.doctest_examples import hash_ordered

    assert hash_ordered("{'a', 'b', 'c', 'd'}") and hash_ordered("frozenset({'x', 'y'})")
    assert hash_ordered("tags: {'a', 'b'}") and hash_ordered("{('a', 1), ('b', 2)}") and hash_ordered("{1, 'a'}")
    assert hash_ordered("{b'a', b'b'}") and hash_ordered("{'a', ...}") and hash_ordered('[{"x", "y"}]')
    assert not hash_ordered("{'a'}") and not hash_ordered("{1, 2, -3}") and not hash_ordered("{'a': 1, 'b': 2}")
    assert not hash_ordered("hello {name}") and not hash_ordered("set()") and not hash_ordered("['a', 'b']")


async def test_the_server_says_why_it_has_no_verdict(tmp_path):
    path = tmp_path / "tags.py"
    path.write_text(TAGS)
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        await wait_for(lambda: any("double(2)" in d.message for d in diagnostics_for(client, uri)), timeout=60)
        await asyncio.sleep(2)  # (settled)
        assert [d.message for d in diagnostics_for(client, uri)] == ["doctest failed: double(2) returned 4, expected 5"]
        for needle in ('>>> unique_tags("#a #b #a")', "{'a', 'b'}", ">>> letters()"):
            line = line_of(TAGS, needle)
            text = await hover(client, uri, line, TAGS.splitlines()[line].index(needle[:3]) + 1)
            assert text is not None and "no verdict: the order of a set of strings changes from run to run" in text, text
            assert "✓" not in text and "doctest failed" not in text, text
