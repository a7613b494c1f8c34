"""Quick fix "Repair with SemCoder" on semcoder diagnostics, resolved lazily.

`textDocument/codeAction` only lists the action (cheap). `codeAction/resolve` does the
work: the repair prompt (problem = name + docstring, the buggy function, the failing call
as the failed test), the `[Refined]` code, and, with execution enabled, a run of each
candidate against the failing call and the file's other asserts. The edit replaces only
the function (a method: only the method, indented as it was). Titles say "verified" or
"unverified"; only verified ones are preferred. A candidate is verified only when the
failing check definitely passes with it (and no other check definitely fails): one whose
result cannot be judged (an expected value that names a test's local, which the call alone
cannot evaluate, and a test that does not show it either) is unverified.
"""

from __future__ import annotations

import ast
import logging
import re
import textwrap
from typing import Callable

from lsprotocol import types

from semcoder_inference.context import slice_function
from semcoder_inference.engine import CancelToken, GenerationParams
from semcoder_inference.errors import SemcoderError
from semcoder_inference.formats import REFINED_STOP, repair_prompt
from semcoder_inference.parsers import RefinedParser

from .calls import CallSite, FunctionInfo, ModuleInfo, analyse, byte_col
from .convert import plain
from .execution import call_needs, definitions_only
from .results import FALSY, TRUTHY, condition_of, condition_shown, judge, one_line
from .tracing import sandbox_expectation, zero_argument_tests

log = logging.getLogger(__name__)

TITLE = "Repair with SemCoder"
MAX_CANDIDATES = 5


def problem_text(fn: FunctionInfo) -> str:
    doc = fn.docstring.strip()
    return f"Implement the function `{fn.name}`." + (f" {doc}" if doc else "")


def failed_test(call: str, expected: str | None) -> str:
    """The failing check as the repair prompt states it: the call's value named `retv` (as
    SemCoder's training data names it), then the assert on it."""
    condition = condition_of(expected)
    # (another name where the check itself reads a `retv` of the module's)
    name = "retv" if not re.search(r"\bretv\b", f"{call} {condition or expected or ''}") else "returned_value"
    if expected is None:
        return f"{name} = {call}"
    if expected in (TRUTHY, FALSY):  # `assert f(1)`, `assert not f(1)`
        return f"{name} = {call}\nassert {'' if expected == TRUTHY else 'not '}{name}"
    if condition is not None:  # `assert len(f(1)) == 3`
        return f"{name} = {call}\nassert {condition_shown(condition, name)}"
    expected = one_line(expected)
    try:
        body = ast.parse(expected.strip(), mode="eval").body
        bare = isinstance(body, _BARE) or (isinstance(body, ast.UnaryOp) and not isinstance(body.op, ast.Not))
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        bare = True
    # (`== 1 if X else 2` is `== (1 if X else 2)` in the assert, not in `name == 1 if X else 2`)
    return f"{name} = {call}\nassert {name} == {expected.strip() if bare else f'({expected.strip()})'}"


# What reads the same after `retv ==` as alone (failed_test).
_BARE = (ast.Constant, ast.Name, ast.Attribute, ast.Subscript, ast.Call, ast.List, ast.Tuple, ast.Dict, ast.Set,
         ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.JoinedStr, ast.BinOp)


