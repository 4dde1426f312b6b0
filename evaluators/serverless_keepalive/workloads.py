"""Synthetic Azure-Functions-like workloads: per-minute invocation counts of many functions.

No trace is read: the Azure Functions 2019 trace is not available offline here, so each workload is
generated from the statistics that Shahrad et al. (USENIX ATC'20, "Serverless in the Wild") report
for it, at the trace's own resolution (invocation counts per function per minute):

- Trigger mix of functions (the paper's Fig. 3, rounded): HTTP 55%, timer 15.6%, queue 15.2%,
  orchestration 6.9%, storage 2.8%, event 2.2%, other 2.2%.
- Invocation rates span orders of magnitude: log10(daily invocations) ~ Normal(1.6, 1.77), the
  normal fitted to the paper's two quantiles (45% of applications invoked at most once per hour,
  81% at most once per minute, on average), clipped to [0.3, 10^6] per day.
- Memory per function: lognormal with median 170 MB and 90th percentile 400 MB (the paper: half
  of the applications allocate at most 170 MB, 90% never more than 400 MB), clipped to
  [64, 1536] MB and rounded to whole MB.
- Timers fire on a fixed period (1 min to 1 day) at a random phase; 5% of firings slip by one
  minute. HTTP functions follow a diurnal rate (amplitude 0-0.9, peak 9:00-20:00), half of them
  in sessions (bursts of consecutive busy minutes). Queue, event and storage functions arrive in
  batches that keep them busy 1-6 minutes; orchestrations run chains of activities separated by
  1-3 idle minutes; "other" is Poisson.

A workload is ``functions`` such functions over ``days`` days from midnight; a function with no
invocation in the horizon is replaced by a new draw (a trace lists only invoked functions).
Instance i of a source is seeded from ``entropy(draw, [seed, i])`` (evaluators/draws.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evaluators.draws import entropy

MINUTES_PER_DAY = 1440
TRIGGERS = ("http", "timer", "queue", "orchestration", "storage", "event", "other")
TRIGGER_SHARE = (0.550, 0.156, 0.152, 0.069, 0.028, 0.022, 0.022)
LOG10_DAILY_MEAN, LOG10_DAILY_SD = 1.6, 1.77
DAILY_MIN, DAILY_MAX = 0.3, 1e6
MEMORY_MEDIAN_MB, MEMORY_P90_MB = 170.0, 400.0
MEMORY_MIN_MB, MEMORY_MAX_MB = 64, 1536
TIMER_PERIODS = (1, 2, 5, 10, 15, 20, 30, 60, 120, 180, 240, 360, 720, 1440)  # minutes
TIMER_WEIGHTS = (2, 1, 6, 6, 5, 2, 6, 8, 3, 2, 2, 2, 2, 3)


@dataclass(frozen=True)
class Function:
    """One function's invocations: busy stretches of consecutive minutes with invocations."""

    trigger: str
    memory_mb: int
    daily_rate: float                            # the generator's mean invocations per day
    stretches: tuple[tuple[int, int, int], ...]  # (first minute, last minute, invocations)

    @property
    def invocations(self) -> int:
        return sum(s[2] for s in self.stretches)


@dataclass(frozen=True)
class Workload:
    name: str
    minutes: int                       # the horizon: minutes 0 .. minutes - 1
    functions: tuple[Function, ...]


@dataclass(frozen=True)
class Recipe:
    seed: int
    count: int        # workloads
    functions: int    # functions per workload
    days: float


RECIPES = {
    "gate": Recipe(seed=5000, count=2, functions=6, days=0.5),
    "train": Recipe(seed=6000, count=4, functions=40, days=2.0),
    "test": Recipe(seed=7000, count=4, functions=40, days=2.0),
}


def stretches(counts: np.ndarray) -> tuple[tuple[int, int, int], ...]:
    """Maximal runs of consecutive minutes with at least one invocation, with their counts."""
    active = np.flatnonzero(counts > 0)
    if active.size == 0:
        return ()
    breaks = np.flatnonzero(np.diff(active) > 1)
    starts = np.concatenate(([active[0]], active[breaks + 1]))
    ends = np.concatenate((active[breaks], [active[-1]]))
    totals = np.add.reduceat(counts[active], np.concatenate(([0], breaks + 1)))
    return tuple((int(a), int(b), int(c)) for a, b, c in zip(starts, ends, totals))


