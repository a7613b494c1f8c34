"""Analysing a file: work that grows linearly with the file, source segments as the ast
module cuts them, line numbers as the ast module counts them, files on disk decoded as
Python decodes them, and what a code lens says about a call the file makes."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from semcoder_lsp.calls import analyse, call_at, function_called_at
from semcoder_lsp.documents import DocumentStore


def _module(units: int) -> str:
    """A file with `units` helpers and two asserts each (one with its call on the right)."""
    parts = ["def f(a, b=1):\n    return a + b\n\n",
             "class P:\n    def __init__(self, x):\n        self.x = x\n\n    def m(self, k):\n        return self.x * k\n\n"]
    for i in range(units):
        parts.append(f"def helper_{i}(x):\n    y = x + {i}\n    return y\n\n")
        parts.append(f"assert f({i}, b=2) == {i + 2}\n")
        parts.append(f"assert {i * 3} == P({i}).m(3)\n\n")
    return "".join(parts)


def _profiled_events(text: str) -> int:
    """How many Python and C function calls analysing `text` makes: a count that does not
    depend on the machine's speed or load."""
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        count += 1

    sys.setprofile(profile)
    try:
        info = analyse(text)
    finally:
        sys.setprofile(None)
    assert info.calls  # the asserts were found
    return count


def test_analysis_work_grows_linearly_with_the_file():
    """A file four times as long (four times the asserts) costs about four times the work,
    not sixteen: each assert's text is cut from lines split once, not by splitting the whole
    file again (ast.get_source_segment), which made a 9,000-line file take 51 s."""
    small, large = _profiled_events(_module(15)), _profiled_events(_module(60))
    assert large / small < 6, (small, large)


def test_analysis_does_not_split_the_whole_file_per_assert(monkeypatch):
    """(ast.get_source_segment splits the text it is given each time; a call's own short
    text may still be cut that way.)"""
    text = _module(30)
    whole = []
    real = ast._splitlines_no_ff
    monkeypatch.setattr(ast, "_splitlines_no_ff", lambda source, *a, **k: whole.append(source == text) or
                        real(source, *a, **k))
    info = analyse(text)
    assert len([c for c in info.calls if c.origin == "assert" and c.expected]) == 60
    assert not any(whole)


def test_recording_from_the_asserts_does_not_split_the_whole_file_per_assert(monkeypatch):
    """The asserts' conditions, run to record calls (a hover on a method no assert calls
    with literals): 27 s for a 5,000-line file with 1,500 asserts when each was cut with
    ast.get_source_segment."""
    from semcoder_lsp.tracing import MAX_RECORDED_TESTS, top_level_asserts

    text = _module(30)
    info = analyse(text)
    whole = []
    real = ast._splitlines_no_ff
    monkeypatch.setattr(ast, "_splitlines_no_ff", lambda source, *a, **k: whole.append(source == text) or
                        real(source, *a, **k))
    conditions = top_level_asserts(info.tree, info)
    assert conditions[:2] == ["f(0, b=2) == 2", "0 == P(0).m(3)"] and len(conditions) == MAX_RECORDED_TESTS
    assert not any(whole)


def test_call_text_is_the_ast_source_segment_in_any_text():
    """Segments cut by line and UTF-8 byte column are exactly ast.get_source_segment's: with
    non-ASCII text before the call, CRLF line ends and a call over several lines."""
    source = (
        "def f(a, b=2):\r\n"
        "    return a + b\r\n"
        "\r\n"
        "assert f('é😀', 'x') == 'é😀x'\r\n"
        "assert 'ü' + 'v' == f('ü',\r\n"
        "                      'v')\r\n"
        "x = ['é', f('😀', b='ß')]\r\n"
    )
    info = analyse(source)
    tree = ast.parse(source)
    asserts = [n for n in tree.body if isinstance(n, ast.Assert)]
    found = sorted((c.line, c.call, c.expected) for c in info.calls if c.origin == "assert")
    assert found == [
        (3, ast.get_source_segment(source, asserts[0].test.left), ast.get_source_segment(source, asserts[0].test.comparators[0])),
        (4, ast.get_source_segment(source, asserts[1].test.comparators[0]), ast.get_source_segment(source, asserts[1].test.left)),
    ]
    assert found[0][1:] == ("f('é😀', 'x')", "'é😀x'") and found[1][1] == "f('ü',\r\n                      'v')"
    line = info.lines[6]
    col = len(line[: line.index("f(")].encode()) + 1
    inner = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and n.lineno == 7)
    assert call_at(info, 6, col).call == ast.get_source_segment(source, inner) == "f('😀', b='ß')"
    assert function_called_at(info, 6, col).call == "f('😀', b='ß')"


