"""Daly (FGCS 2006), higher-order optimum for exponential failures and a constant checkpoint cost
C (eq. 37): tau = sqrt(2 C M) [1 + sqrt(C / 2M) / 3 + (C / 2M) / 9] - C for C < 2M, else M.
C is the checkpoint cost observed now, M the cluster's MTBF; recomputed at every call."""

import math


def next_checkpoint(state: dict) -> float:
    c, m = state["checkpoint_cost"], state["mtbf"]
    if c < 2.0 * m:
        x = c / (2.0 * m)
        tau = math.sqrt(2.0 * c * m) * (1.0 + math.sqrt(x) / 3.0 + x / 9.0) - c
    else:
        tau = m
    return min(max(tau, state["min_interval"]), state["work"])
