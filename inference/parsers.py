"""Incremental parsers for what SemCoder generates.

Text arrives as a stream of deltas of any size. Each parser is fed those deltas as they come
(`feed`) and can be read at any point; feeding the same text in any split gives the same
state, which the tests check by splitting at every position.

- AnswerParser: the text between the last `[ANSWER]` and `[/ANSWER]`.
- RefinedParser: the fixed program between `[Refined]` and `[/Refined]` (code fences removed).
- MonologueParser: one step per monologue line, with its `[Lk]` labels mapped to source lines
  and the variable values it states in backticks (`` `x = 3` ``, `` `x` is `3` ``).
"""

from __future__ import annotations

import ast
import io
import re
import textwrap
import tokenize
from dataclasses import dataclass, field

from .formats import (
    ANSWER_START,
    ANSWER_STOP,
    MONOLOGUE_START,
    MONOLOGUE_STOP,
    REFINED_START,
    REFINED_STOP,
    restore_string_quotes,
)


class _SpanParser:
    """Tracks the text between the last `start` marker and the `stop` marker after it."""

    start_marker = ""
    stop_marker = ""

    def __init__(self) -> None:
        self._text = ""
        self._scan_from = 0  # markers before this index have been handled
        self._open: int | None = None  # index just after the last start marker
        self._close: int | None = None  # index of the stop marker that ends that span

    def feed(self, delta: str) -> None:
        self._text += delta
        while True:
            found = [
                (index, marker)
                for marker in (self.start_marker, self.stop_marker)
                if (index := self._text.find(marker, self._scan_from)) >= 0
            ]
            if not found:
                # A marker may be cut in two by the split; rescan the tail next time.
                longest = max(len(self.start_marker), len(self.stop_marker))
                self._scan_from = max(self._scan_from, len(self._text) - longest + 1)
                return
            index, marker = min(found)
            if marker == self.start_marker:
                self._open, self._close = index + len(marker), None
            elif self._open is not None and self._close is None:
                self._close = index
            self._scan_from = index + len(marker)

    @property
    def text(self) -> str:
        """Everything fed so far."""
        return self._text

    @property
    def complete(self) -> bool:
        return self._close is not None

    def _span(self) -> str | None:
        if self._open is None:
            return None
        if self._close is not None:
            return self._text[self._open : self._close]
        span = self._text[self._open :]
        # Hide a stop marker that is still arriving ("...[/ANS").
        for cut in range(min(len(self.stop_marker) - 1, len(span)), 0, -1):
            if self.stop_marker.startswith(span[-cut:]):
                return span[:-cut]
        return span


class AnswerParser(_SpanParser):
    """`.answer`: the stripped text after the last `[ANSWER]` (up to `[/ANSWER]` once it came),
    or None before any `[ANSWER]`. The engine stops at `[/ANSWER]` without returning it, so
    the answer is usable when the stream ends even though `.complete` stays False."""

    start_marker = ANSWER_START
    stop_marker = ANSWER_STOP

    @property
    def answer(self) -> str | None:
        span = self._span()
        return None if span is None else span.strip()


_FENCE_OPEN = re.compile(r"\A```[\w+-]*[ \t]*\n")
_FENCE_CLOSE = re.compile(r"\n?[ \t]*```[ \t]*\Z")


class RefinedParser(_SpanParser):
    """`.code`: the program after the last `[Refined]` (up to `[/Refined]`), without the
    ```python fences the model wraps it in and without indentation common to all its lines;
    None before any `[Refined]`."""

    start_marker = REFINED_START
    stop_marker = REFINED_STOP

    @property
    def code(self) -> str | None:
        span = self._span()
        if span is None:
            return None
        code = span.strip("\n")
        code = _FENCE_OPEN.sub("", code.lstrip(), count=1) if code.lstrip().startswith("```") else code
        code = _FENCE_CLOSE.sub("", code.rstrip(), count=1)
        # The model may indent the whole program (as in a list or under a heading); a program
        # indented as a block does not compile, so take the common indentation off.
        return textwrap.dedent(code).strip("\n")


# ---------------------------------------------------------------------------------------------
# Answers: `assert f(x) == value`


