"""The omniscient optimum: the cheapest way to finish by the deadline knowing the whole trace.

A backward dynamic program over ticks on the simulator's own model (same preemption, restart
overhead and billing rules; no safety net, which only constrains online policies). The state at
the start of a tick is the running instance (NONE, or SPOT / ON_DEMAND in a region with its
restart overhead still to pay) and the work done, vectorised over all work levels in
centihours. It is a lower bound on what any policy can achieve and is used only as a reference
in the verifier (it never reaches the candidate).
"""

from __future__ import annotations

import numpy as np

from evaluators.cant_be_late.actions import ON_DEMAND, SPOT
from evaluators.cant_be_late.instances import ON_DEMAND_PRICE, SPOT_PRICE, UNITS_PER_HOUR, Instance

IDLE = ("NONE", -1, 0)
PRICE = {SPOT: SPOT_PRICE / UNITS_PER_HOUR, ON_DEMAND: ON_DEMAND_PRICE / UNITS_PER_HOUR}  # $/unit


def omniscient_cost(inst: Instance) -> float:
    """Minimum dollars over all action sequences that finish the work by the deadline."""
    work, dt, overhead, regions = inst.work, inst.tick, inst.overhead, inst.regions
    levels = np.arange(work + 1)
    left = work - levels
    pending = sorted({max(0, overhead - j * dt) for j in range(1, overhead // dt + 2)})
    running = [(kind, r, o) for kind in (SPOT, ON_DEMAND) for r in range(regions) for o in pending]
    final = np.full(work + 1, np.inf)
    final[work] = 0.0
    nxt = {state: final for state in [IDLE, *running]}
    for k in reversed(range(inst.ticks)):
        spot = inst.spot[k]
        spot_next = inst.spot[k + 1] if k + 1 < inst.ticks else (True,) * regions

        def run(kind: str, r: int, owed: int, spot_next=spot_next, nxt=nxt) -> np.ndarray:
            paid = min(owed, dt)
            step = np.minimum(dt - paid, left)
            after = IDLE if kind == SPOT and not spot_next[r] else (kind, r, owed - paid)
            return PRICE[kind] * (paid + step) + nxt[after][levels + step]

        launches = [run(kind, r, overhead) for kind in (SPOT, ON_DEMAND) for r in range(regions)
                    if kind == ON_DEMAND or spot[r]]
        best = np.minimum.reduce([nxt[IDLE], *launches])
        cur = {IDLE: best}
        for kind, r, o in running:
            # a spot instance whose region lost spot this tick was preempted: it is idle
            cur[(kind, r, o)] = best if kind == SPOT and not spot[r] else np.minimum(best, run(kind, r, o))
        nxt = cur
    return float(nxt[IDLE][0])
