"""Greedy (Wu et al., NSDI'24, the baseline policy): use spot whenever it is available, otherwise
stay idle; the deadline safety net (here the harness's) switches to on-demand until the end once
waiting longer could miss the deadline. Multi-region: the current region first, then the lowest
index with spot.
"""


def decide(state: dict) -> str | list:
    spot = state["spot"]
    if spot[state["region"]]:
        return "SPOT"
    for region, available in enumerate(spot):
        if available:
            return ["SPOT", region]
    return "NONE"
