"""Seed programs: a function, its name, a natural-language description and seed inputs.

Seeds come from the user (a folder of .py files or a JSONL) or from a built-in generator
used by tests and benchmarks. An input is the argument list of a call as Python source,
exactly what goes between the parentheses of `f(...)`.
"""

from __future__ import annotations

import ast
import hashlib
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

from semcoder_inference.errors import SemcoderError


@dataclass
class Seed:
    source: str  # the function's source (may include helper imports above it)
    function: str  # the name of the function under test
    inputs: list[str] = field(default_factory=list)  # argument lists, "1, [2, 3]"
    description: str = ""  # natural language, used for `nl` records and repair problems
    origin: str = ""  # where it came from (file path, "jsonl:line", "generated")

    @property
    def seed_id(self) -> str:
        """Stable id from the content: the resume key of the data builder."""
        digest = hashlib.sha1(f"{self.function}\0{self.source}".encode()).hexdigest()
        return digest[:16]

    def to_json(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------- built-in generator
# Each template is (description, source with {placeholders}, seed-input factory). Names and
# constants are randomised so generated programs differ textually and semantically.

_NAMES = ["items", "values", "data", "nums", "seq", "xs", "arr", "elems"]
_ACC = ["total", "result", "acc", "out", "res", "count"]
_TEXT = ["text", "s", "word", "line", "msg"]


def _ints(rng: random.Random, n: int | None = None) -> list[int]:
    return [rng.randint(-9, 20) for _ in range(n if n is not None else rng.randint(2, 6))]


def _word(rng: random.Random) -> str:
    return "".join(rng.choice("abcdexyz ") for _ in range(rng.randint(3, 9)))


def _template_sum_above(rng):
    xs, acc, k = rng.choice(_NAMES), rng.choice(_ACC), rng.randint(0, 5)
    src = (
        f"def f({xs}):\n"
        f"    {acc} = 0\n"
        f"    for x in {xs}:\n"
        f"        if x > {k}:\n"
        f"            {acc} += x\n"
        f"    return {acc}\n"
    )
    return f"Return the sum of the numbers in the list that are greater than {k}.", src, [repr(_ints(rng))]


def _template_count_char(rng):
    t, c = rng.choice(_TEXT), rng.choice("aexz")
    src = (
        f"def f({t}):\n"
        f"    n = 0\n"
        f"    for ch in {t}:\n"
        f"        if ch == {c!r}:\n"
        f"            n = n + 1\n"
        f"    return n\n"
    )
    return f"Count how many times the character {c!r} occurs in a string.", src, [repr(_word(rng))]


def _template_running_max(rng):
    xs = rng.choice(_NAMES)
    src = (
        f"def f({xs}):\n"
        f"    best = {xs}[0]\n"
        f"    out = []\n"
        f"    for i in range(1, len({xs})):\n"
        f"        if {xs}[i] > best:\n"
        f"            best = {xs}[i]\n"
        f"        out.append(best)\n"
        f"    return out\n"
    )
    return "Return the running maximum of a list, starting from its second element.", src, [repr(_ints(rng, rng.randint(3, 6)))]


def _template_reverse_words(rng):
    t, sep = rng.choice(_TEXT), rng.choice([" ", "-", "_"])
    src = (
        f"def f({t}):\n"
        f"    parts = {t}.split({sep!r})\n"
        f"    parts.reverse()\n"
        f"    return {sep!r}.join(parts)\n"
    )
    words = sep.join(_word(rng).strip() or "a" for _ in range(rng.randint(2, 4)))
    return f"Reverse the order of the {sep!r}-separated parts of a string.", src, [repr(words)]


def _template_freq(rng):
    xs = rng.choice(_NAMES)
    src = (
        f"def f({xs}):\n"
        f"    counts = {{}}\n"
        f"    for x in {xs}:\n"
        f"        counts[x] = counts.get(x, 0) + 1\n"
        f"    return counts\n"
    )
    return "Count how often each element occurs, as a dictionary.", src, [repr([rng.randint(0, 3) for _ in range(rng.randint(2, 6))])]


def _template_scale_clip(rng):
    xs, m, hi = rng.choice(_NAMES), rng.randint(2, 4), rng.randint(10, 30)
    src = (
        f"def f({xs}, limit={hi}):\n"
        f"    result = []\n"
        f"    for x in {xs}:\n"
        f"        y = x * {m}\n"
        f"        if y > limit:\n"
        f"            y = limit\n"
        f"        result.append(y)\n"
        f"    return result\n"
    )
    return f"Multiply each number by {m} and clip the results at a limit.", src, [repr(_ints(rng)), f"{repr(_ints(rng))}, {rng.randint(5, 40)}"]


def _template_fib(rng):
    a, b = rng.randint(0, 2), rng.randint(1, 3)
    src = (
        f"def f(n):\n"
        f"    a, b = {a}, {b}\n"
        f"    i = 0\n"
        f"    while i < n:\n"
        f"        a, b = b, a + b\n"
        f"        i += 1\n"
        f"    return a\n"
    )
    return f"Return the n-th term of the Fibonacci-like sequence starting {a}, {b}.", src, [str(rng.randint(0, 9))]


def _template_dict_invert(rng):
    d = rng.choice(["mapping", "table", "d"])
    src = (
        f"def f({d}):\n"
        f"    inverted = {{}}\n"
        f"    for key, value in {d}.items():\n"
        f"        if value not in inverted:\n"
        f"            inverted[value] = key\n"
        f"    return inverted\n"
    )
    keys = rng.sample("abcdefg", rng.randint(2, 4))
    return "Invert a dictionary, keeping the first key seen for each value.", src, [repr({k: rng.randint(0, 3) for k in keys})]


def _template_pairs(rng):
    xs, target = rng.choice(_NAMES), rng.randint(3, 12)
    src = (
        f"def f({xs}, target):\n"
        f"    found = []\n"
        f"    for i in range(len({xs})):\n"
        f"        for j in range(i + 1, len({xs})):\n"
        f"            if {xs}[i] + {xs}[j] == target:\n"
        f"                found.append((i, j))\n"
        f"    return found\n"
    )
    return "Return the index pairs whose elements add up to the target.", src, [f"{_ints(rng, rng.randint(3, 5))!r}, {target}"]


def _template_caesar(rng):
    t, k = rng.choice(_TEXT), rng.randint(1, 5)
    src = (
        f"def f({t}):\n"
        f"    out = ''\n"
        f"    for ch in {t}:\n"
        f"        if ch.isalpha():\n"
        f"            out += chr((ord(ch) - 97 + {k}) % 26 + 97)\n"
        f"        else:\n"
        f"            out += ch\n"
        f"    return out\n"
    )
    return f"Shift every lowercase letter {k} places forward in the alphabet.", src, [repr(_word(rng))]


def _template_digits(rng):
    base = rng.choice([2, 3, 8, 10, 16])
    src = (
        "def f(n):\n"
        "    n = abs(n)\n"
        "    digits = []\n"
        "    while n > 0:\n"
        f"        digits.append(n % {base})\n"
        f"        n = n // {base}\n"
        "    return sum(digits)\n"
    )
    return f"Return the sum of the base-{base} digits of an integer.", src, [str(rng.randint(-999, 99999))]


def _template_filter_len(rng):
    xs, k = rng.choice(["words", "names", "tokens"]), rng.randint(2, 4)
    src = (
        f"def f({xs}):\n"
        f"    kept = [w for w in {xs} if len(w) >= {k}]\n"
        f"    kept.sort()\n"
        f"    return kept\n"
    )
    return f"Return the strings of length at least {k}, sorted.", src, [repr([_word(rng).strip() for _ in range(rng.randint(2, 5))])]


TEMPLATES = [
    _template_sum_above, _template_count_char, _template_running_max, _template_reverse_words,
    _template_freq, _template_scale_clip, _template_fib, _template_dict_invert, _template_pairs,
    _template_caesar, _template_digits, _template_filter_len,
]


def generate_seeds(count: int, seed: int = 0) -> list[Seed]:
    """`count` distinct small programs drawn from the templates with random names and constants."""
    rng = random.Random(seed)
    seeds: dict[str, Seed] = {}
    draws = 0
    while len(seeds) < count and draws < count * 20:
        template = TEMPLATES[draws % len(TEMPLATES)]
        draws += 1
        description, source, inputs = template(rng)
        candidate = Seed(source=source, function="f", inputs=inputs, description=description, origin="generated")
        seeds.setdefault(candidate.seed_id, candidate)
    return list(seeds.values())


# ---------------------------------------------------------------- user seeds

def load_seeds(path: Path) -> list[Seed]:
    """Seeds from a folder of .py files, one .py file, or a JSONL file."""
    path = Path(path)
    if not path.exists():
        raise SemcoderError(f"The seed path {path} does not exist.", hint="Pass a folder of .py files or a JSONL file to --seeds.")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.py") if p.is_file())
        if not files:
            raise SemcoderError(f"The seed folder {path} holds no .py files.")
        seeds = [s for p in files for s in seeds_from_python(p.read_text(encoding="utf-8", errors="replace"), origin=str(p),
                                                               path=p, workspace_root=path)]
    elif path.suffix == ".py":
        seeds = seeds_from_python(path.read_text(encoding="utf-8", errors="replace"), origin=str(path), path=path,
                                  workspace_root=path.parent)
    else:
        seeds = seeds_from_jsonl(path)
    return seeds


def seeds_from_jsonl(path: Path) -> list[Seed]:
    """One JSON object a line: `code` (or `source`), optional `function` (default the only or
    first top-level function), `inputs` (list of argument lists) or `input` (one, as in
    CRUXEval), optional `description`."""
    seeds = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SemcoderError(f"Line {number} of the seed file {path} is not valid JSON ({exc.msg}).") from None
        code = row.get("code") or row.get("source")
        if not isinstance(code, str):
            raise SemcoderError(f"Line {number} of the seed file {path} has no `code` string.", hint="Each line needs at least {\"code\": ..., \"inputs\": [...]}.")
        inputs = row.get("inputs")
        if inputs is None:
            inputs = [row["input"]] if "input" in row else []
        function = row.get("function") or _first_function(code)
        if function is None:
            raise SemcoderError(f"Line {number} of the seed file {path} defines no function.")
        seeds.append(Seed(source=code, function=function, inputs=[str(i) for i in inputs],
                          description=row.get("description", ""), origin=f"{path}:{number}"))
    return seeds


def _first_function(code: str) -> str | None:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    names = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    return names[0] if names else None


def seeds_from_python(code: str, origin: str = "", path: Path | None = None,
                      workspace_root: Path | None = None) -> list[Seed]:
    """Every top-level function of a module that is called somewhere in the module with
    literal arguments (in a test, an assert, a __main__ block) becomes a seed; those calls
    are its inputs. Functions never called with literals are skipped: without an input
    there is nothing to run. `path` (the module's file) and `workspace_root` (the seed
    folder) let the slicer follow imports of the folder's other modules."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    inputs: dict[str, list[str]] = {name: [] for name in functions}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in functions:
            if node.keywords or not all(_is_literal(a) for a in node.args):
                continue
            args = ", ".join(ast.unparse(a) for a in node.args)
            if args not in inputs[node.func.id]:
                inputs[node.func.id].append(args)
    seeds = []
    for name, node in functions.items():
        if not inputs[name]:
            continue
        # The seed is the function and what it needs (the module constants, helpers, classes
        # and imports it uses, transitively), cut out of the module by the slicer that makes
        # the server's prompts: a training prompt has the shape of an inference prompt. The
        # call sites that gave us inputs are not part of the program under study.
        source = _sliced(code, name, node, path, workspace_root)
        seeds.append(Seed(source=source, function=name, inputs=inputs[name],
                          description=ast.get_docstring(node) or "", origin=f"{origin}:{node.lineno}"))
    return seeds


def _sliced(code: str, name: str, node: ast.FunctionDef, path: Path | None, workspace_root: Path | None) -> str:
    """`name` and its dependencies, as `semcoder_inference.context.slice_function` cuts them
    for a prompt; the function and the module's imports where the slicer fails."""
    from semcoder_inference.context import slice_function

    try:
        return slice_function(code, name, path=str(path) if path else None,
                              workspace_root=str(workspace_root) if workspace_root else None).text.rstrip("\n") + "\n"
    except (SemcoderError, SyntaxError, ValueError, RecursionError):
        imports = [ast.unparse(n) for n in ast.parse(code).body if isinstance(n, (ast.Import, ast.ImportFrom))]
        return "\n".join(imports + [ast.get_source_segment(code, node) or ast.unparse(node)]) + "\n"


def _is_literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
        return True
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
