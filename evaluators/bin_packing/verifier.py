"""Trusted online bin packing verifier: run the packing loop here, ask the candidate per item.

The candidate's ``priority(item, bins)`` is called over the sandbox pipe once per item that fits
an open bin; the loop, the bin count, the L1 bound and the excess are all computed here.
Feedback names the instances with the largest excess and how full the bins ended up.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from evaluators.base import Verifier, finite, worst_indices
from evaluators.bin_packing.instances import (
    PUBLISHED,
    Instance,
    load_generated,
    load_published,
    make_instance,
)
from evaluators.bin_packing.make_generated import GROUPS, group_rows
from evaluators.bin_packing.packing import Packing, pack
from sandbox.session import SandboxSession

GENERATED = "generated.json"


@lru_cache(maxsize=16)
def load_source(data_dir: Path, source: str, draw: int | None = None) -> tuple[Instance, ...]:
    """A published set, or a generated group: the committed public draw (``draw`` None) or one
    generated afresh from a run's draw."""
    if source in PUBLISHED:
        return tuple(load_published(data_dir / "datasets.json", source))
    if draw is None:
        return tuple(load_generated(data_dir / GENERATED, source))
    if source not in GROUPS:
        raise ValueError(f"unknown bin_packing source {source!r} (generated: {', '.join(GROUPS)})")
    return tuple(make_instance(r["name"], r["capacity"], r["items"]) for r in group_rows(source, draw))


def score(instances: list[Instance], packings: list[Packing]) -> tuple[dict[str, float], str]:
    """Metrics and feedback from trusted packings (excess = bins / L1 bound - 1 per instance)."""
    bounds = [inst.lower_bound for inst in instances]
    used = [p.bins for p in packings]
    excess = [b / lb - 1 for b, lb in zip(used, bounds)]
    count = len(instances)
    metrics = {
        "excess": sum(excess) / count,
        "aggregate_gap_l1": sum(used) / sum(bounds) - 1,  # FunSearch's notebook: mean bins / mean bound
        "worst_excess": max(excess),
        "bins": sum(used) / count,
        "excess_bins": (sum(used) - sum(bounds)) / count,
        # share of priority calls answered with the new (empty) bin although an open bin fitted
        "new_bin_share": sum(p.opened_by_choice for p in packings) / max(1, sum(p.calls for p in packings)),
        "instances": float(count),
    }
    lines = ["Instances with the largest excess over the lower bound (total size of all items / "
             "capacity, rounded up; known only after the last item, never to priority):"]
    worst = worst_indices(excess)
    lines += [f"  {instances[k].name} ({instances[k].n} items, capacity {instances[k].capacity}): "
              f"{used[k]} bins vs bound {bounds[k]} ({100 * excess[k]:+.2f}%)" for k in worst]
    capacity = sum(inst.capacity * p.bins for inst, p in zip(instances, packings))
    free = sum(sum(p.remaining) for p in packings)
    loose = sum(sum(r > inst.capacity // 10 for r in p.remaining) for inst, p in zip(instances, packings))
    lines.append(f"Unused capacity over all bins: {100 * free / capacity:.2f}%; bins left more than 10% "
                 f"empty: {loose} of {sum(used)}; new bins opened although an open bin fitted: "
                 f"{sum(p.opened_by_choice for p in packings)}")
    return finite(metrics), "\n".join(lines)


class BinPackingVerifier(Verifier):
    version = "bin_packing-1"
    draws = True
    gate_cpu_seconds = 0.5  # all priority calls of one 50-item gate instance; 5,000-item ones follow

    def load_source(self, name: str, draw: int | None = None) -> Sequence[Instance]:
        return load_source(self.spec.root / "data", name, draw)

    def solve(self, box: SandboxSession, inst: Instance) -> Packing:
        entry = self.spec.entry
        return pack(inst.items, inst.capacity, lambda item, bins: box.call(entry, item, bins))

    def score(self, instances: list[Instance], results: list[Packing]) -> tuple[dict[str, float], str]:
        return score(instances, results)
