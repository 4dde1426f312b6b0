"""Checkpoint-interval jobs: the work, the failure process, the checkpoint cost over the run.

Every instance is generated here (no data files): the recipe of each set is public, its random
parts come from ``numpy.random.default_rng(entropy(draw, [seed, i]))`` for instance i, so a run's
draw gives every job failure times and bandwidth patterns no candidate can rebuild.

The model (hours throughout):

- The job needs ``work`` hours of failure-free compute (30 MTBF, at most 480 h).
- Failures: a renewal process on the machines. After each failure the job is down for
  ``downtime`` hours (detection, replacement, rescheduling), then the machines run for an uptime
  X ~ Weibull(shape k, scale MTBF / Gamma(1 + 1/k)) (k = 1: exponential) until the next failure.
  Failure i therefore happens at f_i = f_{i-1} + downtime + X_i (f_0 = -downtime): fixed for the
  instance, whatever the policy does. They are the verifier's and never sent.
- Checkpoint cost: writing the state takes ``cost0 * size(p) / bandwidth(t)`` hours when it
  starts at wall time t with progress p: size(p) = 1 + growth * p / work (state that grows during
  training). The storage bandwidth is 1 (nominal) or, inside a contention episode of the shared
  file system, ``busy_factor``: episodes alternate with calm periods, both of exponential length
  (``PATTERNS``). A write's cost is fixed when it starts. Reading a checkpoint back after a
  failure costs the same formula with the saved progress (nothing saved: nothing to read).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from functools import lru_cache
from itertools import product

import numpy as np

from evaluators.draws import entropy

HORIZON_FACTOR = 10.0    # a job still unfinished after 10x its work stops (scored as unfinished)
MAX_WORK = 480.0         # hours
WORK_PER_MTBF = 30.0


@dataclass(frozen=True)
class Pattern:
    """How the checkpoint cost varies over a job: state growth and storage contention."""

    growth: float = 0.0        # the state is (1 + growth) x larger at the end of the work
    calm: float = 0.0          # mean hours between contention episodes (0: no contention)
    busy: float = 0.0          # mean hours of a contention episode
    busy_factor: float = 1.0   # bandwidth during an episode (relative to nominal)


PATTERNS = {
    "const": Pattern(),
    "contended": Pattern(growth=1.0, calm=6.0, busy=1.5, busy_factor=0.25),
    "bursty": Pattern(growth=0.5, calm=2.0, busy=0.5, busy_factor=0.2),   # held out (test only)
}


@dataclass(frozen=True)
class Instance:
    name: str
    failure: str                  # "exp" or "weibull" (the group in reports)
    shape: float                  # Weibull shape k (1.0: exponential)
    mtbf: float                   # mean uptime between failures, hours (sent: operators know it)
    work: float                   # failure-free compute hours
    downtime: float               # hours from a failure until recovery can start
    cost0: float                  # checkpoint write hours at the initial size, nominal bandwidth
    pattern: str                  # a key of PATTERNS
    growth: float
    busy_factor: float
    episodes: tuple[tuple[float, float], ...]   # contention episodes [start, end), hours
    failures: tuple[float, ...]   # failure times, hours from the start: never sent
    daly: float | None = None     # Daly's overhead on this job (a reference, never sent)

    @property
    def horizon(self) -> float:
        return HORIZON_FACTOR * self.work

    @property
    def cost_group(self) -> str:
        return "const" if self.pattern == "const" else "varying"

    def _episode(self, t: float) -> int:
        """Index of the last episode starting at or before t (-1: none)."""
        return bisect.bisect_right(self.episodes, (t, math.inf)) - 1

    def bandwidth(self, t: float) -> float:
        """Storage bandwidth at wall time t, relative to nominal."""
        k = self._episode(t)
        return self.busy_factor if k >= 0 and t < self.episodes[k][1] else 1.0

    def next_change(self, t: float) -> float:
        """The first time after t at which the bandwidth changes (inf: never)."""
        k = self._episode(t)
        if k >= 0 and t < self.episodes[k][1]:
            return self.episodes[k][1]
        return self.episodes[k + 1][0] if k + 1 < len(self.episodes) else math.inf

    def io_cost(self, t: float, progress: float) -> float:
        """Hours to write (or read back) the state of ``progress`` starting at wall time t."""
        return self.cost0 * (1.0 + self.growth * progress / self.work) / self.bandwidth(t)


@dataclass(frozen=True)
class Family:
    failure: str
    shape: float
    mtbf: float
    cost0: float
    pattern: str


@dataclass(frozen=True)
class Recipe:
    seed: int
    families: tuple[Family, ...]
    repeats: int = 1
    work: float | None = None     # fixed work (the gate); None: 30 MTBF, at most 480 h


def grid(failures: tuple[tuple[str, float], ...], mtbfs: tuple[float, ...],
         costs: tuple[float, ...], patterns: tuple[str, ...]) -> tuple[Family, ...]:
    return tuple(Family(f, k, m, c, p) for (f, k), m, c, p in product(failures, mtbfs, costs, patterns))


EXP, WB7 = ("exp", 1.0), ("weibull", 0.7)
RECIPES = {
    "gate": Recipe(1000, (Family("exp", 1.0, 1.5, 0.05, "const"), Family("weibull", 0.7, 1.5, 0.1, "bursty"),
                          Family("exp", 1.0, 3.0, 0.2, "contended")), work=6.0),
    # 2 failure laws x 3 MTBFs x 2 checkpoint costs x 2 cost patterns, twice: 48 jobs
    "train": Recipe(2000, grid((EXP, WB7), (2.0, 6.0, 24.0), (0.03, 0.15), ("const", "contended")),
                    repeats=2),
    # held out: other MTBFs and costs, Weibull shapes 0.6 and 0.8, the bursty pattern: 36 jobs
    "test": Recipe(3000, grid((EXP, ("weibull", 0.6), ("weibull", 0.8)), (3.0, 12.0), (0.05, 0.25),
                              ("const", "contended", "bursty"))),
}


def _failure_times(rng: np.random.Generator, fam: Family, downtime: float, until: float) -> tuple[float, ...]:
    scale = fam.mtbf / math.gamma(1.0 + 1.0 / fam.shape)
    times: list[float] = []
    f = -downtime
    while f < until:
        if fam.failure == "exp":
            ups = rng.exponential(fam.mtbf, 256)
        else:
            ups = scale * rng.weibull(fam.shape, 256)
        for x in np.maximum(ups, 1e-6):
            f = f + downtime + float(x)
            times.append(f)
    return tuple(times)


def _episodes(rng: np.random.Generator, pattern: Pattern, until: float) -> tuple[tuple[float, float], ...]:
    """Alternating calm and busy periods of exponential lengths, from a calm start."""
    if not pattern.calm:
        return ()
    out, t = [], float(rng.exponential(pattern.calm))
    while t < until:
        end = t + max(float(rng.exponential(pattern.busy)), 1e-3)
        out.append((t, end))
        t = end + max(float(rng.exponential(pattern.calm)), 1e-3)
    return tuple(out)


def make_instance(name: str, fam: Family, work: float | None, rng: np.random.Generator) -> Instance:
    work = work if work is not None else min(WORK_PER_MTBF * fam.mtbf, MAX_WORK)
    downtime = round(float(rng.uniform(0.1, 0.3)), 2)
    until = (HORIZON_FACTOR + 2.0) * work + 200.0   # past anything a simulation can reach
    failures = _failure_times(rng, fam, downtime, until)
    pattern = PATTERNS[fam.pattern]
    return Instance(name=name, failure=fam.failure, shape=fam.shape, mtbf=fam.mtbf, work=work,
                    downtime=downtime, cost0=fam.cost0, pattern=fam.pattern, growth=pattern.growth,
                    busy_factor=pattern.busy_factor, episodes=_episodes(rng, pattern, until),
                    failures=failures)


@lru_cache(maxsize=16)
def build(source: str, draw: int | None = None) -> tuple[Instance, ...]:
    """The jobs of a set: job i from ``entropy(draw, [seed, i])`` (draw None: the public draw)."""
    if source not in RECIPES:
        raise ValueError(f"unknown checkpoint_interval source {source!r} (known: {', '.join(RECIPES)})")
    recipe = RECIPES[source]
    out = []
    for i, fam in enumerate(f for f in recipe.families for _ in range(recipe.repeats)):
        law = "exp" if fam.failure == "exp" else f"weibull{fam.shape:g}"
        name = f"{source}#{i + 1} {law} MTBF {fam.mtbf:g}h C {fam.cost0:g}h {fam.pattern}"
        rng = np.random.default_rng(entropy(draw, [recipe.seed, i]))  # the one place the draw enters
        out.append(make_instance(name, fam, recipe.work, rng))
    return tuple(out)
