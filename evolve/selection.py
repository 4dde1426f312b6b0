"""Choosing a run's winner on data the search never saw, where the problem provides it.

The search ranks programs on the training set, and the best of them can be fit to it: on smtt,
constants tuned on n <= 50 lost at n = 100 (a tuned ATC beat the original on train and lost by
1.6 points held out). A problem may declare ``[sets.validation]``: instances like the held-out
set in kind but not it. At the end of a run the finalists (the leading programs on train, the
untuned parents of tuned ones, and the starting programs) are scored there, and the best of them
is the winner. The outcomes are stored as evaluations, so ``Archive.winner`` (which report,
status, export and dashboard all use) reads the choice back; where no validation set exists or
nothing was scored on it, the winner is the best program on train.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from evaluators.problem import ProblemSpec
from evolve.archive.store import Archive
from evolve.executors.base import EvalJob, Executor

VALIDATION = "validation"
FINALISTS = 8  # distinct leading programs on train; an evaluation each on the validation set


@dataclass(frozen=True)
class Selection:
    """What the final choice did: the finalists scored and the winner."""

    finalists: tuple[int, ...]
    scored: int  # finalists evaluated now (the rest were scored by an earlier end of the run)
    winner: int | None
    version: str = ""  # the evaluator version the validation outcomes are stored under


def finalists(archive: Archive, run_id: int, k: int = FINALISTS) -> list[int]:
    """The leading programs on train (one per training score: equal scores are almost always the
    same behaviour), the parents of tuned ones among them, then the starting programs."""
    leaders: list[int] = []
    seen: set[float] = set()
    for pid, score in archive.top_programs(run_id, 4 * k):
        if score not in seen:
            leaders.append(pid)
            seen.add(score)
        if len(leaders) == k:
            break
    parents = []
    for pid in leaders:
        prog = archive.program(pid)
        if prog.edit_kind == "tune" and prog.parent_id is not None:
            parents.append(prog.parent_id)
    starts = [s.id for s in archive.starts(run_id) if s.status == "ok" and s.combined_score is not None]
    chosen = [pid for pid in leaders + parents + starts if archive.program(pid).status == "ok"]
    return list(dict.fromkeys(chosen))


async def choose_winner(archive: Archive, spec: ProblemSpec, executor: Executor, run_id: int,
                        k: int = FINALISTS) -> Selection:
    """Score the finalists not yet scored on the validation set (in parallel through
    ``executor``), store the outcomes, and return the winner they give."""
    if VALIDATION not in spec.sets:
        return Selection((), 0, archive.winner(run_id))
    from evaluators.jobs import evaluator_version

    version = evaluator_version(spec.name)
    chosen = finalists(archive, run_id, k)
    todo = [pid for pid in chosen if archive.evaluation_outcome(pid, VALIDATION, version) is None]
    outs = await asyncio.gather(*(executor.evaluate(EvalJob(spec.name, archive.program(pid).code,
                                                            VALIDATION)) for pid in todo))
    for pid, out in zip(todo, outs):
        archive.record_evaluation(pid, set_name=VALIDATION,
                                  evaluator_version=out.evaluator_version, outcome=out)
    return Selection(tuple(chosen), len(todo), archive.winner(run_id), version)
