"""Hovering a doctest example shows that example, never another's verdict. An example that
is no check the server judges (`print(shout("a"))`, `sorted(unique_tags(...))`,
`shout("x") == "X!"`, the same call again) gave no call of its own, so the hover fell back
on the function's first known call: the first example's `✓ the doctest passes` (or its
`⚠ assert failed`) on another example's line."""

from __future__ import annotations

import subprocess
import sys

from lsp_helpers import EXEC_ON, diagnostics_for, hover, line_of, open_document, running_server, wait_for

RECORDS = '''COUNT = [0]


def unique_tags(tags):
    """
    >>> unique_tags(["a", "a"])
    {'a'}
    >>> sorted(unique_tags(["b", "a"]))
    ['a', 'b']
    """
    return set(tags)


def shout(s):
    """
    >>> shout("hi")
    'HI!'
    >>> print(shout("a"))
    A!
    >>> shout("x") == "X!"
    True
    """
    return s.upper() + "!"


def greet(name, polite):
    """
    >>> greet("ann", True)
    'Good day, ann'
    >>> greet("bo", False)
    'Hi bo'
    >>> greet("cy", None)  # doctest: +SKIP
    'Hey cy'
    """
    if polite:
        return f"Good day, {name}"
    return f"Hello {name}"


def counter():
    """
    >>> counter()
    1
    >>> counter()
    2
    """
    COUNT[0] += 1
    return COUNT[0]
'''


def _col(needle: str) -> int:
    """The column just after a line's `>>> ` (where an editor user rests the pointer)."""
    text = RECORDS.splitlines()[line_of(RECORDS, needle)]
    return text.index(">>>") + 4


async def test_a_doctest_examples_hover_traces_that_example(tmp_path):
    path = tmp_path / "records.py"
    path.write_text(RECORDS)
    # (what doctest itself says: only greet's second example fails)
    ran = subprocess.run([sys.executable, "-m", "doctest", str(path)], capture_output=True, text=True)
    assert ran.stdout.count("Failed example:") == 1 and 'greet("bo", False)' in ran.stdout, ran.stdout
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        await wait_for(lambda: diagnostics_for(client, uri))

        async def hover_on(needle: str, col: int | None = None) -> str:
            return await hover(client, uri, line_of(RECORDS, needle), _col(needle) if col is None else col)

        # An example that prints its call's value: that call, replayed, with no verdict.
        text = await hover_on('>>> print(shout("a"))')
        assert text.startswith('**SemCoder** · `shout("a")` (under the cursor)'), text
        assert "returned `'A!'`" in text and "doctest passes" not in text and "⚠" not in text, text
        assert 'shout("hi")' not in text, text
        # ... on its expected output too, and with the cursor on the call itself.
        assert (await hover(client, uri, line_of(RECORDS, ">>> print(shout") + 1, 5)).startswith(
            '**SemCoder** · `shout("a")` (under the cursor)')
        assert (await hover_on('>>> print(shout("a"))', _col('>>> print(shout("a"))') + 7)).startswith(
            '**SemCoder** · `shout("a")` (under the cursor)')
        # A call in a larger expression: its own values.
        text = await hover_on('>>> sorted(unique_tags(["b", "a"]))')
        assert text.startswith('**SemCoder** · `unique_tags(["b", "a"])` (under the cursor)'), text
        assert "tags = ['b', 'a']" in text and "doctest passes" not in text and "⚠" not in text, text
        # After an example that may have changed what it sees: said, not another's verdict.
        text = await hover_on('>>> shout("x") == "X!"')
        line = line_of(RECORDS, '>>> print(shout("a"))') + 1
        assert text == ('**SemCoder** · This doctest example runs after `print(shout("a"))` (line '
                        f"{line}), which may have changed what it sees: run alone, it could give another value "
                        "than in doctest's run, so it is not traced."), text
        text = await hover(client, uri, line_of(RECORDS, ">>> counter()") + 2, 8)  # the second `counter()`
        assert "runs after `counter()` (line" in text and "passes" not in text, text
        text = await hover_on('>>> greet("cy", None)')
        assert text == "**SemCoder** · This doctest example is skipped (`+SKIP`): doctest does not run it.", text
        # A later example that is a check: its own verdict, on its output line as well.
        for line in (line_of(RECORDS, '>>> greet("bo", False)'), line_of(RECORDS, "'Hi bo'")):
            text = await hover(client, uri, line, 8)
            assert text.startswith('**SemCoder** · `greet("bo", False)` (from a doctest)'), text
            assert "⚠" in text and "Hello bo" in text and "Good day" not in text, text
        # (the first example's own hover is unchanged)
        text = await hover_on('>>> shout("hi")')
        assert text.startswith('**SemCoder** · `shout("hi")` (from a doctest)') and "✓ the doctest passes" in text


MULTILINE = '''def add(a, b):
    """>>> add(1, 2)
    3
    >>> print(add(
    ...     2, add(1, 1)))
    4
    >>> x = 5
    >>> add(x, 1)
    6
    """
    return a + b


class K:
    def m(self, n):
        """Doc.

        >>> len(K().m(3))
        3
        """
        return [0] * n
'''


def test_each_line_of_an_example_means_that_example():
    """(calls.doctest_example_at, on the analysis alone) A prompt on the docstring's first
    line, a `...` line and the output lines belong to their example; a method's docstring
    too; a line of the function's code is no example's."""
    from semcoder_lsp.calls import analyse, doctest_example_at

    info = analyse(MULTILINE)

    def at(needle: str, col: int = 8):
        found = doctest_example_at(info, line_of(MULTILINE, needle), col)
        return found if isinstance(found, str) or found is None else (found.call, found.origin, found.line)

    first = line_of(MULTILINE, '""">>> add(1, 2)')
    assert at('""">>> add(1, 2)') == at("    3") == ("add(1, 2)", "doctest", first)
    printed = line_of(MULTILINE, ">>> print(add(")
    for needle in (">>> print(add(", "...     2, add(1, 1)))", "    4"):
        assert at(needle) == ("add(1, 1)", "cursor", printed + 1), needle
    for needle in (">>> x = 5", ">>> add(x, 1)", "    6"):
        assert at(needle) == ("This doctest example runs after `print(add( 2, add(1, 1)))` (line "
                              f"{printed + 1}), which may have changed what it sees: run alone, it could give "
                              "another value than in doctest's run, so it is not traced."), needle
    assert at(">>> len(K().m(3))") == ("K().m(3)", "cursor", line_of(MULTILINE, ">>> len(K().m(3))"))
    assert at("return a + b") is None