@dataclass(frozen=True)
class ParsedAnswer:
    """What an [ANSWER] block says: `value` (the predicted output, or the call with the found
    input), or None with `problem` saying why the answer gives none."""

    value: str | None
    problem: str | None = None


_PLACEHOLDER = "??"
_MAX_ANSWER_LINES = 200  # an answer is one assertion; don't try forever on prose


def _answer_lines(answer: str) -> list[str]:
    """The answer's lines without the ```python fences the model sometimes adds."""
    return [line for line in answer.strip().splitlines() if not line.strip().startswith("```")]


def _first_statement(answer: str) -> tuple[ast.stmt, str] | None:
    """The first statement of the answer and its source text, parsed with `ast`: from the first
    line that starts with `assert` (else the first line), the fewest lines that parse, so a
    value written over several lines is whole and a second assertion or trailing prose is not
    part of it. None when no such prefix is Python (cut off, or not code)."""
    lines = _answer_lines(answer)
    starts = [i for i, line in enumerate(lines) if line.strip().startswith("assert")]
    first = starts[0] if starts else next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return None
    for end in range(first + 1, min(len(lines), first + _MAX_ANSWER_LINES) + 1):
        chunk = "\n".join([lines[first].lstrip(), *lines[first + 1 : end]])
        try:
            tree = ast.parse(chunk)
        except (SyntaxError, ValueError):
            continue
        if tree.body:
            return tree.body[0], chunk
    return None


def _source_of(node: ast.expr, chunk: str) -> str:
    """A node's text as the model wrote it; a value spread over several lines is put on one
    (`[\\n  1,\\n  2]` -> `[1, 2]`)."""
    text = ast.get_source_segment(chunk, node) or ast.unparse(node)
    return ast.unparse(node) if "\n" in text else text.strip()


_OPERATORS = {
    ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in",
}


def _comparison(statement: ast.stmt) -> tuple[ast.expr, ast.expr | None] | str:
    """(left, right) of `assert left == right` or `left == right`; (expression, None) for a bare
    expression; else why the statement is no answer."""
    if isinstance(statement, ast.Assert):
        test = statement.test  # a message after a comma (`assert x == 3, "msg"`) is not part of it
    elif isinstance(statement, ast.Expr):
        test = statement.value
    else:
        return "the answer is not an assertion"
    if isinstance(test, ast.Compare):
        if len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
            return test.left, test.comparators[0]
        if len(test.ops) > 1:
            return "the answer chains several comparisons instead of one `==`"
        return f"the answer compares with `{_OPERATORS.get(type(test.ops[0]), '?')}`, not `==`"
    if isinstance(statement, ast.Assert):
        return "the answer's assertion has no `== value`"
    return test, None


def _unparsed_problem(answer: str) -> str:
    if not answer.strip():
        return "the answer is empty"
    assertion = _first_assertion(answer)
    parts = _split_comparison(assertion)
    if parts is not None and not parts[1].strip():
        return "the answer has nothing after `==`"
    if _PLACEHOLDER in answer:
        return f"the answer repeats the `{_PLACEHOLDER}` placeholder"
    return "the answer is not a Python assertion"


def parse_output_answer(answer: str) -> ParsedAnswer:
    """The predicted output of `assert f(x) == value` (or of a bare value): `value` as the model
    wrote it, without `assert`, a trailing comment or an assertion message. No value for an
    answer that does not parse (cut off, empty after `==`, prose) or does not say `== value`
    (`assert f(1)`, `assert f(1) is None`)."""
    found = _first_statement(answer)
    if found is None:
        return ParsedAnswer(None, _unparsed_problem(answer))
    statement, chunk = found
    parts = _comparison(statement)
    if isinstance(parts, str):
        return ParsedAnswer(None, parts)
    left, right = parts
    return ParsedAnswer(_source_of(right if right is not None else left, chunk))


