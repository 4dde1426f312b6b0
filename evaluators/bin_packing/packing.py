"""The trusted online packing loop and the check of one priority reply.

For each item in order the loop finds the open bins it fits in (remaining >= size). If none
fits, a new bin is opened without asking anyone. Otherwise the policy is asked for one priority
per entry of ``bins`` = [remaining capacities of the fitting open bins, in opening order] + [the
capacity] (the last entry is a new, empty bin, as in FunSearch, whose priority function saw the
empty bins too). The item goes to the entry with the highest priority, ties to the earliest
entry; the last entry opens a new bin. The policy only ever sees the current item and those
numbers: no future items, no full bins, no bound, no score. ``ask`` is the verifier's
``box.call`` in production and a plain function in the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from evaluators.base import InvalidOutput

Ask = Callable[[float, list[float]], object]


@dataclass(frozen=True)
class Packing:
    bins: int               # bins used
    calls: int              # priority calls (items that fitted in at least one open bin)
    opened_by_choice: int   # new bins opened although an open bin fitted
    remaining: tuple[int, ...]  # final free capacity of every bin, in opening order


def choose(scores: object, n: int) -> int:
    """Validate a priority reply for ``n`` entries; return the index of the highest (first on ties)."""
    if type(scores) is not list:
        raise InvalidOutput(f"priority() must return a list of {n} numbers (one per entry of bins), "
                            f"got {type(scores).__name__}")
    if len(scores) != n:
        raise InvalidOutput(f"priority() returned {len(scores)} priorities for {n} entries of bins; "
                            "expected exactly one per entry, the last (new-bin) entry included")
    for k, x in enumerate(scores):
        if type(x) is not float and type(x) is not int:  # bool is excluded on purpose
            raise InvalidOutput(f"priority() must return numbers (int or float); entry {k} is "
                                f"{type(x).__name__} {repr(x)[:40]}")
    try:
        values = np.array(scores, dtype=np.float64)
    except OverflowError:
        raise InvalidOutput("priority() returned an integer too large for a 64-bit float") from None
    if not np.isfinite(values).all():
        k = int(np.flatnonzero(~np.isfinite(values))[0])
        raise InvalidOutput(f"priority() must return finite numbers; entry {k} is {values[k]}")
    return int(np.argmax(values))


def pack(items: Sequence[int], capacity: int, ask: Ask) -> Packing:
    """Pack ``items`` online into bins of ``capacity``, asking ``ask(item, bins)`` for priorities."""
    rem = np.empty(len(items), dtype=np.float64)  # exact: all sizes are integers
    cap = float(capacity)
    used = calls = by_choice = 0
    for item in items:
        size = float(item)
        fit = np.flatnonzero(rem[:used] >= size)
        if fit.size:
            offered = rem[fit].tolist()
            offered.append(cap)
            pick = choose(ask(size, offered), len(offered))
            calls += 1
            if pick < fit.size:
                rem[fit[pick]] -= size
                continue
            by_choice += 1
        rem[used] = cap - size
        used += 1
    return Packing(bins=used, calls=calls, opened_by_choice=by_choice,
                   remaining=tuple(int(r) for r in rem[:used]))
