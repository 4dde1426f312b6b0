"""SMTT instances: OR-Library files, the Crauwels-Potts-Van Wassenhove generator, (TF, RDD) classes.

An instance is processing times, weights and due dates plus the reference objective the verifier
scores against (proven optimum, best known, or exact DP). The reference never leaves the
verifier: the candidate is only ever sent ``p``, ``w`` and ``d``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LEVELS = (0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass(frozen=True)
class Instance:
    name: str
    p: tuple[int, ...]
    w: tuple[int, ...]
    d: tuple[int, ...]
    tf: float
    rdd: float
    ref: int
    ref_kind: str  # "optimal", "best-known", "dp-optimal" or "best-found"

    @property
    def n(self) -> int:
        return len(self.p)

    @property
    def cls(self) -> tuple[float, float]:
        return (self.tf, self.rdd)


def load_orlib(path: Path, ref_path: Path, n: int, ref_kind: str) -> list[Instance]:
    """Read an OR-Library wt file (n p's, n w's, n d's per instance) and its reference values.

    OR-Library orders the 125 instances in 25 blocks of 5: TF varies fastest, RDD slowest.
    """
    nums = np.array(path.read_text().split(), dtype=np.int64).reshape(-1, 3, n)
    refs = [int(x) for x in ref_path.read_text().split()]
    if len(refs) != len(nums):
        raise ValueError(f"{ref_path}: {len(refs)} references for {len(nums)} instances")
    out = []
    for k, (p, w, d) in enumerate(nums):
        block = k // 5
        out.append(Instance(
            name=f"{path.stem}#{k + 1}", p=tuple(map(int, p)), w=tuple(map(int, w)),
            d=tuple(map(int, d)), tf=LEVELS[block % 5], rdd=LEVELS[block // 5],
            ref=refs[k], ref_kind=ref_kind))
    return out


def generate(n: int, tf: float, rdd: float, rng: np.random.Generator, weighted: bool = True
             ) -> tuple[list[int], list[int], list[int]]:
    """The documented generator: p ~ U{1..100}, w ~ U{1..10}, d ~ U[P(1-TF-RDD/2), P(1-TF+RDD/2)]."""
    p = rng.integers(1, 101, size=n)
    w = rng.integers(1, 11, size=n) if weighted else np.ones(n, dtype=np.int64)
    total = int(p.sum())
    lo = max(0, round(total * (1 - tf - rdd / 2)))
    hi = max(0, round(total * (1 - tf + rdd / 2)))
    d = rng.integers(lo, hi + 1, size=n)
    return list(map(int, p)), list(map(int, w)), list(map(int, d))


def weighted_tardiness(order: list[int], p, w, d) -> int:
    """Total weighted tardiness of jobs processed in ``order`` (trusted recomputation)."""
    t = 0
    total = 0
    for j in order:
        t += p[j]
        late = t - d[j]
        if late > 0:
            total += w[j] * late
    return total


def load_generated(path: Path) -> list[Instance]:
    data = json.loads(path.read_text())
    kind = data.get("reference", "dp-optimal")
    return [Instance(name=r["name"], p=tuple(r["p"]), w=tuple(r["w"]), d=tuple(r["d"]),
                     tf=r["tf"], rdd=r["rdd"], ref=r["ref"], ref_kind=kind)
            for r in data["instances"]]
