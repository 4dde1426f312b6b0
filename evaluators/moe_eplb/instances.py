"""EPLB instances: cluster configurations and synthetic per-expert load windows with drift.

A *family* is one MoE deployment (layers, experts, expert groups, nodes, GPUs, physical slots)
plus a load model: each layer has a log-normal expert popularity (with a shared per-group factor,
so whole groups run hot or cold), the log-popularity drifts between time windows as a
mean-reverting random walk, and each window's loads are multinomial token counts from that
popularity. A *case* is one window of one family: the candidate gets window i and its placement
is scored on window i + 1, which the verifier keeps (it is sent, at the earliest, as the input
of the next call, after the placement for window i has been returned).

Everything is regenerated deterministically at load time and cached: from the fixed seeds (the
public draw of the README tables), or from the fixed seeds and a run's draw (evaluators/draws.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from evaluators.draws import entropy


@dataclass(frozen=True)
class Config:
    """One deployment: L MoE layers of E experts in G groups, on N nodes of num_gpus GPUs in all."""

    layers: int
    experts: int
    groups: int
    nodes: int
    gpus: int
    replicas: int  # physical expert slots per layer (all GPUs together)

    def __post_init__(self) -> None:
        if self.experts % self.groups or self.replicas % self.gpus or self.gpus % self.nodes \
                or self.replicas < self.experts:
            raise ValueError(f"inconsistent EPLB configuration {self}")

    @property
    def slots_per_gpu(self) -> int:
        return self.replicas // self.gpus

    @property
    def hierarchical(self) -> bool:
        """DeepSeek's policy packs groups to nodes only when groups divide evenly over nodes."""
        return self.groups % self.nodes == 0

    def args(self) -> tuple[int, int, int, int]:
        """The scalar arguments of ``rebalance_experts`` after ``weight``."""
        return (self.replicas, self.groups, self.nodes, self.gpus)


@dataclass(frozen=True)
class Family:
    """A configuration and its load model (all parameters of the generator, and its seed)."""

    name: str
    config: Config
    windows: int  # load windows generated; windows - 1 cases (the last is only scored on)
    sigma: float  # spread of the per-expert log-popularity
    group_sigma: float  # spread of the per-group log-popularity factor
    rho: float  # mean reversion of the drift: dev' = rho * dev + drift * N(0, 1)
    drift: float  # per-window drift of the log-popularity
    tokens: int  # routed (token, expert) assignments per layer per window
    seed: int


@dataclass(frozen=True, eq=False)
class Case:
    """One window of one family: the input sent to the candidate and the load it is scored on."""

    name: str
    family: str
    window: int
    config: Config
    weight: np.ndarray  # [L, E] loads of window i (sent)
    future: np.ndarray  # [L, E] loads of window i + 1 (never sent with this case)

    def payload(self) -> list[list[float]]:
        return self.weight.tolist()


def _family(name: str, layers: int, experts: int, nodes: int, gpus: int, replicas: int, *,
            windows: int, sigma: float, drift: float, seed: int, groups: int = 8,
            group_sigma: float = 0.35, rho: float = 0.8, tokens: int = 65536) -> Family:
    return Family(name, Config(layers, experts, groups, nodes, gpus, replicas), windows, sigma,
                  group_sigma, rho, drift, tokens, seed)


FAMILIES: dict[str, Family] = {f.name: f for f in (
    # train: DeepSeek-V3-like shapes, lighter drift
    _family("v3-256e-4n32g", 12, 256, 4, 32, 288, windows=13, sigma=0.9, drift=0.20, seed=101),
    _family("mid-128e-2n16g", 12, 128, 2, 16, 144, windows=13, sigma=1.0, drift=0.20, seed=102),
    _family("small-64e-2n8g", 16, 64, 2, 8, 96, windows=13, sigma=0.8, drift=0.20, seed=103),
    _family("global-96e-3n12g", 12, 96, 3, 12, 120, windows=13, sigma=1.0, drift=0.20, seed=104),
    # test (held out): other shapes, other seeds, stronger drift and skew
    _family("v3-256e-4n32g-r64", 16, 256, 4, 32, 320, windows=9, sigma=1.1, drift=0.35, seed=201),
    _family("mid-160e-2n16g", 12, 160, 2, 16, 192, windows=9, sigma=1.2, drift=0.35, seed=202),
    _family("small-64e-4n16g", 16, 64, 4, 16, 80, windows=9, sigma=0.9, drift=0.35, seed=203),
    _family("global-128e-3n24g", 12, 128, 3, 24, 144, windows=9, sigma=1.1, drift=0.35, seed=204),
    # gate: tiny, one case each (one hierarchical, one global)
    _family("gate-16e-2n4g", 2, 16, 2, 4, 20, windows=2, sigma=1.0, drift=0.2, seed=301, groups=4),
    _family("gate-12e-3n6g", 2, 12, 3, 6, 18, windows=2, sigma=1.0, drift=0.2, seed=302, groups=4),
)}


def generate_loads(fam: Family, draw: int | None = None) -> np.ndarray:
    """[windows, L, E] token counts (floats) of a family, deterministic in its seed and draw."""
    cfg = fam.config
    rng = np.random.default_rng(entropy(draw, fam.seed))
    group_of = np.arange(cfg.experts) // (cfg.experts // cfg.groups)
    base = fam.sigma * rng.standard_normal((cfg.layers, cfg.experts)) \
        + fam.group_sigma * rng.standard_normal((cfg.layers, cfg.groups))[:, group_of]
    dev = np.zeros_like(base)
    out = np.empty((fam.windows, cfg.layers, cfg.experts))
    for t in range(fam.windows):
        logits = base + dev
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        for layer in range(cfg.layers):
            out[t, layer] = rng.multinomial(fam.tokens, p[layer])
        dev = fam.rho * dev + fam.drift * rng.standard_normal(dev.shape)
    return out


@lru_cache(maxsize=64)
def family_cases(name: str, draw: int | None = None) -> tuple[Case, ...]:
    if name not in FAMILIES:
        raise ValueError(f"unknown EPLB instance family {name!r} (known: {', '.join(FAMILIES)})")
    fam = FAMILIES[name]
    loads = generate_loads(fam, draw)
    return tuple(Case(f"{name}#w{t}", name, t, fam.config, loads[t], loads[t + 1])
                 for t in range(fam.windows - 1))
