"""Turn an LLM reply into child code: SEARCH/REPLACE diffs, full rewrites, EVOLVE-BLOCK rules.

``apply_reply`` either returns the child's code or raises ``EditRejected`` with a reason that is
stored in the archive. Diff matching is tolerant: exact text first, then line-wise ignoring
trailing whitespace, then ignoring a uniform indentation shift (re-indenting the replacement).
Code outside the EVOLVE-BLOCK markers is always the parent's; the child must compile and still
define the entry function.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Sequence
from dataclasses import dataclass

BLOCK_START = "# EVOLVE-BLOCK-START"
BLOCK_END = "# EVOLVE-BLOCK-END"

_DIFF_RE = re.compile(
    r"^[ \t]*<{5,}[ \t]*SEARCH[ \t]*\n(?P<search>.*?)^[ \t]*={5,}[ \t]*\n(?P<replace>.*?)"
    r"^[ \t]*>{5,}[ \t]*REPLACE[ \t]*$",
    re.DOTALL | re.MULTILINE,
)
_FENCE_RE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)```", re.DOTALL)


UNCHANGED = "the edit leaves the program unchanged"


class EditRejected(Exception):
    """The reply cannot become a child program; ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Edit:
    code: str
    kind: str  # "diff" | "rewrite" | "function" (functions merged into the block)
    blocks: int = 0


def _strip_fences(text: str) -> str:
    """Remove a lone fence line around diff content (```python / ```)."""
    lines = [ln for ln in text.split("\n") if not re.fullmatch(r"[ \t]*```[A-Za-z0-9_+-]*[ \t]*", ln)]
    return "\n".join(lines)


def parse_diff_blocks(reply: str) -> list[tuple[str, str]]:
    text = reply.replace("\r\n", "\n")
    return [(_strip_fences(m.group("search")), _strip_fences(m.group("replace")))
            for m in _DIFF_RE.finditer(text)]


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _find_lines(hay: list[str], needle: list[str], key) -> int:
    want = [key(x) for x in needle]
    found = -1
    for i in range(len(hay) - len(needle) + 1):
        if all(key(hay[i + k]) == want[k] for k in range(len(needle))):
            if found >= 0:
                return -2  # ambiguous
            found = i
    return found


def apply_block(code: str, search: str, replace: str) -> str:
    """Apply one SEARCH/REPLACE block to ``code`` (tolerant of whitespace)."""
    search = search.rstrip("\n")
    replace = replace.rstrip("\n")
    if not search.strip():
        raise EditRejected("a SEARCH section is empty; quote the lines to replace")
    if code.count(search) == 1:
        return code.replace(search, replace, 1)
    hay = code.split("\n")
    needle = search.split("\n")
    while needle and not needle[0].strip():
        needle.pop(0)
    while needle and not needle[-1].strip():
        needle.pop()
    rep = replace.split("\n")
    idx = _find_lines(hay, needle, lambda s: s.rstrip())
    shift = ""
    if idx < 0:
        idx2 = _find_lines(hay, needle, lambda s: s.strip())
        if idx2 >= 0:
            idx = idx2
            first = next(k for k, ln in enumerate(needle) if ln.strip())
            have, had = _indent(hay[idx + first]), _indent(needle[first])
            if have.startswith(had):
                shift = have[len(had):]
                rep = [shift + ln if ln.strip() else ln for ln in rep]
            elif had.startswith(have):
                cut = len(had) - len(have)
                rep = [ln[cut:] if ln[:cut].strip() == "" else ln.lstrip() for ln in rep]
        elif idx2 == -2 or idx == -2:
            idx = -2
    if idx == -2:
        raise EditRejected("a SEARCH section matches several places; include more context lines")
    if idx < 0:
        preview = needle[0].strip()[:60] if needle else ""
        raise EditRejected(f"a SEARCH section does not match the parent code (first line: {preview!r})")
    return "\n".join(hay[:idx] + rep + hay[idx + len(needle):])


def extract_rewrite(reply: str, entry: str | None = None) -> str | None:
    """The program in a reply: a fenced block (the largest one defining ``entry`` if any), else
    the code of an unterminated fence or of an unfenced reply (from its first ``def``/``import``
    line, trailing prose dropped until it parses). Small models are chatty; this keeps them usable.
    """
    text = reply.replace("\r\n", "\n")
    blocks = [body for lang, body in _FENCE_RE.findall(text)
              if lang.lower() in ("", "python", "py", "python3")]
    if entry is not None:
        defining = [b for b in blocks if re.search(rf"^\s*def {re.escape(entry)}\(", b, re.MULTILINE)]
        blocks = defining or blocks
    if blocks:
        return max(blocks, key=len)
    opened = re.search(r"```[ \t]*(?:python3?|py)?[ \t]*\n", text)
    rest = text[opened.end():] if opened else text
    start = re.search(r"^(?:def |import |from |class |@)", rest, re.MULTILINE)
    if start is None:
        return None
    lines = rest[start.start():].rstrip().split("\n")
    for cut in range(len(lines), max(0, len(lines) - 30), -1):
        candidate = "\n".join(lines[:cut]).rstrip("` \n") + "\n"
        try:
            ast.parse(candidate)
        except SyntaxError:
            continue
        return candidate
    return None


