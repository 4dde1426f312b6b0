"""Spot availability traces and the composition of every instance set (the generator's recipe).

A region's spot availability is a two-state Markov chain sampled once per tick: an available
spot market is lost with probability tick / mean_up, an unavailable one comes back with
probability tick / mean_down, and tick 0 is drawn from the stationary distribution
(availability mean_up / (mean_up + mean_down)). Each instance gets its own trace from its own
seed, so no two instances share availability and nothing learned on one instance transfers to
another. ``make_traces`` writes the sets built here to ``problems/cant_be_late/data/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from evaluators.draws import entropy

TICK_HOURS = 0.2
WORK_HOURS = 48.0
DEADLINES = (52.0, 70.0, 92.0)   # 4 h, 22 h and 44 h of slack (the ADRS / NSDI'24 settings)
OVERHEADS = (0.02, 0.2, 0.4)     # restart overhead in hours (the ADRS settings)


@dataclass(frozen=True)
class Profile:
    """A region's spot market: mean hours spot stays available, mean hours it stays gone."""

    mean_up: float
    mean_down: float

    @property
    def availability(self) -> float:
        return self.mean_up / (self.mean_up + self.mean_down)


PROFILES = {
    "high": Profile(10.0, 3.0),     # 77% available, long runs
    "mid": Profile(6.0, 6.0),       # 50%
    "low": Profile(3.0, 9.0),       # 25%
    "flaky": Profile(0.8, 0.8),     # 50%, preempted every 48 min on average
    # held out: only in the test set
    "steady": Profile(24.0, 6.0),   # 80%, very long runs
    "scarce": Profile(2.0, 14.0),   # 12.5%
    "choppy": Profile(0.6, 0.4),    # 60%, preempted every 36 min on average
}


@dataclass(frozen=True)
class SetRecipe:
    """Which region mixes (one profile per region) x deadlines x overheads a set holds."""

    seed: int
    mixes: tuple[tuple[str, ...], ...]
    work: float = WORK_HOURS
    deadlines: tuple[float, ...] = DEADLINES
    overheads: tuple[float, ...] = OVERHEADS


RECIPES = {
    "gate": SetRecipe(seed=1000, mixes=(("mid",), ("mid", "low")), work=4.0, deadlines=(5.0, 8.0),
                      overheads=(0.2,)),
    "train": SetRecipe(seed=2000, mixes=(("high",), ("mid",), ("low",), ("flaky",),
                                         ("high", "low", "flaky"), ("mid", "low", "low"))),
    "test": SetRecipe(seed=3000, mixes=(("high",), ("low",), ("scarce",), ("choppy",),
                                        ("mid", "steady", "scarce"),
                                        ("low", "flaky", "choppy", "scarce"))),
}


def markov_trace(profile: Profile, ticks: int, rng: np.random.Generator,
                 tick_hours: float = TICK_HOURS) -> str:
    """Availability per tick as a string of '1' (spot available) and '0' (not available)."""
    lose, regain = tick_hours / profile.mean_up, tick_hours / profile.mean_down
    if not (0 < lose <= 1 and 0 < regain <= 1):
        raise ValueError(f"profile {profile} is too fast for {tick_hours} h ticks")
    draws = rng.random(ticks + 1)
    up = bool(draws[0] < profile.availability)
    out = []
    for u in draws[1:]:
        out.append("1" if up else "0")
        up = bool(u >= lose) if up else bool(u < regain)
    return "".join(out)


def build_set(name: str, recipe: SetRecipe, draw: int | None = None) -> list[dict]:
    """The instances of one set as plain records (hours, profiles, seed, one trace per region),
    from the recipe's seeds and ``draw`` (None: the public draw in data/)."""
    rows = []
    combos = product(recipe.mixes, recipe.deadlines, recipe.overheads)
    for index, (mix, deadline, overhead) in enumerate(combos):
        rng = np.random.default_rng(entropy(draw, [recipe.seed, index]))
        ticks = round(deadline / TICK_HOURS)
        group = "single" if len(mix) == 1 else "multi"
        rows.append({
            "name": f"{name}/{group}-{'+'.join(mix)}-D{deadline:g}-o{overhead:g}",
            "group": group, "profiles": list(mix), "seed": [recipe.seed, index],
            "work": recipe.work, "deadline": deadline, "overhead": overhead,
            "spot": [markov_trace(PROFILES[p], ticks, rng) for p in mix]})
    return rows
