"""Trusted multicloud_broadcast verifier: send the region graph and one broadcast, check the overlay,
price it from the verifier's own graph, score it against the Steiner lower bound.

The candidate receives the regions, the price and throughput matrices, the VM prices, the source,
the destinations and the size (one ``plan_broadcast`` call per instance) and returns, per
destination, [path, share] pairs. This side checks the reply completely
(``model.check_overlay``), computes its cost (``model.overlay_cost``) from its own copy of the
graph and the indices and shares alone (no cost, time or score is ever read from the reply), and
scores gap = mean over instances of cost / lower bound - 1 (``instances.py``), with
vs_direct = mean cost / direct-transfer cost - 1 beside it. References never leave this process.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from evaluators.base import Verifier, finite, worst_indices
from evaluators.multicloud_broadcast.instances import Instance, load_source
from evaluators.multicloud_broadcast.model import Cost, check_overlay, overlay_cost


def score(instances: list[Instance], results: list[Cost]) -> tuple[dict[str, float], str]:
    """Metrics and feedback from trusted costs."""
    ratios = [c.total / inst.lower_bound for inst, c in zip(instances, results)]
    direct = [c.total / inst.direct for inst, c in zip(instances, results)]
    egress = sum(c.egress for c in results)
    metrics = {"gap": sum(ratios) / len(ratios) - 1, "worst_gap": max(ratios) - 1,
               "vs_direct": sum(direct) / len(direct) - 1,
               "instance_share": sum(c.instance for c in results)
               / (egress + sum(c.instance for c in results)),
               "instances": float(len(instances))}
    lines = [f"Mean cost / lower bound - 1: {100 * metrics['gap']:.2f}% over {len(instances)} instances; "
             f"mean cost vs sending directly: {100 * metrics['vs_direct']:+.2f}%; instance (VM) cost is "
             f"{100 * metrics['instance_share']:.2f}% of the dollars.",
             "Per size (regions R, destinations K): mean gap to the lower bound:"]
    families: dict[str, list[float]] = defaultdict(list)
    for inst, r in zip(instances, ratios):
        families[inst.name.split(" #")[0]].append(r)
    lines += [f"  {fam}: {100 * (sum(rs) / len(rs) - 1):.2f}%" for fam, rs in families.items()]
    lines.append("Instances furthest from the lower bound:")
    lines += [f"  {instances[k].name}: ${results[k].total:.2f} (egress {results[k].egress:.2f}, VMs "
              f"{results[k].instance:.4f}, {results[k].seconds:.0f} s) "
              f"vs bound ${instances[k].lower_bound:.2f} "
              f"({100 * (ratios[k] - 1):+.1f}%)" for k in worst_indices(ratios)]
    return finite(metrics), "\n".join(lines)


class MulticloudBroadcastVerifier(Verifier):
    version = "multicloud_broadcast-1"
    draws = True

    def load_source(self, name: str, draw: int | None = None) -> Sequence[Instance]:
        return load_source(name, draw)

    def arguments(self, inst: Instance) -> tuple:
        return inst.as_json()

    def accept(self, inst: Instance, reply: object) -> Cost:
        routes = check_overlay(reply, inst.graph, inst.source, inst.destinations)
        return overlay_cost(inst.graph, inst.size_gb, routes)

    def score(self, instances: list[Instance], results: list[Cost]) -> tuple[dict[str, float], str]:
        return score(instances, results)
