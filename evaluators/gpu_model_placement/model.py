"""The placement model of gpu_model_placement: checking a candidate's placement and its KV-cache
pressure, computed on the trusted side from the instance alone.

A GPU's pressure is sum(rate / slo) / (capacity - sum(size)) over the models placed on it (an
empty GPU: 0); a GPU whose models leave no memory (sum(size) >= capacity) is infeasible. The
objective of one instance is the maximum pressure over its GPUs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evaluators.base import InvalidOutput


@dataclass(frozen=True)
class Model:
    """One model to serve: weights in GB, requests per second, latency SLO in seconds."""

    size: float
    rate: float
    slo: float

    @property
    def demand(self) -> float:
        """rate / slo: the numerator of its GPU's pressure."""
        return self.rate / self.slo


@dataclass(frozen=True)
class Instance:
    """G GPUs of ``capacity`` GB and the models to place; ``lower_bound`` and ``optimum`` are the
    trusted references (never sent): the fluid bound and, on small instances, the CP-SAT optimum."""

    name: str
    gpus: int
    capacity: float
    models: tuple[Model, ...]
    lower_bound: float
    optimum: float | None

    def as_json(self) -> tuple:
        """The arguments of one call: gpu_num, gpu_mem, models as [size, rate, slo] lists."""
        return self.gpus, self.capacity, [[m.size, m.rate, m.slo] for m in self.models]


def lower_bound(gpus: int, capacity: float, models: Sequence[Model]) -> float:
    """No placement has a lower maximum pressure: the larger of the fluid bound
    sum(rate / slo) / (G * capacity - sum(size)) (the maximum of the GPUs' ratios is at least
    the ratio of their sums) and max_i (rate_i / slo_i) / (capacity - size_i) (a model's GPU
    has at least its demand and at most the memory it leaves)."""
    fluid = sum(m.demand for m in models) / (gpus * capacity - sum(m.size for m in models))
    return max(fluid, max(m.demand / (capacity - m.size) for m in models))


def gpu_loads(gpus: int, models: Sequence[Model], placement: Sequence[int]) -> list[tuple[float, float]]:
    """(sum of sizes, sum of rate / slo) per GPU."""
    used, demand = [0.0] * gpus, [0.0] * gpus
    for m, g in zip(models, placement):
        used[g] += m.size
        demand[g] += m.demand
    return list(zip(used, demand))


def pressures(gpus: int, capacity: float, models: Sequence[Model], placement: Sequence[int]) -> list[float]:
    """The pressure of every GPU; ``placement`` must be feasible (``check_placement``)."""
    return [d / (capacity - u) if d > 0 else 0.0 for u, d in gpu_loads(gpus, models, placement)]


def max_pressure(gpus: int, capacity: float, models: Sequence[Model], placement: Sequence[int]) -> float:
    return max(pressures(gpus, capacity, models, placement))


def check_placement(reply: object, inst: Instance) -> list[int]:
    """``reply`` must be a list with one GPU index (a Python int in 0..G-1, not a bool or float)
    per model, in the models' order, leaving memory on every GPU; returns it."""
    n, g = len(inst.models), inst.gpus
    if not isinstance(reply, list):
        raise InvalidOutput(f"place_models() must return a list of {n} GPU indices (one per model), "
                            f"got {type(reply).__name__}")
    if len(reply) != n:
        raise InvalidOutput(f"place_models() returned {len(reply)} entries for {n} models: every "
                            "model must be placed exactly once (entry i = the GPU of model i)")
    for i, gpu in enumerate(reply):
        if type(gpu) is not int:
            raise InvalidOutput(f"entry {i} (model {i}) is {type(gpu).__name__} {gpu!r:.40}; GPU indices "
                                "must be Python ints")
        if not 0 <= gpu < g:
            raise InvalidOutput(f"entry {i} (model {i}) is GPU {gpu}, outside 0..{g - 1}")
    for k, (used, _) in enumerate(gpu_loads(g, inst.models, reply)):
        if used >= inst.capacity:
            on = [i for i, gpu in enumerate(reply) if gpu == k]
            raise InvalidOutput(f"GPU {k} holds models {on[:8]} of {used:g} GB in all, leaving no KV-cache "
                                f"memory of its {inst.capacity:g} GB (sizes must sum to less)")
    return reply
