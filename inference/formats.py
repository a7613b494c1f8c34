"""SemCoder's text formats: the four training templates and the execution prompts.

The released SemCoder weights answer well only in the exact formats they were fine-tuned on,
so these strings are an interface, reproduced byte for byte from
`shared/notes/semcoder-formats.md` (the "a a" typo, the trailing space in the repair template,
the missing `[` before `PYTHON]` in the backward prompt are all deliberate). Every other module
builds prompts through this one; tests compare them against hand-written golden files.

Quote handling: the forward-monologue fine-tune saw code whose `'` had been replaced by `"`.
A blind replace can break programs (`'say "hi"'`), so `swap_string_quotes` changes only the
delimiters of string literals found by `tokenize`, and only where the literal keeps its value.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field

NL2CODE_TEMPLATE = (
    "You are an exceptionally intelligent coding assistant that consistently delivers accurate "
    "and reliable <Code> according to <NL_Description>\n"
    "\n"
    "<NL_Description>\n"
    "{instruction}\n"
    "\n"
    "<Code>\n"
    "{response}"
)

BACKWARD_TEMPLATE = (
    "Deduce the Semantic Constraints: You are given a Python program and its expected output. "
    "Find one input such that executing the program with the input leads to the given output. "
    "Complete the assertion with one such input in between [ANSWER] and [/ANSWER].\n"
    "{instruction}\n"
    "{response}"
)

FORWARD_TEMPLATE = (
    "Simulate the Execution: You are given a Python function and an assertion containing a "
    "function input. Complete the assertion containing the execution output corresponding to "
    "the given input in [ANSWER] and [/ANSWER] tags.\n"
    "{instruction}\n"
    "{response}"
)

# "a a" and the space ending the second line are in the original training data.
REPAIR_TEMPLATE = (
    "Debug and Refine the Code: You are given a a problem to be implemented in Python, and a "
    "buggy code that tries to solve the problem but fails the test case.\n"
    "You should firstly simulate the execution with the buggy code and the failed test to "
    "identify the root cause of the failure. \n"
    "Then, you should fix the bug and wrap the refined code in between [Refined] and [/Refined].\n"
    "{instruction}\n"
    "{response}"
)

TEMPLATES = {
    "nl": NL2CODE_TEMPLATE,
    "bwd_mnl": BACKWARD_TEMPLATE,
    "fwd_mnl": FORWARD_TEMPLATE,
    "fault": REPAIR_TEMPLATE,
}

ANSWER_START = "[ANSWER]"
ANSWER_STOP = "[/ANSWER]"
REFINED_START = "[Refined]"
REFINED_STOP = "[/Refined]"
MONOLOGUE_START = "[MONOLOGUE]"
MONOLOGUE_STOP = "[/MONOLOGUE]"

# Labels are " # [L{i + 4}]" for the 1-based snippet line i, so the first line is L5.
FIRST_LABEL = 5


def training_prompt(kind: str, instruction: str) -> str:
    """The prompt of one training example: its template with an empty response."""
    try:
        template = TEMPLATES[kind]
    except KeyError:
        from .errors import SemcoderError

        raise SemcoderError(
            f"Unknown SemCoder template kind {kind!r}; the kinds are {', '.join(sorted(TEMPLATES))}."
        ) from None
    return template.format(instruction=instruction, response="")


# ---------------------------------------------------------------------------------------------
# Quote-style swapping


_LITERAL_HEAD = re.compile(r"([A-Za-z]*)('''|\"\"\"|'|\")")


def _body_fits(body: str, quote: str, triple: bool) -> bool:
    """Whether `body` can sit between `quote` delimiters and still mean the same.

    Escapes mean the same under either delimiter (in raw strings too: a backslash keeps the
    next quote from ending the literal and stays part of the value), so the body is kept
    verbatim and only an unescaped delimiter inside it would change the literal.
    """
    i = 0
    ends_with_quote = False
    while i < len(body):
        char = body[i]
        if char == "\\":
            i += 2
            ends_with_quote = False
            continue
        if char == quote:
            if not triple or body.startswith(quote * 3, i):
                return False
            ends_with_quote = i == len(body) - 1
        else:
            ends_with_quote = False
        i += 1
    # '''a"''' cannot become """a"""": the body's last quote would join the closing ones.
    return not (triple and ends_with_quote)


def requote_literal(literal: str, old: str, new: str) -> str:
    """Re-delimit one string literal (prefix included) from `old` to `new` quotes if that keeps
    its value; otherwise return it unchanged."""
    head = _LITERAL_HEAD.match(literal)
    if head is None:
        return literal
    prefix, opener = head.group(1), head.group(2)
    if opener[0] != old or not literal.endswith(opener) or len(literal) < len(prefix) + 2 * len(opener):
        return literal
    body = literal[len(prefix) + len(opener) : len(literal) - len(opener)]
    if not _body_fits(body, new, triple=len(opener) == 3):
        return literal
    closer = new * len(opener)
    return prefix + closer + body + closer


def _literal_spans(code: str) -> list[tuple[int, int]] | None:
    """Character spans of the string literals in `code`, or None if it does not tokenize.

    Python 3.12 tokenizes f-strings into FSTRING_START/MIDDLE/END with the inner expressions as
    ordinary tokens; the whole f-string is taken as one span here (strings nested inside its
    replacement fields are left alone), so every Python version gives the same result.
    """
    line_starts = [0]
    for line in io.StringIO(code):
        line_starts.append(line_starts[-1] + len(line))

    def offset(pos: tuple[int, int]) -> int:
        return line_starts[pos[0] - 1] + pos[1]

    fstring_start = getattr(tokenize, "FSTRING_START", None)
    fstring_end = getattr(tokenize, "FSTRING_END", None)
    spans: list[tuple[int, int]] = []
    depth = 0
    open_at = 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.ERRORTOKEN and tok.string.strip():
                return None  # an unterminated quote: nothing here can be trusted
            if fstring_start is not None and tok.type == fstring_start:
                if depth == 0:
                    open_at = offset(tok.start)
                depth += 1
            elif fstring_end is not None and tok.type == fstring_end:
                depth -= 1
                if depth == 0:
                    spans.append((open_at, offset(tok.end)))
            elif tok.type == tokenize.STRING and depth == 0:
                spans.append((offset(tok.start), offset(tok.end)))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return None
    return spans


def _swap_quotes(code: str, old: str, new: str) -> str:
    spans = _literal_spans(code)
    if not spans:
        return code  # nothing to swap, or text that is not Python: leave it exactly as it is
    out: list[str] = []
    last = 0
    for start, end in spans:
        out.append(code[last:start])
        out.append(requote_literal(code[start:end], old, new))
        last = end
    out.append(code[last:])
    return "".join(out)


def swap_string_quotes(code: str) -> str:
    """`'...'` -> `"..."` for string literals only, where the value stays the same.

    What SemCoder expects (it was fine-tuned on code with `'` replaced by `"`) without the
    blind replace's damage: `'say "hi"'` stays as it is, and quotes inside literals, comments
    and f-string expressions are untouched. Text that does not tokenize is returned unchanged.
    """
    return _swap_quotes(code, "'", '"')


def restore_string_quotes(text: str) -> str:
    """`"..."` -> `'...'` for string literals in an answer, where the value stays the same.

    That is Python's own repr convention (`'abc'`, but `"it's"`), so an answer reads as the
    real program would print it. Text that does not tokenize is returned unchanged.
    """
    return _swap_quotes(text, '"', "'")


# ---------------------------------------------------------------------------------------------
# Execution prompts


@dataclass(frozen=True)
class LabeledCode:
    """Code with a ` # [Lk]` label on each line that can take one.

    `label_to_line` maps a label number k to its 1-based line in the unlabeled code.
    """

    text: str
    label_to_line: dict[int, int] = field(default_factory=dict)

    @property
    def line_to_label(self) -> dict[int, int]:
        return {line: label for label, line in self.label_to_line.items()}


def _unlabelable_lines(code: str) -> set[int]:
    """1-based lines where appending a comment would change the program.

    A line that ends inside a multi-line string would get the label inside the string, and a
    line ending in a backslash continuation would become a syntax error. The original
    SemCoder evaluation labels every non-blank line; it never met such code.
    """
    skip: set[int] = set()
    comment_rows: set[int] = set()
    fstring_start = getattr(tokenize, "FSTRING_START", None)
    fstring_end = getattr(tokenize, "FSTRING_END", None)
    open_rows: list[int] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.COMMENT:
                comment_rows.add(tok.start[0])
            elif tok.type == tokenize.STRING:
                skip.update(range(tok.start[0], tok.end[0]))
            elif fstring_start is not None and tok.type == fstring_start:
                open_rows.append(tok.start[0])
            elif fstring_end is not None and tok.type == fstring_end and open_rows:
                skip.update(range(open_rows.pop(), tok.end[0]))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass  # label what we can; the code is probably being edited
    for number, line in enumerate(code.split("\n"), start=1):
        if line.rstrip().endswith("\\") and number not in comment_rows:
            skip.add(number)
    return skip


def label_lines(code: str, first_label: int = FIRST_LABEL) -> LabeledCode:
    """Append ` # [L{i + first_label - 1}]` to every non-blank line i (1-based) of `code`."""
    code = code.replace("\r\n", "\n")
    skip = _unlabelable_lines(code)
    out: list[str] = []
    label_to_line: dict[int, int] = {}
    for number, line in enumerate(code.split("\n"), start=1):
        if line.strip() == "" or number in skip:
            out.append(line)
            continue
        label = number + first_label - 1
        label_to_line[label] = number
        out.append(f"{line} # [L{label}]")
    return LabeledCode("\n".join(out), label_to_line)


@dataclass(frozen=True)
class ForwardPrompt:
    """A forward-monologue prompt: `.text` ends with "[MONOLOGUE]\\n"; `.labels` maps the
    `[Lk]` labels the monologue will use back to lines of the code that was given."""

    text: str
    labels: LabeledCode


def _trim_code(code: str) -> str:
    # Trailing blank lines would put an empty line before the assertion; leading ones are kept
    # so that snippet line numbers stay those of the code the caller gave.
    return code.replace("\r\n", "\n").rstrip()


def forward_prompt(code: str, call: str, *, swap_quotes: bool = True) -> ForwardPrompt:
    """The output-prediction prompt (forward monologue), as in SemCoder's CRUXEval runs."""
    code = _trim_code(code)
    if swap_quotes:
        code = swap_string_quotes(code)
        call = swap_string_quotes(call)
    labels = label_lines(code)
    instruction = f"[PYTHON]\n{labels.text}\nassert {call.strip()} == ??\n[/PYTHON]\n{MONOLOGUE_START}"
    return ForwardPrompt(FORWARD_TEMPLATE.format(instruction=instruction, response=""), labels)


