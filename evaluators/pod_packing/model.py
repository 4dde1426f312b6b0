"""Placement checks and the lexicographic objective (trusted; never sees candidate code).

A placement gives every pod a node index or None (unplaced). It is feasible when, on every node,
the summed CPU and the summed memory requests of the pods placed there stay within the node's
capacity. Its outcome is the number of placed pods per priority and the number of evictions: a
running pod that ends up unplaced or on another node than the one it runs on now. Placements are
ranked lexicographically: more placed pods of priority 3, then of 2, 1, 0, then fewer evictions.
``weights`` turns that order into one exact integer per cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evaluators.base import InvalidOutput
from evaluators.pod_packing.cluster import PRIORITIES, Cluster

RESOURCES = ("cpu", "memory")


@dataclass(frozen=True)
class Outcome:
    placed: tuple[int, ...]  # placed pods per priority 0..PRIORITIES-1
    evictions: int

    def key(self) -> tuple[int, ...]:
        """Lexicographic key: larger is better."""
        return (*reversed(self.placed), -self.evictions)


def check_placement(placement: object, cluster: Cluster) -> list[int | None]:
    """The reply must be a list with one entry per pod: a node index (Python int) or None."""
    n, m = len(cluster.pods), len(cluster.nodes)
    expected = f"a list of {n} entries, each a node index 0..{m - 1} (int) or None (unplaced)"
    if not isinstance(placement, list):
        raise InvalidOutput(f"place() must return {expected}; got {type(placement).__name__}")
    if len(placement) != n:
        raise InvalidOutput(f"place() returned {len(placement)} entries for {n} pods; expected {expected}")
    for i, node in enumerate(placement):
        if node is None:
            continue
        if type(node) is not int:
            raise InvalidOutput(f"entry {i} is {type(node).__name__} {node!r}; node indices must be Python "
                                "ints (or None for an unplaced pod)")
        if not 0 <= node < m:
            raise InvalidOutput(f"entry {i} is node {node}, outside 0..{m - 1}")
    used = [[0, 0] for _ in range(m)]
    for pod, node in zip(cluster.pods, placement):
        if node is not None:
            used[node][0] += pod.cpu
            used[node][1] += pod.mem
    for node, (u, cap) in enumerate(zip(used, cluster.nodes)):
        for r, name in enumerate(RESOURCES):
            if u[r] > cap[r]:
                pods = [i for i, x in enumerate(placement) if x == node]
                raise InvalidOutput(f"node {node} is over capacity: {name} requests {u[r]} > capacity "
                                    f"{cap[r]} (pods {pods[:12]}{' ...' if len(pods) > 12 else ''})")
    return placement


def outcome(cluster: Cluster, placement: Sequence[int | None]) -> Outcome:
    """Placed pods per priority and evictions of a (checked) placement."""
    placed = [0] * PRIORITIES
    evictions = 0
    for pod, node in zip(cluster.pods, placement):
        if node is not None:
            placed[pod.priority] += 1
        if pod.node is not None and node != pod.node:
            evictions += 1
    return Outcome(tuple(placed), evictions)


def weights(cluster: Cluster) -> tuple[int, ...]:
    """Integer weight per priority such that value() orders placements lexicographically.

    Eviction weight 1; W_0 = running + 1 (one more priority-0 pod beats any eviction count);
    W_p = sum_{q<p} n_q W_q + running + 1 (one more pod of priority p beats everything below).
    """
    counts = [0] * PRIORITIES
    for pod in cluster.pods:
        counts[pod.priority] += 1
    out: list[int] = []
    below = cluster.running  # the most the lower terms can add up to (evictions count negative)
    for p in range(PRIORITIES):
        out.append(below + 1)
        below += counts[p] * out[p]
    return tuple(out)


def value(cluster: Cluster, result: Outcome) -> int:
    """Exact lexicographic value: sum_p W_p * placed_p - evictions."""
    return sum(w * k for w, k in zip(weights(cluster), result.placed)) - result.evictions
