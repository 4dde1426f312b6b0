"""Trusted JSSP verifier: send the two matrices, check the machine orders, score the makespan.

The candidate gets only ``durations`` and ``machines`` of an instance and returns the job order on
every machine. The verifier validates the orders, builds the semi-active schedule itself, and
compares its makespan with the best known upper bound, which never leaves this process. The
fitness is the mean relative gap to that bound; feedback names the worst instances and sizes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from evaluators.base import Verifier, finite
from evaluators.jssp.instances import Instance, select
from evaluators.jssp.schedule import makespan


@dataclass(frozen=True)
class Result:
    makespan: int

    def gap(self, inst: Instance) -> float:
        return (self.makespan - inst.upper_bound) / inst.upper_bound


def score(instances: list[Instance], results: list[Result]) -> tuple[dict[str, float], str]:
    """Metrics and feedback from trusted makespans."""
    gaps = [r.gap(i) for i, r in zip(instances, results)]
    by_family: dict[str, list[float]] = defaultdict(list)
    by_size: dict[tuple[str, str], list[float]] = defaultdict(list)
    for inst, gap in zip(instances, gaps):
        by_family[inst.family].append(gap)
        by_size[(inst.family, inst.size)].append(gap)
    metrics = {
        "gap": sum(gaps) / len(gaps),
        "worst_gap": max(gaps),
        "best_known_hits": sum(r.makespan <= i.upper_bound for i, r in zip(instances, results)) / len(gaps),
        "instances": float(len(gaps)),
    }
    for family, rows in sorted(by_family.items()):
        metrics[f"gap_{family}"] = sum(rows) / len(rows)
    lines = ["Mean gap to the best known makespan by family and size (n jobs x m machines):"]
    lines += [f"  {fam} {size}: {100 * sum(g) / len(g):+.2f}% over {len(g)} instances"
              for (fam, size), g in sorted(by_size.items(), key=lambda kv: -sum(kv[1]) / len(kv[1]))]
    worst = sorted(zip(instances, results, gaps), key=lambda row: -row[2])[:3]
    lines.append("Instances furthest from their best known makespan:")
    lines += [f"  {i.name} ({i.size}): makespan {r.makespan} vs best known {i.upper_bound} "
              f"({100 * g:+.2f}%)" for i, r, g in worst]
    return finite(metrics), "\n".join(lines)


class JsspVerifier(Verifier):
    version = "jssp-1"
    gate_cpu_seconds = 2.5  # the brief allows time-budgeted search of up to 2 s per instance

    def instances(self, set_name: str) -> list[Instance]:
        if set_name not in self.spec.sets:
            raise ValueError(f"unknown instance set {set_name!r} for jssp "
                             f"(known: {', '.join(self.spec.sets)})")
        return select(self.spec.root / "data", self.spec.sets[set_name].sources)

    def arguments(self, inst: Instance) -> tuple:
        return [list(row) for row in inst.durations], [list(row) for row in inst.machines]

    def accept(self, inst: Instance, orders: object) -> Result:
        span = makespan(inst, orders)
        if span < inst.lower_bound:  # a proven lower bound: only a verifier bug could get below it
            raise RuntimeError(f"verifier bug: {inst.name} makespan {span} below "
                               f"lower bound {inst.lower_bound}")
        return Result(span)

    def score(self, instances: list[Instance], results: list[Result]) -> tuple[dict[str, float], str]:
        return score(instances, results)
