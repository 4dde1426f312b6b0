"""Apparent tardiness cost (Vepsalainen & Morton 1987), best look-ahead k per instance.

Dispatching: at time t, start the job maximising (w_j / p_j) * exp(-max(d_j - p_j - t, 0) / (k * p_mean)).
The rule is run for each k in K_GRID and the best resulting sequence is kept.
"""

import math

K_GRID = (0.5, 1.0, 2.0, 3.0, 5.0, 6.0)


def total_weighted_tardiness(order, p, w, d):
    t = total = 0
    for j in order:
        t += p[j]
        total += w[j] * max(0, t - d[j])
    return total


def atc_sequence(p, w, d, k):
    n = len(p)
    p_mean = sum(p) / n
    left = set(range(n))
    t = 0
    order = []
    while left:
        now = t
        j = max(left, key=lambda j: ((w[j] / p[j]) * math.exp(-max(d[j] - p[j] - now, 0) / (k * p_mean)),
                                     -d[j], -j))
        order.append(j)
        left.remove(j)
        t += p[j]
    return order


def schedule(p: list[int], w: list[int], d: list[int]) -> list[int]:
    candidates = [atc_sequence(p, w, d, k) for k in K_GRID]
    return min(candidates, key=lambda o: total_weighted_tardiness(o, p, w, d))
