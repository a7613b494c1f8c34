"""The doctest examples of the file's docstrings that are checks: an example whose call is
literal, and that no earlier example, nor code run before the docstring, may have changed
what it sees (_doctest_examples); and what to trace on an example's line under the cursor
(doctest_example_at).
"""

from __future__ import annotations

import ast
import doctest
import re

from .analysis_types import CallSite, FunctionInfo, ModuleInfo
from .callees import literal_call
from .cursor import _covers, _size
from .execution import module_reads
from .pytest_rules import _Place
from .results import DoctestWant
from .state_rules import _may_see_earlier_state, _module_of, environment_reason, keeps_state


def _doctest_calls(fn: FunctionInfo, info: ModuleInfo) -> list[CallSite]:
    return [site for _, site, _, _ in _doctest_examples(fn, info) if site is not None]


def _doctest_examples(fn: FunctionInfo, info: ModuleInfo):
    """`fn`'s docstring examples in order (doctest.Example), each with its check (a
    CallSite, or None), the earlier example after which it may not see what doctest's run
    sees (None: no earlier example may have changed it), and why an example whose call
    could be run alone gets no verdict all the same (None: it does, or it is no check for
    another reason): its run cannot tell what doctest's gives (_undecidable). The line of
    each such example goes into `info.unjudged`, with why."""
    if ">>>" not in fn.docstring:
        return
    try:
        examples = doctest.DocTestParser().get_examples(fn.docstring)
    except ValueError:
        return
    # doctest runs a docstring's examples one after another, in one namespace: an example
    # after one that may have changed some state (a statement, `c = Counter()`; a call of
    # something else; the same call again; any call of a function that keeps state between
    # calls, `counter()` giving 1 then 2, `push(1)` then `push(2)` on a default list) is not
    # taken: run alone, it could fail where doctest passes it.
    changed = None  # the first example after which state may differ
    stateful = keeps_state(fn, info)
    seen: dict[str, doctest.Example] = {}
    for ex in examples:
        before = changed
        if ex.options.get(doctest.SKIP):
            yield ex, None, before, None  # doctest does not run it
            continue
        source = ex.source.strip()
        try:
            expr = ast.parse(source, mode="eval").body
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            changed = changed or ex
            yield ex, None, before, None
            continue
        name = literal_call(expr, info.functions)
        if not name:
            changed = changed or ex
            yield ex, None, before, None
            continue
        # The call without what follows it on its line: a `# doctest: +ELLIPSIS` directive.
        call = ast.get_source_segment(source, expr) or source
        if before is not None or call in seen:
            changed = changed or ex
            yield ex, None, before or seen[call], None
            continue
        leaves_state = stateful or _call_keeps_state(name, info)
        if _example_may_see_earlier_state(expr, fn, info):
            changed = changed or (ex if leaves_state else None)
            yield ex, None, None, None
            continue
        seen[call] = ex
        changed = ex if leaves_state else None
        first = call.split("\n", 1)[0]
        line = fn.def_line
        for i in range(fn.def_line, fn.end + 1):
            if ">>>" in info.lines[i] and first in info.lines[i]:
                line = i
                break
        why = _undecidable(expr, ex, info)
        if why is not None:
            info.unjudged[line] = why
            yield ex, None, None, why
            continue
        want = DoctestWant.of_example(ex) if ex.want.strip() else None
        yield ex, CallSite(name, call, "doctest", line, want), None, None


def _call_keeps_state(name: str, info: ModuleInfo) -> bool:
    """Whether an example's call of the file's function or method `name` may leave state
    that a later example sees (its function or class keeps state: _Module.state)."""
    return _module_of(info).state(name.split(".", 1)[0]) is not None


def _example_may_see_earlier_state(expr: ast.expr, fn: FunctionInfo, info: ModuleInfo) -> bool:
    """Whether a doctest example's call may see state that code run before the docstring
    left (the module's statements as it is imported, the file's other docstrings' examples:
    _Module.doctest_run), by the rules of an assert's call (_may_see_earlier_state)."""
    module = _module_of(info)
    reads = module_reads(expr)
    run = module.doctest_run(fn, info)
    return _may_see_earlier_state(module.reach(reads), _Place(run, len(run)), module, frozenset(reads))


def _undecidable(expr: ast.expr, ex: doctest.Example, info: ModuleInfo) -> str | None:
    """Why a doctest example's run cannot tell what doctest's run gives, in words: its call
    reads the environment, the home, temporary or working folder (environment_reason: the
    sandbox's are its own), or its expected output shows a set of strings (hash_ordered),
    whose order changes from one process to the next; None where it can."""
    module = _module_of(info)
    why = environment_reason(module, module.reach(module_reads(expr)), [expr])
    if why is not None:
        return why
    if hash_ordered(ex.want):
        return ("the order of a set of strings changes from run to run (hash randomisation: "
                "PYTHONHASHSEED), so this example passes or fails by chance; `sorted(...)` in the example "
                "would make it a check")
    return None


# A set's repr whose first element is a string, with another after it (a dict's would have a
# colon after its first key): for output that does not read back as Python (printed text,
# `...` of ELLIPSIS).
_STRING_SET = re.compile(r"""\{\s*[rRbBuU]{0,2}(?:'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")\s*,""")
_MAX_WANT_CHARS = 10_000


