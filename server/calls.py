"""Finding what to trace: the functions of a file and the calls to trace them with.

Traceable are the file's top-level functions and the methods of its top-level classes,
named `Class.method`. A method is called on a fresh instance, `Class(1).method(2)`, or on
the class itself when it is a static or class method, `Class.method(2)`; a property is
read on a fresh instance, `Class(1).prop`; `Class(1)` is a call of `Class.__init__`.

Calls come from (in order of preference for a function): a call the user supplied
(`semcoder.setCall`), a `# semcoder: f(...)` comment, `assert f(...) == ...` lines, doctests,
and calls the tracer recorded from the `__main__` block or from the file's `test_*` functions
(only those whose arguments read back as literals). The call under the cursor wins
over all of them when the user hovers a call. A call is only used when its arguments are
literals: the model needs to see the values, and literal calls are safe to replay.

Line numbers in this module are 0-based document lines (LSP), columns are str indices.
"""

from __future__ import annotations

import ast
import doctest
import functools
import hashlib
import re
import textwrap
from dataclasses import dataclass, field

from semcoder_inference.context import bound_locally
from semcoder_inference.errors import SemcoderError

from .execution import remember_module
from .results import FALSY, TRUTHY, DoctestWant

# Where a `# semcoder: CALL` comment's call begins; the call is the rest of the line,
# stripped (comment_call). (A pattern that also matched the call, `(?P<call>.+?)\s*$`, took
# time quadratic in a run of spaces inside it: seconds for one long line, every keystroke.)
COMMENT_CALL = re.compile(r"#\s*semcoder:")
# The line breaks of Python source (and of LSP): str.splitlines also breaks at a form feed,
# U+2028 and others, which would shift every later line against the ast's numbers.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# A def line's name: one pattern for all functions (a pattern per name would be compiled
# anew for each function of a big file).
_DEF_NAME = re.compile(r"\bdef\s+(\w+)")


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
    lines = split_lines(text)
    functions: dict[str, FunctionInfo] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions[node.name] = _function_info(node, node.name, FUNCTION, lines)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                # A property's setter and deleter share its name; the getter is what is read.
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not _is_accessor(item):
                    name = f"{node.name}.{item.name}"
                    functions[name] = _function_info(item, name, _method_kind(item), lines)
    remember_module(tree)  # (so that is_definition judges its statements in it)
    info = ModuleInfo(text=text, lines=lines, functions=functions, tree=tree)
    info.calls = _file_calls(tree, info)
    return info


def split_lines(text: str) -> list[str]:
    """The text's lines as Python and LSP count them (breaks: \\r\\n, \\r, \\n), without their
    ends; like str.splitlines, a final line break starts no further line."""
    lines = _LINE_BREAK.split(text)
    if lines[-1] == "":
        lines.pop()
    return lines


def _function_info(node: ast.FunctionDef | ast.AsyncFunctionDef, name: str, kind: str,
                   lines: list[str]) -> FunctionInfo:
    start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
    end = (node.end_lineno or node.lineno) - 1
    def_text = lines[node.lineno - 1]
    m = _DEF_NAME.search(def_text)
    if m is None or m.group(1) != node.name:  # (a name the parser normalised, say)
        m = re.search(r"\bdef\s+(" + re.escape(node.name) + r")\b", def_text)
    text = "\n".join(lines[start : end + 1]) + "\n"
    return FunctionInfo(
        name=name,
        start=start,
        def_line=node.lineno - 1,
        end=end,
        name_col=m.start(1) if m else 0,
        source=textwrap.dedent(text) if kind != FUNCTION else text,
        docstring=ast.get_docstring(node) or "",
        kind=kind,
        indent=def_text[: len(def_text) - len(def_text.lstrip())],
        takes_no_arguments=_takes_no_arguments(node.args),
    )


def _takes_no_arguments(args: ast.arguments) -> bool:
    """Whether a call with no arguments binds every parameter (each one has a default, or
    gathers the rest: `*args`, `**kwargs`)."""
    positional = args.posonlyargs + args.args
    return len(args.defaults) == len(positional) and all(d is not None for d in args.kw_defaults)


