"""Workload generator with fixed seeds, and the source strings that name instance families.

A workload is n transactions of uniformly random length; every operation draws its key from a
Zipf(theta) popularity over ``keys`` keys (key ids randomly relabelled per workload, so hotness
must be inferred from the data) and is a read with probability ``read``. Pattern ``mixed`` keeps
the drawn operation order; ``rw`` puts a transaction's reads before its writes (read-then-write).
A set source is a line of ``name=value`` fields, e.g. ``"zipf=0.8 read=0.8 seed=1100 count=2"``;
workload i of a source is generated from ``seed + i`` alone on the public draw (reproducible
README tables), and from a run's draw and ``seed + i`` in a run (evaluators/draws.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from evaluators.draws import entropy
from evaluators.txn_scheduling.model import Op

PATTERNS = ("mixed", "rw")


@dataclass(frozen=True)
class Params:
    zipf: float = 1.0
    read: float = 0.8
    txns: int = 100
    keys: int = 1000
    min_len: int = 2
    max_len: int = 16
    pattern: str = "mixed"


@dataclass(frozen=True)
class Workload:
    name: str
    params: Params
    seed: int
    ops: tuple[tuple[Op, ...], ...]

    @property
    def n(self) -> int:
        return len(self.ops)

    def as_json(self) -> list[list[list]]:
        """What the candidate receives: [[["r" | "w", key], ...], ...] (no references)."""
        return [[[op, key] for op, key in txn] for txn in self.ops]


def generate(params: Params, seed: int, draw: int | None = None) -> tuple[tuple[Op, ...], ...]:
    rng = np.random.default_rng(entropy(draw, seed))
    weights = 1.0 / np.arange(1, params.keys + 1) ** params.zipf
    relabel = rng.permutation(params.keys)
    lengths = rng.integers(params.min_len, params.max_len + 1, size=params.txns)
    out = []
    for length in lengths:
        keys = relabel[rng.choice(params.keys, size=int(length), p=weights / weights.sum())]
        reads = rng.random(int(length)) < params.read
        ops = [("r" if r else "w", int(k)) for r, k in zip(reads, keys)]
        if params.pattern == "rw":
            ops = [o for o in ops if o[0] == "r"] + [o for o in ops if o[0] == "w"]
        out.append(tuple(ops))
    return tuple(out)


FIELDS = {"zipf": float, "read": float, "txns": int, "keys": int, "pattern": str}


def parse_source(source: str) -> tuple[Params, int, int]:
    """``"zipf=1.2 read=0.5 len=2-16 seed=7 count=3"`` -> (params, first seed, count)."""
    params, seed, count = Params(), None, 1
    for field in source.split():
        name, sep, value = field.partition("=")
        if not sep:
            raise ValueError(f"workload source {source!r}: field {field!r} is not name=value")
        if name == "seed":
            seed = int(value)
        elif name == "count":
            count = int(value)
        elif name == "len":
            lo, _, hi = value.partition("-")
            params = replace(params, min_len=int(lo), max_len=int(hi or lo))
        elif name in FIELDS:
            params = replace(params, **{name: FIELDS[name](value)})
        else:
            raise ValueError(f"workload source {source!r}: unknown field {name!r} (known: seed, "
                             f"count, len, {', '.join(FIELDS)})")
    if seed is None:
        raise ValueError(f"workload source {source!r} needs seed=<int>")
    if params.pattern not in PATTERNS or not 1 <= params.min_len <= params.max_len or count < 1:
        raise ValueError(f"workload source {source!r}: pattern must be one of {PATTERNS}, "
                         "1 <= min len <= max len, count >= 1")
    return params, seed, count


def load_source(source: str, draw: int | None = None) -> list[Workload]:
    """The workloads a source names, from its seeds and ``draw`` (None: the public draw)."""
    params, seed, count = parse_source(source)
    default = Params()
    tag = " ".join([f"{params.pattern} z{params.zipf:g} r{round(100 * params.read)}"]
                   + [f"n{params.txns}"] * (params.txns != default.txns)
                   + [f"k{params.keys}"] * (params.keys != default.keys)
                   + [f"len{params.min_len}-{params.max_len}"] * (params.min_len != default.min_len
                                                                 or params.max_len != default.max_len))
    return [Workload(f"{tag} #{seed + i}", params, seed + i, generate(params, seed + i, draw))
            for i in range(count)]
