"""Seed policy for cant_be_late: greedy. Take spot whenever any region has it, otherwise wait.

The harness switches to on-demand by itself once waiting longer could miss the deadline, so
greedy never has to pick ON_DEMAND. Only the EVOLVE-BLOCK is evolved.
"""

# EVOLVE-BLOCK-START
def decide(state: dict) -> str | list:
    """One tick's action: 'SPOT', 'ON_DEMAND' or 'NONE' in the current region, or
    [action, region] to act in another region (every launch or move pays the restart overhead).
    Greedy: stay on spot in the current region if it is available, else move to the first region
    with spot, else wait."""
    spot = state["spot"]
    if spot[state["region"]]:
        return "SPOT"
    for region, available in enumerate(spot):
        if available:
            return ["SPOT", region]
    return "NONE"
# EVOLVE-BLOCK-END
