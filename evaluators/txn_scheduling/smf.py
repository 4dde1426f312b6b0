"""Trusted SMF reference (Shortest Makespan First, Cheng et al., VLDB'24) under the cost model.

Greedy: from a starting transaction, repeatedly append the unscheduled transaction whose
placement raises the current makespan the least (ties: lowest index); run from ``num_seqs``
starting transactions drawn by ``random.Random(0)`` and keep the lowest makespan (first on
ties). The verifier compares candidates against this figure (``vs_smf``); the standalone
baseline ``problems/txn_scheduling/baselines/smf_greedy.py`` must reproduce it exactly.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from evaluators.txn_scheduling.model import Txn


def greedy_from(txns: Sequence[Txn], first: int) -> tuple[int, list[int]]:
    """One SMF pass starting with ``first``: (makespan, order)."""
    any_release: dict[int, int] = {}
    write_release: dict[int, int] = {}

    def start_of(t: int) -> int:
        s = 0
        for h in txns[t].holds:
            ready = (any_release if h.write else write_release).get(h.key, 0) - h.first
            if ready > s:
                s = ready
        return s

    left = set(range(len(txns)))
    order: list[int] = []
    span = 0
    t = first
    while True:
        s = start_of(t)
        for h in txns[t].holds:
            release = s + h.last + 1
            any_release[h.key] = max(any_release.get(h.key, 0), release)
            if h.write:
                write_release[h.key] = max(write_release.get(h.key, 0), release)
        span = max(span, s + txns[t].length)
        order.append(t)
        left.remove(t)
        if not left:
            return span, order
        t = min(left, key=lambda u: (max(0, start_of(u) + txns[u].length - span), u))


def smf(txns: Sequence[Txn], num_seqs: int) -> tuple[int, list[int]]:
    """Best of ``num_seqs`` SMF passes from seeded random starting transactions."""
    if not txns:
        return 0, []
    best: tuple[int, list[int]] | None = None
    for first in random.Random(0).sample(range(len(txns)), min(num_seqs, len(txns))):
        span, order = greedy_from(txns, first)
        if best is None or span < best[0]:
            best = (span, order)
    assert best is not None
    return best
