"""BurstGPT-shaped workloads, regenerated deterministically at load time from fixed seeds (the
public draw) or from fixed seeds and a run's draw (evaluators/draws.py).

BurstGPT (Wang et al. 2024, CC-BY-4.0) is not reachable offline, so its shape is regenerated:
Gamma inter-arrival gaps (shape k gives a coefficient of variation 1/sqrt(k): k = 0.5 -> 1.41,
bursty; k = 0.25 -> 2.0, burstier), log-normal prompt and response lengths, clipped to the
4,096-token context of Llama-2. The policy never sees a response length: it gets a *prediction*,
the true length times a log-normal error exp(N(0, sigma)).

One seed draws one sequence of unit-rate gaps and lengths; the same sequence is replayed at every
arrival rate of a set (gaps divided by the rate), so attainment across rates is comparable
(common random numbers) and goodput is not an artefact of resampling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from evaluators.draws import entropy

MAX_PROMPT = 3072
MAX_OUTPUT = 1024


@dataclass(frozen=True)
class Family:
    """A workload shape: burstiness, length distributions, prediction error."""

    name: str
    gamma_shape: float
    prompt_median: float
    prompt_sigma: float
    output_median: float
    output_sigma: float
    predict_sigma: float


@dataclass(frozen=True, eq=False)
class Workload:
    """One (family, seed, rate) trace. ``output`` is the truth and stays in the verifier."""

    name: str
    family: str
    seed: int
    rate: float                                      # mean requests per second
    arrival: np.ndarray = field(repr=False)          # s, non-decreasing, float64
    prompt: np.ndarray = field(repr=False)           # tokens, int64, >= 1
    output: np.ndarray = field(repr=False)           # true response tokens, int64, >= 1
    predicted: np.ndarray = field(repr=False)        # noisy prediction of output, int64, >= 1

    @property
    def size(self) -> int:
        return len(self.arrival)


FAMILIES = {
    "chat": Family("chat", 0.5, 400.0, 1.0, 160.0, 1.0, 0.5),
    # held out (test only): burstier arrivals (CV 2); long retrieval-style prompts, short answers,
    # worse predictions (less capacity: its own rate grid)
    "bursty": Family("bursty", 0.25, 400.0, 1.0, 160.0, 1.0, 0.5),
    "long": Family("long", 0.5, 256.0, 0.8, 320.0, 0.9, 0.7),
    "rag": Family("rag", 0.5, 1200.0, 0.7, 120.0, 0.9, 0.7),
}


@dataclass(frozen=True)
class SetRecipe:
    """Families with their arrival rates (req/s, spanning the server's capacity) x seeds."""

    families: tuple[tuple[str, tuple[float, ...]], ...]
    seeds: tuple[int, ...]
    requests: int


BUSY = (6.0, 7.0, 8.0, 9.0, 10.0)   # chat saturates the server near 8 req/s
RECIPES = {
    "gate": SetRecipe((("chat", (6.0, 10.0)),), (11,), 40),
    "train": SetRecipe((("chat", BUSY),), (101, 102), 400),
    "test": SetRecipe((("chat", BUSY), ("bursty", BUSY), ("rag", (3.0, 3.5, 4.0, 4.5, 5.0))),
                      (201, 202), 600),
}


def generate(family: Family, seed: int, rate: float, n: int, draw: int | None = None) -> Workload:
    """``n`` requests of ``family`` at ``rate`` requests/s from ``seed`` and ``draw`` (the same
    draws at any rate; ``draw`` None: the public draw)."""
    if rate <= 0 or n <= 0:
        raise ValueError("a workload needs a positive rate and at least one request")
    # a run's draw also separates the families: on the public draw (the README tables) chat and
    # rag workloads of one seed share their gaps and length draws
    rng = np.random.default_rng(entropy(draw, [seed, n] if draw is None
                                        else [seed, n, list(FAMILIES).index(family.name)]))
    gaps = rng.gamma(family.gamma_shape, 1.0 / family.gamma_shape, n)   # mean 1
    prompt = np.clip(np.rint(family.prompt_median * np.exp(rng.normal(0, family.prompt_sigma, n))),
                     4, MAX_PROMPT).astype(np.int64)
    output = np.clip(np.rint(family.output_median * np.exp(rng.normal(0, family.output_sigma, n))),
                     1, MAX_OUTPUT).astype(np.int64)
    noise = np.exp(rng.normal(0, family.predict_sigma, n))
    predicted = np.clip(np.rint(output * noise), 1, MAX_OUTPUT).astype(np.int64)
    arrival = np.cumsum(gaps) / rate
    arrival -= arrival[0]
    return Workload(name=f"{family.name}-s{seed}-r{rate:g}", family=family.name, seed=seed, rate=rate,
                    arrival=arrival, prompt=prompt, output=output, predicted=predicted)


@lru_cache(maxsize=16)
def load_set(name: str, draw: int | None = None) -> tuple[Workload, ...]:
    if name not in RECIPES:
        raise ValueError(f"unknown llm_serving workload set {name!r} (known: {', '.join(RECIPES)})")
    r = RECIPES[name]
    return tuple(generate(FAMILIES[f], seed, rate, r.requests, draw)
                 for f, rates in r.families for seed in r.seeds for rate in rates)
