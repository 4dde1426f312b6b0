"""Instances of multicloud_broadcast and their references, generated from a seed (and a run's draw)
and cached per (source, draw).

Source names read ``regions=R dests=K seed=S count=N``. Instance i comes from
``numpy.random.default_rng(entropy(draw, [S, i]))``: R of the graph's regions (drawn without
replacement, kept in the data's order, renumbered 0..R-1), a source among them, K other regions as
destinations (drawn order), and an object of 10 to 1000 GB (uniform integer).

References (never sent): ``direct`` the cost of sending straight from the source to every
destination; ``lower_bound`` = size x the minimum egress $/GB of a Steiner arborescence (every
byte must reach every destination, and the edges carrying one byte contain a tree from the
source to all destinations, so egress >= size x the cheapest such tree, computed exactly by the
Dreyfus-Wagner dynamic program on cheapest-path prices) plus the instance cost of the source and
destination VMs over the shortest time any overlay can take (the object must leave the source
over its out-edges and enter each destination over its in-edges: time >= 8 size / their summed
throughput).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from evaluators.draws import entropy
from evaluators.multicloud_broadcast.model import Graph, full_graph, overlay_cost

SIZE_MIN, SIZE_MAX = 10, 1000


@dataclass(frozen=True)
class Instance:
    """One broadcast: the graph of its regions, the source, destinations and object size; the
    references ``direct`` and ``lower_bound`` ($) stay in the verifier."""

    name: str
    graph: Graph
    source: int
    destinations: tuple[int, ...]
    size_gb: float
    direct: float
    steiner_per_gb: float
    lower_bound: float

    def as_json(self) -> tuple:
        """The arguments of one call: regions, price, throughput, vm_price, source, destinations, size_gb."""
        g = self.graph
        return (list(g.regions), [list(r) for r in g.price], [list(r) for r in g.throughput],
                list(g.vm_price), self.source, list(self.destinations), self.size_gb)


def cheapest_prices(graph: Graph) -> np.ndarray:
    """$/GB of the cheapest path between every ordered pair (Floyd-Warshall; 0 on the diagonal)."""
    dist = np.array(graph.price, dtype=float)
    edge = np.array(graph.throughput) > 0
    dist[~edge] = np.inf
    np.fill_diagonal(dist, 0.0)
    for k in range(graph.n):
        dist = np.minimum(dist, dist[:, k:k + 1] + dist[k:k + 1, :])
    return dist


def steiner_price(graph: Graph, source: int, terminals: tuple[int, ...]) -> float:
    """$/GB of the cheapest arborescence from ``source`` reaching every terminal (Dreyfus-Wagner:
    best[S][v] = cheapest tree rooted at v spanning the terminal set S, over cheapest paths)."""
    dist = cheapest_prices(graph)
    k = len(terminals)
    full = (1 << k) - 1
    dp = np.full((1 << k, graph.n), np.inf)
    for t, term in enumerate(terminals):
        dp[1 << t] = dist[:, term]
    for mask in range(1, full + 1):
        if mask & (mask - 1) == 0:
            continue
        merge = np.full(graph.n, np.inf)
        low = mask & -mask
        sub = (mask - 1) & mask
        while sub:
            if sub & low:  # each split once
                merge = np.minimum(merge, dp[sub] + dp[mask ^ sub])
            sub = (sub - 1) & mask
        dp[mask] = (dist + merge[None, :]).min(axis=1)
    return float(dp[full][source])


def instance_lower_bound(graph: Graph, source: int, destinations: tuple[int, ...], size_gb: float) -> float:
    """VMs of the source and destinations x the least possible transfer time."""
    gbps = np.array(graph.throughput)
    seconds = max([8 * size_gb / gbps[source].sum()] + [8 * size_gb / gbps[:, d].sum() for d in destinations])
    return sum(graph.vm_price[r] for r in {source, *destinations}) * seconds / 3600


def parse_source(source: str) -> tuple[int, int, int, int]:
    """``"regions=20 dests=4 seed=1000 count=8"`` -> (regions, destinations, first seed, instances)."""
    fields = dict(f.partition("=")[::2] for f in source.split())
    if set(fields) != {"regions", "dests", "seed", "count"} or not all(v.isdigit() for v in fields.values()):
        raise ValueError(f"instance source {source!r}: write it as "
                         "'regions=<R> dests=<K> seed=<int> count=<N>'")
    regions, dests = int(fields["regions"]), int(fields["dests"])
    if not 1 <= dests < regions <= full_graph().n:
        raise ValueError(f"instance source {source!r}: need 1 <= dests < regions <= {full_graph().n}")
    return regions, dests, int(fields["seed"]), int(fields["count"])


def generate(regions: int, dests: int, seed: int, index: int, draw: int | None) -> Instance:
    rng = np.random.default_rng(entropy(draw, [seed, index]))  # the one place the draw enters
    full = full_graph()
    keep = sorted(int(r) for r in rng.choice(full.n, regions, replace=False))
    graph = full.sub(keep)
    picked = [int(r) for r in rng.choice(regions, dests + 1, replace=False)]
    source, destinations = picked[0], tuple(picked[1:])
    size_gb = float(rng.integers(SIZE_MIN, SIZE_MAX + 1))
    direct = overlay_cost(graph, size_gb, [[((source, d), 1.0)] for d in destinations]).total
    per_gb = steiner_price(graph, source, destinations)
    bound = size_gb * per_gb + instance_lower_bound(graph, source, destinations, size_gb)
    return Instance(f"R{regions} K{dests} #{seed + index}", graph, source, destinations, size_gb,
                    direct, per_gb, bound)


@lru_cache(maxsize=64)
def load_source(source: str, draw: int | None = None) -> tuple[Instance, ...]:
    regions, dests, seed, count = parse_source(source)
    return tuple(generate(regions, dests, seed, i, draw) for i in range(count))
