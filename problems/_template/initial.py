"""Seed policy for the template problem: the input order, written as a dispatcher over priority().

Only the EVOLVE-BLOCK is evolved.
"""

# EVOLVE-BLOCK-START
def priority(p_j: int, w_j: int) -> float:
    """Rank of ONE job (its processing time and weight); the smallest value runs first, ties by
    job index. Input order: every job ranks the same."""
    return 0.0


def schedule(p: list[int], w: list[int]) -> list[int]:
    """Return the processing order of jobs 0..n-1 (a permutation)."""
    return sorted(range(len(p)), key=lambda j: (priority(p[j], w[j]), j))
# EVOLVE-BLOCK-END
