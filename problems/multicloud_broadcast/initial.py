"""Seed policy for multicloud_broadcast: direct transfer.

Every destination receives the whole object straight from the source over the edge
source -> destination (one path, share 1): no relay, no reuse of a transfer between
destinations. Only the EVOLVE-BLOCK is evolved.
"""

# EVOLVE-BLOCK-START
def plan_broadcast(regions: list, price: list, throughput: list, vm_price: list, source: int,
                   destinations: list, size_gb: float) -> list:
    """Return, for each destination (in order), a list of [path, share] pairs: path = region
    indices from the source to that destination, share = the fraction of the object it carries."""
    return [[[[source, d], 1.0]] for d in destinations]
# EVOLVE-BLOCK-END
