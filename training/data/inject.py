"""Bug injection by AST mutation, for PyX-R repair data.

Each operator finds every place in the target function where it applies and yields one
variant per place: a small, realistic bug. Whether a variant is a bug at all is decided
later by running a test against it (a variant that passes every test is dropped).
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass
from typing import Callable, Iterator

BUG_KINDS = ("off_by_one", "operator_swap", "comparison_swap", "wrong_variable", "dropped_statement", "wrong_return")

_OPERATOR_SWAPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.FloorDiv: ast.Mult,
                   ast.Mod: ast.FloorDiv, ast.Div: ast.Mult, ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd}
_COMPARISON_SWAPS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
                     ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
                     ast.Is: ast.IsNot, ast.IsNot: ast.Is}
_BOOL_SWAPS = {ast.And: ast.Or, ast.Or: ast.And}


@dataclass
class BugVariant:
    kind: str  # one of BUG_KINDS
    line: int  # 1-based line of the change in the ORIGINAL source
    description: str  # what the bug is, in words (true by construction)
    source: str  # the buggy program
    fixed: str = ""  # the correct program, printed the same way as `source` (minimal diff)
    buggy_line: int = 0  # 1-based line of the change in `source`


def _function_node(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    return None


def _sites(func: ast.FunctionDef, predicate: Callable[[ast.AST], bool]) -> list[tuple[int, ...]]:
    """Paths (indices in ast.walk order) of the nodes matching `predicate`. Indices survive
    a deepcopy because ast.walk order is deterministic."""
    return [i for i, node in enumerate(ast.walk(func)) if predicate(node)]


def _nth(func: ast.FunctionDef, index: int) -> ast.AST:
    for i, node in enumerate(ast.walk(func)):
        if i == index:
            return node
    raise IndexError(index)


def _local_names(func: ast.FunctionDef) -> list[str]:
    names = {a.arg for a in func.args.args + func.args.kwonlyargs}
    for node in ast.walk(func):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return sorted(names)


def _segment(source: str, node: ast.AST) -> str:
    return ast.get_source_segment(source, node) or ast.unparse(node)


def _first_difference(fixed: str, buggy: str) -> int:
    """1-based line in `buggy` where it first differs from `fixed` (for a dropped statement,
    the line that took its place)."""
    a, b = fixed.splitlines(), buggy.splitlines()
    for i, (x, y) in enumerate(zip(a, b), 1):
        if x != y:
            return i
    return min(len(a), len(b))


def inject_bugs(source: str, function: str) -> Iterator[BugVariant]:
    """Every single-edit bug variant of `function` in `source`, operator by operator."""
    tree = ast.parse(source)
    original = _function_node(tree, function)
    if original is None:
        return
    locals_ = _local_names(original)
    fixed = ast.unparse(tree) + "\n"

    def variants(kind: str, predicate, edit) -> Iterator[BugVariant]:
        for index in _sites(original, predicate):
            new_tree = copy.deepcopy(tree)
            func = _function_node(new_tree, function)
            node = _nth(func, index)
            before_node = _nth(original, index)
            description = edit(node, func, before_node)
            if description is None:
                continue
            ast.fix_missing_locations(new_tree)
            try:
                buggy = ast.unparse(new_tree) + "\n"
            except Exception:  # an edit produced a tree unparse cannot print; skip it
                continue
            if buggy == fixed:
                continue
            yield BugVariant(kind, getattr(before_node, "lineno", original.lineno), description, buggy,
                             fixed=fixed, buggy_line=_first_difference(fixed, buggy))

    # off-by-one: an integer constant moves by one (range bounds, indices, initial values)
    def off_by_one(node, func, before):
        node.value = node.value + 1 if node.value <= 0 else node.value - 1
        return f"the constant `{before.value}` was changed to `{node.value}`"
    yield from variants("off_by_one", lambda n: isinstance(n, ast.Constant) and type(n.value) is int, off_by_one)

    def operator_swap(node, func, before):
        if isinstance(node, ast.BoolOp):
            node.op = _BOOL_SWAPS[type(node.op)]()
        else:
            node.op = _OPERATOR_SWAPS[type(node.op)]()
        return f"`{_segment(source, before)}` was changed to `{ast.unparse(node)}`"
    yield from variants(
        "operator_swap",
        lambda n: (isinstance(n, (ast.BinOp, ast.AugAssign)) and type(n.op) in _OPERATOR_SWAPS)
        or (isinstance(n, ast.BoolOp) and type(n.op) in _BOOL_SWAPS),
        operator_swap,
    )

    def comparison_swap(node, func, before):
        node.ops = [_COMPARISON_SWAPS.get(type(op), type(op))() for op in node.ops]
        return f"the comparison `{_segment(source, before)}` was changed to `{ast.unparse(node)}`"
    yield from variants("comparison_swap", lambda n: isinstance(n, ast.Compare) and any(type(o) in _COMPARISON_SWAPS for o in n.ops), comparison_swap)

    # wrong variable: a read of one local is replaced by a read of another (the next in order)
    def wrong_variable(node, func, before):
        others = [n for n in locals_ if n != node.id]
        if not others:
            return None
        node.id = others[0]
        return f"a use of `{before.id}` was replaced by `{node.id}`"
    yield from variants("wrong_variable", lambda n: isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in locals_, wrong_variable)

    # dropped statement: a simple statement in a body with more than one statement disappears
    def droppable(n):
        return isinstance(n, (ast.Assign, ast.AugAssign, ast.Expr)) and not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))

    def drop_statement(node, func, before):
        for parent in ast.walk(func):
            for field_name in ("body", "orelse"):
                body = getattr(parent, field_name, None)
                if isinstance(body, list) and node in body and len(body) > 1:
                    body.remove(node)
                    return f"the statement `{_segment(source, before)}` was removed"
        return None
    yield from variants("dropped_statement", droppable, drop_statement)

    # wrong return: the returned expression is replaced by another local (or None)
    def wrong_return(node, func, before):
        current = ast.unparse(node.value) if node.value is not None else "None"
        choice = next((n for n in locals_ if n != current), None)
        node.value = ast.Name(id=choice, ctx=ast.Load()) if choice else ast.Constant(None)
        return f"`return {current}` was changed to `return {ast.unparse(node.value)}`"
    yield from variants("wrong_return", lambda n: isinstance(n, ast.Return), wrong_return)
