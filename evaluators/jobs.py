"""The evaluation job every executor runs: ``run_job(EvalJob dict) -> EvalOutcome dict``.

Plain dicts in and out, so the same function serves a local process pool and a Celery task.
Verifiers are built once per worker process and reused.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import replace
from functools import lru_cache

from evaluators.base import EvalOutcome, Verifier
from evaluators.problem import load_problem
from evaluators.storable import clean_outcome


def verifier_class(problem: str) -> type[Verifier]:
    module_name, _, cls_name = load_problem(problem).verifier.partition(":")
    return getattr(importlib.import_module(module_name), cls_name)


def evaluator_version(problem: str) -> str:
    """The version string scores of ``problem`` are stored under (no instances are loaded)."""
    return verifier_class(problem).version


def verifier_for(problem: str, draw: int | None = None) -> Verifier:
    """The verifier of ``problem`` whose drawn sets come from ``draw`` (None: the public draw).
    A problem without drawn sets has one verifier for every draw."""
    spec = load_problem(problem)
    return _verifier(problem, draw if any(s.drawn for s in spec.sets.values()) else None)


@lru_cache(maxsize=16)
def _verifier(problem: str, draw: int | None) -> Verifier:
    cls, spec = verifier_class(problem), load_problem(problem)
    return cls(spec) if draw is None else cls(spec, draw)


def run_job(job: dict) -> dict:
    """Evaluate ``job["code"]`` for ``job["problem"]`` on ``job["set"]`` (drawn sets from
    ``job["draw"]``, absent or None: the public draw); never raises.

    ``job["behaviour_of"]``, if set, is ``[program id, gate fingerprint]`` of the program the code
    was derived from: a candidate with the same replies on the gate comes back with
    ``error_kind`` "same" and ``same_as`` that id, without a full evaluation."""
    if job.get("settings"):
        return run_settings(job)
    started = time.monotonic()
    version = "unknown"
    behaviour_of = job.get("behaviour_of")
    try:
        verifier = verifier_for(job["problem"], job.get("draw"))
        version = verifier.version
        outcome = verifier.evaluate(job["code"], job.get("set", "train"),
                                    same_as=behaviour_of[1] if behaviour_of else None)
    except Exception as exc:
        outcome = EvalOutcome(ok=False, error=f"verifier error: {type(exc).__name__}: {exc}",
                              error_kind="verifier", seconds=time.monotonic() - started)
    # the error text is the candidate's doing: clean before anything prints or stores it
    same = int(behaviour_of[0]) if outcome.error_kind == "same" and behaviour_of else None
    return replace(clean_outcome(outcome), evaluator_version=version, same_as=same).to_dict()


def run_settings(job: dict) -> dict:
    """Constant tuning: the train score of each of ``job["settings"]`` for the parameterised
    ``job["code"]``, all in one sandbox session (``scores``: None where a setting failed)."""
    from evaluators.tuning_job import score_settings

    try:
        verifier = verifier_for(job["problem"], job.get("draw"))
        scores = score_settings(verifier, job["code"], [list(x) for x in job["settings"]],
                                job.get("set", "train"))
        return EvalOutcome(ok=True, scores=scores, evaluator_version=verifier.version).to_dict()
    except Exception as exc:
        return EvalOutcome(ok=False, error=f"verifier error: {type(exc).__name__}: {exc}",
                           error_kind="verifier").to_dict()