def test_lines_are_counted_as_python_counts_them():
    """A form feed (a page break between functions) or a U+2028 in a string is no line
    break for Python or LSP, so the lines after it keep their numbers."""
    source = (
        "def g():\n    return 1\n"
        "\x0c\n"
        "def f(a):\n    s = 'a\u2028b\x1cc\x85'\n    return a + 1\n"
        "assert f(1) == 2\n"
    )
    info = analyse(source)
    assert len(info.lines) == 7
    fn = info.functions["f"]
    assert (fn.start, fn.def_line, fn.end) == (3, 3, 5)
    assert info.lines[fn.def_line] == "def f(a):" and fn.source.endswith("return a + 1\n")
    (site,) = [c for c in info.calls if c.origin == "assert"]
    assert (site.line, site.call, site.expected) == (6, "f(1)", "2")
    assert call_at(info, 6, 8).call == "f(1)"
    assert analyse("").lines == [] and analyse("x = 1\r\ny = 2\r\n").lines == ["x = 1", "y = 2"]
    assert analyse("x = 1\ry = 2").lines == ["x = 1", "y = 2"]


# -- documents read from disk ---------------------------------------------------------------


def _store() -> DocumentStore:
    workspace = SimpleNamespace(text_documents={})
    return DocumentStore(SimpleNamespace(workspace=workspace, workspace_roots=lambda: []))


def test_files_on_disk_are_decoded_as_python_decodes_them(tmp_path: Path):
    store = _store()
    latin = tmp_path / "latin.py"
    latin.write_bytes("# -*- coding: latin-1 -*-\ndef f(x):\n    return 'caf\xe9' + x\n".encode("latin-1"))
    assert "return 'café' + x" in store.text(latin.as_uri())
    assert "f" in store.analysis(latin.as_uri()).functions
    bom = tmp_path / "bom.py"
    bom.write_bytes(b"\xef\xbb\xbfdef f(x):\n    return x\n")
    assert store.text(bom.as_uri()).startswith("def f(x):")
    assert store.analysis(bom.as_uri()).functions["f"].def_line == 0
    cp = tmp_path / "cp.py"
    cp.write_bytes("#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\nx = '\u20ac'\n".encode("cp1252"))
    assert "x = '€'" in store.text(cp.as_uri())


def test_files_on_disk_that_python_cannot_decode_get_clear_messages(tmp_path: Path):
    from semcoder_lsp.calls import SourceError

    store = _store()
    cases = {
        # no declaration: UTF-8, as Python reads it
        "plain.py": ("def f(x):\n    return 'caf\xe9'\n".encode("latin-1"), "not UTF-8 text (invalid byte at offset"),
        "first.py": (b"\xff\xfe = 1\n", "not UTF-8 text (invalid byte at offset 0)"),
        "unknown.py": (b"# coding: klingon\nx = 1\n", "declares an encoding Python does not know"),
        "wrong.py": (b"# coding: ascii\nx = '\xc3\xa9'\n", "not ascii text (invalid byte at offset"),
        "both.py": (b"\xef\xbb\xbf# coding: latin-1\nx = 1\n", "byte order mark but declares another encoding"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(SourceError) as error:
            store.text((tmp_path / name).as_uri())
        assert message in str(error.value), (name, str(error.value))
        assert name in str(error.value)


# -- through the server ---------------------------------------------------------------------

EXEC_ON = {"execution": {"enabled": True}}

POINT = '''from dataclasses import dataclass


def deco(f):
    return f


@dataclass
class Point:
    x: int
    y: int

    def moved(self, dx, dy=1):
        return Point(self.x + dx, self.y + dy)


p = Point(1, 2)
assert p.moved(2).x == 3
'''


async def test_a_code_lens_names_no_line_the_call_did_not_come_from(tmp_path):
    """A method only the file's asserts call, with an instance: its lens says where it is
    traced, and names no line it was not called from (the call came from running the
    asserts, not from a line of the file the tracer reported: not the `def` line)."""
    from lsprotocol import types
    from lsp_helpers import hover, line_of, open_document, running_server

    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "point.py", POINT)
        def_line = line_of(POINT, "def moved")
        lenses = await client.text_document_code_lens_async(types.CodeLensParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))
        assert next(l for l in lenses if l.range.start.line == def_line).command.title == "SemCoder: supply a call…"
        value = await hover(client, uri, line_of(POINT, "return Point(self.x"), 10)
        assert "returned `Point(x=3, y=3)`" in value, value
        lenses = await client.text_document_code_lens_async(types.CodeLensParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))
        title = next(l for l in lenses if l.range.start.line == def_line).command.title
        assert f"line {def_line + 1}" not in title, title
        assert title == "SemCoder: traced where the file's asserts call it", title


