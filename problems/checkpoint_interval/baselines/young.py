"""Young (CACM 1974), first-order optimum: tau = sqrt(2 C M), with C the checkpoint cost observed
now and M the cluster's MTBF, recomputed at every call."""

import math


def next_checkpoint(state: dict) -> float:
    tau = math.sqrt(2.0 * state["checkpoint_cost"] * state["mtbf"])
    return min(max(tau, state["min_interval"]), state["work"])
