"""Best-found references for generated SMTT instances too large for the exact DP (n = 100).

Iterated local search, the standard strong method for 1||sum wjTj at this size (Congram, Potts &
van de Velde 2002 use dynasearch; plain ILS with interchange and insertion comes within a fraction
of a percent of best known on OR-Library wt100): start from the best of EDD, WSPT and ATC at six
look-ahead values, descend with adjacent interchange and insertion of single jobs, perturb by a few
random insertions, keep the best. Deterministic for a given seed. The result is a reference the
verifier scores gaps against, not a proven optimum: a candidate may beat it (a negative gap).
Checked on OR-Library wt40 against the proven optima by ``tests/test_smtt.py``.
"""

from __future__ import annotations

import math
import random

from evaluators.smtt.instances import weighted_tardiness

K_GRID = (0.5, 1.0, 2.0, 3.0, 5.0, 6.0)


def _atc(p, w, d, k: float) -> list[int]:
    n, t = len(p), 0
    p_mean = sum(p) / n
    left, order = set(range(n)), []
    while left:
        j = max(left, key=lambda j: (w[j] / p[j] * math.exp(-max(d[j] - p[j] - t, 0) / (k * p_mean)),
                                     -d[j], -j))
        order.append(j)
        left.remove(j)
        t += p[j]
    return order


def _starts(p, w, d) -> list[list[int]]:
    n = len(p)
    return [sorted(range(n), key=lambda j: (d[j], j)),
            sorted(range(n), key=lambda j: (-w[j] / p[j], j)),
            *(_atc(p, w, d, k) for k in K_GRID)]


def _interchange(order: list[int], p, w, d) -> list[int]:
    """Adjacent pairwise interchange until no swap improves (O(1) per swap tried)."""
    improved = True
    while improved:
        improved = False
        t = 0
        for i in range(len(order) - 1):
            a, b = order[i], order[i + 1]
            keep = w[a] * max(0, t + p[a] - d[a]) + w[b] * max(0, t + p[a] + p[b] - d[b])
            swap = w[b] * max(0, t + p[b] - d[b]) + w[a] * max(0, t + p[a] + p[b] - d[a])
            if swap < keep:
                order[i], order[i + 1] = b, a
                improved = True
            t += p[order[i]]
    return order


def _completions(order: list[int], p) -> list[int]:
    out, t = [], 0
    for j in order:
        t += p[j]
        out.append(t)
    return out


def _best_move(order: list[int], p, w, d) -> tuple[int, int, int]:
    """The best single-job move (from, to, change in cost) over all jobs and positions, with the
    cost change of every move computed incrementally (O(n) per job)."""
    c = _completions(order, p)
    tard = [w[j] * max(0, c[i] - d[j]) for i, j in enumerate(order)]
    best = (0, 0, 0)
    for i, j in enumerate(order):
        pj, wj, dj = p[j], w[j], d[j]
        shift = 0  # earlier move: the jobs between shift later by pj
        for pos in range(i - 1, -1, -1):
            k = order[pos]
            shift += w[k] * max(0, c[pos] + pj - d[k]) - tard[pos]
            start = c[pos - 1] if pos else 0
            delta = shift + wj * max(0, start + pj - dj) - tard[i]
            if delta < best[2]:
                best = (i, pos, delta)
        shift = 0  # later move: the jobs between shift earlier by pj
        for pos in range(i + 1, len(order)):
            k = order[pos]
            shift += w[k] * max(0, c[pos] - pj - d[k]) - tard[pos]
            delta = shift + wj * max(0, c[pos] - dj) - tard[i]
            if delta < best[2]:
                best = (i, pos, delta)
    return best


def _insertion(order: list[int], p, w, d) -> tuple[list[int], int]:
    """Best-improvement single-job moves (interchange between them) until none improves."""
    while True:
        i, pos, delta = _best_move(order, p, w, d)
        if delta >= 0:
            return order, weighted_tardiness(order, p, w, d)
        order.insert(pos, order.pop(i))
        order = _interchange(order, p, w, d)


def best_found(p, w, d, iterations: int = 300, seed: int = 0) -> tuple[list[int], int]:
    """The best order found and its total weighted tardiness."""
    rng = random.Random(seed)
    start = min(_starts(p, w, d), key=lambda o: weighted_tardiness(o, p, w, d))
    best, best_cost = _insertion(_interchange(list(start), p, w, d), p, w, d)
    if best_cost == 0:
        return best, 0
    current, cost = best, best_cost
    n = len(p)
    for _ in range(iterations):
        trial = list(current)
        for _ in range(3):
            j = trial.pop(rng.randrange(n))
            trial.insert(rng.randrange(n), j)
        trial, trial_cost = _insertion(_interchange(trial, p, w, d), p, w, d)
        if trial_cost <= cost:
            current, cost = trial, trial_cost
            if cost < best_cost:
                best, best_cost = list(current), cost
                if best_cost == 0:
                    break
    return best, best_cost
