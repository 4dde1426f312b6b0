"""Bin packing instances: the published FunSearch sets (OR3, Weibull 5k) and generated Weibull ones.

An instance is a capacity and an item sequence (integral sizes, 1 <= size <= capacity). The L1
lower bound ceil(sum(items) / capacity) is computed here, in the verifier's process, and never
sent to the candidate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PUBLISHED = {"or3": "OR3", "weibull5k": "Weibull 5k"}  # source name -> key in datasets.json
WEIBULL_SHAPE, WEIBULL_SCALE, WEIBULL_CAPACITY = 3.0, 45.0, 100


@dataclass(frozen=True)
class Instance:
    name: str
    capacity: int
    items: tuple[int, ...]

    @property
    def n(self) -> int:
        return len(self.items)

    @property
    def lower_bound(self) -> int:
        """The L1 bound: ceil(sum of sizes / capacity), in exact integer arithmetic."""
        return -(-sum(self.items) // self.capacity)


def integral(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ValueError(f"{what} must be an integral number, got {value!r}")
    return int(value)


def make_instance(name: str, capacity: object, items: list[object]) -> Instance:
    cap = integral(capacity, f"{name}: capacity")
    sizes = tuple(integral(x, f"{name}: item size") for x in items)
    if cap < 1 or not sizes or min(sizes) < 1 or max(sizes) > cap:
        raise ValueError(f"{name}: sizes must lie in [1, capacity={cap}] and the instance be non-empty")
    return Instance(name=name, capacity=cap, items=sizes)


def load_published(path: Path, source: str) -> list[Instance]:
    """One dataset of FunSearch's ``datasets.json`` ({name: {capacity, num_items, items}})."""
    rows = json.loads(path.read_text())[PUBLISHED[source]]
    out = []
    for name, row in rows.items():
        if row["num_items"] != len(row["items"]):
            raise ValueError(f"{source}/{name}: num_items {row['num_items']} != {len(row['items'])} items")
        out.append(make_instance(f"{source}/{name}", row["capacity"], row["items"]))
    return out


def weibull_items(n: int, rng: np.random.Generator) -> list[int]:
    """FunSearch's Weibull sizes: round(Weibull(k=3, scale=45)), clipped to [1, 100]."""
    sizes = np.clip(np.round(rng.weibull(WEIBULL_SHAPE, n) * WEIBULL_SCALE), 1, WEIBULL_CAPACITY)
    return [int(x) for x in sizes]


def load_generated(path: Path, source: str) -> list[Instance]:
    groups = json.loads(path.read_text())["groups"]
    if source not in groups:
        raise ValueError(f"{path.name} has no group {source!r} (has {', '.join(groups)})")
    return [make_instance(r["name"], r["capacity"], r["items"]) for r in groups[source]["instances"]]