def split_block(code: str) -> tuple[str, str, str] | None:
    """(before, inside, after) around the EVOLVE-BLOCK markers, or None if there are none."""
    start = code.find(BLOCK_START)
    end = code.find(BLOCK_END)
    if start < 0 or end < 0 or end < start:
        return None
    inner_from = code.index("\n", start) + 1 if "\n" in code[start:end] else start + len(BLOCK_START)
    return code[:inner_from], code[inner_from:end], code[end:]


def enforce_block(parent: str, child: str) -> str:
    """Keep the parent's code outside the EVOLVE-BLOCK; take only the block from the child."""
    frame = split_block(parent)
    if frame is None:
        return child
    before, _, after = frame
    inner = split_block(child)
    body = inner[1] if inner is not None else child
    if not body.endswith("\n"):
        body += "\n"
    return before + body + after


def _keeps(node: ast.stmt, defined: set[str]) -> bool:
    """Whether a top-level statement of a function-rewrite reply belongs in the program: imports,
    classes and constants do; calls and loops ("Example usage: score = priority(45.0, [50.0])",
    ``print``, ``if __name__ == ...``) do not: run at load, before the functions they call are
    defined, they failed 2 of the first 8 children of a bin_packing run at load."""
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.ClassDef)):
        return True
    if not isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        return False
    return not any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in defined
                   for n in ast.walk(node))


