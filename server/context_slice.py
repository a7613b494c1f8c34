"""What a function depends on, so the model sees user-defined helpers and types.

Same-file helpers, classes and constants the function references (transitively), then
names imported with `from module import name` from modules of the workspace (sibling
files or packages under the workspace root). Kept within a character budget, nearest
dependencies first. Used when `semcoder_inference.context` is not available.
"""

from __future__ import annotations

import ast
from pathlib import Path

DEFAULT_BUDGET_CHARS = 6000  # about 1.5k tokens: room for the monologue in a 4k context


def _referenced_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _top_level(tree: ast.Module) -> dict[str, ast.stmt]:
    found: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            found[node.target.id] = node
    return found


def _segment(text: str, node: ast.stmt) -> str:
    lines = text.split("\n")
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return "\n".join(lines[first - 1 : node.end_lineno or node.lineno])


def _module_file(module: str, near: Path, roots: list[Path]) -> Path | None:
    rel = Path(*module.split("."))
    for root in [near, *roots]:
        for candidate in (root / rel.with_suffix(".py"), root / rel / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def dependencies(
    text: str,
    tree: ast.Module,
    function: str,
    *,
    filename: str | None = None,
    workspace_roots: list[Path] | None = None,
    budget_chars: int = DEFAULT_BUDGET_CHARS,
) -> list[str]:
    """Source snippets `function` depends on, in the order they should precede it."""
    defs = _top_level(tree)
    target = defs.get(function)
    if target is None:
        return []
    wanted: list[str] = []
    seen = {function}
    queue = sorted(_referenced_names(target) - seen)
    imported: dict[str, tuple[str, str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                imported[alias.asname or alias.name] = (node.module, alias.name)
    snippets: list[tuple[int, str]] = []  # (order, text)
    used = 0
    depth_order = 0
    while queue:
        name = queue.pop(0)
        if name in seen:
            continue
        seen.add(name)
        snippet = None
        deps: set[str] = set()
        if name in defs:
            node = defs[name]
            snippet = _segment(text, node)
            deps = _referenced_names(node)
            order = node.lineno
        elif name in imported and filename:
            module, original = imported[name]
            path = _module_file(module, Path(filename).parent, workspace_roots or [])
            if path is not None:
                try:
                    other_text = path.read_text(encoding="utf-8")
                    other_tree = ast.parse(other_text)
                except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
                    other_text, other_tree = "", None
                if other_tree is not None:
                    other_defs = _top_level(other_tree)
                    if original in other_defs:
                        snippet = _segment(other_text, other_defs[original])
                        if original != name:
                            snippet += f"\n{name} = {original}"
                        order = -1000 + depth_order  # imported code goes first
        if snippet is None:
            continue
        if used + len(snippet) > budget_chars:
            continue  # too big for the budget: the model does without it
        used += len(snippet)
        depth_order += 1
        snippets.append((order, snippet))
        wanted.append(name)
        queue.extend(sorted(deps - seen))
    return [s for _, s in sorted(snippets, key=lambda item: item[0])]
