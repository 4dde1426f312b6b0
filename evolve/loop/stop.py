"""The stop conditions of a run: which one holds now (first in the order of precedence), and
how long the scheduler may wait for its tasks before the wall-time limit."""

from __future__ import annotations

import time

from evolve.config import StopConfig
from evolve.loop.base import Progress
from evolve.search.steps import SearchSteps
from evolve.stop import Stop


def stop_reason(stop: StopConfig, p: Progress, steps: SearchSteps, started: float,
                interrupted: str | None, fatal: str | None) -> Stop | None:
    """Why the run stops now (``started``: its ``time.monotonic()`` start), or None: go on."""
    if interrupted:
        return Stop("interrupted", interrupted)
    if fatal:
        return Stop("fatal", fatal)
    if stop.wall_seconds is not None and time.monotonic() - started >= stop.wall_seconds:
        return Stop("wall", f"wall-time limit of {stop.wall_seconds:g}s reached")
    if stop.budget_usd is not None and p.cost >= stop.budget_usd:
        return Stop("budget", f"budget of ${stop.budget_usd:g} spent (${p.cost:.4f})")
    if (stop.target_score is not None and p.best_score is not None
            and p.best_score >= stop.target_score):
        return Stop("target", f"target score {stop.target_score:g} reached "
                    f"(best {p.best_score:.6g})")
    if plateau := steps.plateau_reason(p.iterations):
        return Stop("plateau", plateau)
    if p.iterations >= stop.iterations:
        return Stop("iterations", f"reached the iteration limit ({stop.iterations})")
    return None


def wait_timeout(stop: StopConfig, started: float) -> float | None:
    """Seconds left before the wall-time limit (None: no limit): the longest the scheduler waits."""
    if stop.wall_seconds is None:
        return None
    return max(0.0, stop.wall_seconds - (time.monotonic() - started))
