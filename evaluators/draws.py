"""Draws: which random instances a generated set holds, so a candidate cannot rebuild them.

A generated set's instances come from fixed seeds in public code. A candidate that knew them
could regenerate the set at import time and play precomputed answers. A set marked
``drawn = true`` in problem.toml is therefore generated from its fixed seeds *and* a draw: a
63-bit number chosen when a run starts, kept in the run's archive row and given only to the
verifiers (never to a candidate, a prompt or a feedback text). Without a draw (``None``) a set is
the fixed public draw that the README tables are measured on.

``entropy`` is the one place a draw enters a generator: the public draw passes the fixed seed to
``numpy.random.default_rng`` exactly as before (so the public tables stay reproducible), a run's
draw is prepended to it.
"""

from __future__ import annotations

import secrets

DRAW_BITS = 63  # fits a signed 64-bit column in SQLite and PostgreSQL
# a number a person chooses must still be beyond search: a red team's candidate tried about
# 30,000 draws a second against the first instance it was shown (3 million in one evaluation's
# time) and found 12345 and 424242; 2**40 of them take a year of such evaluations
MIN_CHOSEN = 2 ** 40


def new_draw() -> int:
    """A fresh draw from the operating system's CSPRNG (nothing a candidate can predict)."""
    return secrets.randbits(DRAW_BITS)


def entropy(draw: int | None, seed: int | list[int] | tuple[int, ...]) -> int | list[int]:
    """What to seed ``numpy.random.default_rng`` with: ``seed`` itself on the public draw, the
    draw followed by ``seed`` on a run's draw."""
    if draw is None:
        return list(seed) if isinstance(seed, (list, tuple)) else seed
    return [draw, *(seed if isinstance(seed, (list, tuple)) else [seed])]


def chosen_draw_error(draw: int) -> str | None:
    """Why a draw someone chose cannot be used (None: it can)."""
    if not 0 <= draw < 2 ** DRAW_BITS:
        return f"draw {draw} is out of range: use a whole number from 2**40 to 2**{DRAW_BITS} - 1"
    if draw < MIN_CHOSEN:
        return (f"draw {draw} is small enough for a candidate to find by trying every number: use "
                "random, or a number random drew (a run's draw, shown by `evolve status`)")
    return None


def describe(draw: int | None) -> str:
    """How a draw is shown to people (reports, `evolve verify`)."""
    return "the public draw (README tables)" if draw is None else f"draw {draw}"
