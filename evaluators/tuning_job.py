"""Score many settings of one parameterised program in one warm sandbox session.

``score_settings`` is what constant tuning pays per setting: one ``_evolve_set_params`` call and
the set's instances, with no new process, no reload and no gate (the program being tuned passed
its gate already). The verifier validates every reply and computes every metric in this process,
exactly as ``Verifier.evaluate`` does; the candidate only ever sees instance inputs and the
parameter values. A setting that fails (exception, invalid output, timeout, crash) or takes
longer than one evaluation may (the verifier's wall limit) scores None;
after a failure that ended the candidate's process the remaining settings get one fresh session.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from evaluators.base import FailedOn, InvalidOutput, Verifier, finite
from sandbox.session import CandidateError, Limits, SandboxSession

# the function a parameterised program defines to take a setting (evolve/tuning/literals.py writes it)
SETTER = "_evolve_set_params"
MAX_SESSION_SECONDS = 3600.0  # a batch's session never gets more wall or CPU time than this
RESTARTS = 1  # fresh sessions after one died, per batch


def batch_limits(verifier: Verifier, settings: int) -> Limits:
    """The verifier's limits with the session's wall and CPU budgets scaled by the number of
    settings (one full evaluation each) and capped at an hour; per-call limits are unchanged."""
    base = verifier.limits()
    scale = max(1, settings)
    wall = min(base.wall_seconds * scale, max(base.wall_seconds, MAX_SESSION_SECONDS))
    cpu = min(base.cpu_seconds * scale, max(base.cpu_seconds, int(MAX_SESSION_SECONDS)))
    return replace(base, wall_seconds=wall, cpu_seconds=int(cpu))


def score_settings(verifier: Verifier, code: str, settings: Sequence[Sequence[float]],
                   set_name: str = "train") -> list[float | None]:
    """The combined score (higher is better) of each setting of ``code`` (``parameterise``'s
    output) on ``set_name``, or None where that setting failed."""
    instances = verifier.instances(set_name)
    budget = verifier.limits().wall_seconds  # one setting: what one evaluation may take
    scores: list[float | None] = [None] * len(settings)
    next_index, sessions = 0, 0
    while next_index < len(settings) and sessions <= RESTARTS:
        sessions += 1
        first = next_index
        try:
            with SandboxSession(code, batch_limits(verifier, len(settings) - first)) as box:
                while next_index < len(settings):
                    index, next_index = next_index, next_index + 1
                    started = time.monotonic()
                    scores[index], alive = _score_one(verifier, box, instances, settings[index])
                    if time.monotonic() - started > budget:  # slower than an evaluation may be
                        scores[index] = None
                    if not alive:
                        break
        except CandidateError:
            # it did not load, or it forged a frame (seen as the session ended): nothing of this
            # session counts, and a fresh one would fare no better
            scores[first:] = [None] * (len(settings) - first)
            break
    return scores


def _score_one(verifier: Verifier, box: SandboxSession, instances: list[Any],
               setting: Sequence[float]) -> tuple[float | None, bool]:
    """(combined score or None, whether the candidate's process is still usable)."""
    try:
        box.call(SETTER, [float(v) for v in setting])
        results, cpus = verifier._solve_all(box, instances)
    except FailedOn as failed:
        return None, isinstance(failed.cause, InvalidOutput) or failed.cause.kind == "exception"
    except CandidateError as exc:
        return None, exc.kind == "exception"
    metrics, _ = verifier.score(instances, results)
    metrics = finite({**metrics, "cpu_seconds": sum(cpus)})
    return verifier.combined_score(metrics), True
