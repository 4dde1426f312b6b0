"""Daly's interval (FGCS 2006, eq. 37) computed once, from the checkpoint cost measured at the
job's start, and kept for the whole job: a fixed save interval as training frameworks are
configured with. Identical to ``daly`` while the checkpoint cost is constant."""

import math

FIXED = [1.0]


def next_checkpoint(state: dict) -> float:
    if state["call"] == 0:  # a new job: measure once
        c, m = state["checkpoint_cost"], state["mtbf"]
        x = c / (2.0 * m)
        FIXED[0] = math.sqrt(2.0 * c * m) * (1.0 + math.sqrt(x) / 3.0 + x / 9.0) - c if c < 2.0 * m else m
    return min(max(FIXED[0], state["min_interval"]), state["work"])
