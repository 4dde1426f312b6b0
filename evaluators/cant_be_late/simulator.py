"""The trusted tick simulator: asks the policy for one action per tick, enforces the deadline.

Model (integer centihours throughout). At the start of tick k (time t = k * tick) a spot instance
whose region lost spot this tick is preempted (the job is then idle, NONE). The safety net is
checked next: with R the remaining work, once ``deadline - t - R - overhead - tick < 0`` the
harness runs ON_DEMAND until the job is done, whatever the policy would say, and stops asking it.
Otherwise the policy's action is applied: NONE releases the instance (free); keeping the same
instance type in the same region continues it; any other choice launches a new instance, which
first pays the full restart overhead (no progress, billed). A running instance is billed for the
time it is used in the tick: overhead first, then progress, up to the remaining work. The policy
never sees the future: only this tick's availability, and only the values in ``state``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from evaluators.cant_be_late.actions import NONE, ON_DEMAND, SPOT, parse_action
from evaluators.cant_be_late.instances import ON_DEMAND_PRICE, SPOT_PRICE, Instance, to_hours


class DeadlineMissed(RuntimeError):
    """The job finished late: the harness's guarantee failed (a verifier bug or a bad instance)."""


@dataclass(frozen=True)
class Outcome:
    """What one job cost, measured by the simulator (never reported by the policy)."""

    cost: float                # dollars
    spot_hours: float          # billed spot hours (restart overhead included)
    on_demand_hours: float     # billed on-demand hours (restart overhead included)
    finish: float              # hours after submission when the work completed
    forced_at: float | None    # hours when the safety net took over, if it did
    preemptions: int
    launches: int
    calls: int                 # decide() calls made


def make_state(inst: Instance, k: int, done: int, current: str, region: int, overhead_left: int,
               preempted: bool) -> dict:
    """The policy's view of tick k: plain JSON values, this tick's availability only."""
    t, remaining = k * inst.tick, inst.work - done
    return {
        "tick": k, "elapsed": to_hours(t), "tick_hours": to_hours(inst.tick),
        "work": to_hours(inst.work), "done": to_hours(done), "remaining": to_hours(remaining),
        "deadline": to_hours(inst.deadline), "overhead": to_hours(inst.overhead),
        "overhead_left": to_hours(overhead_left),
        "slack": to_hours(inst.deadline - t - remaining - inst.overhead - inst.tick),
        "current": current, "region": region, "preempted": preempted,
        "spot": list(inst.spot[k]), "spot_price": SPOT_PRICE, "on_demand_price": ON_DEMAND_PRICE,
    }


def simulate(inst: Instance, decide: Callable[[dict], object]) -> Outcome:
    """Run one job to completion; ``decide(state)`` returns the policy's raw reply for a tick."""
    dt, overhead = inst.tick, inst.overhead
    done, k, current, region, overhead_left = 0, 0, NONE, 0, 0
    billed = {SPOT: 0, ON_DEMAND: 0}
    forced_at: int | None = None
    finish = preemptions = launches = calls = 0
    while done < inst.work:
        if k >= inst.ticks:
            raise DeadlineMissed(f"{inst.name}: {to_hours(inst.work - done)} h of work left at the "
                                 f"deadline {to_hours(inst.deadline)} h")
        t, spot = k * dt, inst.spot[k]
        preempted = current == SPOT and not spot[region]
        if preempted:
            current, overhead_left = NONE, 0
            preemptions += 1
        remaining = inst.work - done
        if forced_at is None and inst.deadline - t - remaining - overhead - dt < 0:
            forced_at = t
        if forced_at is not None:
            kind, target = ON_DEMAND, region
        else:
            state = make_state(inst, k, done, current, region, overhead_left, preempted)
            calls += 1
            kind, target = parse_action(decide(state), list(spot), region,
                                        f"tick {k} (t={to_hours(t):g} h)")
        if kind == NONE:
            current, region, overhead_left = NONE, target, 0
        else:
            if (kind, target) != (current, region):
                overhead_left = overhead
                launches += 1
            current, region = kind, target
            paid_overhead = min(overhead_left, dt)
            progress = min(dt - paid_overhead, remaining)
            overhead_left -= paid_overhead
            done += progress
            billed[kind] += paid_overhead + progress
            finish = t + paid_overhead + progress
        k += 1
    if finish > inst.deadline:
        raise DeadlineMissed(f"{inst.name}: finished at {to_hours(finish)} h, after the deadline "
                             f"{to_hours(inst.deadline)} h")
    spot_h, od_h = to_hours(billed[SPOT]), to_hours(billed[ON_DEMAND])
    return Outcome(cost=SPOT_PRICE * spot_h + ON_DEMAND_PRICE * od_h, spot_hours=spot_h,
                   on_demand_hours=od_h, finish=to_hours(finish),
                   forced_at=None if forced_at is None else to_hours(forced_at),
                   preemptions=preemptions, launches=launches, calls=calls)
