"""The call under the cursor: the innermost call of a file function that covers a position
(call_at: a literal call, replayed; function_called_at: any call, traced where it runs),
and the conversion between LSP's UTF-16 columns and the ast's UTF-8 byte columns.
"""

from __future__ import annotations

import ast

from semcoder_inference.context import bound_locally

from .analysis_types import CallSite, FunctionInfo, ModuleInfo
from .callees import called, literal_call
from .execution import root_name


def _segment(info: ModuleInfo, node: ast.AST) -> str:
    return info.segment(node)


def call_at(info: ModuleInfo, line: int, col: int) -> CallSite | None:
    """The innermost literal call of a file function that covers (line, col). None on an
    assert whose call replayed alone may differ from the file's (ModuleInfo.order_dependent:
    `add("b")` after `add("a")`), and for a name a function binds itself (`div = lambda ...`
    in a test): neither is the replay of a call of the file's function."""
    if line in info.order_dependent:
        return None
    best: CallSite | None = None
    best_size = None
    tree_nodes = _calls_on_line(info, line)
    for node in tree_nodes:
        name = literal_call(node, info.functions)
        if not name or _shadowed(info, node):
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


def function_called_at(info: ModuleInfo, line: int, col: int) -> CallSite | None:
    """The innermost call of a file function or method that covers (line, col), whatever
    its arguments: what `called` recognises, and `x.method(...)` on any object when only
    one class of the file has a method of that name. The site is `watched` (see CallSite):
    the call is traced where it runs, not replayed."""
    best: CallSite | None = None
    best_size = None
    for node in _calls_on_line(info, line):
        if not _covers(node, line, col) or _shadowed(info, node):
            continue
        named = called(node, info.functions)
        name = named[0] if named else _unique_method(node, info.functions)
        size = _size(node)
        if name and (best_size is None or size < best_size):
            # Its line is where the call starts: the line its caller's frame reports.
            best = CallSite(name, _segment(info, node), "cursor", node.lineno - 1, None, node.col_offset,
                            node.end_col_offset or 0, watched=True)
            best_size = size
    return best


def _shadowed(info: ModuleInfo, node: ast.AST) -> bool:
    """Whether the name a call starts from (`div` of `div(7, 2)`, `Box` of `Box(1).area()`)
    is bound by a function around it (a parameter, an assignment, an import, a def): then it
    is not the module's function."""
    root = root_name(node)
    if root is None:
        return False
    first, last = node.lineno, node.end_lineno or node.lineno
    return any(isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
               and scope.lineno <= first and last <= (scope.end_lineno or scope.lineno)
               and root in bound_locally(scope)[0]
               for scope in ast.walk(info.tree or ast.parse(info.text)))


def _unique_method(node: ast.AST, functions: dict[str, FunctionInfo]) -> str | None:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return None
    suffix = "." + node.func.attr
    found = [name for name, fn in functions.items() if fn.is_method and name.endswith(suffix)]
    return found[0] if len(found) == 1 else None


def _calls_on_line(info: ModuleInfo, line: int) -> list[ast.Call]:
    # Parse only the statement around the line would be faster; whole-tree walks are
    # fine up to tens of thousands of lines and keep the code simple.
    tree = info.tree or ast.parse(info.text)
    return [  # calls, and attributes (a property read on a fresh instance)
        n for n in ast.walk(tree)
        if isinstance(n, (ast.Call, ast.Attribute)) and n.lineno - 1 <= line <= (n.end_lineno or n.lineno) - 1
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


def imported_callables(info: ModuleInfo) -> dict[str, FunctionInfo]:
    """The functions the file imports from the workspace's modules (ModuleInfo.imported),
    by the name it calls them by, that no function of the file hides."""
    return {name: imported.function for name, imported in info.imported.items()
            if imported.function is not None and name not in info.functions
            and name.partition(".")[0] not in info.functions}


def imported_call_at(info: ModuleInfo, line: int, col: int) -> tuple[CallSite, ast.Call] | None:
    """The innermost call with literal arguments of a function the file imports from the
    workspace (imported_callables) that covers (line, col), whether or not an assert of
    it gets a verdict: it is traced in its own module (Tracing.actual_trace), with no
    expectation. With its node."""
    callables = imported_callables(info)
    if not callables:
        return None
    best: tuple[CallSite, ast.Call] | None = None
    best_size = None
    for node in _calls_on_line(info, line):
        if not isinstance(node, ast.Call) or not _covers(node, line, col) or _shadowed(info, node):
            continue
        name = literal_call(node, callables)
        size = _size(node)
        if name and (best_size is None or size < best_size):
            best = (CallSite(name, _segment(info, node), "cursor", node.lineno - 1, None, node.col_offset,
                             node.end_col_offset or 0), node)
            best_size = size
    return best


def innermost_call(info: ModuleInfo, line: int, col: int) -> ast.Call | None:
    """The innermost call (any call) that covers (line, col)."""
    found = [node for node in _calls_on_line(info, line) if isinstance(node, ast.Call) and _covers(node, line, col)]
    return min(found, key=_size) if found else None