def parse_input_answer(answer: str, function: str | None = None) -> ParsedAnswer:
    """The call with the found input, from `assert f(input) == output` (or a bare `f(input)`).
    Refused (no value) when the answer does not parse, when it repeats the prompt's `f(??)`
    placeholder, or when it is not a call of `function` (when given)."""
    found = _first_statement(answer)
    if found is None:
        # `??` is not Python: an answer that parses has it only inside a string, if at all.
        if _PLACEHOLDER in _first_assertion(answer).partition("==")[0]:
            return ParsedAnswer(None, f"the answer repeats the `{_PLACEHOLDER}` placeholder instead of an input")
        return ParsedAnswer(None, _unparsed_problem(answer))
    statement, chunk = found
    parts = _comparison(statement)
    if isinstance(parts, str):
        return ParsedAnswer(None, parts)
    call = parts[0]
    if not isinstance(call, ast.Call):
        return ParsedAnswer(None, "the answer is not a call of the function")
    if function is not None:
        called = call.func.id if isinstance(call.func, ast.Name) else None
        if called != function:
            what = f"`{called}`" if called else f"`{_source_of(call.func, chunk)}`"
            return ParsedAnswer(None, f"the answer calls {what}, not `{function}`")
    return ParsedAnswer(_source_of(call, chunk))


def _split_comparison(answer: str) -> tuple[str, str] | None:
    """Split at the first `==` outside brackets and strings; None if there is none."""
    line_starts = [0]
    for line in io.StringIO(answer):
        line_starts.append(line_starts[-1] + len(line))
    depth = 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(answer).readline):
            if tok.type != tokenize.OP:
                continue
            if tok.string in "([{":
                depth += 1
            elif tok.string in ")]}":
                depth -= 1
            elif tok.string == "==" and depth == 0:
                start = line_starts[tok.start[0] - 1] + tok.start[1]
                return answer[:start], answer[start + 2 :]
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    # Not Python (or cut off): fall back to the plain text split the original evaluation used.
    if "==" in answer:
        left, _, right = answer.partition("==")
        return left, right
    return None


def _drop_assert(text: str) -> str:
    text = text.strip()
    if text.startswith("assert") and (len(text) == 6 or not (text[6].isalnum() or text[6] == "_")):
        text = text[6:].strip()
    return text


def _first_assertion(answer: str) -> str:
    """An answer holds one assertion; if the model wrote more lines, the first one counts."""
    lines = [line for line in _answer_lines(answer) if line.strip()]
    for line in lines:
        if line.strip().startswith("assert"):
            return line
    return "\n".join(lines).strip()


def output_from_answer(answer: str) -> str:
    """The predicted output as text: what follows `==`, `assert` dropped (see
    parse_output_answer); "" when a parsed answer states none (`assert f(1)`). An answer that is
    not Python (cut off) falls back to the plain text split the original evaluation used."""
    parsed = parse_output_answer(answer)
    if parsed.value is not None:
        return parsed.value
    if _first_statement(answer) is not None:
        return ""
    assertion = _first_assertion(answer)
    parts = _split_comparison(assertion)
    return _drop_assert(parts[1] if parts else assertion)


def input_from_answer(answer: str) -> str:
    """The predicted input as text: what precedes `==` (the call, e.g. `f(3)`), `assert`
    dropped. Lenient: it checks neither what is called nor that there is an `== output`
    (parse_input_answer does, and refuses `f(??)`)."""
    found = _first_statement(answer)
    if found is not None:
        statement, chunk = found
        node = statement.test if isinstance(statement, ast.Assert) else getattr(statement, "value", None)
        if isinstance(node, ast.Compare):
            node = node.left
        if isinstance(node, ast.expr):
            return _source_of(node, chunk)
        return ""
    assertion = _first_assertion(answer)
    parts = _split_comparison(assertion)
    return _drop_assert(parts[0] if parts else assertion)


# ---------------------------------------------------------------------------------------------
# Monologue steps


@dataclass(frozen=True)
class MonologueStep:
    """One line of a monologue.

    index: 0-based count of steps; text: the line, stripped; labels: the `[Lk]` numbers it
    names; lines: those labels mapped to 1-based lines of the labelled code (unknown labels
    dropped); mentions: (name, value) pairs it states, values in the program's quote style.
    """

    index: int
    text: str
    labels: list[int] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    mentions: list[tuple[str, str]] = field(default_factory=list)


