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
    """Whether `node` is a literal (ast.literal_eval takes it), or a container of literals
    with arithmetic of numbers in it (`1024 ** 5`, `5 * 1024 ** 3`, `[-1.5 * 2, 3]`: see
    _arithmetic), which Python folds into a constant as it compiles it."""
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _with_arithmetic(node, [_MAX_ARITHMETIC_NODES])
    return True


# How many nodes the arithmetic of one literal may have, at most (`1 + 1 + ... + 1`).
_MAX_ARITHMETIC_NODES = 100
# The largest integer an operand or a result may be, in bits (a power: its base), and the
# largest exponent: `2 ** 64`, `1024 ** 5`, `10 ** 18` are literals; `10 ** 10 ** 10`
# (which would take Python minutes and gigabytes) is not.
_MAX_INT_BITS = 256
_MAX_EXPONENT = 64
_ARITHMETIC_OPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)


def _with_arithmetic(node: ast.AST, budget: list[int]) -> bool:
    """A literal whose numbers may be arithmetic of numbers (see _is_literal)."""
    budget[0] -= 1
    if budget[0] < 0:
        return False
    if isinstance(node, (ast.BinOp, ast.UnaryOp)):
        return _arithmetic(node, budget) is not None
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_with_arithmetic(element, budget) for element in node.elts)
    if isinstance(node, ast.Dict):
        return all(key is not None and _with_arithmetic(key, budget) for key in node.keys) \
            and all(_with_arithmetic(value, budget) for value in node.values)
    return False


def _arithmetic(node: ast.AST, budget: list[int]) -> int | float | complex | None:
    """The value of arithmetic of numbers (+ - * / // % ** and a sign), evaluated here
    within bounds (_MAX_INT_BITS, _MAX_EXPONENT); None for anything else, a value out of
    bounds, or one that raises (`1 / 0`)."""
    budget[0] -= 1
    if budget[0] < 0:
        return None
    if isinstance(node, ast.Constant):
        value = node.value
        if type(value) in (int, float, complex) or isinstance(value, bool):
            return value if _in_bounds(value) else None
        return None
    try:
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = _arithmetic(node.operand, budget)
            if operand is None:
                return None
            return -operand if isinstance(node.op, ast.USub) else +operand
        if isinstance(node, ast.BinOp) and isinstance(node.op, _ARITHMETIC_OPS):
            left = _arithmetic(node.left, budget)
            right = _arithmetic(node.right, budget) if left is not None else None
            if left is None or right is None:
                return None
            if isinstance(node.op, ast.Pow):
                if isinstance(right, complex) or isinstance(left, complex) or abs(right) > _MAX_EXPONENT:
                    return None
                value = left ** right
            else:
                value = {ast.Add: lambda: left + right, ast.Sub: lambda: left - right,
                         ast.Mult: lambda: left * right, ast.Div: lambda: left / right,
                         ast.FloorDiv: lambda: left // right, ast.Mod: lambda: left % right}[type(node.op)]()
            return value if _in_bounds(value) else None
    except (ArithmeticError, ValueError, TypeError):
        return None
    return None


def _in_bounds(value: object) -> bool:
    if isinstance(value, int):
        return value.bit_length() <= _MAX_INT_BITS
    return isinstance(value, (float, complex))
