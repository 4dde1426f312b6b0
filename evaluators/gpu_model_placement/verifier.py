"""Trusted gpu_model_placement verifier: send G, the GPU memory and the models, check the
placement, score its maximum KV-cache pressure against the references.

The candidate receives only ``gpu_num``, ``gpu_mem`` and ``[size, rate, slo]`` per model (one
``place_models`` call per instance) and returns a GPU index per model. This side checks the reply
completely (``model.check_placement``: one Python int per model, in range, memory left on every
GPU), computes the maximum pressure itself from its own copy of the instance (nothing in the
reply but the indices is read) and scores gap = mean over instances of max pressure / lower bound
- 1. Instances of at most ``instances.EXACT_GPUS`` GPUs also have the CP-SAT optimum
(``reference.py``, computed when a source is first loaded, cached per source and draw):
``opt_gap`` is the mean ratio to it - 1 over those. References never leave this process.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from evaluators.base import Verifier, finite, worst_indices
from evaluators.gpu_model_placement.instances import load_source
from evaluators.gpu_model_placement.model import Instance, check_placement, max_pressure

AT_BOUND = 1e-9  # a ratio within this of 1 counts as reaching the lower bound


def score(instances: list[Instance], results: list[float]) -> tuple[dict[str, float], str]:
    """Metrics and feedback from trusted maximum pressures."""
    ratios = [p / inst.lower_bound for inst, p in zip(instances, results)]
    metrics = {"gap": sum(ratios) / len(ratios) - 1, "worst_gap": max(ratios) - 1,
               "at_bound": sum(r <= 1 + AT_BOUND for r in ratios) / len(ratios),
               "instances": float(len(instances))}
    exact = [(p / inst.optimum) for inst, p in zip(instances, results) if inst.optimum is not None]
    if exact:
        metrics["opt_gap"] = sum(exact) / len(exact) - 1
    lines = [f"Mean max pressure / lower bound - 1: {100 * metrics['gap']:.2f}% over {len(instances)} "
             f"instances; at the lower bound on {round(metrics['at_bound'] * len(instances))}."
             + (f" Mean gap to the optimum on the {len(exact)} small instances: "
                f"{100 * metrics['opt_gap']:.2f}%." if exact else ""),
             "Per size (GPUs, models): mean gap to the lower bound:"]
    families: dict[str, list[float]] = defaultdict(list)
    for inst, r in zip(instances, ratios):
        families[inst.name.split(" #")[0]].append(r)
    lines += [f"  {fam}: {100 * (sum(rs) / len(rs) - 1):.2f}%" for fam, rs in families.items()]
    lines.append("Instances furthest from the lower bound:")
    lines += [f"  {instances[k].name}: max pressure {results[k]:.4g} vs lower bound "
              f"{instances[k].lower_bound:.4g} ({100 * (ratios[k] - 1):+.1f}%)"
              for k in worst_indices(ratios)]
    return finite(metrics), "\n".join(lines)


class GpuModelPlacementVerifier(Verifier):
    version = "gpu_model_placement-1"
    draws = True

    def load_source(self, name: str, draw: int | None = None) -> Sequence[Instance]:
        return load_source(name, draw)

    def arguments(self, inst: Instance) -> tuple:
        return inst.as_json()

    def accept(self, inst: Instance, reply: object) -> float:
        placement = check_placement(reply, inst)
        return max_pressure(inst.gpus, inst.capacity, inst.models, placement)

    def score(self, instances: list[Instance], results: list[float]) -> tuple[dict[str, float], str]:
        return score(instances, results)
