"""Trusted cant-be-late verifier: run each job tick by tick against the sandboxed policy; score cost.

The candidate's ``decide(state)`` is called once per tick over the sandbox pipe and returns only
an action; the simulator (``simulator.py``) validates it, enforces the deadline with its own
safety net, and bills every hour. Fitness is the mean over jobs of cost / cost of running
on-demand from the start (a fraction, lower is better); the report adds the raw mean cost, its
standard deviation, the per-group ratios and the gap to the omniscient optimum.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from evaluators.base import Verifier, finite, worst_indices
from evaluators.cant_be_late.instances import Instance, load_set, parse_instance, to_hours
from evaluators.cant_be_late.make_traces import build
from evaluators.cant_be_late.simulator import Outcome, simulate
from evaluators.cant_be_late.traces import TICK_HOURS
from sandbox.session import SandboxSession


@lru_cache(maxsize=16)
def load_source(data_dir: Path, source: str, draw: int | None = None) -> tuple[Instance, ...]:
    """The public draw from ``data/<source>.json``; a run's draw generated afresh (with optima)."""
    path = data_dir / f"{source}.json"
    if not path.exists():
        raise ValueError(f"unknown cant_be_late instance source {source!r} (no {path})")
    if draw is None:
        return tuple(load_set(path))
    return tuple(parse_instance(row, TICK_HOURS) for row in build(source, draw)["instances"])


def score(instances: list[Instance], outcomes: list[Outcome]) -> tuple[dict[str, float], str]:
    """Metrics and feedback from simulated (trusted) outcomes."""
    costs = np.array([o.cost for o in outcomes])
    ratios = costs / np.array([i.on_demand_cost for i in instances])
    metrics = {
        "cost_ratio": float(ratios.mean()),
        "mean_cost": float(costs.mean()),
        "std_cost": float(costs.std()),
        "worst_cost_ratio": float(ratios.max()),
        "forced_share": sum(o.forced_at is not None for o in outcomes) / len(outcomes),
        "preemptions": float(np.mean([o.preemptions for o in outcomes])),
        "instances": float(len(instances)),
    }
    groups: dict[str, list[float]] = defaultdict(list)
    by_deadline: dict[float, list[float]] = defaultdict(list)
    for inst, ratio in zip(instances, ratios):
        groups[inst.group].append(float(ratio))
        by_deadline[to_hours(inst.deadline)].append(float(ratio))
    for group, values in sorted(groups.items()):
        metrics[f"cost_ratio_{group}"] = float(np.mean(values))
    opts = [i.opt_cost for i in instances]
    if all(o is not None and o > 0 for o in opts):
        metrics["gap_to_omniscient"] = float(np.mean(costs / np.array(opts)) - 1)
    lines = [f"Mean cost ${metrics['mean_cost']:.2f} (std ${metrics['std_cost']:.2f}); "
             f"cost / all-on-demand {100 * metrics['cost_ratio']:.2f}%.",
             "By deadline: " + ", ".join(f"D={d:g} h {100 * np.mean(v):.1f}%"
                                         for d, v in sorted(by_deadline.items())),
             "By group: " + ", ".join(f"{g} {100 * np.mean(v):.1f}%" for g, v in sorted(groups.items())),
             "Most expensive jobs relative to on-demand:"]
    for j in worst_indices(ratios):
        inst, out = instances[j], outcomes[j]
        avail = "/".join(f"{100 * a:.0f}%" for a in inst.availability())
        forced = "never" if out.forced_at is None else f"at {out.forced_at:g} h"
        lines.append(f"  {inst.name} (spot available {avail}): {100 * ratios[j]:.1f}%, "
                     f"${out.cost:.2f}: {out.spot_hours:g} h spot + {out.on_demand_hours:g} h "
                     f"on-demand, {out.preemptions} preemptions, {out.launches} launches, "
                     f"safety net {forced}")
    return finite(metrics), "\n".join(lines)


class CantBeLateVerifier(Verifier):
    version = "cant_be_late-1"
    draws = True
    gate_cpu_seconds = 1.0  # the whole gate job (all of its decide() calls)

    def load_source(self, name: str, draw: int | None = None) -> Sequence[Instance]:
        return load_source(self.spec.root / "data", name, draw)

    def solve(self, box: SandboxSession, inst: Instance) -> Outcome:
        """Simulate one job, one sandbox call per tick (the CPU of all of them counts)."""
        return simulate(inst, self.policy(box))

    def score(self, instances: list[Instance], results: list[Outcome]) -> tuple[dict[str, float], str]:
        return score(instances, results)
