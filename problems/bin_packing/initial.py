"""Seed policy for online bin packing: best fit (the tightest bin that fits).

Only the EVOLVE-BLOCK is evolved.
"""

# EVOLVE-BLOCK-START
def priority(item: float, bins: list[float]) -> list[float]:
    """One priority per entry of ``bins`` (remaining capacities of the open bins the item fits in,
    in opening order, then the capacity of a new empty bin); the item goes to the highest.
    Best fit: the less room left after placing the item, the better."""
    return [-(b - item) for b in bins]
# EVOLVE-BLOCK-END
