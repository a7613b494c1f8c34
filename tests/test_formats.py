"""SemCoder formats: byte-exact against hand-written golden files, and quote swapping that
never changes what a program means."""

from __future__ import annotations

import ast
import glob
import json
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
from conftest import CRUXEVAL

from semcoder_inference import formats
from semcoder_inference.errors import SemcoderError
from semcoder_inference.formats import (
    backward_prompt,
    forward_prompt,
    label_lines,
    repair_instruction,
    repair_prompt,
    restore_string_quotes,
    swap_string_quotes,
    training_prompt,
)

GOLDEN = Path(__file__).parent / "golden"


def golden(name: str) -> str:
    return (GOLDEN / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("kind", ["nl", "bwd_mnl", "fwd_mnl", "fault"])
def test_training_templates_match_golden(kind):
    prompt = training_prompt(kind, "Write a function that returns the square of x.")
    assert prompt == golden(f"training_{kind}.txt")
    assert prompt.endswith("\n")


def test_templates_end_with_instruction_then_response():
    for template in (formats.BACKWARD_TEMPLATE, formats.FORWARD_TEMPLATE, formats.REPAIR_TEMPLATE):
        assert template.endswith("\n{instruction}\n{response}")
    # The NL-to-code template puts a "<Code>" heading between the two (as the notes show it).
    assert formats.NL2CODE_TEMPLATE.endswith("\n{instruction}\n\n<Code>\n{response}")


def test_repair_template_keeps_original_typos():
    assert "given a a problem" in formats.REPAIR_TEMPLATE
    assert "root cause of the failure. \nThen" in formats.REPAIR_TEMPLATE


def test_unknown_training_kind_is_a_clear_error():
    with pytest.raises(SemcoderError, match="kinds are"):
        training_prompt("chat", "x")


def test_forward_prompt_matches_notes_example():
    prompt = forward_prompt("def f(x):\n    return x", "f(1)")
    assert prompt.text == golden("forward_prompt.txt")
    assert prompt.text.endswith("[MONOLOGUE]\n")
    assert prompt.labels.label_to_line == {5: 1, 6: 2}


def test_forward_prompt_swaps_quotes_and_skips_blank_lines():
    code = "def f(text):\n    s = 'say \"hi\"'\n\n    return text + 'x' + s\n\n"
    prompt = forward_prompt(code, "f('a')")
    assert prompt.text == golden("forward_prompt_quotes.txt")
    assert prompt.labels.label_to_line == {5: 1, 6: 2, 8: 4}


def test_backward_prompt_matches_golden():
    prompt = backward_prompt("def f(x):\n    return x + '!'\n", "'hi!'")
    assert prompt == golden("backward_prompt.txt")
    assert "\nPYTHON]\n" in prompt and "[/PYTHON]\n\n[MONOLOGUE]\n" in prompt


def test_backward_prompt_uses_the_function_name():
    prompt = backward_prompt("def area(w, h):\n    return w * h", "6", function="area")
    assert "assert area(??) == 6\n" in prompt


def test_repair_prompt_matches_golden():
    code = "def total(xs):\n    s = 0\n    for x in xs[1:]:\n        s += x\n    return s"
    test = "retv = total([1, 2])\nassert retv == 3"
    problem = "Return the sum of the numbers in a list."
    assert repair_prompt(problem, code, test) == golden("repair_prompt.txt")
    instruction = repair_instruction(problem, code, test)
    assert instruction.startswith("### Problem\n") and instruction.endswith("assert retv == 3\n```")


# --- quote swapping -------------------------------------------------------------------------

SWAPS = [
    ("x = 'a'", 'x = "a"'),
    ("x = 'say \"hi\"'", "x = 'say \"hi\"'"),  # cannot change delimiter: leave it
    ("x = 'it\\'s'", 'x = "it\\\'s"'),
    ("x = r'\\d+'", 'x = r"\\d+"'),
    ("x = b'ab' + Rb'c' + u'd'", 'x = b"ab" + Rb"c" + u"d"'),
    ("x = '''doc'''", 'x = """doc"""'),
    ("x = '''say \"hi\" now'''", 'x = """say "hi" now"""'),
    ("x = '''ends with \"'''", "x = '''ends with \"'''"),  # would merge with the closing quotes
    ("x = '''has \"\"\" inside'''", "x = '''has \"\"\" inside'''"),
    ("x = f'{a}!'", 'x = f"{a}!"'),
    ("x = f'{d[\"k\"]}'", "x = f'{d[\"k\"]}'"),  # inner quotes: 3.11 forbids reusing them
    ("x = F'{a!r:>{w}}' + rf'\\{a}'", 'x = F"{a!r:>{w}}" + rf"\\{a}"'),
    ("x = \"it's\"  # don't touch 'comments'", "x = \"it's\"  # don't touch 'comments'"),
    ("x = 'a' \\\n    'b'", 'x = "a" \\\n    "b"'),
    ("x = ''", 'x = ""'),
]


@pytest.mark.parametrize("source,expected", SWAPS)
def test_swap_string_quotes(source, expected):
    swapped = swap_string_quotes(source)
    assert swapped == expected
    assert ast.dump(ast.parse(swapped)) == ast.dump(ast.parse(source))


def test_swap_leaves_untokenizable_text_alone():
    assert swap_string_quotes("x = 'unterminated") == "x = 'unterminated"
    assert swap_string_quotes("it's not code") == "it's not code"


def test_restore_string_quotes_follows_repr_convention():
    assert restore_string_quotes('"abc"') == "'abc'"
    assert restore_string_quotes('(0, "xx", "it\'s")') == "(0, 'xx', \"it's\")"
    assert restore_string_quotes('{"a": [1, "b"]}') == "{'a': [1, 'b']}"
    assert restore_string_quotes("no quotes at all") == "no quotes at all"
    for value in ["'abc'", "\"it's\"", "['a', 'b\"c']", "{'k': ('x', 1)}"]:
        assert restore_string_quotes(swap_string_quotes(value)) == value
        assert restore_string_quotes(swap_string_quotes(value)) == repr(ast.literal_eval(value))


def _is_one_literal(text: str) -> bool:
    """Whether `text` is exactly one string literal (not `"" ""`, not a syntax error)."""
    import io
    import tokenize

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "\{" is an invalid escape, and a fine test value
            ast.literal_eval(text)
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(text).readline)
                  if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER)]
    except (SyntaxError, ValueError, tokenize.TokenError):
        return False
    return len(tokens) == 1 and tokens[0].type == tokenize.STRING


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::SyntaxWarning")
def test_swap_and_restore_keep_the_value_of_random_literals():
    """Random string values, written every way Python allows (single, double, triple, raw,
    bytes): swapping either direction always gives a literal with the same value."""
    import random

    rng = random.Random(11)
    alphabet = ["a", "'", '"', "\\", "{", "}", " ", "\n", "é"]
    checked = 0
    for _ in range(1000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        literals = [repr(value), repr(value.encode())]
        for quote in ("'", '"', "'''", '"""'):
            for prefix in ("", "r", "b", "rb", "u"):
                candidate = f"{prefix}{quote}{value}{quote}"
                if _is_one_literal(candidate):
                    literals.append(candidate)
        for literal in literals:
            expected = ast.literal_eval(literal)
            for swapped in (swap_string_quotes(literal), restore_string_quotes(literal)):
                assert ast.literal_eval(swapped) == expected, (literal, swapped)
                checked += 1
    assert checked > 4000


def _cruxeval_programs() -> list[str]:
    programs = [json.loads(line)["code"] for line in CRUXEVAL.read_text().splitlines() if line.strip()]
    programs += ["f(" + json.loads(line)["input"] + ")" for line in CRUXEVAL.read_text().splitlines() if line.strip()]
    return programs


def test_swap_preserves_meaning_on_every_cruxeval_program():
    """800 real programs and their inputs: same AST after swapping, and no `'` delimiter left
    where a `"` one would have been valid."""
    programs = _cruxeval_programs()
    assert len(programs) >= 1500
    changed = 0
    for source in programs:
        swapped = swap_string_quotes(source)
        assert ast.dump(ast.parse(swapped)) == ast.dump(ast.parse(source)), source
        changed += swapped != source
    assert changed > 300  # the swap really does something on real code


def test_swap_on_this_projects_own_sources():
    """Bigger, messier files: docstrings, f-strings, regexes, nested quotes."""
    root = Path(__file__).resolve().parents[1]
    files = [Path(p) for p in glob.glob(str(root / "inference" / "**" / "*.py"), recursive=True)]
    files += [Path(p) for p in glob.glob(str(root / "tests" / "*.py"))]
    assert files
    for path in files:
        source = path.read_text(encoding="utf-8")
        try:
            original = ast.dump(ast.parse(source))
        except SyntaxError:
            continue  # someone's file mid-edit
        assert ast.dump(ast.parse(swap_string_quotes(source))) == original, path


# --- labels ---------------------------------------------------------------------------------


def test_label_lines_numbering_and_map():
    labeled = label_lines("a = 1\n\n  \nb = 2")
    assert labeled.text == "a = 1 # [L5]\n\n  \nb = 2 # [L8]"
    assert labeled.label_to_line == {5: 1, 8: 4}
    assert labeled.line_to_label == {1: 5, 4: 8}


def test_label_lines_keeps_program_valid():
    code = textwrap.dedent(
        '''\
        def f(x):
            doc = """first
        second"""
            y = x + \\
                1
            return f"{doc}" + 'z'
        '''
    )
    labeled = label_lines(code)
    # The labelled program still parses to the same thing (labels are only comments).
    assert ast.dump(ast.parse(labeled.text)) == ast.dump(ast.parse(code))
    assert 2 not in labeled.label_to_line.values()  # ends inside the triple-quoted string
    assert 4 not in labeled.label_to_line.values()  # backslash continuation
    assert {1, 3, 5, 6} <= set(labeled.label_to_line.values())


# --- Python 3.12+ tokenizes f-strings differently --------------------------------------------


def _newer_python() -> str | None:
    """A Python >= 3.12 interpreter on this machine (the venv is 3.11)."""
    if sys.version_info >= (3, 12):
        return sys.executable
    candidates = [shutil.which(f"python3.{minor}") for minor in (12, 13, 14)]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[2-9]*/bin/python3")))
    for candidate in candidates:
        if not candidate:
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info >= (3, 12))"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0 and probe.stdout.strip() == "True":
            return candidate
    return None


def test_swap_is_identical_under_python_312_tokenizer():
    python = _newer_python()
    if python is None:
        pytest.skip("no Python >= 3.12 interpreter on this machine to compare f-string tokenizing")
    cases = [source for source, _ in SWAPS]
    cases += [
        "x = f'a{f\"{b}\"}c'",
        "x = f'{x:{w}.{p}}' + f'''{y}\n'''",
        "x = f'{{literal}}' + 'q'",
    ]
    cases += _cruxeval_programs()[:200]
    script = textwrap.dedent(
        """\
        import importlib.util, json, sys
        spec = importlib.util.spec_from_file_location("formats", sys.argv[1])
        module = importlib.util.module_from_spec(spec)
        sys.modules["formats"] = module
        spec.loader.exec_module(module)
        cases = json.load(sys.stdin)
        print(json.dumps([[module.swap_string_quotes(c), module.label_lines(c).text] for c in cases]))
        """
    )
    result = subprocess.run(
        [python, "-c", script, formats.__file__],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    theirs = json.loads(result.stdout)
    ours = [[swap_string_quotes(c), label_lines(c).text] for c in cases]
    assert theirs == ours
