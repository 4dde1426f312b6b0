"""Choosing the model of each call by what the run's calls of each model bought (issue 20).

A cost-aware UCB: a model's chance that a proposal improves on its parent, raised by the usual
UCB1 exploration term, divided by what one of its calls costs (dollars where every model used
has a price; seconds of latency where any is free, as an embedded model is). A model with fewer
than ``MIN_CALLS`` decided calls is tried first. The counts come from the archive on every pick,
so the bandit's state is the run's own record and survives a resume.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from evolve.config import ModelEntry

MIN_CALLS = 2  # decided proposals of a model before its record is trusted


@dataclass(frozen=True)
class ModelRecord:
    """What one model's proposals gave in a run so far (only those whose child was decided)."""

    name: str
    calls: int  # proposals decided (a child scored or failed, or no child)
    improvements: int  # children that scored above their parent
    seconds: float  # LLM latency of all its attempts
    dollars: float


def per_call_cost(rec: ModelRecord, in_dollars: bool) -> float:
    total = rec.dollars if in_dollars else rec.seconds
    return max(total / max(rec.calls, 1), 1e-9)


def ucb_scores(records: list[ModelRecord]) -> dict[str, float]:
    """Each model's optimistic improvements per unit of cost."""
    total = sum(r.calls for r in records)
    in_dollars = all(r.dollars > 0 for r in records if r.calls)
    scores = {}
    for r in records:
        p = r.improvements / r.calls + math.sqrt(2 * math.log(max(total, 2)) / r.calls)
        scores[r.name] = min(p, 1.0) / per_call_cost(r, in_dollars)
    return scores


def bandit_pick(models: list[ModelEntry], records: dict[str, ModelRecord],
                rng: random.Random) -> ModelEntry:
    """The model to ask next: one not tried enough yet (at random), else the best UCB score (ties
    at random)."""
    empty = ModelRecord("", 0, 0, 0.0, 0.0)
    untried = [m for m in models if records.get(m.name, empty).calls < MIN_CALLS]
    if untried:
        return rng.choice(untried)
    scores = ucb_scores([records[m.name] for m in models])
    top = max(scores.values())
    return rng.choice([m for m in models if scores[m.name] == top])
