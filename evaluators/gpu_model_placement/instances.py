"""Instances of gpu_model_placement: generated from a seed (and a run's draw), with their
references computed when a source is first loaded and cached per (source, draw).

Source names read ``gpus=G seed=S count=K`` (optionally ``models=M``, default 2G). Instance i of
a source comes from ``numpy.random.default_rng(entropy(draw, [S, i]))``: sizes 5 + 55 x
Beta(1.2, 2.5) GB rounded to 0.5 GB (median about 21 GB, up to 60), redrawn until they fill at
most ``FILL`` of the G x 80 GB and first fit decreasing packs them with sizes summing to less
than 80 GB on every GPU (tight, always feasible); request rates lognormal (median 2 req/s,
sigma 0.6, clipped to 0.1-100, two decimals: a heavy right tail); SLOs drawn from ``SLOS``
seconds. The reference of every instance is the fluid lower bound; instances with at
most ``EXACT_GPUS`` GPUs also get the CP-SAT optimum (``reference.optimum``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from evaluators.draws import entropy
from evaluators.gpu_model_placement.model import Instance, Model, lower_bound

CAPACITY = 80.0
SIZE_MIN, SIZE_MAX = 5.0, 60.0
SLOS = (0.5, 1.0, 2.0)
RATE_MEDIAN, RATE_SIGMA = 2.0, 0.6  # lognormal request rates (req/s): heavy-tailed
SIZE_BETA = (1.2, 2.5)  # most models small (median 21 GB), a tail of large ones up to 60 GB
FILL = 0.75
MARGIN = 0.5  # first fit decreasing into 79.5 GB: sizes sum to less than 80 on every GPU
EXACT_GPUS = 5


def parse_source(source: str) -> tuple[int, int, int, int]:
    """``"gpus=8 seed=1000 count=10"`` -> (GPUs, models, first seed, instances)."""
    fields = dict(f.partition("=")[::2] for f in source.split())
    if not {"gpus", "seed", "count"} <= set(fields) <= {"gpus", "models", "seed", "count"} \
            or not all(v.isdigit() for v in fields.values()):
        raise ValueError(f"instance source {source!r}: write it as 'gpus=<G> [models=<M>] seed=<int> "
                         "count=<k>'")
    gpus = int(fields["gpus"])
    return gpus, int(fields.get("models", 2 * gpus)), int(fields["seed"]), int(fields["count"])


def first_fit_decreasing(sizes: list[float], gpus: int, room: float) -> list[int] | None:
    """GPU per model by first fit decreasing into bins of ``room`` GB, or None if one does not fit."""
    free = [room] * gpus
    out = [0] * len(sizes)
    for i in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        g = next((g for g in range(gpus) if sizes[i] <= free[g]), None)
        if g is None:
            return None
        free[g] -= sizes[i]
        out[i] = g
    return out


def draw_models(rng: np.random.Generator, gpus: int, count: int) -> tuple[Model, ...]:
    while True:
        raw = SIZE_MIN + (SIZE_MAX - SIZE_MIN) * rng.beta(*SIZE_BETA, count)
        sizes = [float(np.round(2 * x)) / 2 for x in raw]
        if sum(sizes) <= FILL * CAPACITY * gpus and first_fit_decreasing(sizes, gpus, CAPACITY - MARGIN):
            break
    rates = np.clip(RATE_MEDIAN * rng.lognormal(0.0, RATE_SIGMA, count), 0.1, 100.0)
    slos = rng.choice(SLOS, count)
    return tuple(Model(s, round(float(r), 2), float(t)) for s, r, t in zip(sizes, rates, slos))


def generate(gpus: int, count_models: int, seed: int, index: int, draw: int | None) -> Instance:
    from evaluators.gpu_model_placement.reference import optimum

    rng = np.random.default_rng(entropy(draw, [seed, index]))  # the one place the draw enters
    models = draw_models(rng, gpus, count_models)
    name = f"G{gpus} M{count_models} #{seed + index}"
    exact = optimum(gpus, CAPACITY, models).value if gpus <= EXACT_GPUS else None
    return Instance(name, gpus, CAPACITY, models, lower_bound(gpus, CAPACITY, models), exact)


@lru_cache(maxsize=64)
def load_source(source: str, draw: int | None = None) -> tuple[Instance, ...]:
    gpus, count_models, seed, count = parse_source(source)
    return tuple(generate(gpus, count_models, seed, i, draw) for i in range(count))