def _method_kind(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    for decorator in node.decorator_list:
        name = decorator.attr if isinstance(decorator, ast.Attribute) else getattr(decorator, "id", None)
        if name in (STATIC_METHOD, CLASS_METHOD):
            return name
        if name in _PROPERTY_DECORATORS:
            return PROPERTY
    return METHOD


def _is_accessor(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """`@x.setter` / `@x.deleter`."""
    return any(isinstance(d, ast.Attribute) and d.attr in ("setter", "deleter") for d in node.decorator_list)


def called(expr: ast.AST, functions: dict[str, FunctionInfo]) -> tuple[str, list[ast.Call]] | None:
    """Which function or method of the file `expr` runs, and the calls in it that pass
    arguments: `f(1)` -> ("f", [f(1)]); `Class(1)` -> ("Class.__init__", [Class(1)]);
    `Class(1).method(2)` -> ("Class.method", [that call, Class(1)]); `Class.method(2)` of a
    static or class method -> ("Class.method", [that call]); `Class(1).prop` of a property
    -> ("Class.prop", [Class(1)])."""
    if isinstance(expr, ast.Call):
        named = _callee(expr.func, functions)
        return (named[0], [expr, *named[1]]) if named else None
    owner = expr.value if isinstance(expr, ast.Attribute) else None
    if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name):
        fn = functions.get(f"{owner.func.id}.{expr.attr}")
        return (fn.name, [owner]) if fn is not None and fn.kind == PROPERTY else None
    return None


def _callee(func: ast.AST, functions: dict[str, FunctionInfo]) -> tuple[str, list[ast.Call]] | None:
    """What a call's `func` names (see called), and the constructor call it goes through."""
    if isinstance(func, ast.Name):
        fn = functions.get(func.id)
        if fn is not None and not fn.is_method:
            return func.id, []
        init = functions.get(f"{func.id}.__init__")
        return (init.name, []) if init is not None else None
    if not isinstance(func, ast.Attribute):
        return None
    owner = func.value
    if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name):
        fn = functions.get(f"{owner.func.id}.{func.attr}")
        return (fn.name, [owner]) if fn is not None and fn.kind != PROPERTY else None
    if isinstance(owner, ast.Name):
        fn = functions.get(f"{owner.id}.{func.attr}")
        return (fn.name, []) if fn is not None and fn.kind in (STATIC_METHOD, CLASS_METHOD) else None
    return None


def literal_call(node: ast.AST, functions: dict[str, FunctionInfo]) -> str | None:
    """The function's name if `node` runs a function or method of the file (see called)
    with literal arguments only (the constructor's too)."""
    named = called(node, functions)
    if named is None:
        return None
    name, calls = named
    for arg in [a for call in calls for a in [*call.args, *(k.value for k in call.keywords)]]:
        if isinstance(arg, ast.Starred):
            arg = arg.value
        try:
            ast.literal_eval(arg)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return None
    return name


def _segment(info: ModuleInfo, node: ast.AST) -> str:
    return info.segment(node)


def _file_calls(tree: ast.Module, info: ModuleInfo) -> list[CallSite]:
    calls: list[CallSite] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            test = node.test
            # `assert f(1)` and `assert not f(1)` expect a true or a false value (TRUTHY, FALSY).
            expected = TRUTHY
            target = test
            if (
                isinstance(test, ast.Compare)
                and len(test.ops) == 1
                and isinstance(test.ops[0], ast.Eq)
            ):
                target, expected = test.left, _segment(info, test.comparators[0])
                if literal_call(target, info.functions) is None and literal_call(test.comparators[0], info.functions):
                    target, expected = test.comparators[0], _segment(info, test.left)
            elif isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
                target, expected = test.operand, FALSY
            name = literal_call(target, info.functions)
            if name:
                calls.append(
                    CallSite(name, _segment(info, target), "assert", node.lineno - 1, expected or None,
                             target.col_offset, target.end_col_offset or 0)
                )
    for fn in info.functions.values():
        calls.extend(_doctest_calls(fn, info))
    for index, line in enumerate(info.lines):
        found = comment_call(line) if "semcoder:" in line else None
        if found is None:
            continue
        call_text, start, end = found
        try:
            expr = ast.parse(call_text, mode="eval").body
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            continue
        name = literal_call(expr, info.functions)
        if name:
            calls.append(CallSite(name, call_text, "comment", index, None, start, end))
    return calls + _constructor_calls(calls, info.functions)


def comment_call(line: str) -> tuple[str, int, int] | None:
    """The call of a `# semcoder: CALL` comment on `line`, and where it starts and ends (str
    indices), in time linear in the line's length."""
    m = COMMENT_CALL.search(line)
    if m is None:
        return None
    rest = line[m.end():]
    call = rest.strip()
    if not call:
        return None
    start = m.end() + (len(rest) - len(rest.lstrip()))
    return call, start, start + len(call)


