"""Decontamination against CRUXEval: no CRUXEval function may appear in training data.

Three tests, any one flags a program:
- normalised-AST match: identifiers renamed in order of first appearance, docstrings and
  formatting gone, so a renamed or reformatted copy still matches;
- the same match modulo constants: every number, string and bytes literal also replaced by a
  placeholder of its type (`shape_fingerprint`), so a copy with its constants changed (every
  int + 1, every string + "q") still matches. True, False and None are kept (they are
  keywords, not data);
- token n-gram overlap: the share of the program's normalised token n-grams found in the
  benchmark's n-gram set; catches copies with a statement added or changed.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import io
import json
import keyword
import tokenize
from pathlib import Path

DEFAULT_CRUXEVAL = Path(__file__).resolve().parents[2].parent / "shared" / "benchmarks" / "cruxeval" / "cruxeval.jsonl"
NGRAM = 10
OVERLAP_THRESHOLD = 0.5
MIN_NGRAMS = 8
_BUILTIN_NAMES = set(dir(builtins))


class _Normaliser(ast.NodeTransformer):
    """Renames every non-builtin identifier to v0, v1, ... in order of appearance."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def _rename(self, name: str) -> str:
        if name in _BUILTIN_NAMES:
            return name
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_Name(self, node):
        node.id = self._rename(node.id)
        return node

    def visit_arg(self, node):
        node.arg = self._rename(node.arg)
        node.annotation = None
        return node

    def visit_FunctionDef(self, node):
        node.name = self._rename(node.name)
        node.returns = None
        if node.body and isinstance(node.body[0], ast.Expr) and isinstance(getattr(node.body[0], "value", None), ast.Constant) and isinstance(node.body[0].value.value, str) and len(node.body) > 1:
            node.body = node.body[1:]  # docstring
        self.generic_visit(node)
        return node


class _ConstantNormaliser(ast.NodeTransformer):
    """Replaces every number, string and bytes literal by a placeholder of its type."""

    def visit_Constant(self, node):
        value = node.value
        if isinstance(value, bool) or value is None or value is Ellipsis:
            return node
        node.value = f"<{type(value).__name__}>"  # int, float, complex, str, bytes
        node.kind = None  # u"..." and "..." are the same literal
        return node


def normalised_ast(source: str, constants: bool = True) -> str | None:
    """The program's AST as text with identifiers renamed (v0, v1, ... by first appearance),
    docstrings and annotations dropped; with constants=False, literals as type placeholders
    too (the program's shape: copies that differ only in names and constants are equal)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    tree = _Normaliser().visit(tree)
    if not constants:
        tree = _ConstantNormaliser().visit(tree)
    return ast.dump(tree, annotate_fields=False)


def ast_fingerprint(source: str) -> str | None:
    dumped = normalised_ast(source)
    return hashlib.sha1(dumped.encode()).hexdigest() if dumped else None


def shape_fingerprint(source: str) -> str | None:
    """The fingerprint modulo names and constants (see normalised_ast(constants=False))."""
    dumped = normalised_ast(source, constants=False)
    return hashlib.sha1(dumped.encode()).hexdigest() if dumped else None


def normalised_tokens(source: str) -> list[str]:
    """Tokens with every user identifier replaced by one placeholder (renaming or adding a
    variable then changes nothing around it), keywords, builtins and literals kept."""
    out: list[str] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            after_dot = bool(out) and out[-1] == "."  # attribute names (.append, .items) are API, kept
            if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
                continue
            if tok.type == tokenize.NAME and not after_dot and not keyword.iskeyword(tok.string) and tok.string not in _BUILTIN_NAMES:
                out.append("ID")
            elif tok.type == tokenize.STRING:
                out.append(tok.string.replace('"', "'"))
            else:
                out.append(tok.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return source.split()
    return out


def ngrams(tokens: list[str], n: int = NGRAM) -> set[tuple[str, ...]]:
    if len(tokens) < n:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


class Decontaminator:
    """Built once from the benchmark, then asked about each program."""

    def __init__(self, benchmark_sources: list[str]):
        self.fingerprints = {fp for fp in (ast_fingerprint(s) for s in benchmark_sources) if fp}
        self.shapes = {fp for fp in (shape_fingerprint(s) for s in benchmark_sources) if fp}
        self.grams: set[tuple[str, ...]] = set()
        for s in benchmark_sources:
            self.grams |= ngrams(normalised_tokens(s))

    @classmethod
    def from_cruxeval(cls, path: Path | None = None) -> "Decontaminator":
        from semcoder_inference.errors import SemcoderError

        path = Path(path or DEFAULT_CRUXEVAL)
        if not path.exists():
            raise SemcoderError(f"The CRUXEval file {path} does not exist, so the data cannot be decontaminated.",
                                hint="Pass --cruxeval PATH, or --no-decontaminate to skip the check knowingly.")
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return cls([r["code"] for r in rows])

    def reason(self, source: str) -> str | None:
        """Why `source` is contaminated ("ast", "ast-constants" or "ngram:0.83"), or None when
        it is clean."""
        fp = ast_fingerprint(source)
        if fp and fp in self.fingerprints:
            return "ast"
        shape = shape_fingerprint(source)
        if shape and shape in self.shapes:
            return "ast-constants"  # the same program with other constants (and names)
        grams = ngrams(normalised_tokens(source))
        if len(grams) < MIN_NGRAMS:  # too short for overlap to mean anything; the AST test decides
            return None
        share = len(grams & self.grams) / len(grams)
        return f"ngram:{share:.2f}" if share >= OVERLAP_THRESHOLD else None
