"""Trusted SMTT verifier: send p, w, d to the candidate; check the permutation; score it.

The candidate returns only a job order per instance. Everything else happens here: the
permutation check, the total weighted tardiness, the gap to the reference and the per-class
aggregation. Feedback names the worst classes and instances so the LLM sees where it loses.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from evaluators.base import Verifier, finite
from evaluators.checks import check_permutation
from evaluators.smtt.instances import Instance, load_generated, load_orlib, weighted_tardiness

ORLIB = {"wt40": ("wt40.txt", "wtopt40.txt", 40, "optimal"),
         "wt50": ("wt50.txt", "wtopt50.txt", 50, "optimal"),
         "wt100": ("wt100.txt", "wtbest100.txt", 100, "best-known")}
FLOOR_SHARE = 0.01  # class denominator floor: 1% of the class's total weighted processing time


@cache
def load_source(data_dir: Path, source: str) -> tuple[Instance, ...]:
    if source in ORLIB:
        fname, rname, n, kind = ORLIB[source]
        return tuple(load_orlib(data_dir / fname, data_dir / rname, n, kind))
    path = data_dir / f"{source}.json"
    if path.exists():
        return tuple(load_generated(path))
    raise ValueError(f"unknown SMTT instance source {source!r}")




def score(instances: list[Instance], costs: list[int]) -> tuple[dict[str, float], str]:
    """Metrics and feedback from trusted costs."""
    by_class: dict[tuple[float, float], list[tuple[Instance, int]]] = defaultdict(list)
    by_n: dict[int, list[tuple[Instance, int]]] = defaultdict(list)
    for inst, cost in zip(instances, costs):
        by_class[inst.cls].append((inst, cost))
        by_n[inst.n].append((inst, cost))
    class_gaps = {}
    for cls, rows in by_class.items():
        got = sum(c for _, c in rows)
        ref = sum(i.ref for i, _ in rows)
        floor = FLOOR_SHARE * sum(sum(wj * pj for wj, pj in zip(i.w, i.p)) for i, _ in rows)
        class_gaps[cls] = (got - ref) / max(ref, floor)
    total_ref = sum(i.ref for i in instances)
    metrics = {
        "gap": sum(class_gaps.values()) / len(class_gaps),
        "aggregate_gap": sum(costs) / total_ref - 1 if total_ref else 0.0,
        "worst_class_gap": max(class_gaps.values()),
        "reference_hits": sum(c <= i.ref for i, c in zip(instances, costs)) / len(instances),
        "instances": float(len(instances)),
    }
    for n, rows in sorted(by_n.items()):
        ref = sum(i.ref for i, _ in rows)
        metrics[f"aggregate_gap_n{n}"] = sum(c for _, c in rows) / ref - 1 if ref else 0.0
    worst_cls = sorted(class_gaps.items(), key=lambda kv: -kv[1])[:3]
    excess = sorted(zip(instances, costs), key=lambda ic: -(ic[1] - ic[0].ref))[:3]
    lines = ["Worst (TF, RDD) classes (gap to reference):"]
    lines += [f"  TF={tf:.1f} RDD={rdd:.1f}: {100 * g:+.2f}%" for (tf, rdd), g in worst_cls]
    lines.append("Instances with the largest excess weighted tardiness:")
    lines += [f"  {i.name} (n={i.n}, TF={i.tf:.1f}, RDD={i.rdd:.1f}): {c} vs reference {i.ref} "
              f"({i.ref_kind})" for i, c in excess]
    return finite(metrics), "\n".join(lines)


class SmttVerifier(Verifier):
    version = "smtt-2"

    def load_source(self, name: str, draw: int | None = None) -> Sequence[Instance]:
        return load_source(self.spec.root / "data", name)  # no set of smtt is drawn

    def arguments(self, inst: Instance) -> tuple:
        return list(inst.p), list(inst.w), list(inst.d)

    def accept(self, inst: Instance, order: object) -> int:
        return weighted_tardiness(check_permutation(order, inst.n, call="schedule()", item="job"),
                                  inst.p, inst.w, inst.d)

    def score(self, instances: list[Instance], results: list[int]) -> tuple[dict[str, float], str]:
        return score(instances, results)
