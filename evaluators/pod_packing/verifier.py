"""Trusted pod-packing verifier: send a cluster, check the placement, recompute the lexicographic value.

The candidate receives only the nodes' capacities and the pods' requests, priorities and current
nodes (one ``place`` call per cluster) and returns a node index or None per pod. This side checks
types, indices and both capacities on every node (``model.check_placement``), counts placed pods
per priority and evictions itself, and scores the result against the cached CP-SAT reference
(``data/reference.json``), which never leaves the verifier.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from evaluators.base import Verifier, finite
from evaluators.pod_packing.cluster import PRIORITIES, Cluster, load_source
from evaluators.pod_packing.model import Outcome, check_placement, outcome, value
from evaluators.pod_packing.reference import Reference, cached, load_cache


@dataclass(frozen=True)
class Case:
    """One cluster with its trusted reference (only ``cluster.as_json()`` goes out)."""

    cluster: Cluster
    ref: Reference
    ref_value: int

    @property
    def name(self) -> str:
        return self.cluster.name

    @property
    def family(self) -> str:
        return self.name.split(" #")[0]


@cache
def load_cases(data_dir: Path, source: str) -> tuple[Case, ...]:
    entries = load_cache(data_dir)
    out = []
    for cluster in load_source(source):
        ref = cached(entries, cluster)
        out.append(Case(cluster, ref, value(cluster, ref.outcome)))
    return tuple(out)


def vector(result: Outcome) -> str:
    """Placed per priority from the highest, then evictions: 'p3..p0 = 2/5/20/10, 3 evicted'."""
    return f"p3..p0 = {'/'.join(str(k) for k in reversed(result.placed))}, {result.evictions} evicted"


def score(cases: list[Case], results: list[Outcome]) -> tuple[dict[str, float], str]:
    """Metrics and feedback from trusted outcomes."""
    ratios = [value(c.cluster, r) / c.ref_value for c, r in zip(cases, results)]
    totals = [0] * PRIORITIES
    for c in cases:
        for pod in c.cluster.pods:
            totals[pod.priority] += 1
    metrics = {"lex_ratio": sum(ratios) / len(ratios)}
    for p in reversed(range(PRIORITIES)):
        metrics[f"placed_p{p}"] = sum(r.placed[p] for r in results) / max(totals[p], 1)
    metrics |= {
        "evictions": sum(r.evictions for r in results) / len(results),
        "at_ref": sum(r.key() >= c.ref.outcome.key() for c, r in zip(cases, results)) / len(cases),
        "beats_ref": sum(r.key() > c.ref.outcome.key() for c, r in zip(cases, results)) / len(cases),
        "instances": float(len(cases)),
    }
    families: dict[str, list[tuple[Case, Outcome, float]]] = defaultdict(list)
    for c, r, x in zip(cases, results, ratios):
        families[c.family].append((c, r, x))
    lines = [f"Mean value / CP-SAT reference {metrics['lex_ratio']:.6f}; at or above the reference's "
             f"lexicographic outcome on {round(metrics['at_ref'] * len(cases))}/{len(cases)} clusters; "
             f"{metrics['evictions']:.1f} evictions per cluster.",
             "Per cluster size: pods placed short of the reference per priority (p3/p2/p1/p0) and "
             "evictions (yours vs the reference's):"]
    for fam, rows in sorted(families.items()):
        short = "/".join(str(sum(c.ref.placed[p] - r.placed[p] for c, r, _ in rows))
                         for p in reversed(range(PRIORITIES)))
        lines.append(f"  {fam}: ratio {sum(x for *_, x in rows) / len(rows):.6f}, short {short}, "
                     f"evictions {sum(r.evictions for _, r, _ in rows)} vs "
                     f"{sum(c.ref.evictions for c, _, _ in rows)}")
    worst = sorted(zip(cases, results, ratios), key=lambda crx: crx[2])[:3]
    lines.append("Clusters furthest below the reference:")
    lines += [f"  {c.name}: {vector(r)} (reference {vector(c.ref.outcome)}, {c.ref.status})"
              for c, r, _ in worst]
    return finite(metrics), "\n".join(lines)


class PodPackingVerifier(Verifier):
    version = "pod_packing-1"

    def load_source(self, name: str) -> Sequence[Case]:
        return load_cases(self.spec.root / "data", name)

    def arguments(self, case: Case) -> tuple:
        return case.cluster.as_json()

    def accept(self, case: Case, placement: object) -> Outcome:
        return outcome(case.cluster, check_placement(placement, case.cluster))

    def score(self, instances: list[Case], results: list[Outcome]) -> tuple[dict[str, float], str]:
        return score(instances, results)