def hash_ordered(text: str) -> bool:
    """Whether output shows a set (a frozenset) of 2 or more elements of which one is not a
    number: a string, bytes, a tuple holding one: its order depends on the strings' hashes,
    which Python randomises per process (PYTHONHASHSEED), so the repr differs from run to
    run (`{'a', 'b'}` or `{'b', 'a'}`). A set of numbers has one order."""
    if "{" not in text:
        return False
    text = text[:_MAX_WANT_CHARS]
    if _STRING_SET.search(text):
        return True
    for part in (text, *text.splitlines()):
        try:
            tree = ast.parse(part.strip(), mode="eval")
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            continue
        if any(isinstance(node, ast.Set) and len(node.elts) >= 2 and not all(_number(e) for e in node.elts)
               for node in ast.walk(tree)):
            return True
    return False


def _number(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp):
        return _number(node.operand)
    return isinstance(node, ast.Constant) and type(node.value) in (int, float, bool)


_QUOTES_OPENING = re.compile(r"""^\s*[rRuUbBfF]*(\"\"\"|\'\'\'|\"|\')""")
_PROMPT = re.compile(r"\s*>>>")


def doctest_example_at(info: ModuleInfo, line: int, col: int) -> CallSite | str | None:
    """What to trace on a line of a function's doctest example (its `>>>` line, a `...`
    line, its expected output), at byte column `col`: the example's check; else, for an
    example that is no check (`print(f(1))`, `sorted(f([2, 1]))`) and that no earlier
    example may have changed what it sees, the literal call of a file function under the
    cursor, or its first of the function, replayed with no verdict; else why there is nothing
    to trace, in words. None off an example, and where the function's own call stands for
    it (an example with nothing to replay in a docstring with no check of its own)."""
    fn = info.function_at(line)
    if fn is None or ">>>" not in fn.docstring or info.tree is None:
        return None
    prompts, last = _example_prompts(fn, info)
    if not prompts or not prompts[0] <= line <= last:
        return None
    found = list(_doctest_examples(fn, info))
    if len(prompts) != len(found):
        return None  # (escapes in the docstring: its lines are not the file's)
    for prompt, (ex, site, before, why) in zip(prompts, found):
        source_lines = ex.source.count("\n") or 1
        if not prompt <= line < prompt + source_lines + ex.want.count("\n"):
            continue
        if site is not None:
            return site
        if ex.options.get(doctest.SKIP):
            return "This doctest example is skipped (`+SKIP`): doctest does not run it."
        if why is not None:
            return f"This doctest example gets no verdict: {why}."
        if before is not None:
            shown = " ".join(before.source.split())
            shown = shown if len(shown) <= 60 else shown[:59] + "…"
            where = next(p for p, (earlier, _, _, _) in zip(prompts, found) if earlier is before) + 1
            return (f"This doctest example runs after `{shown}` (line {where}), which may have changed "
                    "what it sees: run alone, it could give another value than in doctest's run, so it is not traced.")
        try:
            tree = ast.parse(ex.source)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            tree = None
        calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
                 and literal_call(node, info.functions)] if tree is not None else []
        # The call under the cursor (its `>>>` or a `...` line), else the first of `fn`.
        at = line - prompt
        covering = []
        if at < source_lines:
            source_col = col - _source_start(info.lines[line], at)
            covering = [node for node in calls if _covers(node, at, source_col)]
        node = min(covering, key=_size) if covering else next(
            (node for node in calls if literal_call(node, info.functions) == fn.name), None)
        if node is None:
            if not any(site for _, site, _, _ in found):
                return None  # (the function's own call, as on its other lines: no other example's)
            return (f"This doctest example has no call of `{fn.name}` with literal arguments to run alone, "
                    "so it is not traced and gets no verdict.")
        first = prompt + node.lineno - 1
        start = _source_start(info.lines[first], node.lineno - 1)
        return CallSite(literal_call(node, info.functions), ast.get_source_segment(ex.source, node) or "", "cursor",
                        first, None, start + node.col_offset,
                        start + (node.end_col_offset or 0) if node.end_lineno == node.lineno else 0)
    return None


def _source_start(text: str, index: int) -> int:
    """The byte column where an example's source line `index` starts on its line of the
    file: after its `>>> ` (the first) or `... ` prompt."""
    return len(text[: max(text.find(">>>" if index == 0 else "..."), 0)].encode()) + 4


def _example_prompts(fn: FunctionInfo, info: ModuleInfo) -> tuple[list[int], int]:
    """The lines of the `>>>` prompts of `fn`'s docstring, in order, and its last line
    (none, -1 where it has no docstring node)."""
    node = next((n for top in info.tree.body for n in ([top] + (top.body if isinstance(top, ast.ClassDef) else []))
                 if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.lineno - 1 == fn.def_line), None)
    if node is None or not node.body or not isinstance(node.body[0], ast.Expr):
        return [], -1
    doc = node.body[0]
    first, last = doc.lineno - 1, (doc.end_lineno or doc.lineno) - 1
    prompts = []
    for i in range(first, min(last + 1, len(info.lines))):
        text = info.lines[i]
        if i == first:
            text = _QUOTES_OPENING.sub("", text[len(text.encode()[: doc.col_offset].decode(errors="ignore")):], count=1)
        if _PROMPT.match(text):
            prompts.append(i)
    return prompts, last
