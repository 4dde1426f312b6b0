"""The trusted job simulator: asks the policy for the next checkpoint interval, owns the failures.

The policy is called at every decision point: the job's start, the end of every checkpoint, the
end of every recovery, and every change of the storage bandwidth while the job computes. It
returns the hours of unsaved work at which to checkpoint (``check_interval`` validates the
reply): the job computes until its unsaved work reaches that value (at once if it already has),
then writes a checkpoint at the cost of that moment (``Instance.io_cost``); a value that covers
the rest of the work runs to the end (no final checkpoint). A failure (the instance's fixed
failure times, never sent) during the compute or the write loses the work since the last
checkpoint and the partial write; the job is then down for ``downtime`` hours and reads its last
checkpoint back (``io_cost`` of the saved progress; a failure there restarts the recovery). A
bandwidth change during a write or a recovery does not change its cost (fixed when it starts).

Accounting (checked by the tests): wall = work + lost + checkpointing + downtime + recovery, and
the score of a job is overhead = wall / work - 1. A job still running at ``horizon`` (10x its
work) stops there and scores ``HORIZON_FACTOR - 1 + unsaved share``, worse than any finished job.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from evaluators.base import InvalidOutput
from evaluators.checkpoint_interval.instances import HORIZON_FACTOR, Instance

MIN_INTERVAL = 0.1   # hours (6 minutes): no interval is shorter
HISTORY = 50         # failure times and checkpoints shown to the policy: the last 50 of each


@dataclass(frozen=True)
class Outcome:
    """What one job cost, measured by the simulator (never reported by the policy)."""

    overhead: float        # wall / work - 1 (unfinished: HORIZON_FACTOR - 1 + unsaved share)
    finished: bool
    wall: float            # hours from the start to the end of the work (or the stop)
    lost: float            # compute hours lost to failures (recomputed)
    checkpointing: float   # hours writing checkpoints, interrupted ones included
    downtime: float        # hours down after failures
    recovery: float        # hours reading checkpoints back, interrupted reads included
    checkpoints: int       # checkpoints completed
    failures: int          # failures that hit the job
    calls: int             # policy calls


def check_interval(reply: object, state: dict, where: str) -> float:
    """The reply must be an int or float (not a bool) in [min_interval, work]."""
    if isinstance(reply, bool) or not isinstance(reply, (int, float)):
        raise InvalidOutput(f"{where}: next_checkpoint() must return a number of hours (int or float), "
                            f"got {type(reply).__name__}; only the interval is accepted")
    try:
        value = float(reply)
    except OverflowError:
        raise InvalidOutput(f"{where}: interval {reply} is too large for a float") from None
    if not math.isfinite(value):
        raise InvalidOutput(f"{where}: the interval must be finite, got {value}")
    if value < state["min_interval"]:
        raise InvalidOutput(f"{where}: interval {value:g} h is below min_interval "
                            f"({state['min_interval']:g} h); return at least min_interval")
    if value > state["work"]:
        raise InvalidOutput(f"{where}: interval {value:g} h is more than the job's work "
                            f"({state['work']:g} h); return remaining to finish without another checkpoint")
    return value


def make_state(inst: Instance, call: int, event: str, t: float, saved: float, unsaved: float,
               up_since: float, failure_log: list[float], history: list[tuple[float, float]]) -> dict:
    """The policy's view at a decision point: plain JSON values, nothing of the future."""
    return {
        "call": call, "event": event, "elapsed": t, "work": inst.work, "done": saved,
        "unsaved": unsaved, "remaining": inst.work - saved - unsaved, "since_failure": t - up_since,
        "failures": len(failure_log), "failure_times": failure_log[-HISTORY:],
        "checkpoint_cost": inst.io_cost(t, saved + unsaved),
        "recovery_cost": inst.io_cost(t, saved) if saved > 0 else 0.0,
        "downtime": inst.downtime, "mtbf": inst.mtbf, "min_interval": MIN_INTERVAL,
        "checkpoints": len(history), "checkpoint_history": [list(h) for h in history[-HISTORY:]],
    }


def simulate(inst: Instance, decide: Callable[[dict], object]) -> Outcome:
    """Run one job to the end of its work (or its horizon); ``decide(state)`` is the raw reply."""
    work, fails = inst.work, inst.failures
    t = saved = unsaved = up_since = 0.0
    lost = writing = down = reading = 0.0
    fi = calls = 0
    event = "start"
    failure_log: list[float] = []
    history: list[tuple[float, float]] = []

    def result(finished: bool) -> Outcome:
        if finished:
            overhead = t / work - 1.0
        else:
            overhead = HORIZON_FACTOR - 1.0 + (work - saved) / work
        return Outcome(overhead=overhead, finished=finished, wall=t, lost=lost, checkpointing=writing,
                       downtime=down, recovery=reading, checkpoints=len(history),
                       failures=len(failure_log), calls=calls)

    while True:
        if t >= inst.horizon:
            return result(False)
        state = make_state(inst, calls, event, t, saved, unsaved, up_since, failure_log, history)
        calls += 1
        target = check_interval(decide(state), state, f"call {calls - 1} (t={t:.3f} h, {event})")
        if fi >= len(fails):
            raise RuntimeError(f"{inst.name}: the failure trace ends at {fails[-1]:.1f} h (a verifier bug)")
        nxt, remaining = fails[fi], work - saved
        last = target >= remaining                  # no checkpoint before the end of the work
        goal = remaining if last else target        # the unsaved work at which this phase ends
        end, change = t + max(goal - unsaved, 0.0), inst.next_change(t)
        if nxt < end and nxt <= change:             # failure while computing
            lost += unsaved + nxt - t
            t, unsaved = nxt, 0.0
        elif change < end:                          # the bandwidth changes: ask again
            unsaved += change - t
            t, event = change, "bandwidth"
            continue
        else:
            t, unsaved = end, max(goal, unsaved)
            if last:
                return result(True)
            cost = inst.io_cost(t, saved + unsaved)
            if nxt < t + cost:                      # failure while writing the checkpoint
                lost += unsaved
                writing += nxt - t
                t, unsaved = nxt, 0.0
            else:
                history.append((t, cost))
                t += cost
                writing += cost
                saved, unsaved = saved + unsaved, 0.0
                event = "checkpoint"
                continue
        while True:                                 # a failure at t: down, then read back
            failure_log.append(t)
            fi += 1
            t += inst.downtime
            down += inst.downtime
            up_since = t
            read = inst.io_cost(t, saved) if saved > 0 else 0.0
            if fi < len(fails) and fails[fi] < t + read:
                reading += fails[fi] - t
                t = fails[fi]
                continue
            t += read
            reading += read
            break
        event = "recovery"
