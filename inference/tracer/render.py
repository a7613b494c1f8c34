"""Traces as text: a compact `line | values` table for hovers, and a SemCoder-style forward
monologue (numbered steps, `[Lk]` labels, values in backticks) whose every sentence is a
fact of the run.
"""

from __future__ import annotations

import ast
import re
from typing import NamedTuple

from ..formats import label_lines

_MAX_CELL = 160


def _code_span(text: str) -> str:
    """A Markdown code span that survives backticks and table pipes in the value."""
    text = text.replace("\n", "\\n").replace("|", "\\|")
    if len(text) > _MAX_CELL:
        text = text[: _MAX_CELL - 3] + "..."
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _assignments(changes: dict, globals_: dict | None = None) -> str:
    """`x = 1`, …, then each module global the line changed, `global count = 5`."""
    return ", ".join([_code_span(f"{name} = {value}") for name, value in changes.items()]
                     + [_code_span(f"global {name} = {value}") for name, value in (globals_ or {}).items()])


def render_table(trace: dict, source: str | None = None, max_rows: int = 40) -> str:
    """Markdown table `line | values`: one row per step that changed something, plus calls,
    returns, exceptions, and a final row when the run did not end normally. Steps of the
    threads the call started say which (`[thread 1]`)."""
    lines = source.splitlines() if source else []
    rows: list[tuple[str, str]] = []
    events = trace.get("events") or []
    shown_later: dict[int, list[tuple[str, str]]] = {}
    for index, event in enumerate(events):
        rows += shown_later.pop(index, ())
        kind = event.get("kind")
        changes = event.get("changes") or {}
        indent = "· " * int(event.get("depth") or 0)
        if event.get("thread"):
            indent = f"[thread {event['thread']}] {indent}"
        resumed = kind == "call" and event.get("resumed")
        if resumed and not changes:
            continue
        if resumed:  # what the line that yielded did with the value sent in (`x = yield v`)
            text = indent + _assignments(changes)
        elif kind == "call":
            text = f"{indent}call {_code_span(str(event.get('function')))}" + (f" with {_assignments(changes)}" if changes else "")
        elif kind == "return":
            verb = "yield" if event.get("yield") else "return"
            text = f"{indent}{verb} {_code_span(str(event.get('value', '')))}"
        elif kind == "exception":
            text = f"{indent}raises {_code_span(str(event.get('value', '')))}"
        elif changes or event.get("globals"):
            text = indent + _assignments(changes, event.get("globals"))
            if event.get("iteration"):
                text += f" (iteration {event['iteration']})"
        else:
            continue
        line = event.get("line")
        cell = str(line)
        if lines and isinstance(line, int) and 0 < line <= len(lines) and (kind == "line" or resumed):
            cell += " " + _code_span(lines[line - 1].strip()[:40])
        after = _told_after(events, index) if kind == "line" or resumed else None
        if after is not None:
            shown_later.setdefault(after, []).append((cell, text))  # after the calls the line made
        else:
            rows.append((cell, text))
    if trace.get("trace_stopped"):
        rows.append(("", f"**trace stopped early**: {str(trace['trace_stopped']).replace('|', '/')}"))
    status = trace.get("status")
    if status != "ok":
        rows.append(("", f"**{status}**: {str(trace.get('message', '')).replace('|', '/')}"))
    cut = [what for what, flag in (trace.get("truncated") or {}).items() if flag]
    out = ["| line | values |", "| ---: | --- |"]
    shown = rows if len(rows) <= max_rows else rows[: max_rows - 1]
    out += [f"| {cell} | {text} |" for cell, text in shown]
    if len(shown) < len(rows):
        out.append(f"| … | {len(rows) - len(shown)} more steps |")
    if cut:
        out.append(f"| … | trace cut short: {', '.join(cut)} limit |")
    return "\n".join(out)


