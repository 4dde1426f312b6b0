"""Placement checks and the lexicographic objective (trusted; never sees candidate code).

A placement gives every pod a node index or None (unplaced). It is feasible when, on every node,
the summed CPU and the summed memory requests of the pods placed there stay within the node's
capacity. Its outcome is the number of placed pods per priority and the number of evictions: a
running pod that ends up unplaced or on another node than the one it runs on now. The fitness
(``weighted_placed``) is the share of the cluster's priority-weighted pods placed, less a small
cost per eviction; ``Outcome.key`` keeps the paper's strict lexicographic order (more placed pods
of priority 3, then 2, 1, 0, then fewer evictions) for comparisons with the CP-SAT reference.
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


# a pod of priority p is worth four of priority p - 1: dropping a pod pays only for more than four
# pods one priority below (more than 64 priority-0 pods for one priority-3 pod)
PRIORITY_WEIGHTS = (1, 4, 16, 64)
EVICTION_COST = 0.25  # of a priority-0 pod: one more placed pod is worth up to four moves


def demand(cluster: Cluster) -> int:
    """The priority-weighted pod count of a cluster (every pod placed, no eviction = 100%)."""
    return sum(PRIORITY_WEIGHTS[pod.priority] for pod in cluster.pods)


def weighted_placed(cluster: Cluster, result: Outcome) -> float:
    """Share of the cluster's priority-weighted pods placed, less the evictions' cost."""
    placed = sum(w * k for w, k in zip(PRIORITY_WEIGHTS, result.placed))
    return (placed - EVICTION_COST * result.evictions) / demand(cluster)
