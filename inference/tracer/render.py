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


def _span(text: str) -> str:
    """`text` as a Markdown code span, whatever backticks it holds: CommonMark ends a span at
    the first run of backticks as long as its fence, so the fence is one longer than any
    run inside. A space pads text with backticks (one at either end would join the fence)
    or with a space at both ends (CommonMark strips one from each side)."""
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    pad = " " if "`" in text or (text[:1] == text[-1:] == " " and text.strip()) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _code_span(text: str) -> str:
    """A code span for a table cell: one line, pipes escaped, long values cut."""
    text = text.replace("\n", "\\n").replace("|", "\\|")
    if len(text) > _MAX_CELL:
        text = text[: _MAX_CELL - 3] + "..."
    return _span(text)


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
    last_row_event: dict[int, dict] = {}  # the event of a row told where it happened
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
            last_row_event[len(rows) - 1] = event
    # The outcome (how the run ended, what the call gave) always shows, whatever the cut:
    # the steps left out are middle ones, and a row says how many and where.
    outcome: list[tuple[str, str]] = []
    status = trace.get("status")
    ret = trace.get("return") or {}
    if status == "ok" and not trace.get("drawn") and ret.get("repr") is not None:
        last = last_row_event.get(len(rows) - 1)
        if last is not None and _is_final_return(last) and str(last.get("value", "")) == str(ret.get("repr")):
            outcome.append(rows.pop())  # the call's own `return` row is its outcome
        else:  # no traced step of the call itself returned (`len(xs)`, `1 + 2`, a builtin)
            value_of = f"await {trace.get('call')}" if trace.get("awaited") else trace.get("call")
            outcome.append(("", f"**returned**: {_code_span(str(ret.get('repr')))}"
                            + (f" (from {_code_span(str(value_of))})" if value_of else "")))
    if trace.get("trace_stopped"):
        outcome.append(("", f"**trace stopped early**: {str(trace['trace_stopped']).replace('|', '/')}"))
    if status != "ok":
        outcome.append(("", f"**{status}**: {str(trace.get('message', '')).replace('|', '/')}"))
    elif trace.get("drawn"):  # the call gave a generator, drawn to its end (see child._draw)
        outcome.append(("", f"the generator, drawn with `list()`: {_code_span(str((trace.get('return') or {}).get('repr')))}"))
    assertion = trace.get("assertion")
    if assertion is not None and not assertion.get("passed"):
        outcome.append(("", "**assertion FAILED**: " + describe_assertion(assertion, trace).replace("|", "\\|")))
    cut = [what for what, flag in (trace.get("truncated") or {}).items() if flag]
    out = ["| line | values |", "| ---: | --- |"]
    budget = max(max_rows - len(outcome), 2)
    if len(rows) <= budget:
        out += [f"| {cell} | {text} |" for cell, text in rows]
    else:
        # Keep the first steps and the last few before the outcome (what led to it).
        tail = min(5, (budget - 1) // 3)
        head = budget - 1 - tail
        left_out = rows[head: len(rows) - tail]
        out += [f"| {cell} | {text} |" for cell, text in rows[:head]]
        lines_left = sorted({int(c.split()[0]) for c, _ in left_out if c.split() and c.split()[0].isdigit()})
        where = f" (lines {lines_left[0]}–{lines_left[-1]})" if len(lines_left) > 1 else (
            f" (line {lines_left[0]})" if lines_left else "")
        out.append(f"| … | {len(left_out)} more steps left out here{where} |")
        out += [f"| {cell} | {text} |" for cell, text in rows[len(rows) - tail:]]
    out += [f"| {cell} | {text} |" for cell, text in outcome]
    if cut:
        out.append(f"| … | trace cut short: {', '.join(cut)} limit |")
    return "\n".join(out)


def _is_final_return(event: dict) -> bool:
    """The call's own return: a `return` step of the top frame in the calling thread."""
    return (event.get("kind") == "return" and not event.get("yield") and not event.get("thread")
            and not (event.get("depth") or 0))


def describe_assertion(assertion: dict, trace: dict) -> str:
    """What a failed --expect found: the expected value against the actual one, or the error
    the expectation itself raised, in words."""
    if assertion.get("error"):
        return f"the expectation raised {assertion['error']}"
    expected = assertion.get("expected_repr")
    actual = assertion.get("actual_repr")
    if actual is None and trace.get("status") == "ok":
        actual = (trace.get("return") or {}).get("repr")
    if actual is None:
        return f"expected {expected}, but the call did not return ({trace.get('message') or trace.get('status')})"
    if expected is None:  # a check (an assert's condition around the call), not a value
        return f"the check is false for the value {actual}"
    return f"expected {expected}, got {actual}"


def render_output(trace: dict) -> str:
    """What the run printed, for the CLI to print after the table: a `stdout:` and a `stderr:`
    section, each only where the stream got something; empty when neither did."""
    sections = []
    for stream in ("stdout", "stderr"):
        text = trace.get(stream)
        if text:
            sections.append(f"\n{stream}:\n{text}" + ("" if text.endswith("\n") else "\n"))
    return "".join(sections)


class _Structure:
    """Loops and if-statements of the source, by line, to state facts about control flow."""

    def __init__(self, source: str):
        self.loops: dict[int, _Loop] = {}
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
                is_while = isinstance(node, ast.While)
                header = [node.test] if is_while else [node.target, node.iter]
                leaves = any(isinstance(n, (ast.Break, ast.Return)) for n in ast.walk(ast.Module(node.body, [])))
                self.loops[node.lineno] = _Loop(node.body[0].lineno, last_body, "while" if is_while else "for",
                                                max(n.end_lineno or n.lineno for n in header), leaves)
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


class _Loop(NamedTuple):
    first: int  # the body's lines
    last: int
    kind: str  # "for" or "while"
    header_end: int  # the header's last line (several when its condition or target is in parentheses)
    leaves: bool  # the body has a `break` or `return` (a nested loop's or function's too)

    @property
    def shared(self) -> bool:
        """The body starts on the header's (last) line: the events of that line hold what
        the body did too, and what they list is after it ran."""
        return self.first <= self.header_end


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
    events in between are not its). Events have no frame of their own to tell them apart,
    but the tasks an event loop runs while a coroutine waits at an `await` interleave with
    it at the same depth (asyncio's tasks of one `gather`): another function's events at the
    depth are another frame's, and a new call of the same function there (one of several
    tasks of it) leaves the frame's next step unknown (None), as does a step of its
    caller's, or of the call's own coroutine resumed while a task of it is suspended."""
    event = events[index]
    depth, thread, function = event.get("depth") or 0, event.get("thread"), event.get("function")
    for position in range(index + 1, len(events)):
        event = events[position]
        if event.get("thread") != thread:
            continue
        at = event.get("depth") or 0
        if at < depth:
            return None
        if at == depth and event.get("function") == function:
            if event.get("kind") == "call" and not event.get("resumed"):
                return None
            return position
    return None


def _told_after(events: list[dict], index: int, end: int | None = None) -> int | None:
    """Where to tell what the line of events[index] did when it called traced code (the
    calls' steps come between it and its frame's next event): that next event's place.
    None when it called nothing traced (another thread's steps in between do not count).
    With `end`, the step is told for events[index] through events[end] of the same frame
    (a loop header over several lines): calls made from any of them count, and so do the
    steps of other frames the event loop ran at the same depth while it awaited (see
    _next_in_frame): what the line assigns once resumed is known after them."""
    after = _next_in_frame(events, index if end is None else end)
    if after is None:
        return None
    thread, depth, function = events[index].get("thread"), events[index].get("depth"), events[index].get("function")
    return after if any(e.get("thread") == thread and (e.get("depth") != depth or e.get("function") != function)
                        for e in events[index + 1:after]) else None


def _assigned(changes: dict, known: set) -> list[str]:
    """"`x` is assigned `1`" for a name its frame had not bound yet, else "is updated to"
    (always for a place inside a local, `grid[5][0]`); the names join `known`."""
    said = []
    for var, value in changes.items():
        updated = var in known or not var.isidentifier()
        said.append(f"{_span(var)} {'is updated to' if updated else 'is assigned'} {_span(value)}")
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
    told_with_header: set[int] = set()  # a loop header's later lines, told with its first
    for index, event in enumerate(events):
        steps += told_later.pop(index, ())
        if index in told_with_header:
            continue
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
        who = _span(str(name))
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
            args = " and ".join(_span(f"{k} = {v}") for k, v in changes.items() if k not in held)
            in_thread = f" in thread {thread}" if thread else ""
            closure = " and ".join(_span(f"{k} = {v}") for k, v in held.items())
            steps.append(f"The function {who} is called{in_thread}" + (f" with {args}" if args else " with no arguments")
                         + (f" (its closure holds {closure})." if closure else "."))
            continue
        if kind == "return":
            verb = "yields" if event.get("yield") else "returns"
            steps.append(f"{where(line, thread)}: {who} {verb} {_span(str(event.get('value', '')))}.")
            continue
        if kind == "exception":
            steps.append(f"{where(line, thread)}: {_span(str(event.get('value', '')))} is raised in {who}.")
            continue
        sentences = []
        loop = structure.loops.get(line) if event.get("iteration") else None
        position = _next_in_frame(events, index)
        end = index  # the last event this step tells of
        globals_ = event.get("globals") or {}
        if loop is not None and not loop.shared:
            # A header over several lines reports each as it runs: what the iteration starts
            # with is known after the last (`for (a,\n b) in pairs` binds b there).
            while (position is not None and events[position].get("kind") == "line"
                   and line < (events[position].get("line") or 0) <= loop.header_end):
                changes = {**changes, **(events[position].get("changes") or {})}
                globals_ = {**globals_, **(events[position].get("globals") or {})}
                told_with_header.add(position)
                end, position = position, _next_in_frame(events, position)
        elif line in structure.ifs:
            # A condition over several lines reports each as it is evaluated: look past them.
            test_end = structure.ifs[line].test_end
            while (position is not None and events[position].get("kind") == "line"
                   and line < (events[position].get("line") or 0) <= test_end):
                position = _next_in_frame(events, position)
        following = events[position] if position is not None else None
        next_line = following.get("line") if following else None
        # the line itself raised: a condition neither held nor failed
        raised_here = following is not None and following.get("kind") == "exception" and next_line == line
        in_iteration = ""  # a one-line loop's step: "In iteration 2 of the loop, ..."
        ends = None  # the sentence that says the loop is over, told after the changes
        if loop is not None:
            # Where the frame went next says what the header did. Left: to a line past
            # the loop, or out of the function (not a `yield`, after which it comes back).
            left = not raised_here and following is not None and (
                following.get("kind") == "line" and not line <= next_line <= loop.last
                or following.get("kind") == "return" and not following.get("yield"))
            if left:
                # With a body on the header's line, a `break` or `return` can end the loop there.
                condition_false = loop.kind == "while" and not (loop.shared and loop.leaves)
                ends = "the loop condition is false, so the loop ends" if condition_false else "the loop ends"
            if not loop.shared:
                if following is not None and following.get("kind") == "line" and loop.first <= next_line <= loop.last:
                    values = " and ".join(_span(f"{k} = {v}") for k, v in changes.items())
                    sentences.append(f"Iteration {event['iteration']} of the loop starts" + (f" with {values}" if values else ""))
                    known.update(changes)
                    changes = {}
            elif (loop.first == loop.last == line and following is not None
                  and following.get("kind") == "line" and next_line == line):
                # A whole loop on one line: each event is one iteration, header and body, and
                # what it lists is after the body ran. Back on the line, the loop went round:
                # this iteration ran. (Where the body takes more lines, the tracer counts each
                # return to the header line as an iteration: no number is said then.)
                in_iteration = f"In iteration {event['iteration']} of the loop, "
        elif line in structure.ifs and next_line is not None and not raised_here:
            statement = structure.ifs[line]
            truth = statement.truth(line, following)
            if truth is not None:
                sentences.append(f"The condition {_span(statement.test)} is {'true' if truth else 'false'}")
        sentences += _assigned(changes, known)
        sentences += [f"the global {_span(name)} is updated to {_span(value)}"
                      for name, value in globals_.items()]
        if ends:
            sentences.append(ends)
        if in_iteration:
            sentences = [in_iteration + "; ".join(sentences)] if sentences else [f"Iteration {event['iteration']} of the loop runs"]
        if not sentences:
            continue
        text = "; ".join(sentences)
        step = f"{where(line, thread)}: {text[0].upper()}{text[1:]}."
        after = _told_after(events, index, end)
        if after is not None:
            # The line called traced code: what it did is told once those calls are done
            # (`a = fib(n - 1)`: fib's steps, then "`a` is assigned `1`").
            told_later.setdefault(after, []).append(step)
        else:
            steps.append(step)
    # Where the trace ends before the run did, say so: the steps above are not all of it.
    cut = trace.get("truncated") or {}
    if trace.get("trace_stopped"):
        steps.append(f"The trace stopped early here: {trace['trace_stopped']}.")
    if cut.get("events"):
        # The calling thread's steps end at the cut; threads get half the events, and
        # theirs may be cut while the calling thread's go on.
        threads = any(e.get("thread") for e in events)
        steps.append("The trace was cut short at the events limit: " + (
            "not every step of the run is shown." if threads else "the steps after this one are not shown."))
    if cut.get("depth"):
        steps.append("The trace was cut short at the depth limit: the steps of calls nested deeper are not shown.")
    ret = trace.get("return")
    status = trace.get("status")
    call = trace.get("call")
    if status == "ok" and ret:
        # An async function's call was run to its end (see child._run_coroutine): its value
        # is the awaited one, not the coroutine the call itself gives.
        # A generator's was drawn (child._draw): its value is what list() gives.
        value_of = f"await {call}" if trace.get("awaited") else f"list({call})" if trace.get("drawn") else call
        shown = " (its text cut short at the return limit)" if cut.get("return") else ""
        steps.append(f"The return value of {_span(str(value_of))} is {_span(str(ret.get('repr')))}{shown}.")
    elif trace.get("message"):
        steps.append(f"The run did not return: {trace['message']}.")
    body = "\n".join(f"{i}. {step}" for i, step in enumerate(steps, start=1))
    if with_answer and status == "ok" and ret and not cut.get("return"):  # a cut text is no value to assert
        checked = f"asyncio.run({call})" if trace.get("awaited") else f"list({call})" if trace.get("drawn") else call
        body += f"\n[ANSWER]\nassert {checked} == {ret.get('repr')}\n[/ANSWER]"
    return body
