"""Seed policy for SMTT: earliest due date (EDD) as a dispatching rule. Only the EVOLVE-BLOCK is evolved."""

# EVOLVE-BLOCK-START
def priority(p_j: int, w_j: int, d_j: int, t: int) -> float:
    """Rank of ONE unscheduled job j at time t (all four arguments are single numbers: its
    processing time, weight, due date, and the time already used); the job with the smallest
    value runs next. Earliest due date: just d_j."""
    return d_j


def schedule(p: list[int], w: list[int], d: list[int]) -> list[int]:
    """Return the processing order of jobs 0..n-1 (a permutation): dispatch by priority()."""
    left = set(range(len(p)))
    t = 0
    order = []
    while left:
        j = min(left, key=lambda j: (priority(p[j], w[j], d[j], t), d[j], j))
        order.append(j)
        left.remove(j)
        t += p[j]
    return order
# EVOLVE-BLOCK-END
