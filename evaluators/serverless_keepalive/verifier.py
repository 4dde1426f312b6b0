"""Trusted serverless keep-alive verifier: simulate each workload against the sandboxed policy.

The candidate's ``keepalive(state)`` is called over the sandbox pipe once per idle period (after
each busy stretch of a function, in time order across the workload's functions) and returns only
``keepalive`` or ``[prewarm, keepalive]`` minutes; ``simulator.py`` validates each reply and counts
every cold start and wasted minute. Fitness is the mean over workloads of cost / cost of the fixed
10-minute keep-alive (simulated here, in this process, on the same workload); the report adds the
paper's metrics: the 75th percentile over functions of the cold-start percentage and the wasted
memory normalised to the fixed 10-minute policy.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from evaluators.base import Verifier, finite, worst_indices
from evaluators.serverless_keepalive.simulator import (
    COLD_START_GB_MINUTES,
    FunctionOutcome,
    Outcome,
    fixed,
    idle_times,
    simulate,
)
from evaluators.serverless_keepalive.workloads import Workload, build_source
from sandbox.session import SandboxSession

BASE_MINUTES = 10.0  # the normalisation: the industry's fixed 10-minute keep-alive


@dataclass(frozen=True)
class Instance:
    name: str
    workload: Workload
    base: Outcome  # the fixed 10-minute keep-alive on this workload (trusted, never sent)


@lru_cache(maxsize=16)
def load_source(source: str, draw: int | None = None) -> tuple[Instance, ...]:
    """The workloads of a source with their fixed-10-minute outcomes (``draw`` None: public)."""
    return tuple(Instance(w.name, w, simulate(w, fixed(BASE_MINUTES))) for w in build_source(source, draw))


def _metrics(instances: list[Instance], outcomes: list[Outcome], ratios: np.ndarray,
             funcs: list[FunctionOutcome]) -> dict[str, float]:
    """The reported metrics: cost ratios, cold starts and waste against the fixed 10 minutes."""
    cold = np.array([f.cold_percent for f in funcs])
    invocations = sum(f.invocations for f in funcs)
    decisions = sum(f.decisions for f in funcs)
    return {
        "cost_ratio": float(ratios.mean()),
        "worst_cost_ratio": float(ratios.max()),
        "p75_cold_pct": float(np.percentile(cold, 75)),
        "cold_start_pct": 100.0 * sum(f.cold_starts for f in funcs) / invocations,
        "wasted_memory_norm": sum(o.wasted_gb_minutes for o in outcomes)
        / sum(i.base.wasted_gb_minutes for i in instances),
        "wasted_time_norm": sum(o.wasted_minutes for o in outcomes)
        / sum(i.base.wasted_minutes for i in instances),
        "mean_cost_gb_min": float(np.mean([o.cost for o in outcomes])),
        "prewarm_share": sum(f.prewarms for f in funcs) / decisions if decisions else 0.0,
        "calls": float(sum(o.calls for o in outcomes)),
        "functions": float(len(funcs)),
        "instances": float(len(instances)),
    }


def _summary_lines(metrics: dict[str, float], ratios: np.ndarray, base: list[FunctionOutcome],
                   workloads: int) -> list[str]:
    """The feedback's opening: cost, cold starts and wasted memory against the fixed 10 minutes."""
    base_p75 = float(np.percentile([f.cold_percent for f in base], 75))
    return [f"Cost (wasted GB-minutes + {COLD_START_GB_MINUTES:g} GB-minutes per cold start) relative to "
            f"the fixed 10-minute keep-alive: {100 * metrics['cost_ratio']:.2f}% (mean over "
            f"{workloads} workloads; per workload "
            + ", ".join(f"{100 * r:.0f}%" for r in ratios) + ").",
            f"Cold starts: 75th percentile over functions {metrics['p75_cold_pct']:.1f}% (fixed 10 min: "
            f"{base_p75:.1f}%), {metrics['cold_start_pct']:.3f}% of all invocations. Wasted memory: "
            f"{metrics['wasted_memory_norm']:.2f}x the fixed 10-minute policy's."]


def _trigger_lines(funcs: list[FunctionOutcome], base: list[FunctionOutcome]) -> list[str]:
    """Cold starts and wasted GB-minutes per trigger, the candidate's against the fixed 10 minutes."""
    groups: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0, 0.0])
    for f, b in zip(funcs, base):
        g = groups[f.trigger]
        g[0] += f.cold_starts
        g[1] += f.wasted_gb_minutes
        g[2] += b.cold_starts
        g[3] += b.wasted_gb_minutes
    return (["By trigger (cold starts / wasted GB-minutes, yours vs fixed 10 min):"]
            + [f"  {t}: {g[0]} / {g[1]:.0f} vs {g[2]} / {g[3]:.0f}" for t, g in sorted(groups.items())])


def _costliest_lines(instances: list[Instance], outcomes: list[Outcome]) -> list[str]:
    """The three functions costing most above the fixed 10-minute keep-alive, with their idle times."""
    lines = ["Functions costing most above the fixed 10-minute keep-alive:"]
    rows = [(f.cost - b.cost, inst, j, f, b) for inst, o in zip(instances, outcomes)
            for j, (f, b) in enumerate(zip(o.functions, inst.base.functions))]
    for k in worst_indices([row[0] for row in rows]):
        extra, inst, j, f, b = rows[k]
        its = idle_times(inst.workload.functions[j])
        median = f"median idle {np.median(its):.0f} min" if its else "never idle"
        lines.append(f"  {inst.name}/f{j} ({f.trigger}, {f.memory_mb} MB, {f.invocations} invocations, "
                     f"{f.decisions} idle periods, {median}): {f.cold_starts} cold starts and "
                     f"{f.wasted_minutes:.0f} wasted minutes vs {b.cold_starts} and "
                     f"{b.wasted_minutes:.0f}; {extra:+.0f} GB-minutes")
    return lines


def score(instances: list[Instance], outcomes: list[Outcome]) -> tuple[dict[str, float], str]:
    """Metrics and feedback from simulated (trusted) outcomes."""
    ratios = np.array([o.cost / i.base.cost for i, o in zip(instances, outcomes)])
    funcs = [f for o in outcomes for f in o.functions]
    base = [f for i in instances for f in i.base.functions]
    metrics = _metrics(instances, outcomes, ratios, funcs)
    lines = (_summary_lines(metrics, ratios, base, len(instances)) + _trigger_lines(funcs, base)
             + _costliest_lines(instances, outcomes))
    return finite(metrics), "\n".join(lines)


class ServerlessKeepaliveVerifier(Verifier):
    version = "serverless_keepalive-1"
    draws = True
    gate_cpu_seconds = 1.0  # per gate workload (all of its keepalive() calls)

    def load_source(self, name: str, draw: int | None = None) -> Sequence[Instance]:
        return load_source(name, draw)

    def solve(self, box: SandboxSession, inst: Instance) -> Outcome:
        """Simulate one workload, one sandbox call per idle period (the CPU of all of them counts)."""
        return simulate(inst.workload, self.policy(box))

    def score(self, instances: list[Instance], results: list[Outcome]) -> tuple[dict[str, float], str]:
        return score(instances, results)
