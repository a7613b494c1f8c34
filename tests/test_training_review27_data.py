"""Review 27, data building: the held-out split and dedup go by program family (modulo names
and constants), decontamination sees through changed constants, one answer per prompt."""

from __future__ import annotations

import ast
import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from semcoder_training.data.build import BuildConfig, build
from semcoder_training.data.decontam import Decontaminator, normalised_ast
from semcoder_training.data.seeds import generate_seeds, load_seeds

from conftest import CRUXEVAL, REPO_ROOT

SEEDS, HOLDOUT = 24, 0.5


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _kind(row: dict) -> str:
    return next(k for k in ("nl", "fwd_mnl", "bwd_mnl", "fault") if row.get(k) is not None)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data27")
    build(BuildConfig(out_dir=out, generated_seeds=SEEDS, workers=2, progress=False, holdout=HOLDOUT, cruxeval_path=CRUXEVAL))
    return out


class _ChangeConstants(ast.NodeTransformer):
    """The reviewer's transformation: every int + 1, every string + "q"."""

    def visit_Constant(self, node):
        if isinstance(node.value, bool) or node.value is None:
            return node
        if isinstance(node.value, int):
            node.value += 1
        elif isinstance(node.value, str):
            node.value += "q"
        return node


class _Placeholders(ast.NodeTransformer):
    def visit_Constant(self, node):
        if not (isinstance(node.value, bool) or node.value is None):
            node.value = type(node.value).__name__
        return node


def _shape(source: str) -> str:
    """The program modulo identifiers and constants, computed here (not by the builder)."""
    return normalised_ast(ast.unparse(_Placeholders().visit(ast.parse(source))))


# ----------------------------------------------------------------------------- finding 1


def test_heldout_families_never_reach_training(built):
    """Every program of a family (the same program modulo identifiers and constants) lands on
    one side of the split: no held-out seed's program, renamed or with other constants, is
    the program of a trained seed."""
    source = {s.seed_id: s.source for s in generate_seeds(SEEDS, 0)}
    trained = {r["seed_id"] for r in _rows(built / "pyx.jsonl") + _rows(built / "pyx_r.jsonl")}
    held = {r["seed_id"] for r in _rows(built / "heldout" / "pyx_r.jsonl")}
    assert held and trained and held.isdisjoint(trained)
    shape = lambda seed_id: _shape(source[seed_id])  # noqa: E731
    assert {shape(s) for s in held}.isdisjoint({shape(s) for s in trained})
    named = lambda seed_id: normalised_ast(source[seed_id])  # noqa: E731
    assert {named(s) for s in held}.isdisjoint({named(s) for s in trained})


def test_renamed_seeds_are_deduplicated_and_the_datasheet_counts_families(built):
    seeds = generate_seeds(SEEDS, 0)
    programs = {normalised_ast(s.source) for s in seeds}
    families = {_shape(s.source) for s in seeds}
    assert len(families) < len(programs) < len(seeds)  # the generator does make renamed copies
    counts = json.loads((built / "datasheet.json").read_text())["counts"]
    assert counts["seeds_duplicate"] == 0
    assert counts["seeds_duplicate_renamed"] == len(seeds) - len(programs)
    assert counts["seed_programs"] == len(programs)
    assert counts["seed_families"] == len(families)
    assert counts["seeds_near_duplicate"] == len(seeds) - len(families)
    text = (built / "datasheet.md").read_text()
    assert f"{len(programs)} distinct programs" in text and f"in {len(families)} families" in text
    # no two trained seeds are the same program modulo identifiers
    source = {s.seed_id: s.source for s in seeds}
    trained = {r["seed_id"] for r in _rows(built / "pyx.jsonl") + _rows(built / "pyx_r.jsonl")}
    named = Counter(normalised_ast(source[s]) for s in trained)
    assert max(named.values()) == 1


# ----------------------------------------------------------------------------- finding 7


def test_one_answer_per_prompt(built):
    rows = _rows(built / "pyx.jsonl") + _rows(built / "pyx_r.jsonl")
    answers = defaultdict(set)
    for r in rows:
        answers[(_kind(r), r[_kind(r)])].add(r["response"])
    assert len(answers) == len(rows), [k for k, v in answers.items() if len(v) > 1][:2]
    counts = json.loads((built / "datasheet.json").read_text())["counts"]
    assert counts["records_same_prompt"] >= 1  # this build has backward prompts several inputs answer
    assert "records_duplicate" in counts


# ----------------------------------------------------------------------------- finding 3


@pytest.fixture(scope="module")
def decontaminator() -> Decontaminator:
    return Decontaminator([r["code"] for r in _rows(CRUXEVAL)])


def test_cruxeval_with_every_constant_changed_is_flagged(decontaminator):
    rows = _rows(CRUXEVAL)
    assert len(rows) == 800
    missed = []
    for r in rows:
        variant = ast.unparse(_ChangeConstants().visit(ast.parse(r["code"])))
        if decontaminator.reason(variant) is None:
            missed.append(r["id"])
    assert missed == []
    # renamed as well: still the same shape
    code = rows[3]["code"]
    tree = _ChangeConstants().visit(ast.parse(code))
    import builtins

    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in dir(builtins):
            node.id = node.id + "_x"
        elif isinstance(node, ast.arg):
            node.arg = node.arg + "_x"
    assert decontaminator.reason(ast.unparse(tree)) is not None


def test_the_constants_check_flags_none_of_the_projects_seed_programs(decontaminator):
    """Zero false positives of the new test on the project's own seeds: the built-in
    generator's programs (1000 drawn) and the example projects' functions."""
    seeds = [s for seed in range(5) for s in generate_seeds(200, seed)]
    seeds += load_seeds(REPO_ROOT / "examples" / "demo_project") + load_seeds(REPO_ROOT / "examples" / "shapes.py")
    reasons = Counter(decontaminator.reason(s.source) or "clean" for s in seeds)
    assert reasons["ast-constants"] == 0, reasons
