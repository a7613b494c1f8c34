"""Which of the file's functions or methods an expression calls (`f(1)`, `Class(1)`,
`Class(1).method(2)`, `Class(1).prop`), and whether with literal arguments only: a literal
call is one the model can be shown, and one that is safe to replay.
"""

from __future__ import annotations

import ast

from .analysis_types import CLASS_METHOD, PROPERTY, STATIC_METHOD, FunctionInfo


def called(expr: ast.AST, functions: dict[str, FunctionInfo]) -> tuple[str, list[ast.Call]] | None:
    """Which function or method of the file `expr` runs, and the calls in it that pass
    arguments: `f(1)` -> ("f", [f(1)]); `Class(1)` -> ("Class.__init__", [Class(1)]);
    `Class(1).method(2)` -> ("Class.method", [that call, Class(1)]); `Class.method(2)` of a
    static or class method -> ("Class.method", [that call]); `Class(1).prop` of a property
    -> ("Class.prop", [Class(1)])."""
    if isinstance(expr, ast.Call):
        named = _callee(expr.func, functions)
        return (named[0], [expr, *named[1]]) if named else None
    owner = expr.value if isinstance(expr, ast.Attribute) else None
    if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name):
        fn = functions.get(f"{owner.func.id}.{expr.attr}")
        return (fn.name, [owner]) if fn is not None and fn.kind == PROPERTY else None
    return None


def _callee(func: ast.AST, functions: dict[str, FunctionInfo]) -> tuple[str, list[ast.Call]] | None:
    """What a call's `func` names (see called), and the constructor call it goes through."""
    if isinstance(func, ast.Name):
        fn = functions.get(func.id)
        if fn is not None and not fn.is_method:
            return func.id, []
        init = functions.get(f"{func.id}.__init__")
        return (init.name, []) if init is not None else None
    if not isinstance(func, ast.Attribute):
        return None
    owner = func.value
    if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name):
        fn = functions.get(f"{owner.func.id}.{func.attr}")
        return (fn.name, [owner]) if fn is not None and fn.kind != PROPERTY else None
    if isinstance(owner, ast.Name):
        dotted = f"{owner.id}.{func.attr}"
        fn = functions.get(dotted)
        if fn is not None and not fn.is_method:  # a module's function (`import app`; `app.scale(2)`)
            return dotted, []
        return (fn.name, []) if fn is not None and fn.kind in (STATIC_METHOD, CLASS_METHOD) else None
    return None


def literal_call(node: ast.AST, functions: dict[str, FunctionInfo]) -> str | None:
    """The function's name if `node` runs a function or method of the file (see called)
    with literal arguments only (the constructor's too)."""
    named = called(node, functions)
    if named is None:
        return None
    name, calls = named
    for arg in [a for call in calls for a in [*call.args, *(k.value for k in call.keywords)]]:
        if not _is_literal(arg.value if isinstance(arg, ast.Starred) else arg):
            return None
    return name


def _is_literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True
