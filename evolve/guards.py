"""Mechanical repair of a division by zero or a math domain error: no LLM call, and no change
wherever the code was defined.

Small models divide by quantities that are 0 on some inputs (the time already used at the first
step, a zero due date) and take logarithms of quantities that can be 0 or negative, even after the
brief warns and the error has been shown: in one 30-call smtt run, 8 of 12 failed children were
``ZeroDivisionError`` and 2 ``math domain error``. For a child that failed so, the function the
error names is rewritten: every divisor ``b`` of ``/``, ``//`` and ``%`` that is not a non-zero
number becomes ``(b or 1)``, and the argument ``x`` of ``log``, ``log2``, ``log10`` (``math.`` or
imported) becomes ``max(x, 1e-12)`` and of ``sqrt`` ``max(x, 0)``; a two-argument ``log(x, b)``
(which divides by ``log(b)``, zero for base 1) becomes ``(log(x) / (log(b) or 1))``, whose
arguments are then floored like any other. Each equals the original
wherever the original did not raise (up to logarithms of positive numbers below 1e-12), so the
guarded program computes what the proposal computed wherever it did not crash. Only those
expressions' text changes; comments and layout stay.
"""

import ast

from evolve.prompts.builder import repair_target

DIVISIONS = (ast.Div, ast.FloorDiv, ast.Mod)
DOMAIN_FLOORS = {"log": "1e-12", "log2": "1e-12", "log10": "1e-12", "sqrt": "0"}
ERRORS = ("ZeroDivisionError", "math domain error")
MAX_GUARDS = 50


def _guarded(node: ast.expr) -> bool:
    """``(x or 1)`` already, or a non-zero number."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, float)) and not isinstance(node.value, bool) and node.value != 0
    return (isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or)
            and isinstance(node.values[-1], ast.Constant) and node.values[-1].value == 1)


def _floored(node: ast.expr) -> bool:
    """``max(x, c)`` already, or a positive number."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, float)) and node.value > 0
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "max"
            and len(node.args) == 2 and isinstance(node.args[1], ast.Constant))


def _math_name(node: ast.AST, args: int) -> str | None:
    """``log``/``sqrt``/... when ``node`` calls that function (bare or ``math.``) with ``args``
    positional arguments and no keywords."""
    if not isinstance(node, ast.Call) or len(node.args) != args or node.keywords:
        return None
    f = node.func
    name = f.id if isinstance(f, ast.Name) else (
        f.attr if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "math"
        else None)
    return name if name in DOMAIN_FLOORS else None


def _domain_call(node: ast.AST) -> str | None:
    """The floor for the argument of a one-argument ``log``/``sqrt`` call, if it is one."""
    return DOMAIN_FLOORS.get(_math_name(node, 1) or "")


def _function(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    return None


def _offset(lines: list[str], lineno: int, col: int) -> int:
    """Character offset of (1-based line, UTF-8 byte column) in the joined text."""
    line = lines[lineno - 1]
    return sum(len(x) for x in lines[:lineno - 1]) + len(line.encode()[:col].decode(errors="ignore"))


def _first_unguarded(code: str, name: str) -> tuple[int, int, str] | None:
    """Text span of the first expression in function ``name`` still to guard, and its guarded
    text."""
    fn = _function(ast.parse(code), name)
    if fn is None:
        return None
    lines = code.splitlines(keepends=True)

    def span(e: ast.AST) -> tuple[int, int]:
        return _offset(lines, e.lineno, e.col_offset), _offset(lines, e.end_lineno, e.end_col_offset)

    def text(e: ast.AST) -> str:
        start, end = span(e)
        return code[start:end]

    todo: list[tuple[int, int, str]] = []
    for node in ast.walk(fn):
        if isinstance(node, ast.BinOp) and isinstance(node.op, DIVISIONS) and not _guarded(node.right):
            todo.append((*span(node.right), f"({text(node.right)} or 1)"))
        elif isinstance(node, ast.AugAssign) and isinstance(node.op, DIVISIONS) and not _guarded(node.value):
            todo.append((*span(node.value), f"({text(node.value)} or 1)"))
        elif (floor := _domain_call(node)) is not None and not _floored(node.args[0]):
            todo.append((*span(node.args[0]), f"max({text(node.args[0])}, {floor})"))
        elif _math_name(node, 2) == "log":
            log, (x, base) = text(node.func), node.args
            todo.append((*span(node), f"({log}({text(x)}) / ({log}({text(base)}) or 1))"))
    return min(todo) if todo else None


def guard(code: str, name: str) -> str:
    """``code`` with the divisors and ``log``/``sqrt`` arguments in function ``name`` guarded
    (``code`` itself if none needs it or the code does not parse)."""
    try:
        for _ in range(MAX_GUARDS):
            found = _first_unguarded(code, name)
            if found is None:
                break
            start, end, guarded = found
            code = f"{code[:start]}{guarded}{code[end:]}"
    except SyntaxError:
        return code
    return code


def guard_for(entry: str, code: str, error: str | None) -> str | None:
    """The guarded program for a child that failed with a division by zero or a math domain error
    (the function the error names, else the entry), or None when the error is another or nothing
    would change."""
    if not error or not any(e in error for e in ERRORS):
        return None
    guarded = guard(code, repair_target(entry, code, error))
    return guarded if guarded != code else None
