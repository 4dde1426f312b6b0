"""Build the chat messages for one proposal from templates and archive records.

The prompt carries: the problem brief and entry signature, the parent's code, trusted metrics and
verifier feedback (worst cases), why recent attempts from this parent failed (rejected edits,
crashing or invalid children), a few inspiration programs, and the edit format asked for
(SEARCH/REPLACE diff or full rewrite). Templates live in ``templates/`` as text files.
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
