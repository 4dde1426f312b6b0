"""SMF greedy + insertion local search: SMF (VLDB'24) followed by a seeded hill climb.

Starts from the SMF order (10 seeded starts, as in smf_greedy.py), then tries 1000 random moves
(random.Random(1)): take the transaction at one position and reinsert it at another; keep the
move when the exact makespan under the cost model does not increase (sideways moves allowed, so
the search drifts across plateaus). Deterministic, about 0.15 s per 100-transaction workload.
"""

import random


def _holds(ops: list) -> list[tuple[int, int, int, bool]]:
    first: dict = {}
    last: dict = {}
    writes: dict = {}
    for k, (op, key) in enumerate(ops):
        first.setdefault(key, k)
        last[key] = k
        writes[key] = writes.get(key, False) or op == "w"
    return [(key, first[key], last[key], writes[key]) for key in first]


def _greedy(holds: list, lengths: list[int], first_txn: int) -> tuple[int, list[int]]:
    any_release: dict = {}
    write_release: dict = {}

    def start_of(t: int) -> int:
        s = 0
        for key, first, _, writes in holds[t]:
            ready = (any_release if writes else write_release).get(key, 0) - first
            if ready > s:
                s = ready
        return s

    left = set(range(len(holds)))
    order: list[int] = []
    span = 0
    t = first_txn
    while True:
        s = start_of(t)
        for key, _, last, writes in holds[t]:
            release = s + last + 1
            any_release[key] = max(any_release.get(key, 0), release)
            if writes:
                write_release[key] = max(write_release.get(key, 0), release)
        span = max(span, s + lengths[t])
        order.append(t)
        left.remove(t)
        if not left:
            return span, order
        t = min(left, key=lambda u: (max(0, start_of(u) + lengths[u] - span), u))


def _smf(workload: list, num_seqs: int) -> list[int]:
    n = len(workload)
    if n == 0:
        return []
    holds = [_holds(ops) for ops in workload]
    lengths = [len(ops) for ops in workload]
    best = None
    for first_txn in random.Random(0).sample(range(n), min(num_seqs, n)):
        span, order = _greedy(holds, lengths, first_txn)
        if best is None or span < best[0]:
            best = (span, order)
    return best[1]


def _makespan(holds: list, lengths: list[int], order: list[int]) -> int:
    any_release: dict = {}
    write_release: dict = {}
    span = 0
    for t in order:
        s = 0
        for key, first, _, writes in holds[t]:
            ready = (any_release if writes else write_release).get(key, 0) - first
            if ready > s:
                s = ready
        for key, _, last, writes in holds[t]:
            release = s + last + 1
            if release > any_release.get(key, 0):
                any_release[key] = release
            if writes and release > write_release.get(key, 0):
                write_release[key] = release
        span = max(span, s + lengths[t])
    return span


def get_best_schedule(workload: list, num_seqs: int, moves: int = 1000) -> list[int]:
    order = _smf(workload, num_seqs)
    if len(order) < 2:
        return order
    holds = [_holds(ops) for ops in workload]
    lengths = [len(ops) for ops in workload]
    best = _makespan(holds, lengths, order)
    rng = random.Random(1)
    for _ in range(moves):
        i, j = rng.randrange(len(order)), rng.randrange(len(order))
        cand = order[:]
        cand.insert(j, cand.pop(i))
        span = _makespan(holds, lengths, cand)
        if span <= best:
            best, order = span, cand
    return order
