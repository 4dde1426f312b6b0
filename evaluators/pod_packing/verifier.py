"""Trusted pod-packing verifier: send a cluster, check the placement, score what it places.

The candidate receives only the nodes' capacities and the pods' requests, priorities and current
nodes (one ``place`` call per cluster) and returns a node index or None per pod. This side checks
types, indices and both capacities on every node (``model.check_placement``), counts placed pods
per priority and evictions itself and scores the priority-weighted share placed
(``model.weighted_placed``), which needs no reference, so sets drawn at run time score like the
public ones. On the public draw each cluster also has its cached CP-SAT reference
(``data/reference.json``, never sent out): the metrics then add how often the placement is at or
above the reference in the paper's strict lexicographic order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from evaluators.base import Verifier, finite
from evaluators.pod_packing.cluster import PRIORITIES, Cluster, load_source
from evaluators.pod_packing.model import Outcome, check_placement, outcome, weighted_placed
from evaluators.pod_packing.reference import Reference, cached, load_cache


@dataclass(frozen=True)
class Case:
    """One cluster with its trusted reference where it has one (only ``cluster.as_json()`` goes
    out); clusters of a run's draw have none."""

    cluster: Cluster
    ref: Reference | None

    @property
    def name(self) -> str:
        return self.cluster.name

    @property
    def family(self) -> str:
        return self.name.split(" #")[0]


@lru_cache(maxsize=64)
def load_cases(data_dir: Path, source: str, draw: int | None = None) -> tuple[Case, ...]:
    if draw is not None:
        return tuple(Case(cluster, None) for cluster in load_source(source, draw))
    entries = load_cache(data_dir)
    return tuple(Case(cluster, cached(entries, cluster)) for cluster in load_source(source))


def vector(result: Outcome) -> str:
    """Placed per priority from the highest, then evictions: 'p3..p0 = 2/5/20/10, 3 evicted'."""
    return f"p3..p0 = {'/'.join(str(k) for k in reversed(result.placed))}, {result.evictions} evicted"


def score(cases: list[Case], results: list[Outcome]) -> tuple[dict[str, float], str]:
    """Metrics and feedback from trusted outcomes."""
    shares = [weighted_placed(c.cluster, r) for c, r in zip(cases, results)]
    totals = [0] * PRIORITIES
    for c in cases:
        for pod in c.cluster.pods:
            totals[pod.priority] += 1
    metrics = {"weighted_placed": sum(shares) / len(shares)}
    for p in reversed(range(PRIORITIES)):
        metrics[f"placed_p{p}"] = sum(r.placed[p] for r in results) / max(totals[p], 1)
    metrics |= {"evictions": sum(r.evictions for r in results) / len(results),
                "instances": float(len(cases))}
    refs = [(c.ref.outcome, r) for c, r in zip(cases, results) if c.ref is not None]
    if len(refs) == len(cases):
        metrics["at_ref"] = sum(r.key() >= ref.key() for ref, r in refs) / len(cases)
        metrics["beats_ref"] = sum(r.key() > ref.key() for ref, r in refs) / len(cases)
    lines = [f"Priority-weighted share of pods placed (weights 1/4/16/64 for priority 0/1/2/3, "
             f"less 0.25 per eviction): {100 * metrics['weighted_placed']:.3f}%; "
             f"{metrics['evictions']:.1f} evictions per cluster."
             + (f" At or above the CP-SAT reference's lexicographic outcome on "
                f"{round(metrics['at_ref'] * len(cases))}/{len(cases)} clusters."
                if "at_ref" in metrics else ""),
             "Per cluster size: pods left unplaced per priority (p3/p2/p1/p0) and evictions:"]
    families: dict[str, list[tuple[Case, Outcome, float]]] = defaultdict(list)
    for c, r, x in zip(cases, results, shares):
        families[c.family].append((c, r, x))
    for fam, rows in sorted(families.items()):
        unplaced = "/".join(str(sum(sum(pod.priority == p for pod in c.cluster.pods) - r.placed[p]
                                    for c, r, _ in rows)) for p in reversed(range(PRIORITIES)))
        lines.append(f"  {fam}: {100 * sum(x for *_, x in rows) / len(rows):.3f}%, unplaced "
                     f"{unplaced}, evictions {sum(r.evictions for _, r, _ in rows)}")
    worst = sorted(zip(cases, results, shares), key=lambda crx: crx[2])[:3]
    lines.append("Clusters with the lowest weighted share:")
    lines += [f"  {c.name}: {100 * x:.2f}%, {vector(r)}" for c, r, x in worst]
    return finite(metrics), "\n".join(lines)


class PodPackingVerifier(Verifier):
    version = "pod_packing-2"
    draws = True

    def load_source(self, name: str, draw: int | None = None) -> Sequence[Case]:
        return load_cases(self.spec.root / "data", name, draw)

    def arguments(self, case: Case) -> tuple:
        return case.cluster.as_json()

    def accept(self, case: Case, placement: object) -> Outcome:
        return outcome(case.cluster, check_placement(placement, case.cluster))

    def score(self, instances: list[Case], results: list[Outcome]) -> tuple[dict[str, float], str]:
        return score(instances, results)