def backward_prompt(code: str, output: str, function: str = "f", *, swap_quotes: bool = True) -> str:
    """The input-prediction prompt (backward monologue). The missing `[` before `PYTHON]` and
    the blank line before `[MONOLOGUE]` are what the model saw in training."""
    code = _trim_code(code)
    output = output.strip()
    if swap_quotes:
        code = swap_string_quotes(code)
        output = swap_string_quotes(output)
    instruction = f"PYTHON]\n{code}\nassert {function}(??) == {output}\n[/PYTHON]\n\n{MONOLOGUE_START}"
    return BACKWARD_TEMPLATE.format(instruction=instruction, response="")


def repair_instruction(problem: str, code: str, failed_test: str) -> str:
    """The `{instruction}` of a repair prompt: problem, buggy solution and failed test."""
    return (
        f"### Problem\n{problem}\n\n"
        f"### Buggy Solution\n```python\n{code}\n```\n\n"
        f"### Failed Test\n```python\n{failed_test}\n```"
    )


def repair_prompt(problem: str, code: str, failed_test: str) -> str:
    """The debugging-and-repair prompt; the answer ends with the fix in [Refined]...[/Refined]."""
    return REPAIR_TEMPLATE.format(instruction=repair_instruction(problem, code, failed_test), response="")