DECORATED = '''import functools


def deco(f):
    @functools.wraps(f)
    def inner(*args):
        return f(*args)
    return inner


@deco
def decorated(a):
    b = a + 1
    return b


class Box:
    def __init__(self, w):
        self.w = w

    @property
    def area(self):
        s = self.w * self.w
        return s

    @staticmethod
    def twice(x):
        y = x * 2
        return y


@functools.lru_cache
@deco
def cached(n):
    m = n + 1
    return m


assert decorated(2) == 3
assert Box(3).area == 9
assert Box.twice(4) == 8
assert cached(5) == 6
'''


async def test_a_decorated_functions_arguments_sit_on_its_def_line(tmp_path):
    """Python 3.8+ reports a decorated function's call at its first decorator's line; the
    arguments belong to the `def` line, in the trace's rows and in the inlay hints."""
    from lsprotocol import types
    from lsp_helpers import line_of, open_document, request, running_server

    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "decorated.py", DECORATED)
        cases = {"decorated": ("def decorated", "a = 2", "b = a + 1"),
                 "Box.area": ("def area", "self = <Box w=3>", "s = self.w"),
                 "Box.twice": ("def twice", "x = 4", "y = x * 2"),
                 "cached": ("def cached", "n = 5", "m = n + 1")}
        for function, (def_text, arguments, body) in cases.items():
            trace = await request(client, "semcoder/trace", {"textDocument": {"uri": uri}, "function": function})
            assert trace["actual"]["status"] == "ok", trace["actual"]
            rows = {state["line"]: ", ".join(f"{k} = {v}" for k, v in state["values"].items())
                    for state in trace["lineStates"]}
            def_line = line_of(DECORATED, def_text)
            assert rows.get(def_line) == arguments, (function, rows)
            assert not any(DECORATED.splitlines()[line].lstrip().startswith("@") for line in rows), (function, rows)
            assert f"| {def_line + 1} `{def_text}" in trace["markdown"], trace["markdown"]
            assert line_of(DECORATED, body) in rows
        hints = await client.text_document_inlay_hint_async(types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=60, character=0))))
        labels = {(h.position.line, h.label) for h in hints}
        assert (line_of(DECORATED, "def decorated"), "a = 2") in labels, labels
        assert (line_of(DECORATED, "def cached"), "n = 5") in labels, labels
        assert not any(DECORATED.splitlines()[line].lstrip().startswith("@") for line, _ in labels), labels


async def test_a_hover_on_a_latin1_or_bom_file_on_disk_runs_it(tmp_path):
    """Files the editor never opened, read from disk: a coding declaration and a BOM are
    honoured, and the run sees the same text (the declaration does not decode it twice)."""
    from lsp_helpers import hover, running_server

    latin = tmp_path / "latin.py"
    latin.write_bytes("# -*- coding: latin-1 -*-\ndef f(x):\n    return 'caf\xe9' + x\n# semcoder: f('!')\n"
                      .encode("latin-1"))
    bom = tmp_path / "bom.py"
    bom.write_bytes(b"\xef\xbb\xbfdef g(x):\n    return x * 2\n# semcoder: g(21)\n")
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        value = await hover(client, latin.as_uri(), 1, 5)
        assert "returned `'café!'`" in value, value
        value = await hover(client, bom.as_uri(), 0, 5)
        assert "returned `42`" in value, value
