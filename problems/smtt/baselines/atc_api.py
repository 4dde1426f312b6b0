"""ATC with its best k, then adjacent pairwise interchange until no swap improves.

ATC: Vepsalainen & Morton 1987; interchange: Potts & Van Wassenhove 1991.
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


def adjacent_interchange(order, p, w, d):
    order = list(order)
    improved = True
    while improved:
        improved = False
        t = 0
        for i in range(len(order) - 1):
            a, b = order[i], order[i + 1]
            # cost of the pair in place, both ways; jobs before and after are unaffected
            keep = w[a] * max(0, t + p[a] - d[a]) + w[b] * max(0, t + p[a] + p[b] - d[b])
            swap = w[b] * max(0, t + p[b] - d[b]) + w[a] * max(0, t + p[a] + p[b] - d[a])
            if swap < keep:
                order[i], order[i + 1] = b, a
                improved = True
            t += p[order[i]]
    return order


def schedule(p: list[int], w: list[int], d: list[int]) -> list[int]:
    atc_best = min((atc_sequence(p, w, d, k) for k in K_GRID),
                   key=lambda o: total_weighted_tardiness(o, p, w, d))
    return adjacent_interchange(atc_best, p, w, d)
