"""Advice: a short summary of an iteration range that later prompts show.

Written from the archive alone (no LLM call): which changes raised the score (the lines they
added), how many children were no better or failed and how (exception names only: a candidate's
error message is hostile text and never reaches a prompt through here), how many replies repeated
a program or changed nothing. Candidate code shown here is code the prompts show anyway.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass

from evolve.archive.events import RangeOutcomes
from evolve.archive.store import ProgramView
from evolve.wording import plural

LINE_CAP = 110  # characters of an added line shown
SHOWN_GAINS = 2  # improving changes shown (the largest gains)
_EXCEPTION = re.compile(r"\b([A-Z][A-Za-z0-9_]{0,40}(?:Error|Exception|Warning))\b")


@dataclass(frozen=True)
class Change:
    """One program made in the range, next to its parent."""

    program: ProgramView
    parent: ProgramView | None


def added_lines(parent_code: str, code: str, n: int = 2) -> list[str]:
    """The first ``n`` substantive lines ``code`` adds to ``parent_code`` (no blanks, comments or
    bare ``return``/``else:``), each cut to ``LINE_CAP`` characters."""
    out = []
    for line in difflib.unified_diff(parent_code.splitlines(), code.splitlines(), lineterm="", n=0):
        text = line[1:].strip()
        if (line.startswith("+") and not line.startswith("+++") and text
                and not text.startswith("#") and text not in ("else:", "return", "pass")):
            out.append(text if len(text) <= LINE_CAP else text[:LINE_CAP - 3] + "...")
            if len(out) == n:
                break
    return out


def failure_name(prog: ProgramView) -> str:
    """How a program failed, in words a candidate cannot choose beyond an exception's name."""
    if prog.error_kind == "exception":
        found = _EXCEPTION.search(prog.error or "")
        return found.group(1) if found else "an exception"
    return {"timeout": "too slow (time limit)", "invalid": "invalid answers",
            "load": "did not load (syntax or import)", "crash": "crashed"}.get(
        prog.error_kind or "", prog.error_kind or "failed")


def _gain(change: Change) -> float | None:
    p, parent = change.program, change.parent
    if p.status != "ok" or parent is None or parent.combined_score is None or p.combined_score is None:
        return None
    return p.combined_score - parent.combined_score


def summarise(first: int, last: int, changes: list[Change], outcomes: RangeOutcomes) -> str:
    """The advice for iterations ``first + 1 .. last`` (empty: nothing was tried)."""
    gains = sorted(((g, c) for c in changes if (g := _gain(c)) is not None and g > 0),
                   key=lambda gc: -gc[0])
    worse = [c for c in changes if (g := _gain(c)) is not None and g <= 0]
    failed = Counter(failure_name(c.program) for c in changes if c.program.status == "failed")
    same = sum(c.program.status == "same" for c in changes)
    lines = []
    for _gain_by, c in gains[:SHOWN_GAINS]:
        added = added_lines(c.parent.code, c.program.code)
        how = ("constant tuning" if c.program.edit_kind == "tune" else
               "adding: " + " | ".join(f"`{a}`" for a in added) if added else "removing lines")
        lines.append(f"- raised the score ({c.parent.combined_score:.6g} -> "
                     f"{c.program.combined_score:.6g}) by {how}")
    if len(gains) > SHOWN_GAINS:
        lines.append(f"- {plural(len(gains) - SHOWN_GAINS, 'other change')} raised the score less")
    if worse:
        lines.append(f"- {plural(len(worse), 'change')} scored no better than the program changed: "
                     "do not repeat them")
    if failed:
        lines.append("- failed: " + ", ".join(f"{name} x{n}" for name, n in failed.most_common(3))
                     + ("; keep every answer valid" if failed.get("invalid answers") else ""))
    repeats = outcomes.duplicates + outcomes.unchanged + same
    if repeats:
        lines.append(f"- {plural(repeats, 'reply', 'replies')} repeated an earlier program, changed "
                     "nothing or behaved like the program changed: try a different idea")
    if not lines:
        return ""
    return f"Iterations {first + 1}-{last} of this run:\n" + "\n".join(lines)
