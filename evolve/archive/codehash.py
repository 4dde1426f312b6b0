"""Identities of program text: the exact hash, and the hash of its normalised form.

Two programs that differ only in comments, docstrings, type annotations, blank lines, spacing,
quoting, redundant parentheses or the order of their top-level functions are the same program:
``normalised_hash`` hashes the AST (docstrings, other bare string statements and annotations
removed; top-level functions after the other statements, by name) as ``ast.unparse`` prints it.
A function-rewrite reply that copies a program of another layout merges its helpers in another
order (``edits.merge_functions``): the same program.
Small models drop a parent's annotations and docstring when they restate its function. Code that
does not parse is hashed as it is. Used by the archive to catch a duplicate of any earlier program
of a run before it is evaluated.
"""

from __future__ import annotations

import ast
import hashlib


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


class _Normalise(ast.NodeTransformer):
    """Remove docstrings, every other statement that is a bare string constant, and annotations
    (``x: int = 1`` becomes ``x = 1``; a bare ``x: int`` goes)."""

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.annotation = None
        return node

    def _unannotated(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        node.returns = None
        return self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = _unannotated

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST | None:
        if node.value is None:
            return None
        return ast.copy_location(ast.Assign(targets=[node.target], value=self.visit(node.value)), node)

    def _body(self, body: list[ast.stmt]) -> list[ast.stmt]:
        kept = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                        and isinstance(s.value.value, str))]
        return kept or [ast.Pass()]

    def generic_visit(self, node: ast.AST) -> ast.AST:
        super().generic_visit(node)
        for name in ("body", "orelse", "finalbody"):
            value = getattr(node, name, None)
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                setattr(node, name, self._body(value))
        return node


def normalised_code(code: str) -> str:
    """The program as its AST prints, without comments and docstrings (or ``code`` itself if it
    does not parse)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code
    try:
        tree = _Normalise().visit(tree)
        defs = [s for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
        tree.body = ([s for s in tree.body if s not in defs]
                     + sorted(defs, key=lambda s: s.name))  # stable: a redefinition stays last
        return ast.unparse(ast.fix_missing_locations(tree))
    except (RecursionError, ValueError):
        return code


def normalised_hash(code: str) -> str:
    return code_hash(normalised_code(code))
