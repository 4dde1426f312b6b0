"""Build the chat messages for one proposal from templates and archive records.

The prompt carries: the problem brief and entry signature, the parent's code, trusted metrics and
verifier feedback (worst cases), why recent attempts from this parent failed (rejected edits,
crashing or invalid children), a few inspiration programs, and the edit format asked for
(SEARCH/REPLACE diff or full rewrite). Templates live in ``templates/`` as text files. Small
local models get ``build_compact_messages``: the same facts, cut to what fits a CPU prefill.
"""

from __future__ import annotations

import ast
import random
import re
from functools import cache
from pathlib import Path
from string import Template

from evaluators.problem import ProblemSpec
from evolve.archive.store import ProgramView
from evolve.config import PromptConfig

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


_VALUES_LINE = re.compile(r"^[ \t]*values: .*(?:\n|$)", re.MULTILINE)


def brief(spec: ProblemSpec, opts: PromptConfig) -> str:
    """The problem brief as prompts show it (with or without its edge-case section)."""
    return spec.prompt_brief(opts.edge_cases)


def shown_error(text: str, opts: PromptConfig) -> str:
    """A candidate's error as the LLM sees it: the values that triggered it only when asked."""
    return text if opts.failing_values else _VALUES_LINE.sub("", text)


def error_summary(text: str, opts: PromptConfig) -> str:
    """The first line of an error (the exception and where, at most 250 characters), plus its
    ``values:`` line (at most 300): a long first line cannot push the values out."""
    lines = shown_error(text, opts).strip().splitlines()
    values = [ln.strip()[:300] for ln in lines[1:] if ln.lstrip().startswith("values: ")][:1]
    return " ".join([*(ln[:250] for ln in lines[:1]), *values])