class _Structure:
    """Loops and if-statements of the source, by line, to state facts about control flow."""

    def __init__(self, source: str):
        self.loops: dict[int, tuple[int, int, str]] = {}
        self.ifs: dict[int, _If] = {}
        self.params: dict[str, tuple[str, ...]] = {}  # a function's parameters, by qualified name
        try:
            tree = ast.parse(source)
        except SyntaxError:
            return
        self._find_params(tree, "")
        for node in ast.walk(tree):
            if isinstance(node, (ast.For, ast.AsyncFor, ast.While)):
                last_body = node.body[-1].end_lineno or node.body[-1].lineno
                self.loops[node.lineno] = (node.body[0].lineno, last_body, "while" if isinstance(node, ast.While) else "for")
            elif isinstance(node, ast.If):
                last_body = node.body[-1].end_lineno or node.body[-1].lineno
                # one line, however many the condition takes in the source
                test = re.sub(r"\s*\n\s*", " ", ast.get_source_segment(source, node.test) or "the condition")
                orelse = (node.orelse[0].lineno, node.end_lineno or node.lineno) if node.orelse else None
                self.ifs[node.lineno] = _If(node.body[0].lineno, last_body, test, orelse,
                                            node.test.end_lineno or node.lineno)

    def _find_params(self, node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = child.args
                names = [arg.arg for arg in a.posonlyargs + a.args + a.kwonlyargs]
                names += [arg.arg for arg in (a.vararg, a.kwarg) if arg is not None]
                self.params[prefix + child.name] = tuple(names)
                self._find_params(child, prefix + child.name + ".<locals>.")
            elif isinstance(child, ast.ClassDef):
                self._find_params(child, prefix + child.name + ".")
            else:
                self._find_params(child, prefix)

    def parameters(self, function: str) -> tuple[str, ...] | None:
        """The parameters of `function` (a qualified name; before Python 3.11 a bare one,
        known when only one function has it); None when unknown."""
        found = self.params.get(function)
        if found is None and "." not in function:
            matches = [names for name, names in self.params.items() if name.rpartition(".")[2] == function]
            found = matches[0] if len(matches) == 1 else None
        return found


class _If(NamedTuple):
    first: int  # the body's lines
    last: int
    test: str
    orelse: tuple[int, int] | None  # the lines of its elif or else, if any
    test_end: int  # the last line of the condition (several when it is in parentheses)

    def truth(self, line: int, following: dict) -> bool | None:
        """Whether the condition at `line` was true, judged by the next step of its frame;
        None where that step cannot tell."""
        next_line = following.get("line")
        if not isinstance(next_line, int):
            return None
        if self.first > line:  # the body has lines of its own
            return self.first <= next_line <= self.last
        # `if c: x = 1` all on one line: whether the body ran, its changes (which might be
        # the condition's own, a `:=`) cannot tell; only an elif or else does, by being
        # where the run went next.
        if self.orelse is None:
            return None
        return not (self.orelse[0] <= next_line <= self.orelse[1])


def _next_in_frame(events: list[dict], index: int) -> int | None:
    """Where the next event of the same function call as events[index] is (other threads'
    events in between are not its)."""
    depth = events[index].get("depth")
    thread = events[index].get("thread")
    for position in range(index + 1, len(events)):
        event = events[position]
        if event.get("thread") != thread:
            continue
        if event.get("depth") == depth:
            return position
        if (event.get("depth") or 0) < (depth or 0):
            return None
    return None


def _told_after(events: list[dict], index: int) -> int | None:
    """Where to tell what the line of events[index] did when it called traced code (the
    calls' steps come between it and its frame's next event): that next event's place.
    None when it called nothing traced (another thread's steps in between do not count)."""
    after = _next_in_frame(events, index)
    if after is None:
        return None
    thread = events[index].get("thread")
    return after if any(e.get("thread") == thread for e in events[index + 1:after]) else None


def _assigned(changes: dict, known: set) -> list[str]:
    """"`x` is assigned `1`" for a name its frame had not bound yet, else "is updated to"
    (always for a place inside a local, `grid[5][0]`); the names join `known`."""
    said = []
    for var, value in changes.items():
        updated = var in known or not var.isidentifier()
        said.append(f"`{var}` {'is updated to' if updated else 'is assigned'} `{value}`")
        known.add(var)
    return said


def render_monologue(trace: dict, source: str, function: str | None = None, with_answer: bool = False) -> str:
    """A forward monologue of the run. Lines are named by the `[Lk]` labels SemCoder's
    prompt gives `source` (label = line + 4; see formats.label_lines). With `function`, only
    that function's own steps are narrated (calls it makes are summarised by their result),
    in the thread that made the call. Steps of other threads say which thread they are in."""
    labels = {line: label for label, line in label_lines(source).label_to_line.items()}
    structure = _Structure(source)
    events = trace.get("events") or []
    steps: list[str] = []
    bound: dict[tuple, set] = {}

    def where(line, thread=None) -> str:
        label = f"[L{labels[line]}]" if line in labels else f"[line {line}]"
        return f"{label} (thread {thread})" if thread else label

    base_depth = None
    if function is not None:
        depths = [e.get("depth", 0) for e in events if e.get("function") == function and not e.get("thread")]
        base_depth = min(depths) if depths else None
    told_later: dict[int, list[str]] = {}  # see the end of the loop
    for index, event in enumerate(events):
        steps += told_later.pop(index, ())
        kind = event.get("kind")
        depth = event.get("depth") or 0
        name = event.get("function")
        thread = event.get("thread")
        if base_depth is not None and (depth != base_depth or name != function or thread):
            continue
        changes = event.get("changes") or {}
        line = event.get("line")
        frame_key = (thread, depth, name)
        known = bound.setdefault(frame_key, set())
        who = f"`{name}`"
        if kind == "call" and event.get("resumed"):
            received = _assigned(changes, known)  # what `x = yield v` does with the value sent in
            resumes = f"{where(line, thread)}: {who} resumes after its `yield`"
            after = _told_after(events, index) if received else None
            if after is not None:  # `x = yield from g()`: x is told once g's steps are
                steps.append(resumes + ".")
                told_later.setdefault(after, []).append(f"{where(line, thread)}: {'; '.join(received)}.")
            else:
                steps.append(resumes + "".join("; " + r for r in received) + ".")
            continue
        if kind == "call":
            known.clear()
            known.update(changes)
            params = structure.parameters(str(name))
            # A closure's free variables are locals too, but no arguments of the call.
            held = {k: v for k, v in changes.items() if params is not None and k not in params}
            args = " and ".join(f"`{k} = {v}`" for k, v in changes.items() if k not in held)
            in_thread = f" in thread {thread}" if thread else ""
            closure = " and ".join(f"`{k} = {v}`" for k, v in held.items())
            steps.append(f"The function {who} is called{in_thread}" + (f" with {args}" if args else " with no arguments")
                         + (f" (its closure holds {closure})." if closure else "."))
            continue
        if kind == "return":
            verb = "yields" if event.get("yield") else "returns"
            steps.append(f"{where(line, thread)}: {who} {verb} `{event.get('value', '')}`.")
            continue
        if kind == "exception":
            steps.append(f"{where(line, thread)}: `{event.get('value', '')}` is raised in {who}.")
            continue
        sentences = []
        loop = structure.loops.get(line)
        position = _next_in_frame(events, index)
        if line in structure.ifs:
            # A condition over several lines reports each as it is evaluated: look past them.
            test_end = structure.ifs[line].test_end
            while (position is not None and events[position].get("kind") == "line"
                   and line < (events[position].get("line") or 0) <= test_end):
                position = _next_in_frame(events, position)
        following = events[position] if position is not None else None
        next_line = following.get("line") if following else None
        # the line itself raised: a condition neither held nor failed
        raised_here = following is not None and following.get("kind") == "exception" and next_line == line
        if loop is not None and event.get("iteration"):
            first, last, kind_of_loop = loop
            entering = next_line is not None and first <= next_line <= last and following.get("kind") == "line"
            if entering:
                values = " and ".join(f"`{k} = {v}`" for k, v in changes.items())
                sentences.append(f"Iteration {event['iteration']} of the loop starts" + (f" with {values}" if values else ""))
                known.update(changes)
                changes = {}
            elif not changes and not raised_here:
                sentences.append("The loop ends" if kind_of_loop == "for" else "The loop condition is false, so the loop ends")
        elif line in structure.ifs and next_line is not None and not raised_here:
            statement = structure.ifs[line]
            truth = statement.truth(line, following)
            if truth is not None:
                sentences.append(f"The condition `{statement.test}` is {'true' if truth else 'false'}")
        sentences += _assigned(changes, known)
        sentences += [f"the global `{name}` is updated to `{value}`"
                      for name, value in (event.get("globals") or {}).items()]
        if not sentences:
            continue
        text = "; ".join(sentences)
        step = f"{where(line, thread)}: {text[0].upper()}{text[1:]}."
        after = _told_after(events, index)
        if after is not None:
            # The line called traced code: what it did is told once those calls are done
            # (`a = fib(n - 1)`: fib's steps, then "`a` is assigned `1`").
            told_later.setdefault(after, []).append(step)
        else:
            steps.append(step)
    ret = trace.get("return")
    status = trace.get("status")
    call = trace.get("call")
    if status == "ok" and ret:
        # An async function's call was run to its end (see child._run_coroutine): its value
        # is the awaited one, not the coroutine the call itself gives.
        value_of = f"await {call}" if trace.get("awaited") else call
        steps.append(f"The return value of `{value_of}` is `{ret.get('repr')}`.")
    elif trace.get("message"):
        steps.append(f"The run did not return: {trace['message']}.")
    body = "\n".join(f"{i}. {step}" for i, step in enumerate(steps, start=1))
    if with_answer and status == "ok" and ret:
        checked = f"asyncio.run({call})" if trace.get("awaited") else call
        body += f"\n[ANSWER]\nassert {checked} == {ret.get('repr')}\n[/ANSWER]"
    return body
