"""Finding what to trace: the functions of a file and the calls to trace them with.

Calls come from (in order of preference for a function): a call the user supplied
(`semcoder.setCall`), a `# semcoder: f(...)` comment, `assert f(...) == ...` lines, doctests,
and calls the tracer recorded from the `__main__` block. The call under the cursor wins
over all of them when the user hovers a call. A call is only used when its arguments are
literals: the model needs to see the values, and literal calls are safe to replay.

Line numbers in this module are 0-based document lines (LSP), columns are str indices.
"""

from __future__ import annotations

import ast
import doctest
import hashlib
import re
from dataclasses import dataclass, field

from semcoder_inference.errors import SemcoderError

COMMENT_CALL = re.compile(r"#\s*semcoder:\s*(?P<call>.+?)\s*$")


class SourceError(SemcoderError):
    """The document cannot be analysed (syntax error, not text)."""


@dataclass(frozen=True)
class FunctionInfo:
    name: str
    start: int  # first line (decorators included), 0-based
    def_line: int  # the `def` line
    end: int  # last line, inclusive
    name_col: int  # column of the name on def_line
    source: str  # the function's text, dedented as in the file (top level: column 0)
    docstring: str

    @property
    def source_hash(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CallSite:
    function: str
    call: str  # e.g. "f(1, 2)"
    origin: str  # "cursor" | "assert" | "doctest" | "comment" | "main" | "explicit"
    line: int  # where it appears (0-based)
    expected: str | None = None  # expected value, source text
    start_col: int = 0
    end_col: int = 0


@dataclass
class ModuleInfo:
    text: str
    lines: list[str]
    functions: dict[str, FunctionInfo]
    calls: list[CallSite] = field(default_factory=list)  # file calls (not cursor)
    tree: ast.Module | None = None

    def function_at(self, line: int) -> FunctionInfo | None:
        for fn in self.functions.values():
            if fn.start <= line <= fn.end:
                return fn
        return None

    def calls_for(self, function: str) -> list[CallSite]:
        return [c for c in self.calls if c.function == function]


def analyse(text: str) -> ModuleInfo:
    """Parse a document. Raises SourceError with a sentence the hover can show."""
    if "\x00" in text:
        raise SourceError("This file contains binary data (NUL bytes), so SemCoder cannot analyse it.")
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise SourceError(
            f"SemCoder cannot analyse this file: syntax error at line {exc.lineno}: {exc.msg}. "
            "Traces appear again once the file parses."
        ) from None
    except (ValueError, MemoryError, RecursionError) as exc:
        raise SourceError(f"SemCoder cannot analyse this file: {exc}.") from None
    lines = text.splitlines()
    functions: dict[str, FunctionInfo] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            end = (node.end_lineno or node.lineno) - 1
            def_text = lines[node.lineno - 1]
            m = re.search(r"\bdef\s+(" + re.escape(node.name) + r")\b", def_text)
            functions[node.name] = FunctionInfo(
                name=node.name,
                start=start,
                def_line=node.lineno - 1,
                end=end,
                name_col=m.start(1) if m else 0,
                source="\n".join(lines[start : end + 1]) + "\n",
                docstring=ast.get_docstring(node) or "",
            )
    info = ModuleInfo(text=text, lines=lines, functions=functions, tree=tree)
    info.calls = _file_calls(tree, info)
    return info


def literal_call(node: ast.AST, functions: dict[str, FunctionInfo]) -> str | None:
    """The function name if `node` is `name(literal args...)` for a function of the file."""
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        return None
    if node.func.id not in functions:
        return None
    for arg in list(node.args) + [k.value for k in node.keywords]:
        if isinstance(arg, ast.Starred):
            arg = arg.value
        try:
            ast.literal_eval(arg)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return None
    return node.func.id


def _segment(info: ModuleInfo, node: ast.AST) -> str:
    return ast.get_source_segment(info.text, node) or ""


def _file_calls(tree: ast.Module, info: ModuleInfo) -> list[CallSite]:
    calls: list[CallSite] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            test = node.test
            expected = None
            target = test
            if (
                isinstance(test, ast.Compare)
                and len(test.ops) == 1
                and isinstance(test.ops[0], ast.Eq)
            ):
                target, expected = test.left, _segment(info, test.comparators[0])
                if literal_call(target, info.functions) is None and literal_call(test.comparators[0], info.functions):
                    target, expected = test.comparators[0], _segment(info, test.left)
            name = literal_call(target, info.functions)
            if name:
                calls.append(
                    CallSite(name, _segment(info, target), "assert", node.lineno - 1, expected or None,
                             target.col_offset, target.end_col_offset or 0)
                )
    for fn in info.functions.values():
        calls.extend(_doctest_calls(fn, info))
    for index, line in enumerate(info.lines):
        m = COMMENT_CALL.search(line)
        if not m:
            continue
        call_text = m.group("call")
        try:
            expr = ast.parse(call_text, mode="eval").body
        except SyntaxError:
            continue
        name = literal_call(expr, info.functions)
        if name:
            calls.append(CallSite(name, call_text, "comment", index, None, m.start("call"), m.end("call")))
    return calls


def _doctest_calls(fn: FunctionInfo, info: ModuleInfo) -> list[CallSite]:
    if ">>>" not in fn.docstring:
        return []
    found = []
    try:
        examples = doctest.DocTestParser().get_examples(fn.docstring)
    except ValueError:
        return []
    for ex in examples:
        source = ex.source.strip()
        try:
            expr = ast.parse(source, mode="eval").body
        except SyntaxError:
            continue
        name = literal_call(expr, info.functions)
        if not name:
            continue
        line = fn.def_line
        for i in range(fn.def_line, fn.end + 1):
            if ">>>" in info.lines[i] and source in info.lines[i]:
                line = i
                break
        want = ex.want.strip() or None
        found.append(CallSite(name, source, "doctest", line, want))
    return found


def call_at(info: ModuleInfo, line: int, col: int) -> CallSite | None:
    """The innermost literal call of a file function that covers (line, col)."""
    best: CallSite | None = None
    best_size = None
    tree_nodes = _calls_on_line(info, line)
    for node in tree_nodes:
        name = literal_call(node, info.functions)
        if not name:
            continue
        if not _covers(node, line, col):
            continue
        size = _size(node)
        if best_size is None or size < best_size:
            best = CallSite(name, _segment(info, node), "cursor", line, None, node.col_offset, node.end_col_offset or 0)
            best_size = size
    if best is not None:
        # A cursor on an asserted call keeps the assert's expectation.
        for c in info.calls:
            if c.origin == "assert" and c.line == line and c.call == best.call:
                return CallSite(best.function, best.call, "cursor", line, c.expected, best.start_col, best.end_col)
    return best


def _calls_on_line(info: ModuleInfo, line: int) -> list[ast.Call]:
    # Parse only the statement around the line would be faster; whole-tree walks are
    # fine up to tens of thousands of lines and keep the code simple.
    tree = info.tree or ast.parse(info.text)
    return [
        n for n in ast.walk(tree)
        if isinstance(n, ast.Call) and n.lineno - 1 <= line <= (n.end_lineno or n.lineno) - 1
    ]


def _covers(node: ast.AST, line: int, col_chars: int) -> bool:
    start = (node.lineno - 1, node.col_offset)
    end = ((node.end_lineno or node.lineno) - 1, node.end_col_offset or 0)
    # ast offsets are UTF-8 byte offsets; callers pass byte columns (see byte_col).
    return start <= (line, col_chars) <= end


def _size(node: ast.AST) -> tuple[int, int]:
    return ((node.end_lineno or 0) - node.lineno, (node.end_col_offset or 0) - node.col_offset)


def byte_col(line_text: str, utf16_col: int) -> int:
    """Convert an LSP (UTF-16) column to the UTF-8 byte column the ast module uses."""
    units = 0
    for index, ch in enumerate(line_text):
        if units >= utf16_col:
            return len(line_text[:index].encode())
        units += 2 if ord(ch) > 0xFFFF else 1
    return len(line_text.encode())


def utf16_col(line_text: str, byte_column: int) -> int:
    """Convert a UTF-8 byte column to an LSP (UTF-16) column."""
    prefix = line_text.encode()[:byte_column].decode(errors="ignore")
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in prefix)


def asserts_in(info: ModuleInfo) -> list[CallSite]:
    return [c for c in info.calls if c.origin in ("assert", "doctest") and c.expected is not None]
