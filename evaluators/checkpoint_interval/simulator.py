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
from dataclasses import dataclass, field
from typing import Literal

from evaluators.base import InvalidOutput
from evaluators.checkpoint_interval.instances import HORIZON_FACTOR, Instance

MIN_INTERVAL = 0.1   # hours (6 minutes): no interval is shorter
HISTORY = 50         # failure times and checkpoints shown to the policy: the last 50 of each

Step = Literal["failure", "bandwidth", "checkpoint", "finished"]  # how a compute phase ended


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


@dataclass
class _Job:
    """The running job: its clock, its saved and unsaved work and the tallies of the outcome."""

    t: float = 0.0
    saved: float = 0.0
    unsaved: float = 0.0
    up_since: float = 0.0
    lost: float = 0.0
    writing: float = 0.0
    down: float = 0.0
    reading: float = 0.0
    fi: int = 0            # the index of the next failure time
    calls: int = 0
    event: str = "start"
    failure_log: list[float] = field(default_factory=list)
    history: list[tuple[float, float]] = field(default_factory=list)

    def outcome(self, work: float, finished: bool) -> Outcome:
        """The job's outcome now: finished, or stopped at its horizon."""
        if finished:
            overhead = self.t / work - 1.0
        else:
            overhead = HORIZON_FACTOR - 1.0 + (work - self.saved) / work
        return Outcome(overhead=overhead, finished=finished, wall=self.t, lost=self.lost,
                       checkpointing=self.writing, downtime=self.down, recovery=self.reading,
                       checkpoints=len(self.history), failures=len(self.failure_log), calls=self.calls)


def _ask(inst: Instance, job: _Job, decide: Callable[[dict], object]) -> float:
    """One policy call at the job's decision point: the validated unsaved work to checkpoint at."""
    state = make_state(inst, job.calls, job.event, job.t, job.saved, job.unsaved, job.up_since,
                       job.failure_log, job.history)
    job.calls += 1
    return check_interval(decide(state), state, f"call {job.calls - 1} (t={job.t:.3f} h, {job.event})")


def _advance(inst: Instance, job: _Job, target: float) -> Step:
    """Compute towards ``target`` unsaved hours (or the end), then checkpoint: up to the next event."""
    fails = inst.failures
    if job.fi >= len(fails):
        raise RuntimeError(f"{inst.name}: the failure trace ends at {fails[-1]:.1f} h (a verifier bug)")
    nxt, remaining = fails[job.fi], inst.work - job.saved
    last = target >= remaining                      # no checkpoint before the end of the work
    goal = remaining if last else target            # the unsaved work at which this phase ends
    end, change = job.t + max(goal - job.unsaved, 0.0), inst.next_change(job.t)
    if nxt < end and nxt <= change:                 # failure while computing
        job.lost += job.unsaved + nxt - job.t
        job.t, job.unsaved = nxt, 0.0
        return "failure"
    if change < end:                                # the bandwidth changes: ask again
        job.unsaved += change - job.t
        job.t = change
        return "bandwidth"
    job.t, job.unsaved = end, max(goal, job.unsaved)
    if last:
        return "finished"
    return _checkpoint(inst, job, nxt)


def _checkpoint(inst: Instance, job: _Job, nxt: float) -> Step:
    """Write a checkpoint of all the work done, unless the failure at ``nxt`` interrupts it."""
    cost = inst.io_cost(job.t, job.saved + job.unsaved)
    if nxt < job.t + cost:                          # failure while writing the checkpoint
        job.lost += job.unsaved
        job.writing += nxt - job.t
        job.t, job.unsaved = nxt, 0.0
        return "failure"
    job.history.append((job.t, cost))
    job.t += cost
    job.writing += cost
    job.saved, job.unsaved = job.saved + job.unsaved, 0.0
    return "checkpoint"


def _recover(inst: Instance, job: _Job) -> None:
    """A failure at the job's clock: down, then read the last checkpoint back (a failure restarts it)."""
    fails = inst.failures
    while True:
        job.failure_log.append(job.t)
        job.fi += 1
        job.t += inst.downtime
        job.down += inst.downtime
        job.up_since = job.t
        read = inst.io_cost(job.t, job.saved) if job.saved > 0 else 0.0
        if job.fi < len(fails) and fails[job.fi] < job.t + read:
            job.reading += fails[job.fi] - job.t
            job.t = fails[job.fi]
            continue
        job.t += read
        job.reading += read
        return


def simulate(inst: Instance, decide: Callable[[dict], object]) -> Outcome:
    """Run one job to the end of its work (or its horizon); ``decide(state)`` is the raw reply."""
    job = _Job()
    while True:
        if job.t >= inst.horizon:
            return job.outcome(inst.work, False)
        step = _advance(inst, job, _ask(inst, job, decide))
        if step == "finished":
            return job.outcome(inst.work, True)
        if step == "failure":
            _recover(inst, job)
            job.event = "recovery"
        else:
            job.event = step
