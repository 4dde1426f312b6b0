"""Exact reference for small SMTT instances: dynamic programming over job subsets (numpy).

f(S) = min over j in S of f(S - j) + w_j * max(0, P(S) - d_j), computed layer by layer over
subset size. Memory and time are O(2^n * n): about a second at n = 20, so it is used only for the
generated n <= 20 sets and its results are cached on disk beside the data.
"""

from __future__ import annotations

import numpy as np

MAX_N = 22


def optimal_weighted_tardiness(p, w, d) -> int:
    n = len(p)
    if n > MAX_N:
        raise ValueError(f"exact DP is limited to n <= {MAX_N} jobs (got {n})")
    size = 1 << n
    masks = np.arange(size, dtype=np.int64)
    total_p = np.zeros(size, dtype=np.int64)
    for j in range(n):
        total_p += ((masks >> j) & 1) * int(p[j])
    popcount = np.zeros(size, dtype=np.int64)
    for j in range(n):
        popcount += (masks >> j) & 1
    best = np.full(size, np.iinfo(np.int64).max // 4, dtype=np.int64)
    best[0] = 0
    layers = [masks[popcount == k] for k in range(n + 1)]
    for k in range(1, n + 1):
        layer = layers[k]
        cur = np.full(layer.size, np.iinfo(np.int64).max // 4, dtype=np.int64)
        span = total_p[layer]
        for j in range(n):
            has = ((layer >> j) & 1).astype(bool)
            if not has.any():
                continue
            sub = layer[has]
            cost = best[sub ^ (1 << j)] + int(w[j]) * np.maximum(0, span[has] - int(d[j]))
            cur[has] = np.minimum(cur[has], cost)
        best[layer] = cur
    return int(best[size - 1])
