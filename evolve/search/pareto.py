"""Pareto fronts over two higher-is-better scores (a problem's objective and its second
objective), and the choice of a parent from one (issue 20).

A point is on the front when no other point is at least as good on both scores and better on
one. Among the front, a parent is drawn with weight by its crowding distance (NSGA-II): points
in sparse stretches of the trade-off, and its two ends, are drawn more often than points with
close neighbours, so the search spreads along the front instead of climbing only its best end.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Point:
    program_id: int
    score: float  # the objective, higher is better (the combined score)
    second: float  # the second objective, higher is better


def dominates(a: Point, b: Point) -> bool:
    return a.score >= b.score and a.second >= b.second and (a.score > b.score or a.second > b.second)


def pareto_front(points: Iterable[Point]) -> list[Point]:
    """The non-dominated points, best objective first; of points with equal scores, the oldest
    (lowest id) stands for them."""
    front: list[Point] = []
    for p in sorted(points, key=lambda p: (-p.score, -p.second, p.program_id)):
        if not front or p.second > front[-1].second:
            front.append(p)
    return front


def crowding(front: list[Point]) -> list[float]:
    """NSGA-II crowding distance of each point of ``front`` (as ``pareto_front`` orders it): the
    sum over both scores of the normalised gap between its neighbours; the ends get twice the
    largest inner distance (1.0 when there is none)."""
    n = len(front)
    if n <= 2:
        return [1.0] * n
    span_a = front[0].score - front[-1].score or 1.0
    span_b = front[-1].second - front[0].second or 1.0
    inner = [(front[k - 1].score - front[k + 1].score) / span_a
             + (front[k + 1].second - front[k - 1].second) / span_b for k in range(1, n - 1)]
    end = 2 * max(inner) if max(inner) > 0 else 1.0
    return [end, *[d if d > 0 else end / 100 for d in inner], end]


def choose_on_front(front: list[Point], rng: random.Random) -> Point:
    """A parent from ``front``, weighted by crowding distance."""
    if not front:
        raise ValueError("the front is empty")
    return rng.choices(front, weights=crowding(front))[0]
