"""Seed policy for EPLB: one slot per expert in id order, the spare slots to the hottest experts.

Only the EVOLVE-BLOCK is evolved. Slots are filled in order, so GPU g holds a contiguous block of
expert ids; nothing looks at how the load lands on each GPU.
"""

# EVOLVE-BLOCK-START
import numpy as np


def rebalance_experts(weight: list[list[float]], num_replicas: int, num_groups: int, num_nodes: int,
                      num_gpus: int) -> list[list[int]]:
    """Return phy2log: for each layer, the logical expert held by each of the num_replicas slots
    (slot s is on GPU s // (num_replicas // num_gpus))."""
    out = []
    for loads in weight:
        experts = len(loads)
        hottest = np.argsort(loads, kind="stable")[::-1]  # hottest first
        extra = [int(hottest[k % experts]) for k in range(num_replicas - experts)]
        out.append(list(range(experts)) + extra)
    return out
# EVOLVE-BLOCK-END