def _constructor_calls(calls: list[CallSite], functions: dict[str, FunctionInfo]) -> list[CallSite]:
    """`Class(1)` out of each `Class(1).method(2)`: known calls of `Class.__init__` (with no
    expectation: the assert or doctest is about the method)."""
    found: list[CallSite] = []
    seen = {(c.function, c.call) for c in calls}
    for site in calls:
        # Only a method's call builds an instance; the rest need no second parse.
        if "." not in site.function or site.function.endswith(".__init__"):
            continue
        try:
            expr = ast.parse(site.call, mode="eval").body
        except SyntaxError:
            continue
        named = called(expr, functions)
        owner = named[1][-1] if named else None  # the constructor call, for an instance method
        if not isinstance(owner, ast.Call) or not isinstance(owner.func, ast.Name):
            continue
        init = f"{owner.func.id}.__init__"
        text = ast.get_source_segment(site.call, owner) or ""
        if init in functions and text and (init, text) not in seen:
            seen.add((init, text))
            found.append(CallSite(init, text, site.origin, site.line))
    return found


_MUTATORS = frozenset(("append", "extend", "insert", "update", "add", "pop", "popitem", "clear", "setdefault",
                       "remove", "discard", "sort", "reverse", "appendleft", "popleft", "write"))


def keeps_state(fn: FunctionInfo) -> bool:
    """Whether a function may keep state from one call to the next: a mutable default
    (`stack=[]`, `cache={}`, `seen=set()`), a `global`/`nonlocal` statement, or a change in
    place of a name it does not bind itself (`COUNT[0] += 1`, `CACHE.update(...)`,
    `self.items.append` is the instance's: not counted). An approximation that errs on the
    side of state."""
    try:
        node = ast.parse(fn.source).body[0]
    except (SyntaxError, ValueError, MemoryError, RecursionError, IndexError):
        return True
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return True
    args = node.args
    for default in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
        if isinstance(default, (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp, ast.Call)):
            return True
    own, declared = bound_locally(node)
    if declared:
        return True
    params = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg] if a}

    def outside(target: ast.AST) -> bool:
        while isinstance(target, (ast.Attribute, ast.Subscript)):
            target = target.value
        return isinstance(target, ast.Name) and target.id not in own and target.id not in params

    for sub in ast.walk(node):
        if isinstance(sub, (ast.Nonlocal, ast.Global)):
            return True
        targets = (sub.targets if isinstance(sub, ast.Assign) else [sub.target]
                   if isinstance(sub, (ast.AugAssign, ast.AnnAssign)) else [])
        if any(isinstance(t, (ast.Attribute, ast.Subscript)) and outside(t) for t in targets):
            return True
        if (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr in _MUTATORS
                and outside(sub.func.value)):
            return True
    return False


def _doctest_calls(fn: FunctionInfo, info: ModuleInfo) -> list[CallSite]:
    if ">>>" not in fn.docstring:
        return []
    found = []
    try:
        examples = doctest.DocTestParser().get_examples(fn.docstring)
    except ValueError:
        return []
    # doctest runs a docstring's examples one after another, in one namespace: an example
    # after one that may have changed some state (a statement, `c = Counter()`; a call of
    # something else; the same call again; any call of a function that keeps state between
    # calls, `counter()` giving 1 then 2, `push(1)` then `push(2)` on a default list) is not
    # taken: run alone, it could fail where doctest passes it.
    after_state = False
    stateful = keeps_state(fn)
    seen: set[str] = set()
    for ex in examples:
        if ex.options.get(doctest.SKIP):
            continue  # doctest does not run it
        source = ex.source.strip()
        try:
            expr = ast.parse(source, mode="eval").body
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            after_state = True
            continue
        name = literal_call(expr, info.functions)
        if not name:
            after_state = True
            continue
        # The call without what follows it on its line: a `# doctest: +ELLIPSIS` directive.
        call = ast.get_source_segment(source, expr) or source
        if after_state or call in seen:
            after_state = True
            continue
        seen.add(call)
        after_state = stateful
        first = call.split("\n", 1)[0]
        line = fn.def_line
        for i in range(fn.def_line, fn.end + 1):
            if ">>>" in info.lines[i] and first in info.lines[i]:
                line = i
                break
        want = DoctestWant.of_example(ex) if ex.want.strip() else None
        found.append(CallSite(name, call, "doctest", line, want))
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


def function_called_at(info: ModuleInfo, line: int, col: int) -> CallSite | None:
    """The innermost call of a file function or method that covers (line, col), whatever
    its arguments: what `called` recognises, and `x.method(...)` on any object when only
    one class of the file has a method of that name. The site is `watched` (see CallSite):
    the call is traced where it runs, not replayed."""
    best: CallSite | None = None
    best_size = None
    for node in _calls_on_line(info, line):
        if not _covers(node, line, col):
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


def asserts_in(info: ModuleInfo) -> list[CallSite]:
    return [c for c in info.calls if c.origin in ("assert", "doctest") and c.expected is not None]
