"""Parents from an island's Pareto front (``search.pareto_ratio``, issue 20): at that share of
parent choices, the parent is drawn from the island's front of objective against the problem's
second objective instead of from its MAP-Elites grid.

Each island's front is read from the archive on its first use (so a resumed run has it) and kept
as the island's programs are scored. A restart empties an island's grid, not its front: the
front is about the trade-off, which a restart from the best score would lose.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from evaluators.problem import ProblemSpec
from evolve.archive.fronts import run_points
from evolve.archive.store import Archive
from evolve.search.pareto import Point, choose_on_front, pareto_front


class FrontParents:
    def __init__(self, archive: Archive, run_id: int, spec: ProblemSpec, share: float):
        self.archive = archive
        self.run_id = run_id
        self.second = spec.objective.second
        self.share = share if self.second is not None else 0.0
        self._fronts: dict[int, list[Point]] = {}

    def choose(self, island: int, rng: random.Random) -> int | None:
        """A parent from ``island``'s front at ``share`` of calls, else None (the grid chooses).
        Draws nothing from ``rng`` when off, so a run without it is unchanged."""
        if self.share <= 0 or rng.random() >= self.share:
            return None
        front = self.front(island)
        return choose_on_front(front, rng).program_id if front else None

    def front(self, island: int) -> list[Point]:
        if self.second is None:
            return []
        if island not in self._fronts:
            points = run_points(self.archive.engine, self.run_id, self.second, island)
            self._fronts[island] = pareto_front(points)
        return self._fronts[island]

    def scored(self, program_id: int, islands: Iterable[int], score: float,
               metrics: dict[str, float]) -> None:
        """A program passed on ``islands`` with ``score`` and training ``metrics``."""
        if self.share <= 0 or self.second is None:
            return
        second = self.second.score(metrics)
        if second is None:
            return
        for island in islands:
            if island in self._fronts:
                self._fronts[island] = pareto_front([*self._fronts[island],
                                                     Point(program_id, score, second)])
