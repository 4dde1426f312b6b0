"""Build the chat messages for one proposal from templates and archive records.

The prompt carries: the problem brief and entry signature, the parent's code, trusted metrics and
verifier feedback (worst cases), why recent attempts from this parent failed (rejected edits,
crashing or invalid children), a few inspiration programs, and the edit format asked for
(SEARCH/REPLACE diff or full rewrite). Templates live in ``templates/`` as text files. Small
local models get ``build_compact_messages``: the same facts, cut to what fits a CPU prefill.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from string import Template

from evolve.archive.store import ProgramView
from evolve.problem import ProblemSpec

TEMPLATES = Path(__file__).with_name("templates")


@cache
def template(name: str) -> Template:
    return Template((TEMPLATES / f"{name}.txt").read_text(encoding="utf-8"))


def format_metrics(metrics: dict) -> str:
    if not metrics:
        return "(none)"
    return "\n".join(f"- {k}: {v:.6g}" if isinstance(v, float) else f"- {k}: {v}"
                     for k, v in sorted(metrics.items()))


def format_score(score: float | None) -> str:
    return "failed" if score is None else f"{score:.6g}"


def build_messages(spec: ProblemSpec, parent: ProgramView, inspirations: list[ProgramView],
                   edit_kind: str, failures: list[str] = ()) -> list[dict[str, str]]:
    """Chat messages for one proposal; ``failures`` are recent dead ends from this parent."""
    insp = "".join("\n" + template("inspiration").substitute(score=format_score(p.combined_score),
                                                             code=p.code.rstrip())
                   for p in inspirations)
    user = template("user").substitute(
        brief=spec.brief.strip(),
        signature=spec.signature,
        parent_score=format_score(parent.combined_score),
        parent_code=parent.code.rstrip(),
        parent_metrics=format_metrics(parent.metrics),
        parent_feedback=(parent.feedback or parent.error or "(none)").strip(),
        inspirations=insp,
        failures=("\n# Recent attempts from this program that failed (avoid repeating them)\n"
                  + "".join(f"- {f[:400]}\n" for f in failures)) if failures else "",
        edit_format=template("diff" if edit_kind == "diff" else "rewrite").template.strip(),
    )
    return [{"role": "system", "content": template("system").template.strip()},
            {"role": "user", "content": user}]


def evolved_part(code: str) -> str:
    """The code between the EVOLVE-BLOCK markers (all of it if there are none)."""
    from evolve.edits import split_block

    frame = split_block(code)
    return (frame[1] if frame else code).strip()


def directions() -> list[str]:
    return [ln.strip() for ln in (TEMPLATES / "compact_directions.txt").read_text().splitlines()
            if ln.strip()]


def build_compact_messages(spec: ProblemSpec, parent: ProgramView, inspirations: list[ProgramView],
                           failures: list[str] = (), direction: str = "") -> list[dict[str, str]]:
    """A short prompt for small models on CPU: only the evolved function, the score, the first
    lines of feedback, at most one better program and one recent failure, and one direction to
    try (sampled by the caller from ``directions()``: small models answer a bare "improve it"
    with the same program); asks for a rewrite of the function."""
    better = [p for p in inspirations if p.combined_score is not None
              and (parent.combined_score is None or p.combined_score > parent.combined_score)]
    insp = template("compact_inspiration").substitute(
        score=format_score(better[0].combined_score), code=evolved_part(better[0].code)) if better else ""
    feedback = " ".join((parent.feedback or parent.error or "none").strip().splitlines()[:4])
    user = template("compact_user").substitute(
        brief=spec.brief.strip(), parent_score=format_score(parent.combined_score),
        parent_block=evolved_part(parent.code), parent_feedback=feedback[:600],
        failures=f"Last attempt failed: {failures[0][:300]}\n" if failures else "",
        inspiration=insp, focus=spec.focus or spec.entry, direction=direction)
    return [{"role": "system", "content": template("compact_system").template.strip()},
            {"role": "user", "content": user}]
