"""The default kube-scheduler's node scoring (integer arithmetic as in the upstream plugins).

Used by the instance generator to place the earlier pod set the way a real cluster would have
(FIFO arrivals, NodeResourcesFit filter, LeastAllocated + BalancedAllocation scores with equal
weights, ties to the lowest node index). Trusted code; the standalone baselines under
``problems/pod_packing/baselines`` reimplement the same rules (and preemption) on their own.
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_NODE_SCORE = 100


def least_allocated(used: Sequence[int], cap: Sequence[int]) -> int:
    """NodeResourcesFit LeastAllocated: mean over resources of (cap - used) * 100 // cap."""
    scores = [(c - u) * MAX_NODE_SCORE // c if c else 0 for u, c in zip(used, cap)]
    return sum(scores) // len(scores)


def most_allocated(used: Sequence[int], cap: Sequence[int]) -> int:
    """NodeResourcesFit MostAllocated: mean over resources of used * 100 // cap."""
    scores = [min(u, c) * MAX_NODE_SCORE // c if c else 0 for u, c in zip(used, cap)]
    return sum(scores) // len(scores)


def balanced_allocation(used: Sequence[int], cap: Sequence[int]) -> int:
    """NodeResourcesBalancedAllocation: (1 - std of the requested fractions) * 100, truncated."""
    fractions = [min(u / c, 1.0) if c else 0.0 for u, c in zip(used, cap)]
    mean = sum(fractions) / len(fractions)
    std = (sum((f - mean) ** 2 for f in fractions) / len(fractions)) ** 0.5
    return int((1 - std) * MAX_NODE_SCORE)


def best_node(req: Sequence[int], used: Sequence[Sequence[int]], cap: Sequence[Sequence[int]],
              most: bool = False) -> int | None:
    """Highest-scoring node that fits ``req`` (ties: lowest index), or None if none fits."""
    fit_score = most_allocated if most else least_allocated
    best, best_score = None, -1
    for n, (u, c) in enumerate(zip(used, cap)):
        after = [a + r for a, r in zip(u, req)]
        if any(a > b for a, b in zip(after, c)):
            continue
        score = fit_score(after, c) + balanced_allocation(after, c)
        if score > best_score:
            best, best_score = n, score
    return best


def fifo_schedule(reqs: Sequence[Sequence[int]], cap: Sequence[Sequence[int]]) -> list[int | None]:
    """Place pods one by one in arrival order on empty nodes, no preemption."""
    used = [[0] * len(c) for c in cap]
    out: list[int | None] = []
    for req in reqs:
        n = best_node(req, used, cap)
        if n is not None:
            used[n] = [a + r for a, r in zip(used[n], req)]
        out.append(n)
    return out
