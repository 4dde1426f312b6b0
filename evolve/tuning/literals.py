"""The numeric literals of an evolved block as parameters: find them, parameterise, substitute.

Pure functions on source text (stdlib ``ast`` only). The evolved block is the code between the
``# EVOLVE-BLOCK-START`` / ``# EVOLVE-BLOCK-END`` marker lines, or the whole file without them.

What is tunable (``find_tunable``): a numeric constant that acts as a continuous parameter of a
rule. A unary minus on a literal is part of it (``-0.5`` is one literal of value -0.5).

- floats: anywhere (arithmetic, ordering comparisons, call arguments, tuple/list elements,
  returned scores, module constants) except that 0.0, 1.0 and -1.0 are identities where they are
  an operand of arithmetic (``1.0 - p``, ``x * 1.0``) or the whole value of an assignment inside a
  function (``total = 0.0``: an initialiser); elsewhere (``max(0.0, s)``, ``K = (0.5, 1.0)``,
  ``if x > 0.0``) they are thresholds and weights like any other.
- ints: only with ``|v| >= 2`` and only as an operand of ``+ - * /`` or of an ordering comparison
  (``t + 2 * d``, ``len(left) > 3``). Ints anywhere else are counts, indices, sizes or labels.

Never tunable: anything inside a subscript's index or slice, inside the arguments of ``range``,
``enumerate``, ``zip``, ``islice`` or ``int()``, in ``round``'s ndigits, inside an operand of
``//``, ``%``, ``~``, bit operators and shifts (integer arithmetic); an int operand of ``**``
(``x ** 2`` is a power, not a weight: a fractional exponent turns a negative base into a complex
number, and a rounded tuned int exponent of 5 or 14 is a different polynomial, so int exponents
and bases stay; float ones such as ``x ** 0.5`` are tunable); both sides of ``==``, ``!=``,
``in`` and ``is`` (categories, not thresholds); the fill of a repeated sequence (``[0.0] * n``);
dict keys, ``match`` patterns, annotations and f-strings; default values of the entry function's
signature (the problem's contract; with no ``entry`` given, of every function); sentinels and
epsilons (``|v| >= 1e6`` or ``0 < |v| < 1e-6``); literals outside the evolved block. Each
occurrence is its own parameter (nothing is deduplicated).

Over ``max_params``, floats are kept first (each group in source order): floats are the weights
and look-ahead constants small models guess badly, while the ints that pass the rules above are
often deliberate thresholds, and a rounded int gives the optimiser a coarse, stepwise landscape.

``parameterise`` turns each literal into ``_EVOLVE_P[i]`` and adds ``_evolve_set_params(values)``
inside the block. Literals evaluated once at load time (module constants such as ATC's ``K_GRID``,
defaults of helper functions, decorator arguments) would keep their first value, so the setter
also re-runs the block's statements (compiled once, with the original line numbers): after it,
the block is in the state a fresh load of ``substitute(values)`` would give. A tuned int
parameter is rounded to an int (by the setter and by ``substitute``): an int literal may be used
where only an int works (``[0] * 3``, ``range(n - 2)``), and the int program is the one stored.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from evaluators.tuning_job import SETTER

BLOCK_START = "# EVOLVE-BLOCK-START"
BLOCK_END = "# EVOLVE-BLOCK-END"
PARAMS = "_EVOLVE_P"
SIGNIFICANT = 4  # digits of a tuned float in the program text

_COUNT_CALLS = frozenset({"range", "enumerate", "zip", "islice", "int"})
_INT_OPS = (ast.FloorDiv, ast.Mod, ast.BitAnd, ast.BitOr, ast.BitXor, ast.LShift, ast.RShift)
_ARITH_OPS = (ast.Add, ast.Sub, ast.Mult, ast.Div)
_ORDER_OPS = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_IDENTITIES = (0.0, 1.0, -1.0)
_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


@dataclass(frozen=True)
class Literal:
    """One tunable literal. Offsets are character offsets in line ``lineno`` (1-based) and cover
    the unary minus, if any; ``context`` is that source line, stripped."""

    index: int
    value: float
    is_int: bool
    lineno: int
    col_offset: int
    end_col_offset: int
    context: str


@dataclass(frozen=True)
class _Block:
    start_marker: int | None  # 0-based line index of the START marker, None for the whole file
    first: int  # 0-based index of the block's first body line
    end: int  # 0-based index one past its last body line (the END marker's line, or len(lines))


def find_tunable(code: str, max_params: int = 12, entry: str | None = None) -> list[Literal]:
    """The tunable literals of the evolved block, indexed in source order (see the module doc)."""
    lines = _lines(code)
    block = _block(lines)
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    if block is None:
        return []
    found: list[Literal] = []
    _Finder(lines, block, entry, found).visit(tree)
    found.sort(key=lambda lit: (lit.lineno, lit.col_offset))
    floats = [lit for lit in found if not lit.is_int]
    ints = [lit for lit in found if lit.is_int]
    kept = (floats + ints)[:max(0, max_params)]
    kept.sort(key=lambda lit: (lit.lineno, lit.col_offset))
    return [Literal(i, lit.value, lit.is_int, lit.lineno, lit.col_offset, lit.end_col_offset, lit.context)
            for i, lit in enumerate(kept)]


def settle(value: float, is_int: bool, original: float | None = None) -> float | int:
    """The value as it is written into the program: ints rounded, floats to 4 significant digits,
    and ``original`` itself unchanged (a literal written with more digits keeps them)."""
    if not math.isfinite(value):
        raise ValueError(f"a tuned constant must be finite, got {value}")
    if original is not None and value == original:
        return int(original) if is_int else float(original)
    if is_int:
        return round(value)
    return float(f"{value:.{SIGNIFICANT}g}")


def format_value(value: float, is_int: bool) -> str:
    """Program text of a tuned value: ``12``, ``0.4373``, ``12.5``, ``1.2e-05``, ``-0.5``."""
    settled = settle(value, is_int)
    return str(settled) if is_int else repr(float(settled))


def substitute(code: str, literals: Sequence[Literal], values: Sequence[float]) -> str:
    """``code`` with each literal's text replaced by its new value; everything else (comments,
    spacing, code outside the literals) stays byte-identical. A value equal to the literal's
    keeps the original spelling; a negative value replacing an unsigned literal is parenthesised
    (``a - (-0.5)``, ``(-2.0) ** x``)."""
    _check(literals, values)
    texts = [None if value == lit.value else format_value(value, lit.is_int)
             for lit, value in zip(literals, values, strict=True)]
    return _replace(code, literals, lambda lit, old: _signed(texts[lit.index], old))


def parameterise(code: str, literals: Sequence[Literal]) -> str:
    """``code`` with literal i read from ``_EVOLVE_P[i]``, the list defined at the top of the block,
    and ``_evolve_set_params(values)`` at its end (sets the values, ints rounded, and re-runs the
    block so load-time uses of the constants see them)."""
    lines = _lines(code)
    block = _block(lines)
    if block is None:
        raise ValueError("the EVOLVE-BLOCK markers are indented: the block is not at module level")
    _check(literals, [lit.value for lit in literals])
    replaced = _lines(_replace(code, literals, lambda lit, old: f"{PARAMS}[{lit.index}]"))
    head = block.start_marker + 1 if block.start_marker is not None else _header_end(code, block)
    end = block.end
    newline = _newline(lines)
    values = ", ".join(repr(lit.value if not lit.is_int else int(lit.value)) for lit in literals)
    body = "".join(replaced[head:end])
    if body and not body.endswith(("\n", "\r")):
        body += newline
    # the body's first line sits one line lower, under the inserted list
    source = "\n" * (head + 1) + body.replace("\r\n", "\n").replace("\r", "\n")
    flags = ", ".join("True" if lit.is_int else "False" for lit in literals)
    flags = f"({flags},)" if len(literals) == 1 else f"({flags})"
    setter = [
        "",
        "",
        f"def {SETTER}(values):",
        '    """Set the tuned constants (ints rounded) and re-run the block with them."""',
        f"    {PARAMS}[:] = [round(v) if i else float(v) for v, i in zip(values, {flags}, strict=True)]",
        "    exec(_EVOLVE_BODY, globals())",
        "",
        "",
        f'_EVOLVE_BODY = compile({source!r}, globals().get("__file__", "<evolve-block>"), "exec")',
    ]
    out = [*replaced[:head], f"{PARAMS} = [{values}]{newline}", body]
    out += [line + newline for line in setter] + replaced[end:]
    return "".join(out)


# -- finding ------------------------------------------------------------------------------------
class _Finder:
    """Walks the tree with the chain of parents and whether the current subtree is structural."""

    def __init__(self, lines: list[str], block: _Block, entry: str | None, out: list[Literal]):
        self.lines, self.block, self.entry, self.out = lines, block, entry, out
        self.parents: list[ast.AST] = []
        self.function_depth = 0

    def visit(self, node: ast.AST, blocked: bool = False) -> None:
        if isinstance(node, ast.Constant):
            if not blocked:
                self._consider(node)
            return
        blocked = blocked or isinstance(node, ast.JoinedStr | ast.Slice) or (
            isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert)) or (
            isinstance(node, ast.BinOp | ast.AugAssign) and isinstance(node.op, _INT_OPS))
        inner = self._structural_children(node)
        function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        self.parents.append(node)
        self.function_depth += function
        for child in ast.iter_child_nodes(node):
            self.visit(child, blocked or id(child) in inner)
        self.function_depth -= function
        self.parents.pop()

    def _structural_children(self, node: ast.AST) -> set[int]:
        """Children of ``node`` whose whole subtree is not tunable."""
        kids: list[ast.AST | None] = []
        if isinstance(node, ast.Subscript):
            kids.append(node.slice)
        elif isinstance(node, ast.Call):
            name = _call_name(node.func)
            if name in _COUNT_CALLS:
                kids += [*node.args, *node.keywords]
            elif name == "round":
                kids += node.args[1:] + [k for k in node.keywords if k.arg == "ndigits"]
        elif isinstance(node, ast.Dict):
            kids += node.keys
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            kids += [side for side in (node.left, node.right) if _sequence(side)]  # [0.0] * n: a fill
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            kids.append(node.returns)
        elif isinstance(node, ast.arguments):
            owner = self.parents[-1] if self.parents else None
            if isinstance(owner, ast.FunctionDef | ast.AsyncFunctionDef) and self.entry in (None, owner.name):
                kids += [*node.defaults, *node.kw_defaults]
        elif isinstance(node, ast.arg | ast.AnnAssign):
            kids.append(node.annotation)
        elif isinstance(node, ast.match_case):
            kids.append(node.pattern)
        return {id(k) for k in kids if k is not None}

    def _consider(self, const: ast.Constant) -> None:
        raw = const.value
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            return
        node: ast.AST = const
        parents = self.parents
        value = float(raw)
        sign = parents[-1] if parents and isinstance(parents[-1], ast.UnaryOp) else None
        if sign is not None and isinstance(sign.op, ast.USub | ast.UAdd):
            node, parents = sign, parents[:-1]
            value = -value if isinstance(sign.op, ast.USub) else value
        is_int = isinstance(raw, int)
        if not self._tunable(node, parents, value, is_int):
            return
        lineno, end_lineno = node.lineno, node.end_lineno
        if lineno != end_lineno or not self.block.first < lineno <= self.block.end:
            return
        line = self.lines[lineno - 1]
        start, end = _char_col(line, node.col_offset), _char_col(line, node.end_col_offset or 0)
        self.out.append(Literal(-1, int(value) if is_int else value, is_int, lineno, start, end,
                                line.strip()[:160]))

    def _tunable(self, node: ast.AST, parents: list[ast.AST], value: float, is_int: bool) -> bool:
        parent = parents[-1] if parents else None
        if value != 0 and not 1e-6 <= abs(value) < 1e6:
            return False  # a sentinel or an epsilon
        if isinstance(parent, ast.Compare):
            return _ordering(parent, node) and (not is_int or abs(value) >= 2)
        if isinstance(parent, ast.BinOp):
            if isinstance(parent.op, ast.Pow):
                return not is_int
            if is_int:
                other = parent.right if parent.left is node else parent.left
                return isinstance(parent.op, _ARITH_OPS) and abs(value) >= 2 and not (
                    isinstance(parent.op, ast.Mult) and _sequence(other))
            return value not in _IDENTITIES
        if isinstance(parent, ast.AugAssign):
            if is_int:
                return isinstance(parent.op, _ARITH_OPS) and abs(value) >= 2
            return value not in _IDENTITIES
        if is_int:
            return False
        if self.function_depth and value in _IDENTITIES and _assigned(node, parents):
            return False  # an initialiser such as ``total = 0.0`` or ``lo, hi = 0.0, 1.0``
        return True


def _assigned(node: ast.AST, parents: list[ast.AST]) -> bool:
    """``node`` is the value of an assignment, or an element of a tuple/list that is."""
    chain = [node, *reversed(parents)]
    at = 1
    while at < len(chain) and isinstance(chain[at], ast.Tuple | ast.List):
        at += 1
    return at < len(chain) and isinstance(chain[at], ast.Assign | ast.AnnAssign) and \
        chain[at].value is chain[at - 1]


def _ordering(compare: ast.Compare, node: ast.AST) -> bool:
    """True if every comparison operator next to ``node`` orders (<, <=, >, >=)."""
    operands = [compare.left, *compare.comparators]
    at = next(i for i, operand in enumerate(operands) if operand is node)
    return all(isinstance(compare.ops[i], _ORDER_OPS) for i in (at - 1, at) if 0 <= i < len(compare.ops))


def _sequence(node: ast.AST) -> bool:
    """A literal list, tuple or string: ``[0] * 3`` repeats it (the int is a length)."""
    return isinstance(node, ast.List | ast.Tuple | ast.ListComp) or (
        isinstance(node, ast.Constant) and isinstance(node.value, str | bytes))


def _call_name(func: ast.AST) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


# -- text ---------------------------------------------------------------------------------------
def _lines(code: str) -> list[str]:
    """Lines with their terminators, split where the tokenizer splits (not on form feeds etc.)."""
    return _LINE_RE.findall(code)


def _newline(lines: list[str]) -> str:
    for line in lines:
        if line.endswith("\r\n"):
            return "\r\n"
        if line.endswith(("\n", "\r")):
            return line[-1]
    return "\n"


def _block(lines: list[str]) -> _Block | None:
    """Where the evolved block is; None if its markers are indented (not at module level)."""
    start = next((i for i, line in enumerate(lines) if line.strip().startswith(BLOCK_START)), None)
    end = None if start is None else next(
        (i for i in range(start + 1, len(lines)) if lines[i].strip().startswith(BLOCK_END)), None)
    if start is None or end is None:
        return _Block(None, 0, len(lines))
    if not lines[start].startswith(BLOCK_START) or not lines[end].startswith(BLOCK_END):
        return None
    return _Block(start, start + 1, end)


def _header_end(code: str, block: _Block) -> int:
    """Whole-file blocks: the line after the module docstring and ``from __future__`` imports."""
    head = block.first
    for i, stmt in enumerate(ast.parse(code).body):
        docstring = i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
            and isinstance(stmt.value.value, str)
        if not docstring and not (isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__"):
            break
        head = stmt.end_lineno or head
    return head


def _char_col(line: str, byte_col: int) -> int:
    """ast's UTF-8 byte offset in ``line`` as a character offset."""
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", "replace"))


def _check(literals: Sequence[Literal], values: Sequence[float]) -> None:
    if len(values) != len(literals):
        raise ValueError(f"{len(values)} values for {len(literals)} literals")
    if [lit.index for lit in literals] != list(range(len(literals))):
        raise ValueError("literals must be find_tunable's list (indices 0..n-1 in order)")


def _signed(text: str | None, old: str) -> str:
    if text is None:
        return old
    if text.startswith("-") and not old.lstrip().startswith("-"):
        return f"({text})"
    return text


def _replace(code: str, literals: Sequence[Literal], new_text) -> str:
    """Replace each literal's span (right to left within a line, so offsets stay valid)."""
    lines = _lines(code)
    for lit in sorted(literals, key=lambda lit: (lit.lineno, -lit.col_offset)):
        line = lines[lit.lineno - 1]
        old = line[lit.col_offset:lit.end_col_offset]
        lines[lit.lineno - 1] = line[:lit.col_offset] + new_text(lit, old) + line[lit.end_col_offset:]
    return "".join(lines)
