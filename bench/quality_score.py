"""Trusted scores for the bench: winners and human baselines on train and the held-out test set.

Every number the tables compare comes from here: our verifiers through our sandbox
(``evolve.report.evaluate_many`` on an ``evolve.executors.local.LocalExecutor``), never a score a
system reported about itself.
"""

from __future__ import annotations

import asyncio

from quality_types import BaselineScore, Score

SETS = ("train", "test")
WORKERS = 2


def to_score(problem: str, outcome) -> Score:
    """A ``Score`` from an outcome (an ``EvalOutcome`` or the dict ``run_job`` returns)."""
    from evaluators.base import EvalOutcome
    from evaluators.problem import load_problem

    outcome = EvalOutcome.of(outcome)
    metric = load_problem(problem).objective.metric
    if not outcome.ok:
        return Score(ok=False, combined_score=None, metric=None, error=str(outcome.error)[:500])
    return Score(ok=True, combined_score=outcome.combined_score, metric=outcome.metrics.get(metric))


def score_codes(problem: str, codes: dict[str, str]) -> dict[str, dict[str, Score]]:
    """{name: {set: Score}} for each program on train and test."""
    from evaluators.problem import load_problem
    from evolve.executors.local import LocalExecutor
    from evolve.report import evaluate_many

    spec = load_problem(problem)
    with LocalExecutor(WORKERS, spec.limits.wall_seconds, spec.name) as executor:
        results = asyncio.run(evaluate_many(executor, spec, codes, list(SETS)))
    return {name: {s: to_score(problem, results[(name, s)]) for s in SETS} for name in codes}


def score_baselines(problem: str) -> list[BaselineScore]:
    from evaluators.problem import load_problem

    codes = load_problem(problem).baselines()
    scored = score_codes(problem, codes)
    return [BaselineScore(name, scored[name]["train"], scored[name]["test"]) for name in codes]


def best_by(baselines: list[BaselineScore], set_name: str) -> BaselineScore | None:
    ok = [b for b in baselines if getattr(b, set_name).ok]
    return max(ok, key=lambda b: getattr(b, set_name).combined_score or float("-inf"), default=None)
