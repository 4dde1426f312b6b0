"""SMF greedy: Shortest Makespan First (Cheng et al., "Towards Optimal Transaction Scheduling", VLDB'24).

From a starting transaction, repeatedly append the unscheduled transaction whose placement raises
the makespan of the order so far the least (ties: lowest index). Repeat from ``num_seqs`` starting
transactions drawn by random.Random(0) and keep the order with the lowest makespan (first on
ties). Every candidate is evaluated exactly (no sampling), under the problem's cost model: a
transaction holds each key from its first to its last operation on it (write mode if it writes
it), runs its operations back to back, and starts as early as every conflicting earlier
transaction's release of a shared key allows.
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


def get_best_schedule(workload: list, num_seqs: int) -> list[int]:
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
