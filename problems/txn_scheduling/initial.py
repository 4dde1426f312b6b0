"""Seed policy for txn_scheduling: the input (sequential) order, written as a greedy dispatcher.

The dispatcher appends one transaction at a time, tracking when each key is released under the
cost model, and asks priority() which unscheduled transaction goes next. Ranking by index gives
the input order. Only the EVOLVE-BLOCK is evolved.
"""

# EVOLVE-BLOCK-START
def priority(i: int, start: int, length: int, makespan: int) -> float:
    """Rank of ONE unscheduled transaction i if it were appended next (all four are single ints):
    it would start at `start` and end at start + length; `makespan` is the makespan of the order
    built so far. The smallest value is appended next (ties: lowest index). Input order: just i."""
    return i


def get_best_schedule(workload: list, num_seqs: int) -> list[int]:
    """Return an execution order (a permutation of 0..n-1) built greedily by priority()."""
    holds = []  # per transaction: (key, first offset, last offset, writes?) per distinct key
    for ops in workload:
        first, last, writes = {}, {}, {}
        for k, (op, key) in enumerate(ops):
            first.setdefault(key, k)
            last[key] = k
            writes[key] = writes.get(key, False) or op == "w"
        holds.append([(key, first[key], last[key], writes[key]) for key in first])
    any_release, write_release = {}, {}  # key -> latest release by any / by a writing holder

    def start_of(t):
        s = 0
        for key, first, _, writes in holds[t]:
            s = max(s, (any_release if writes else write_release).get(key, 0) - first)
        return s

    left = set(range(len(workload)))
    order, makespan = [], 0
    while left:
        t = min(left, key=lambda u: (priority(u, start_of(u), len(workload[u]), makespan), u))
        s = start_of(t)
        for key, _, last, writes in holds[t]:
            any_release[key] = max(any_release.get(key, 0), s + last + 1)
            if writes:
                write_release[key] = max(write_release.get(key, 0), s + last + 1)
        makespan = max(makespan, s + len(workload[t]))
        order.append(t)
        left.remove(t)
    return order
# EVOLVE-BLOCK-END
