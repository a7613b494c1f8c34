"""What the analysis of a file makes: its functions (FunctionInfo, and the kinds of them:
_method_kind), the calls to trace them with (CallSite), and the analysed file (ModuleInfo).
Kept apart from the rules that find them (calls, state_rules, pytest_rules,
doctest_examples), so that each of those can import them without an import cycle.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from semcoder_inference.errors import SemcoderError

# The line breaks of Python source (and of LSP): str.splitlines also breaks at a form feed,
# U+2028 and others, which would shift every later line against the ast's numbers.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class SourceError(SemcoderError):
    """The document cannot be analysed (syntax error, not text)."""


# What a FunctionInfo is: a top-level function, or a method of a top-level class.
FUNCTION, METHOD, STATIC_METHOD, CLASS_METHOD, PROPERTY = "function", "method", "staticmethod", "classmethod", "property"
_PROPERTY_DECORATORS = ("property", "cached_property")


@dataclass(frozen=True)
class FunctionInfo:
    name: str  # `f`, or `Class.method`
    start: int  # first line (decorators included), 0-based
    def_line: int  # the `def` line
    end: int  # last line, inclusive
    name_col: int  # column of the name on def_line
    source: str  # the function's text, dedented to column 0 (a method's too)
    docstring: str
    kind: str = FUNCTION
    indent: str = ""  # the leading whitespace of its lines in the file (a method's class body)
    takes_no_arguments: bool = False  # every parameter has a default (or there is none)

    @property
    def is_method(self) -> bool:
        return self.kind != FUNCTION

    @property
    def source_hash(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CallSite:
    function: str
    call: str  # e.g. "f(1, 2)"
    origin: str  # "cursor" | "assert" | "doctest" | "comment" | "main" | "asserts" | "tests" | "explicit" | "no-arguments"
    line: int  # where it appears (0-based)
    # expected value, source text; an assert without `==` expects TRUTHY (FALSY with `not`);
    # a doctest's is a DoctestWant, its output as text
    expected: str | None = None
    start_col: int = 0
    end_col: int = 0
    # A call seen while running the file whose values are not literals: it is traced where
    # it happens, by running `entry` (None: the `__main__` block) again (Tracer.watch_call).
    watched: bool = False
    entry: str | None = None
    # False for a module-level assert's call whose arguments are not literals but what the
    # replayed module evaluates (`ident(LIMIT)`, `f(len("ab"))`: see _replayable_arguments):
    # judged by a real run like a literal call, but the model's input states only literals.
    literal: bool = True
    # A `@pytest.mark.parametrize` case's check: `line`, `start_col` and `end_col` are where
    # the case is written (its first line), and its diagnostic marks that alone.
    case: bool = False


@dataclass
class ModuleInfo:
    text: str
    lines: list[str]
    functions: dict[str, FunctionInfo]
    calls: list[CallSite] = field(default_factory=list)  # file calls (not cursor)
    tree: ast.Module | None = None
    # The lines (0-based) of asserts whose call, replayed alone, may not see what Python's
    # sees there (an earlier call's state, a later definition: see _assert_site): a cursor
    # on such a call is traced where the file makes it (call_at).
    order_dependent: set[int] = field(default_factory=set)
    # Why pytest may set up this file's tests from outside it (a conftest.py's autouse
    # fixture or hook, see pytest_setup), in words; None if nothing does. Its tests' asserts
    # then get no verdict, as where the file itself has an autouse fixture.
    tests_set_up: str | None = None
    # The functions it imports from the workspace's own modules, by the name it binds
    # (imported.ImportedFunction; see imported.py), whether or not their asserts are judged.
    imported: dict[str, Any] = field(default_factory=dict)
    # The functions an assert's call may name: the file's own, and the imported ones whose
    # asserts are judged (set by the analysis).
    callables: dict[str, FunctionInfo] = field(default_factory=dict)
    # The file's tests (`test_f`, `TestX.test_m`), each with how many of them pytest runs
    # before it (pytest_rules.run_order).
    test_order: dict[str, int] = field(default_factory=dict)
    # Why the assert or doctest example on a line (0-based; a parametrized case's line) gets
    # no verdict, in words, where a real run cannot tell what pytest's or doctest's would
    # give (it reads the environment, the home or working folder; a set of strings' order):
    # for the hover to say. (Other asserts without a verdict are not listed here.)
    unjudged: dict[int, str] = field(default_factory=dict)

    def function_named(self, name: str) -> FunctionInfo | None:
        """The file's function or method `name`, else the imported function it binds."""
        fn = self.functions.get(name)
        if fn is None and name in self.imported:
            fn = self.imported[name].function
        return fn

    def function_at(self, line: int) -> FunctionInfo | None:
        for fn in self.functions.values():
            if fn.start <= line <= fn.end:
                return fn
        return None

    def calls_for(self, function: str) -> list[CallSite]:
        return [c for c in self.calls if c.function == function]

    @functools.cached_property
    def line_offsets(self) -> list[int]:
        """Where each line starts in `text` (str indices), found once: source segments are
        cut from it (see segment) rather than by splitting the whole text again per node."""
        return [0, *(m.end() for m in _LINE_BREAK.finditer(self.text))]

    def segment(self, node: ast.AST) -> str:
        """The source text of `node`, exactly as ast.get_source_segment gives it (original
        line ends included), in time proportional to the segment, not to the file."""
        try:
            first, last = node.lineno - 1, node.end_lineno - 1
            start_col, end_col = node.col_offset, node.end_col_offset
        except AttributeError:
            return ""
        if last is None or end_col is None or not 0 <= first <= last < len(self.line_offsets):
            return ""
        return self.text[self._offset(first, start_col) : self._offset(last, end_col)]

    def _offset(self, line: int, byte_column: int) -> int:
        """The str index of a UTF-8 byte column (an ast offset) on a 0-based line."""
        start = self.line_offsets[line]
        text = self.lines[line] if line < len(self.lines) else ""
        if text.isascii():
            return start + min(byte_column, len(text))
        return start + len(text.encode()[:byte_column].decode(errors="ignore"))

    @functools.cached_property
    def entry_hash(self) -> str:
        """A hash of the code that calls the file's functions when it runs: its top-level
        `if ... "__main__" ...` blocks, asserts and `test*` functions (see
        tracing.Tracing._record_calls)."""
        parts = []
        for node in (self.tree.body if self.tree is not None else ()):
            first = self.lines[node.lineno - 1] if node.lineno <= len(self.lines) else ""
            entry = (isinstance(node, ast.If) and "__main__" in first) or isinstance(node, ast.Assert) or \
                (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"))
            if entry:
                parts.append("\n".join(self.lines[node.lineno - 1 : node.end_lineno]))
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _method_kind(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    for decorator in node.decorator_list:
        name = decorator.attr if isinstance(decorator, ast.Attribute) else getattr(decorator, "id", None)
        if name in (STATIC_METHOD, CLASS_METHOD):
            return name
        if name in _PROPERTY_DECORATORS:
            return PROPERTY
    return METHOD