def merge_functions(parent: str, code: str) -> str:
    """Splice the reply's top-level definitions into the parent's EVOLVE-BLOCK.

    Functions the reply defines replace the parent's functions of the same name (new ones go
    before the last function); its imports, classes and constants go to the top of the block, its
    other statements (example calls, prints, loops) nowhere. Everything else in the block stays:
    a model asked for one function need not repeat the rest.
    """
    frame = split_block(parent)
    before, inner, after = frame if frame else ("", parent, "")
    try:
        new = ast.parse(code)
        old = ast.parse(inner)
    except SyntaxError as exc:
        raise EditRejected(f"child code has a syntax error at line {exc.lineno}: {exc.msg}") from exc
    src = code.split("\n")
    lines = inner.split("\n")
    spans = {n.name: (min([n.lineno, *(d.lineno for d in n.decorator_list)]) - 1, n.end_lineno)
             for n in old.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}

    def text(n: ast.stmt) -> list[str]:
        first = min([n.lineno, *(d.lineno for d in getattr(n, "decorator_list", []))]) - 1
        return src[first:n.end_lineno]

    funcs = [n for n in new.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if not funcs:
        raise EditRejected("the reply defines no function")
    defined = {*spans, *(n.name for n in funcs)}
    header = [ln for n in new.body if _keeps(n, defined) for ln in text(n)]
    last = max((start for start, _ in spans.values()), default=len(lines))
    ops = [(*spans[n.name], text(n)) for n in funcs if n.name in spans]
    added = [ln for n in funcs if n.name not in spans for ln in [*text(n), "", ""]]
    if added:
        ops.append((last, last, added))
    for start, end, new_lines in sorted(ops, key=lambda op: (-op[0], -op[1])):
        lines[start:end] = new_lines
    header = [ln for ln in header if ln not in lines]
    body = "\n".join([*header, *([""] if header else []), *lines])
    return before + body + after


# Standard-library names small models use without importing them; the import is added to the
# evolved block (NameError 'heapq' was the commonest failure of a 100-call smtt run, NameError
# 'log' one of a 30-call run).
_AUTO_IMPORTS = {**{m: f"import {m}" for m in ("math", "heapq", "bisect", "itertools", "functools",
                                               "collections", "random", "statistics", "operator")},
                 **{n: f"from math import {n}" for n in ("log", "log2", "log10", "log1p", "exp", "sqrt",
                                                         "ceil", "floor", "inf", "pi")},
                 **{n: f"from collections import {n}" for n in ("deque", "defaultdict", "Counter")},
                 **{n: f"from functools import {n}" for n in ("lru_cache", "cmp_to_key")}}
# Packages a problem may allow (problem.toml ``imports``), by the name code uses for them: only
# added where the problem allows the package (NameError 'np' was 3 of 10 failed bin_packing
# children of the issue 17 quality runs, whose seed imports nothing)
_PACKAGE_IMPORTS = {"np": ("numpy", "import numpy as np"), "numpy": ("numpy", "import numpy")}


def unbound_names(code: str) -> set[str]:
    """Names ``code`` reads that nothing in it binds and that are not builtins (a coarse,
    scope-blind check: a name bound anywhere counts as bound everywhere)."""
    tree = ast.parse(code)
    bound, read = set(dir(builtins)), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bound.update(node.names)
    return read - bound


def add_missing_imports(code: str, packages: Sequence[str] = ()) -> str:
    """``code`` with an import at the top of its evolved block for each standard-library module
    (or common collections/functools name) it uses without importing, and for each of the
    allowed ``packages`` (numpy as ``np``) likewise (code that does not parse is returned as it
    is)."""
    known = _AUTO_IMPORTS | {name: line for name, (package, line) in _PACKAGE_IMPORTS.items()
                             if package in packages}
    try:
        missing = sorted(unbound_names(code) & known.keys())
    except SyntaxError:
        return code
    if not missing:
        return code
    lines = "".join(f"{known[n]}\n" for n in missing)
    frame = split_block(code)
    if frame is not None:
        before, inner, after = frame
        return before + lines + inner + after
    body = ast.parse(code).body  # no block: after the docstring and __future__ imports
    head = [n for n in body if (isinstance(n, ast.ImportFrom) and n.module == "__future__")
            or (n is body[0] and isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    cut = max((n.end_lineno for n in head), default=0)
    rows = code.split("\n")
    return "\n".join([*rows[:cut], lines.rstrip("\n"), *rows[cut:]])


def check_child(code: str, entry: str, max_chars: int) -> None:
    if len(code) > max_chars:
        raise EditRejected(f"child code has {len(code)} characters, over the limit of {max_chars}")
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise EditRejected(f"child code has a syntax error at line {exc.lineno}: {exc.msg}") from exc
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    if entry not in names:
        raise EditRejected(f"child code no longer defines the entry function {entry}()")


def apply_reply(reply: str, parent: str, entry: str, max_chars: int = 40_000,
                focus: str | None = None, packages: Sequence[str] = ()) -> Edit:
    """Child code from a reply: diff blocks if present, else a fenced full rewrite; with
    ``focus`` (a function-rewrite prompt) the reply's functions are merged into the block.
    ``packages``: what the problem allows beyond the standard library (missing imports of them
    are added like the standard library's)."""
    if not reply or not reply.strip():
        raise EditRejected("empty reply")
    blocks = parse_diff_blocks(reply)
    if blocks:
        code = parent
        for search, replace in blocks:
            code = apply_block(code, search, replace)
        kind = "diff"
    else:
        rewrite = extract_rewrite(reply, focus or entry)
        if rewrite is None:
            if "SEARCH" in reply and "REPLACE" in reply:
                raise EditRejected("malformed SEARCH/REPLACE block (need <<<<<<< SEARCH, =======, "
                                   ">>>>>>> REPLACE on their own lines)")
            raise EditRejected("reply has neither SEARCH/REPLACE blocks nor a fenced code block")
        code = rewrite
        kind = "rewrite"
    if kind == "rewrite" and focus is not None:
        code, kind = merge_functions(parent, code), "function"
    else:
        code = enforce_block(parent, code)
    code = add_missing_imports(code, packages)
    if code.strip() == parent.strip():
        raise EditRejected(UNCHANGED)
    check_child(code, entry, max_chars)
    return Edit(code=code, kind=kind, blocks=len(blocks))


def verbatim_copies(parent: str, other: str, focus: str, entry: str, max_chars: int = 40_000) -> list[str]:
    """The children a function-rewrite reply made by copying ``other`` would give ``parent``: the
    whole evolved block of ``other`` as the reply, and its ``focus`` function alone (a copy that
    changes nothing gives ``parent``)."""
    frame = split_block(other)
    block = (frame[1] if frame else other).strip()
    replies = [block]
    try:
        tree = ast.parse(block)
    except SyntaxError:
        tree = None
    for node in tree.body if tree else []:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == focus:
            replies.append(ast.get_source_segment(block, node) or "")
    out = []
    for reply in replies:
        try:
            out.append(apply_reply(f"```python\n{reply}\n```", parent, entry, max_chars, focus).code)
        except EditRejected as exc:
            if exc.reason == UNCHANGED:
                out.append(parent)
    return out