def diurnal(minutes: int, rng: np.random.Generator) -> np.ndarray:
    """A rate multiplier with mean 1 over whole days: 1 + a cos(2 pi (hour - peak) / 24)."""
    amplitude, peak = rng.uniform(0.0, 0.9), rng.uniform(9.0, 20.0)
    hours = (np.arange(minutes) % MINUTES_PER_DAY) / 60.0
    return 1.0 + amplitude * np.cos(2 * np.pi * (hours - peak) / 24.0)


def timer_counts(minutes: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    period = int(rng.choice(TIMER_PERIODS, p=np.array(TIMER_WEIGHTS) / sum(TIMER_WEIGHTS)))
    fires = np.arange(int(rng.integers(0, period)), minutes, period)
    slip = rng.random(fires.size) < 0.05
    fires = np.minimum(fires + slip, minutes - 1)
    counts = np.zeros(minutes, dtype=np.int64)
    np.add.at(counts, fires, 1)
    return counts, MINUTES_PER_DAY / period


def clustered(minutes: int, rate: float, mean_len: float, fill: float, gap: tuple[int, int] | None,
              rng: np.random.Generator) -> np.ndarray:
    """Bursts at a Poisson rate (per minute): each keeps the function busy ~mean_len minutes,
    ``fill`` invocations per busy minute on average; ``gap`` (orchestrations) splits a burst into
    activities separated by that many idle minutes."""
    counts = np.zeros(minutes, dtype=np.int64)
    starts = np.flatnonzero(rng.random(minutes) < min(1.0, rate))
    for start in starts:
        t, left = int(start), int(rng.geometric(1.0 / mean_len))
        while left > 0 and t < minutes:
            counts[t] += 1 + int(rng.poisson(max(fill - 1.0, 0.0)))
            left -= 1
            t += 1 + (int(rng.integers(gap[0], gap[1] + 1)) if gap and rng.random() < 0.5 else 0)
    return counts


def draw_function(minutes: int, rng: np.random.Generator) -> Function:
    trigger = str(rng.choice(TRIGGERS, p=np.array(TRIGGER_SHARE) / sum(TRIGGER_SHARE)))
    sigma = np.log(MEMORY_P90_MB / MEMORY_MEDIAN_MB) / 1.2816
    memory = int(np.clip(round(MEMORY_MEDIAN_MB * np.exp(sigma * rng.standard_normal())),
                         MEMORY_MIN_MB, MEMORY_MAX_MB))
    daily = float(np.clip(10 ** rng.normal(LOG10_DAILY_MEAN, LOG10_DAILY_SD), DAILY_MIN, DAILY_MAX))
    per_minute = daily / MINUTES_PER_DAY
    if trigger == "timer":
        counts, daily = timer_counts(minutes, rng)
    elif trigger == "http" and rng.random() < 0.5:
        session = float(rng.uniform(2.0, 8.0))  # busy minutes per session, 2 invocations each
        counts = clustered(minutes, per_minute / (2 * session), session, 2.0, None, rng)
    elif trigger == "http" or trigger == "other":
        lam = per_minute * (diurnal(minutes, rng) if trigger == "http" else np.ones(minutes))
        counts = rng.poisson(lam).astype(np.int64)
    elif trigger == "orchestration":
        counts = clustered(minutes, per_minute / 8.0, 4.0, 2.0, (1, 3), rng)
    else:  # queue, storage, event: batches
        batch = float(rng.uniform(1.0, 6.0))
        counts = clustered(minutes, per_minute / (3 * batch), batch, 3.0, None, rng)
    return Function(trigger=trigger, memory_mb=memory, daily_rate=round(daily, 4),
                    stretches=stretches(counts))


def workload(name: str, recipe: Recipe, index: int, draw: int | None) -> Workload:
    rng = np.random.default_rng(entropy(draw, [recipe.seed, index]))
    minutes = round(recipe.days * MINUTES_PER_DAY)
    functions: list[Function] = []
    while len(functions) < recipe.functions:
        f = draw_function(minutes, rng)
        if f.stretches:
            functions.append(f)
    return Workload(name=f"{name}/w{index}", minutes=minutes, functions=tuple(functions))


def build_source(name: str, draw: int | None = None) -> tuple[Workload, ...]:
    """Every workload of a named source (``draw`` None: the fixed public draw)."""
    if name not in RECIPES:
        raise ValueError(f"unknown serverless_keepalive source {name!r} (known: {', '.join(RECIPES)})")
    recipe = RECIPES[name]
    return tuple(workload(name, recipe, i, draw) for i in range(recipe.count))
