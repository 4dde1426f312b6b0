"""The cost model of multicloud_broadcast: the region graph (from ``problems/multicloud_broadcast/data``),
checking a candidate's overlay and its dollar cost, computed on the trusted side alone.

An overlay gives, for each destination, paths from the source with a share of the object each.
The shares of one destination, in the order given, cover consecutive byte ranges of the object
[0, 1): path j carries [c_{j-1}, c_j), c_j the running sum of the shares divided by their total.
An edge carries the union of the ranges of every path that uses it (bytes sent once over an edge
serve every destination downstream: a tree pays each edge once), so its volume is
size x measure(union) GB. Then

- egress = sum over edges of price ($/GB) x volume;
- transfer time = max over edges of 8 x volume / throughput (GB over Gbps: each edge moves its
  own data at its own throughput, in parallel with the others);
- instance cost = sum over the regions that send or receive data of the VM $/hour x time / 3600;
- cost = egress + instance cost.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from pathlib import Path

from evaluators.base import InvalidOutput

DATA = Path(__file__).resolve().parents[2] / "problems" / "multicloud_broadcast" / "data"
SHARE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Graph:
    """Regions (``provider:region``), VM $/hour per region, and per directed pair i != j the egress
    price ($/GB) and throughput (Gbps); the diagonal is 0 and is not an edge."""

    regions: tuple[str, ...]
    vm_price: tuple[float, ...]
    price: tuple[tuple[float, ...], ...]
    throughput: tuple[tuple[float, ...], ...]

    @property
    def n(self) -> int:
        return len(self.regions)

    def sub(self, keep: Sequence[int]) -> Graph:
        """The graph induced by the regions ``keep``, renumbered 0..len(keep)-1 in that order."""
        return Graph(tuple(self.regions[i] for i in keep), tuple(self.vm_price[i] for i in keep),
                     tuple(tuple(self.price[i][j] for j in keep) for i in keep),
                     tuple(tuple(self.throughput[i][j] for j in keep) for i in keep))

    def is_edge(self, u: int, v: int) -> bool:
        return u != v and self.throughput[u][v] > 0


@lru_cache(maxsize=1)
def full_graph() -> Graph:
    """Every region of ``data/regions.csv`` with the links of ``data/links.csv``."""
    with open(DATA / "regions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    index = {r["region"]: k for k, r in enumerate(rows)}
    n = len(rows)
    price = [[0.0] * n for _ in range(n)]
    gbps = [[0.0] * n for _ in range(n)]
    with open(DATA / "links.csv", newline="") as f:
        for r in csv.DictReader(f):
            i, j = index[r["src"]], index[r["dst"]]
            price[i][j], gbps[i][j] = float(r["egress_usd_per_gb"]), float(r["throughput_gbps"])
    return Graph(tuple(index), tuple(float(r["vm_usd_per_hour"]) for r in rows),
                 tuple(map(tuple, price)), tuple(map(tuple, gbps)))


@dataclass(frozen=True)
class Cost:
    """The trusted cost of one overlay: egress and instance dollars, seconds, GB per edge."""

    egress: float
    instance: float
    seconds: float
    volumes: tuple[tuple[tuple[int, int], float], ...]  # ((u, v), GB) per edge carrying data

    @property
    def total(self) -> float:
        return self.egress + self.instance


Route = tuple[tuple[int, ...], float]  # a path (region indices) and its share


def union_length(ranges: list[tuple[float, float]]) -> float:
    """The measure of a union of half-open intervals."""
    total, end = 0.0, -math.inf
    for a, b in sorted(ranges):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def overlay_cost(graph: Graph, size_gb: float, routes: Sequence[Sequence[Route]]) -> Cost:
    """The cost of a checked overlay (``check_overlay``): ``routes[d]`` = the (path, share) pairs of
    destination d, their shares summing to 1 (normalised here by their total)."""
    ranges: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for pairs in routes:
        total = sum(share for _, share in pairs)
        start = 0.0
        for path, share in pairs:
            end = start + share / total
            if end > start:
                for hop in pairwise(path):
                    ranges.setdefault(hop, []).append((start, end))
            start = end
    volumes = tuple((hop, size_gb * union_length(rs)) for hop, rs in sorted(ranges.items()))
    egress = sum(graph.price[u][v] * gb for (u, v), gb in volumes)
    seconds = max((8 * gb / graph.throughput[u][v] for (u, v), gb in volumes), default=0.0)
    used = {r for (u, v), gb in volumes if gb > 0 for r in (u, v)}
    instance = sum(graph.vm_price[r] for r in used) * seconds / 3600
    return Cost(egress, instance, seconds, volumes)


def check_overlay(reply: object, graph: Graph, source: int, destinations: Sequence[int]) -> list[list[Route]]:
    """``reply`` must be a list with one entry per destination (in the order of ``destinations``),
    each a non-empty list of [path, share] pairs: path a list of region indices (Python ints, not
    bools, floats or numpy ints) from ``source`` to that destination along edges, no region twice;
    share a finite, non-negative int or float; the shares of a destination sum to 1 (within 1e-9).
    Returns the overlay as tuples; nothing else of the reply is read."""
    k = len(destinations)
    if not isinstance(reply, list | tuple):
        raise InvalidOutput(f"plan_broadcast() must return a list of {k} route lists (one per destination), "
                            f"got {type(reply).__name__}")
    if len(reply) != k:
        raise InvalidOutput(f"plan_broadcast() returned {len(reply)} entries for {k} destinations: entry d "
                            "must hold the routes of destinations[d]")
    return [check_destination(pairs, f"destination {d} (region {dest})", graph, source, dest)
            for d, (dest, pairs) in enumerate(zip(destinations, reply))]


def check_destination(pairs: object, where: str, graph: Graph, source: int, dest: int) -> list[Route]:
    """The routes of one destination (``where`` names it): a non-empty list of [path, share] pairs
    whose shares sum to 1."""
    if not isinstance(pairs, list | tuple) or not pairs:
        raise InvalidOutput(f"{where}: expected a non-empty list of [path, share] pairs, got "
                            f"{type(pairs).__name__} {pairs!r:.60}")
    routes = [check_route(pair, f"{where}, route {j}", graph, source, dest) for j, pair in enumerate(pairs)]
    total = math.fsum(s for _, s in routes)
    if abs(total - 1) > SHARE_TOLERANCE:
        raise InvalidOutput(f"{where}: the shares sum to {total!r}, not 1 (within {SHARE_TOLERANCE:g})")
    return routes


def check_route(pair: object, at: str, graph: Graph, source: int, dest: int) -> Route:
    """One [path, share] pair (``at`` names it): a valid path and a finite, non-negative share."""
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        raise InvalidOutput(f"{at}: expected a [path, share] pair, got {pair!r:.60}")
    path, share = pair
    check_path(path, at, graph, source, dest)
    if type(share) not in (int, float) or not math.isfinite(share) or share < 0:
        raise InvalidOutput(f"{at}: the share {share!r:.30} must be a finite, non-negative "
                            "int or float")
    return tuple(path), float(share)


def check_path(path: object, at: str, graph: Graph, source: int, dest: int) -> None:
    """A list of at least 2 region indices (Python ints in range) from ``source`` to ``dest``
    along edges of ``graph``, no region twice."""
    if not isinstance(path, list | tuple) or len(path) < 2:
        raise InvalidOutput(f"{at}: the path must be a list of at least 2 region indices, "
                            f"got {path!r:.60}")
    for r in path:
        if type(r) is not int:
            raise InvalidOutput(f"{at}: region index {r!r:.30} is {type(r).__name__}; "
                                "indices must be Python ints")
        if not 0 <= r < graph.n:
            raise InvalidOutput(f"{at}: region index {r} outside 0..{graph.n - 1}")
    if path[0] != source:
        raise InvalidOutput(f"{at}: the path starts at {path[0]}, not at the source {source}")
    if path[-1] != dest:
        raise InvalidOutput(f"{at}: the path ends at {path[-1]}, not at its destination {dest}")
    if len(set(path)) != len(path):
        raise InvalidOutput(f"{at}: the path {list(path)!r:.80} visits a region twice (a cycle)")
    for u, v in pairwise(path):
        if not graph.is_edge(u, v):
            raise InvalidOutput(f"{at}: hop {u} -> {v} is not an edge")
