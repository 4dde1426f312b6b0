"""Trusted checkpoint-interval verifier: simulate each job against the sandboxed policy; score overhead.

The candidate's ``next_checkpoint(state)`` is called over the sandbox pipe at every decision point
of a job and returns only an interval; the simulator (``simulator.py``) validates it, owns the
failure times and the checkpoint costs, and measures every hour. Fitness is the mean over jobs of
wall time / failure-free work time - 1 (lower is better); the report adds the breakdown (lost
work, checkpointing, downtime and recovery), the overhead per failure law and cost pattern, and
the ratio to Daly's interval on the same jobs (computed here with the trusted reference policy).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache

import numpy as np

from evaluators.base import Verifier, finite, worst_indices
from evaluators.checkpoint_interval.instances import Instance, build
from evaluators.checkpoint_interval.reference import daly_policy
from evaluators.checkpoint_interval.simulator import Outcome, simulate
from sandbox.session import SandboxSession


@lru_cache(maxsize=16)
def load_set(source: str, draw: int | None = None) -> tuple[Instance, ...]:
    """The jobs of a source, each with Daly's overhead on it (the trusted reference, never sent)."""
    return tuple(replace(inst, daly=simulate(inst, daly_policy).overhead) for inst in build(source, draw))


def score(instances: list[Instance], outcomes: list[Outcome]) -> tuple[dict[str, float], str]:
    """Metrics and feedback from simulated (trusted) outcomes."""
    over = np.array([o.overhead for o in outcomes])
    work = np.array([i.work for i in instances])
    daly = np.array([i.daly for i in instances], dtype=float)
    metrics = {
        "overhead": float(over.mean()),
        "worst_overhead": float(over.max()),
        "vs_daly": float(over.mean() / daly.mean() - 1.0),
        "lost_share": float(np.mean([o.lost for o in outcomes] / work)),
        "checkpoint_share": float(np.mean([o.checkpointing for o in outcomes] / work)),
        "restart_share": float(np.mean([o.downtime + o.recovery for o in outcomes] / work)),
        "checkpoints": float(np.mean([o.checkpoints for o in outcomes])),
        "failures": float(np.mean([o.failures for o in outcomes])),
        "unfinished_share": float(np.mean([not o.finished for o in outcomes])),
        "instances": float(len(instances)),
    }
    groups: dict[str, list[int]] = defaultdict(list)
    for j, inst in enumerate(instances):
        groups[inst.failure].append(j)
        groups[f"{inst.cost_group}_cost"].append(j)
    for group, idx in sorted(groups.items()):
        metrics[f"overhead_{group}"] = float(over[idx].mean())
    lines = [f"Mean overhead {100 * metrics['overhead']:.2f}% (wall time / failure-free work - 1); "
             f"Daly's interval on the same jobs: {100 * daly.mean():.2f}%.",
             f"Where the time went, per hour of work: lost work {metrics['lost_share']:.3f} h, "
             f"checkpointing {metrics['checkpoint_share']:.3f} h, downtime and recovery "
             f"{metrics['restart_share']:.3f} h.",
             "By group: " + ", ".join(f"{g} {100 * over[idx].mean():.1f}% "
                                      f"(Daly {100 * daly[idx].mean():.1f}%)"
                                      for g, idx in sorted(groups.items()))]
    if metrics["unfinished_share"]:
        lines.append(f"{round(metrics['unfinished_share'] * len(instances))} jobs did not finish within "
                     "10x their work (intervals too long or too short for their failure rate).")
    lines.append("Jobs furthest above Daly's interval:")
    for j in worst_indices(over - daly):
        inst, out = instances[j], outcomes[j]
        lines.append(f"  {inst.name}: {100 * over[j]:.1f}% vs Daly {100 * daly[j]:.1f}%: "
                     f"{out.checkpoints} checkpoints, {out.failures} failures, lost {out.lost:.1f} h, "
                     f"checkpointing {out.checkpointing:.1f} h of {inst.work:g} h of work")
    return finite(metrics), "\n".join(lines)


class CheckpointIntervalVerifier(Verifier):
    version = "checkpoint_interval-1"
    draws = True
    gate_cpu_seconds = 1.0  # a whole gate job (all of its calls)

    def load_source(self, name: str, draw: int | None = None) -> Sequence[Instance]:
        return load_set(name, draw)

    def solve(self, box: SandboxSession, inst: Instance) -> Outcome:
        """Simulate one job, one sandbox call per decision point (the CPU of all of them counts)."""
        return simulate(inst, self.policy(box))

    def score(self, instances: list[Instance], results: list[Outcome]) -> tuple[dict[str, float], str]:
        return score(instances, results)