def functions(code: str) -> list[str]:
    """Names of the top-level functions of ``code``, in order ([] if it does not parse)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def defines(code: str, name: str) -> bool:
    """Whether ``code`` has a top-level function ``name`` (False if it does not parse)."""
    return name in functions(code)


def focus_for(spec: ProblemSpec, code: str, rng: random.Random | None = None) -> str:
    """The function a function-rewrite prompt asks for: the problem's ``focus`` where the program
    has it (the seed's dispatching rule); in a program without it (a baseline, written as several
    functions) one of the evolved block's functions drawn with ``rng``, so a reply restates one
    function instead of the whole program (which a small model's reply cannot fit); the entry
    without ``rng``."""
    if spec.focus and defines(code, spec.focus):
        return spec.focus
    names = functions(evolved_part(code))
    return rng.choice(names) if rng is not None and names else spec.entry


CROSSOVER = ("Combine the two programs: keep what each of them does well (the current program's "
             "structure is the base; take the second parent's better ideas).")


def build_messages(spec: ProblemSpec, parent: ProgramView, inspirations: list[ProgramView],
                   edit_kind: str, failures: list[str] = (),
                   opts: PromptConfig = PromptConfig(),
                   mate: ProgramView | None = None, advice: str = "",
                   direction: str = "") -> list[dict[str, str]]:
    """Chat messages for one proposal; ``failures`` are recent dead ends from this parent. With a
    ``mate`` (crossover) the second parent replaces the inspirations and the task asks to combine.
    ``advice`` summarises recent iterations of the run (evolve/search/advice.py); ``direction``
    (prompt variants) ends the task."""
    shown = [("mate", mate)] if mate is not None else [("inspiration", p) for p in inspirations]
    insp = "".join("\n" + template(name).substitute(score=format_score(p.combined_score),
                                                    code=p.code.rstrip())
                   for name, p in shown)
    task = template("diff" if edit_kind == "diff" else "rewrite").template.strip()
    user = template("user").substitute(
        brief=brief(spec, opts),
        signature=spec.signature,
        parent_score=format_score(parent.combined_score),
        parent_code=parent.code.rstrip(),
        parent_metrics=format_metrics(parent.metrics),
        parent_feedback=shown_error(parent.feedback or parent.error or "(none)", opts).strip(),
        inspirations=insp,
        advice=f"\n# What recent iterations of this run found\n{advice}\n" if advice else "",
        failures=("\n# Recent attempts from this program that failed (avoid repeating them)\n"
                  + "".join(f"- {error_summary(f, opts)}\n" for f in failures)) if failures else "",
        edit_format=(f"{CROSSOVER}\n{task}" if mate is not None else task)
        + (f"\nDirection for this change: {direction}" if direction else ""),
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
                           failures: list[str] = (), direction: str = "",
                           opts: PromptConfig = PromptConfig(),
                           focus: str | None = None,
                           mate: ProgramView | None = None,
                           advice: str = "") -> list[dict[str, str]]:
    """A short prompt for small models on CPU: only the evolved block, the score, the first
    lines of feedback, at most one better program and one recent failure, and one direction to
    try (sampled by the caller from ``directions()``: small models answer a bare "improve it"
    with the same program); asks for a rewrite of one function, ``focus`` (default
    ``focus_for(spec, parent.code)``). What changes between asks of one parent (the last failure,
    the direction) comes last, so a server that keeps the previous prompt reuses the rest. With a
    ``mate`` (crossover) the second parent is shown instead and the direction asks to combine."""
    better = [p for p in inspirations if p.combined_score is not None
              and (parent.combined_score is None or p.combined_score > parent.combined_score)]
    insp = template("compact_inspiration").substitute(
        score=format_score(better[0].combined_score), code=evolved_part(better[0].code)) if better else ""
    if mate is not None:
        insp = template("compact_mate").substitute(score=format_score(mate.combined_score),
                                                   code=evolved_part(mate.code))
        direction = CROSSOVER
    feedback = " ".join(shown_error(parent.feedback or parent.error or "none", opts)
                        .strip().splitlines()[:4])
    user = template("compact_user").substitute(
        brief=brief(spec, opts), parent_score=format_score(parent.combined_score),
        parent_block=evolved_part(parent.code), parent_feedback=feedback[:600],
        failures=f"Last attempt failed: {error_summary(failures[0], opts)}\n" if failures else "",
        inspiration=insp, advice=f"{advice}\n" if advice else "",
        focus=focus or focus_for(spec, parent.code), direction=direction,
        goal="lowers" if spec.objective.direction == "minimize" else "raises")
    return [{"role": "system", "content": template("compact_system").template.strip()},
            {"role": "user", "content": user}]


_FAILED_IN = re.compile(r"\(line \d+ in (?P<name>[A-Za-z_][A-Za-z0-9_]*):")


def repair_target(entry: str, code: str, error: str) -> str:
    """The function a repair asks for: the one the error names (the candidate's innermost frame)
    if the program defines it, else the entry (invalid output is the entry's answer)."""
    found = _FAILED_IN.search(error)
    if found and defines(code, found.group("name")):
        return found.group("name")
    return entry


def build_repair_messages(spec: ProblemSpec, failed: ProgramView, compact: bool,
                          opts: PromptConfig = PromptConfig()) -> tuple[list[dict[str, str]], str]:
    """A short prompt that asks to fix one failing function of ``failed``: its code, the error
    (exception, line, values), nothing else. Starts like every proposal prompt of the same style
    (system message, then the brief), so a server that reuses prompt prefixes reuses that part.
    Returns the messages and the name of the function asked for."""
    error = shown_error(failed.error or failed.feedback or "unknown error", opts).strip()
    target = repair_target(spec.entry, failed.code, error)
    lines = error.splitlines()
    shown = "\n".join(lines[:2] + [ln for ln in lines[2:6] if ln.strip()])[:900]
    user = template("repair_user").substitute(
        brief=brief(spec, opts), block=evolved_part(failed.code), error=shown, focus=target)
    if not compact:
        user = "# Problem\n" + user
    system = template("compact_system" if compact else "system").template.strip()
    return [{"role": "system", "content": system}, {"role": "user", "content": user}], target
