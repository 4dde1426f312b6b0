"""Seed policy for SMTT: earliest due date (EDD). Only the EVOLVE-BLOCK is evolved."""

# EVOLVE-BLOCK-START
def schedule(p: list[int], w: list[int], d: list[int]) -> list[int]:
    """Return the processing order of jobs 0..n-1 (a permutation)."""
    return sorted(range(len(p)), key=lambda j: d[j])
# EVOLVE-BLOCK-END
