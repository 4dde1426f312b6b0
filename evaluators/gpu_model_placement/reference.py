"""The exact reference of small gpu_model_placement instances: the optimal maximum pressure, found
with OR-Tools CP-SAT by bisection on the target pressure K.

For a fixed K, max pressure <= K holds exactly when every GPU g satisfies
sum_i x[i,g] (rate_i / slo_i + K size_i) <= K capacity, a knapsack constraint linear in x. Each
step solves that feasibility problem with the coefficients scaled to integers and rounded in the
permissive direction (coefficients down, capacity up), so an infeasible K is a proof that the
optimum exceeds K; a feasible one gives a placement whose exact maximum pressure (never the
rounded one) becomes the new upper end. Memory is exact: sizes are multiples of 0.5 GB, so
sum(size) < capacity is sum(2 size) <= 2 capacity - 1 in integers. The bisection starts from the
fluid lower bound and the better of first fit decreasing and the greedy by pressure, and stops
when the ends are within ``TOLERANCE`` (relative): ``value`` is the upper end, attained by
``placement`` and within that tolerance of the optimum.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from evaluators.gpu_model_placement.model import Model, lower_bound, max_pressure

TOLERANCE = 1e-6
SCALE = 10 ** 6


@dataclass(frozen=True)
class Optimum:
    value: float  # the maximum pressure of ``placement``: within TOLERANCE of the optimum
    proven_below: float  # no placement has a maximum pressure at or below this
    placement: tuple[int, ...]
    steps: int


def greedy_by_pressure(gpus: int, capacity: float, models: Sequence[Model]) -> list[int] | None:
    """Models by rate / slo descending (ties: index), each to the GPU with room whose pressure
    after adding it is lowest (ties: lowest index); None if a model fits nowhere."""
    used, demand = [0.0] * gpus, [0.0] * gpus
    out = [0] * len(models)
    for i in sorted(range(len(models)), key=lambda i: (-models[i].demand, i)):
        m = models[i]
        best, best_p = None, math.inf
        for g in range(gpus):
            if used[g] + m.size < capacity:
                p = (demand[g] + m.demand) / (capacity - used[g] - m.size)
                if p < best_p:
                    best, best_p = g, p
        if best is None:
            return None
        out[i] = best
        used[best] += m.size
        demand[best] += m.demand
    return out


def _feasible(gpus: int, capacity: float, models: Sequence[Model], k: float,
              hint: Sequence[int]) -> list[int] | None:
    """A placement with max pressure <= k under permissive rounding, or None if there is none."""
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    n = len(models)
    x = {(i, g): model.new_bool_var(f"x{i}_{g}") for i in range(n) for g in range(min(i + 1, gpus))}
    for i in range(n):  # model i on one of GPUs 0..i (GPUs are identical: a symmetry break)
        model.add_exactly_one(x[i, g] for g in range(min(i + 1, gpus)))
    cap_mem = round(2 * capacity) - 1
    coef = [math.floor(SCALE * (m.demand + k * m.size)) for m in models]
    cap = math.ceil(SCALE * k * capacity)
    for g in range(gpus):
        on = [(i, x[i, g]) for i in range(n) if (i, g) in x]
        model.add(sum(round(2 * models[i].size) * v for i, v in on) <= cap_mem)
        model.add(sum(coef[i] * v for i, v in on) <= cap)
    relabel: dict[int, int] = {}  # the hint with GPUs renumbered in order of first use
    for g in hint:
        relabel.setdefault(g, len(relabel))
    for i, g in enumerate(hint):
        for h in range(min(i + 1, gpus)):
            model.add_hint(x[i, h], relabel[g] == h)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    solver.parameters.max_time_in_seconds = 60.0
    status = solver.solve(model)
    if status == cp_model.INFEASIBLE:
        return None
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise RuntimeError(f"CP-SAT could not decide max pressure <= {k}: {solver.status_name(status)}")
    return [next(g for g in range(gpus) if (i, g) in x and solver.value(x[i, g])) for i in range(n)]


def optimum(gpus: int, capacity: float, models: Sequence[Model]) -> Optimum:
    from evaluators.gpu_model_placement.instances import MARGIN, first_fit_decreasing

    starts = [p for p in (first_fit_decreasing([m.size for m in models], gpus, capacity - MARGIN),
                          greedy_by_pressure(gpus, capacity, models)) if p is not None]
    best = min(starts, key=lambda p: max_pressure(gpus, capacity, models, p))
    hi = max_pressure(gpus, capacity, models, best)
    lo = lower_bound(gpus, capacity, models) * (1 - TOLERANCE)
    steps = 0
    while hi > lo * (1 + TOLERANCE):
        mid = (lo + hi) / 2
        found = _feasible(gpus, capacity, models, mid, best)
        steps += 1
        if found is None:
            lo = mid
        else:
            value = max_pressure(gpus, capacity, models, found)
            if value >= hi:  # rounding let a placement no better than the best through: stop
                lo = max(lo, hi / (1 + TOLERANCE))
                break
            best, hi = found, value
    return Optimum(hi, lo, tuple(best), steps)
