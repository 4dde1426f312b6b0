"""Parent and inspiration selection over one island's MAP-Elites grid.

The grid holds at most (product of bins) elites per island, so every choice here costs the same
whatever the archive size. Only evaluated, successful programs are ever in a grid, so failed
programs can never become parents.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from evolve.archive.store import EliteView


@dataclass(frozen=True)
class Ratios:
    fitness: float
    elite: float
    random: float
    novelty_bonus: float = 1.0


@dataclass(frozen=True)
class Stint:
    """An island's current parent, asked ``left`` more times before the next choice (the same
    parent, inspirations and focus keep the prompt's prefix, which a one-slot server reuses)."""

    island: int
    parent_id: int
    insp_ids: tuple[int, ...]
    focus: str | None  # a function rewrite's function, once chosen
    left: int
    mate_id: int | None = None  # a crossover's second parent


def fitness_weights(elites: list[EliteView], novelty_bonus: float) -> list[float]:
    """Rank-based fitness times a bonus for programs that have had few children."""
    order = sorted(range(len(elites)), key=lambda i: elites[i].score)
    rank = [0] * len(elites)
    for r, i in enumerate(order):
        rank[i] = r + 1  # worst = 1, best = len
    return [rank[i] / (1.0 + novelty_bonus * elites[i].children_count) for i in range(len(elites))]


def choose_parent(elites: list[EliteView], rng: random.Random, ratios: Ratios) -> tuple[EliteView, str]:
    """Pick a parent and say how: ``fitness``, ``elite`` or ``random``."""
    if not elites:
        raise ValueError("island has no evaluated program to use as a parent")
    mode = rng.choices(["fitness", "elite", "random"],
                       weights=[ratios.fitness, ratios.elite, ratios.random])[0]
    if mode == "elite":
        best = max(e.score for e in elites)
        return rng.choice([e for e in elites if e.score == best]), mode
    if mode == "random":
        return rng.choice(elites), mode
    return rng.choices(elites, weights=fitness_weights(elites, ratios.novelty_bonus))[0], mode


def choose_inspirations(parent_id: int, top: list[tuple[int, float]], elites: list[EliteView],
                        rng: random.Random, n_top: int, n_diverse: int) -> list[int]:
    """Top programs of the run plus elites of other cells on the island, never the parent."""
    chosen: list[int] = []
    for pid, _ in top:
        if len(chosen) >= n_top:
            break
        if pid != parent_id and pid not in chosen:
            chosen.append(pid)
    others = [e.program_id for e in elites if e.program_id != parent_id and e.program_id not in chosen]
    rng.shuffle(others)
    chosen.extend(others[:n_diverse])
    return chosen


def choose_mate(parent_id: int, own: list[EliteView], others: list[EliteView],
                rng: random.Random) -> int | None:
    """A crossover's second parent: an elite of another island (a lineage that evolved apart),
    else of another cell of the parent's island, rank-weighted by score; never the parent.
    None when the run has no such program yet."""
    for pool in (others, own):
        pool = [e for e in pool if e.program_id != parent_id]
        if pool:
            return rng.choices(pool, weights=fitness_weights(pool, 0.0))[0].program_id
    return None
