"""The evaluation job every executor runs: ``run_job(EvalJob dict) -> EvalOutcome dict``.

Plain dicts in and out, so the same function serves a local process pool and a Celery task.
Verifiers are built once per worker process and reused.
"""

from __future__ import annotations

import importlib
import time
from functools import cache

from evaluators.base import EvalOutcome, Verifier
from evolve.problem import load_problem


def verifier_class(problem: str) -> type[Verifier]:
    module_name, _, cls_name = load_problem(problem).evaluator.partition(":")
    return getattr(importlib.import_module(module_name), cls_name)


def evaluator_version(problem: str) -> str:
    """The version string scores of ``problem`` are stored under (no instances are loaded)."""
    return verifier_class(problem).version


@cache
def verifier_for(problem: str) -> Verifier:
    return verifier_class(problem)(load_problem(problem))


def run_job(job: dict) -> dict:
    """Evaluate ``job["code"]`` for ``job["problem"]`` on ``job["set"]``; never raises."""
    started = time.monotonic()
    version = "unknown"
    try:
        verifier = verifier_for(job["problem"])
        version = verifier.version
        outcome = verifier.evaluate(job["code"], job.get("set", "train"))
    except Exception as exc:
        outcome = EvalOutcome(ok=False, error=f"verifier error: {type(exc).__name__}: {exc}",
                              error_kind="verifier", seconds=time.monotonic() - started)
    return {**outcome.to_dict(), "evaluator_version": version}