_LABEL = re.compile(r"\[L(\d+)(?:\s*[-\u2013]\s*L?(\d+))?\]")
_NAME = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[[^\[\]`]+\])*"
_ASSIGNMENT = re.compile(rf"^\s*({_NAME})\s*=(?!=)\s*(.+?)\s*$", re.S)
# "`x` is `3`", "`x` becomes `3`", "`x` is updated to `3`", "the value of `x` is `3`", ...
_STATED = re.compile(
    rf"`({_NAME})`\s+(?:"
    r"is\s+(?:now\s+|still\s+)?(?:(?:set|updated|changed|reset|equal)\s+to\s+|initialized\s+(?:as|to|with)\s+"
    r"|assigned\s+(?:the\s+value\s+)?)?"
    r"|becomes\s+|equals\s+|remains\s+|(?:now\s+)?holds\s+|will\s+be\s+"
    r")(?:the\s+value\s+)?`([^`]+)`"
)
# "Final state of `d`: `{10.5: 0}`"
_STATE_OF = re.compile(rf"(?:state|value)\s+of\s+`({_NAME})`\s*(?::|is)\s*`([^`]+)`")
# "`energy_dict` is initialized as an empty dictionary"
_EMPTY = {
    "list": "[]",
    "dictionary": "{}",
    "dict": "{}",
    "string": "''",
    "str": "''",
    "set": "set()",
    "tuple": "()",
}
_EMPTY_PHRASE = re.compile(
    rf"`({_NAME})`\s+(?:is\s+(?:initialized|set|reset)\s+(?:as|to)|is|becomes)\s+an?\s+empty\s+"
    r"(list|dictionary|dict|string|str|set|tuple)\b"
)
_BACKTICKS = re.compile(r"`([^`]+)`")


def _labels_in(line: str) -> list[int]:
    labels: list[int] = []
    for match in _LABEL.finditer(line):
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        if not first <= last <= first + 50:  # "[L9-L5]" or a runaway range: take the first
            last = first
        for label in range(first, last + 1):
            if label not in labels:
                labels.append(label)
    return labels


def mentions_in(line: str) -> list[tuple[str, str]]:
    """Variable values a monologue line states, in order, without repeats."""
    found: list[tuple[int, str, str]] = []
    for match in _BACKTICKS.finditer(line):
        assignment = _ASSIGNMENT.match(match.group(1))
        if assignment:
            found.append((match.start(), assignment.group(1), assignment.group(2)))
    for pattern in (_STATED, _STATE_OF):
        for match in pattern.finditer(line):
            found.append((match.start(), match.group(1), match.group(2).strip()))
    for match in _EMPTY_PHRASE.finditer(line):
        found.append((match.start(), match.group(1), _EMPTY[match.group(2)]))
    mentions: list[tuple[str, str]] = []
    for _, name, value in sorted(found, key=lambda item: item[0]):
        pair = (name, restore_string_quotes(value))
        if value and pair not in mentions:
            mentions.append(pair)
    return mentions


class MonologueParser:
    """Splits a streamed monologue into steps, one per non-blank line.

    `feed(delta)` returns the steps completed by that delta; `finish()` returns the last,
    unterminated line as a step once the stream has ended. The monologue ends at
    `[/MONOLOGUE]` or `[ANSWER]`; nothing after that is a step.
    """

    def __init__(self, label_to_line: dict[int, int] | None = None) -> None:
        self.label_to_line = dict(label_to_line or {})
        self.steps: list[MonologueStep] = []
        self.done = False
        self._pending = ""

    def feed(self, delta: str) -> list[MonologueStep]:
        if self.done:
            return []
        self._pending += delta
        new: list[MonologueStep] = []
        while not self.done and "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            new.extend(self._take_line(line))
        return new

    def finish(self) -> list[MonologueStep]:
        """The steps left in the unterminated last line; call once the stream has ended."""
        if self.done:
            return []
        line, self._pending = self._pending, ""
        steps = self._take_line(line)
        self.done = True
        return steps

    def _take_line(self, line: str) -> list[MonologueStep]:
        for marker in (MONOLOGUE_STOP, ANSWER_START):
            if marker in line:
                line = line.split(marker, 1)[0]
                self.done = True
        text = line.replace(MONOLOGUE_START, "").strip()
        if not text:
            return []
        labels = _labels_in(text)
        lines: list[int] = []
        for label in labels:
            source_line = self.label_to_line.get(label)
            if source_line is not None and source_line not in lines:
                lines.append(source_line)
        step = MonologueStep(len(self.steps), text, labels, lines, mentions_in(text))
        self.steps.append(step)
        return [step]