def extract_function(code: str, name: str) -> str | None:
    """The source of function `name` in the model's refined program (decorators included),
    dedented. A method `Class.method` is looked for in that class, then at the top level
    (a model may answer with the method alone)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    lines = code.split("\n")
    cls, _, method = name.rpartition(".")
    scopes = [n.body for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls] if cls else []
    for body in [*scopes, tree.body]:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == method:
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                return textwrap.dedent("\n".join(lines[first - 1 : node.end_lineno]))
    return None


def keep_docstring(new_source: str, fn: FunctionInfo) -> str:
    """`new_source` (a dedented function from the model) with `fn`'s docstring, as written,
    where the model left it out: a repair must not delete the function's documentation, nor
    the doctests in it, which are checks the candidate then has to pass too."""
    if not fn.docstring:
        return new_source
    try:
        new = ast.parse(new_source).body[0]
        old = ast.parse(textwrap.dedent(fn.source)).body[0]
    except (SyntaxError, IndexError):
        return new_source
    if (not isinstance(new, (ast.FunctionDef, ast.AsyncFunctionDef)) or ast.get_docstring(new) is not None
            or not isinstance(old, (ast.FunctionDef, ast.AsyncFunctionDef)) or ast.get_docstring(old) is None):
        return new_source
    first = new.body[0]
    if first.lineno == new.lineno:
        return new_source  # (`def f(x): return x`: no line of its own to put it before)
    old_lines = textwrap.dedent(fn.source).split("\n")
    doc = old.body[0]
    docstring = textwrap.dedent("\n".join(old_lines[doc.lineno - 1:doc.end_lineno]))
    lines = new_source.split("\n")
    body_indent = lines[first.lineno - 1][:first.col_offset]
    return "\n".join(lines[:first.lineno - 1] + textwrap.indent(docstring, body_indent).split("\n")
                     + lines[first.lineno - 1:])


def replace_function(info: ModuleInfo, fn: FunctionInfo, new_source: str) -> tuple[str, types.Range]:
    """The document text with `fn` replaced by `new_source` (indented as `fn` is), and the
    range the edit replaces."""
    lines = info.text.split("\n")
    new_text = "\n".join(lines[: fn.start] + indented(new_source, fn).split("\n") + lines[fn.end + 1 :])
    end_char = len(info.lines[fn.end].encode("utf-16-le")) // 2
    rng = types.Range(start=types.Position(line=fn.start, character=0),
                      end=types.Position(line=fn.end, character=end_char))
    return new_text, rng


def indented(source: str, fn: FunctionInfo) -> str:
    """`source` (a dedented function) indented to sit where `fn` is: a method in its class."""
    return textwrap.indent(textwrap.dedent(source), fn.indent) if fn.indent else source


def repair_code(info: ModuleInfo, fn: FunctionInfo) -> str:
    """The code the repair prompt shows: the function itself, or for a method its class as
    the forward prompt shows it (header, `__init__`, the method and the methods it uses),
    since the failing call builds an instance."""
    if not fn.is_method:
        return fn.source.rstrip("\n")
    try:
        return slice_function(info.text, fn.name).text.rstrip("\n")
    except SemcoderError:
        return fn.source.rstrip("\n")


async def verify(ls, uri: str, new_text: str, fn_name: str, call: str, expected: str | None,
                 origin: str = "assert") -> dict:
    """Run the candidate against the failing call (from an assert, or a doctest: `origin`)
    and the file's other asserts, each judged as its diagnostic is (judge: an assert with
    `==` in the sandbox, a doctest as doctest does). "passed" only when the failing check
    definitely passes and no other definitely fails; "unknown" when the failing check
    cannot be judged (its expected value is a test's local: then the test itself is run,
    where it takes no arguments, and decides when it reaches the assert)."""
    if not ls.settings.execution.enabled:
        return {"status": "skipped", "message": "Execution is disabled: the candidate was not run."}
    try:
        info = analyse(new_text, ls.documents.tests_set_up(uri), ls.documents.imported_functions(uri, new_text)[0])
    except SemcoderError as exc:
        return {"status": "failed", "message": str(exc)}
    kind = "doctest" if origin == "doctest" else "assert"
    # The failing call where the new text has it (an assert in a test function may compare
    # with the test's locals: see sandbox_expectation), else as a top-level assert.
    failing = next((c for c in info.calls if c.origin == kind and c.call == call and c.expected == expected),
                   CallSite(fn_name, call, kind, 0, expected))
    checks = [failing] + [c for c in info.calls if c.origin in ("assert", "doctest") and c.call != call]
    tree = info.tree or ast.parse(new_text)
    path = ls.documents.path(uri)
    undecided = None
    for index, site in enumerate(checks[:20]):
        passed, problem, trace = await _checked(ls, info, tree, new_text, path, site)
        if passed is None and index == 0 and site in info.calls:
            passed, problem = await _judged_by_its_test(ls, tree, new_text, path, site)
        if passed is False and index > 0 and await _failed_before(ls, uri, path, site):
            continue  # (another function's check that failed already: not the candidate's doing)
        if passed is False:
            return {"status": "failed", "message": problem}
        if passed is None and index == 0:
            got = (trace.get("return") or {}).get("repr")
            undecided = (f"Not verified: {site.call} " + (f"returns {got}" if got is not None else "runs")
                         + (f", and whether that is the expected {site.expected} cannot be told where the call runs."
                            if site.expected is not None else ", and whether that passes cannot be told."))
    broken = await _test_broken(ls, uri, tree, new_text, path, fn_name)
    if broken is not None:
        return {"status": "failed", "message": broken}
    if undecided is not None:
        return {"status": "unknown", "message": undecided}
    return {"status": "passed", "message": f"passes {len(checks[:20])} check(s)"}


# The file's tests of the function run with a candidate, at most this many.
MAX_TESTS_RUN = 5


async def _test_broken(ls, uri: str, tree: ast.Module, text: str, path: str, fn_name: str) -> str | None:
    """Why the candidate breaks a test of the function: one of the file's `test*` functions
    that take no arguments and name it, run whole as a test runner would call it (its
    `pytest.raises` blocks, its try/except: what no single assert says), that raises with
    the candidate and returned with the document as it is. None if none does."""
    tests = zero_argument_tests(tree, fn_name.split(".", 1)[0])[:MAX_TESTS_RUN]
    for test in tests:
        call = f"{test}()"
        trace = await ls.executor.trace_call(ls.settings.execution, definitions_only(text, tree, call_needs(call)),
                                             call, path)
        if trace.get("status") == "ok":
            continue
        try:
            info = ls.documents.analysis(uri)
        except SemcoderError:
            continue
        if info.tree is None:
            continue
        before = await ls.executor.trace_call(
            ls.settings.execution, definitions_only(info.text, info.tree, call_needs(call)), call, path)
        if before.get("status") == "ok":
            return f"{call} passes without this repair and fails with it: {trace.get('message') or trace.get('status')}"
    return None


async def _checked(ls, info, tree: ast.Module, text: str, path: str,
                   site: CallSite) -> tuple[bool | None, str | None, dict]:
    """A check run against `text` and judged as its diagnostic is: (passed, problem, trace)."""
    defs = definitions_only(text, tree, call_needs(site.call))
    trace = await ls.executor.trace_call(ls.settings.execution, defs, site.call, path,
                                         **sandbox_expectation(info, site))
    return (*judge(trace, site.expected, doctest=site.origin == "doctest"), trace)


async def _failed_before(ls, uri: str, path: str, site: CallSite) -> bool:
    """Whether a check the candidate fails failed in the document as it is, too."""
    try:
        info = ls.documents.analysis(uri)
    except SemcoderError:
        return False
    same = next((c for c in info.calls if c.origin == site.origin and c.call == site.call
                 and c.expected == site.expected), None)
    if same is None or info.tree is None:
        return False
    passed, _, _ = await _checked(ls, info, info.tree, info.text, path, same)
    return passed is False


async def _judged_by_its_test(ls, tree: ast.Module, text: str, path: str, site: CallSite) -> tuple[bool | None, str | None]:
    """An assert inside a top-level `test*` function that takes no arguments, judged by
    running that test: it passes when the test returns after the assert's line ran; it fails
    when the test raises there. (None, None) otherwise (the test is not one, or stops
    before the assert)."""
    test = next((node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test")
                 and node.lineno - 1 <= site.line <= (node.end_lineno or node.lineno) - 1), None)
    if test is None or site.origin != "assert":
        return None, None
    args = test.args
    if args.posonlyargs or args.args or args.vararg or args.kwonlyargs or args.kwarg:
        return None, None
    defs = definitions_only(text, tree, call_needs(f"{test.name}()"))
    trace = await ls.executor.trace_call(ls.settings.execution, defs, f"{test.name}()", path)
    status = trace.get("status")
    if status == "ok":
        ran = any(e.get("line") == site.line and e.get("function") == test.name for e in trace.get("events") or [])
        return (True, None) if ran else (None, None)
    exc = trace.get("exception") or {}
    frames = [frame.get("line") for frame in exc.get("traceback") or []] + [exc.get("line")]
    if status == "exception" and site.line in frames:
        message = exc.get("message")
        return False, (f"{test.name}() fails at its assert of {site.call}: {exc.get('type')}"
                       + (f": {message}" if message else ""))
    return None, None


async def repair_function(
    ls, uri: str, *, line: int | None = None, function: str | None = None, call: str | None = None,
    expected: str | None = None, candidates: int = 1,
    on_text: Callable[[str], None] | None = None, on_candidate: Callable[[dict], None] | None = None,
    origin: str | None = None, character: int | None = None,
) -> dict:
    """`origin`: where a given failing call comes from (a diagnostic's data: "assert",
    "doctest"), so that candidates are judged as it is; a call given alone is an assert's.
    `line` and `character`: the check there (of a parametrized test's cases on one line,
    the one under the cursor)."""
    info = ls.documents.analysis(uri)
    fn = info.functions.get(function) if function else None
    if fn is None and line is not None:
        on_line = [c for c in info.calls if c.line == line]
        col = byte_col(info.lines[line], character) if character is not None and 0 <= line < len(info.lines) else -1
        site = next((c for c in on_line if c.start_col <= col < c.end_col), on_line[0] if on_line else None)
        fn = info.functions.get(site.function) if site else info.function_at(line)
        if site and call is None:
            call, expected = site.call, site.expected if expected is None else expected
            origin = site.origin
    if fn is None:
        raise SemcoderError("Place the cursor in a function, or on a failing assert, to repair it.")
    if call is None:
        site = next((c for c in info.calls_for(fn.name) if c.origin in ("assert", "doctest")), None)
        if site is None:
            raise SemcoderError(f"No failing call is known for `{fn.name}`: add an assert that shows the bug.")
        call, expected, origin = site.call, site.expected, site.origin
    test = failed_test(call, expected)
    result = {"function": fn.name, "failedTest": test, "candidates": [], "message": None}
    try:
        engine = await ls.models.ensure_loaded()
    except SemcoderError as exc:
        result["message"] = str(exc)
        return result
    prompt = repair_prompt(problem_text(fn), repair_code(info, fn), test)
    s = ls.settings.model
    seen: set[str] = set()
    for attempt in range(max(1, min(candidates, MAX_CANDIDATES))):
        parser = RefinedParser()
        cancel = CancelToken()

        def on_delta(delta: str) -> None:
            parser.feed(delta)
            if on_text:
                on_text(delta)

        # The first candidate follows SemCoder's own sampling; later ones sample wider.
        params = GenerationParams(max_tokens=max(s.maxTokens, 1024),
                                  temperature=s.temperature if attempt == 0 else max(0.6, s.temperature),
                                  stop=(REFINED_STOP,), seed=attempt)
        await ls.worker.stream(engine, prompt, params, cancel, on_delta)
        code = parser.code
        new_fn = extract_function(code, fn.name) if code else None
        new_fn = keep_docstring(new_fn, fn) if new_fn else None
        if not new_fn or new_fn in seen:
            continue
        seen.add(new_fn)
        new_text, rng = replace_function(info, fn, new_fn)
        check = await verify(ls, uri, new_text, fn.name, call, expected, origin or "assert")
        verified = {"passed": True, "failed": False}.get(check["status"])
        title = f"{TITLE} ({'verified' if verified else 'unverified'})"
        candidate = {
            "code": new_fn, "verified": verified, "verification": check, "title": title,
            "edit": {"changes": {uri: [{"range": plain(rng), "newText": indented(new_fn, fn)}]}},
        }
        result["candidates"].append(candidate)
        if on_candidate:
            on_candidate(candidate)
        if verified:
            break
    if not result["candidates"]:
        result["message"] = "The model's answer contained no usable [Refined] version of the function."
    return result


def register(server) -> None:
    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix], resolve_provider=True),
    )
    def on_code_action(ls, params: types.CodeActionParams) -> list[types.CodeAction]:
        actions = []
        for diag in params.context.diagnostics:
            data = plain(diag.data)
            if diag.source != "semcoder" or not isinstance(data, dict) or data.get("importedFrom"):
                continue  # (an imported function is repaired in its own file, where its code is)
            actions.append(types.CodeAction(
                title=TITLE, kind=types.CodeActionKind.QuickFix, diagnostics=[diag],
                data={**data, "uri": params.text_document.uri},
            ))
        return actions

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def on_resolve(ls, action: types.CodeAction) -> types.CodeAction:
        data = plain(action.data) or {}
        try:
            result = await repair_function(
                ls, data["uri"], function=data.get("function"), call=data.get("call"),
                expected=data.get("expected"), candidates=int(data.get("candidates") or 1),
                origin=data.get("origin"),
            )
        except (SemcoderError, KeyError) as exc:
            action.title = f"{TITLE}: {exc}"
            return action
        if not result["candidates"]:
            reason = result["message"] or "no candidate"
            if "Predictions need a SemCoder model" in reason:
                reason = "no model configured"
            action.title = f"{TITLE}: {reason}"
            return action
        best = next((c for c in result["candidates"] if c["verified"]), result["candidates"][0])
        action.title = best["title"]
        action.is_preferred = bool(best["verified"])
        edit = best["edit"]["changes"][data["uri"]][0]
        action.edit = types.WorkspaceEdit(changes={data["uri"]: [types.TextEdit(
            range=types.Range(
                start=types.Position(**edit["range"]["start"]), end=types.Position(**edit["range"]["end"])),
            new_text=edit["newText"])]})
        return action
