"""Template verifier (a toy problem to copy): order jobs on one machine, minimise the total
weighted completion time; Smith's rule (Smith 1956) gives the optimum, the trusted reference.

The contract of ``evaluators/base.py``, and what each hook below must guarantee:

- The candidate runs only inside ``sandbox.SandboxSession`` (``Verifier.evaluate`` drives it);
  this module never imports, execs or calls candidate code itself.
- ``load_source``: instances with their references. A set marked ``drawn = true`` must be
  generated from ``evaluators.draws.entropy(draw, fixed seed)``, so that a candidate that reads
  this public code still cannot rebuild it; ``draw`` None is the fixed public draw the README
  tables use. References never leave this process.
- ``arguments``: the inputs of one call, plain JSON data, nothing else (no reference, no answer).
- ``accept``: validate the reply completely (type, length, range, every entry) and raise
  ``InvalidOutput`` naming what is wrong; then compute the result here from the reply alone:
  a value the candidate claims (a cost, a score) is never used.
- ``score``: every metric from the validated results, computed in this process, all finite
  (``finite``); the objective metric, ``[objective.second]``, ``report`` and every feature of
  problem.toml must be among them (``cpu_seconds`` is added by the base class).
- ``version``: change it whenever a score could change; stored scores are keyed by it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from evaluators.base import Verifier, finite
from evaluators.checks import check_permutation
from evaluators.draws import entropy


@dataclass(frozen=True)
class Instance:
    name: str
    p: tuple[int, ...]  # processing times, sent
    w: tuple[int, ...]  # weights, sent
    ref: int  # the optimal total weighted completion time: never sent

    @property
    def n(self) -> int:
        return len(self.p)


def weighted_completion(order: list[int], p: Sequence[int], w: Sequence[int]) -> int:
    """sum_j w[j] * C[j] for jobs run in ``order`` from time 0."""
    t = total = 0
    for j in order:
        t += p[j]
        total += w[j] * t
    return total


def parse_source(source: str) -> tuple[int, int, int]:
    """``"n=20 seed=1000 count=5"`` -> (jobs per instance, first seed, instances)."""
    fields = dict(f.partition("=")[::2] for f in source.split())
    if set(fields) != {"n", "seed", "count"} or not all(v.isdigit() for v in fields.values()):
        raise ValueError(f"instance source {source!r}: write it as 'n=<jobs> seed=<int> count=<k>'")
    return int(fields["n"]), int(fields["seed"]), int(fields["count"])


@lru_cache(maxsize=32)
def load_instances(source: str, draw: int | None = None) -> tuple[Instance, ...]:
    """The instances a source names: instance i from seed + i and ``draw`` (None: public draw)."""
    n, seed, count = parse_source(source)
    out = []
    for i in range(count):
        rng = np.random.default_rng(entropy(draw, [seed, i]))  # the one place the draw enters
        p = tuple(int(x) for x in rng.integers(1, 101, n))
        w = tuple(int(x) for x in rng.integers(1, 11, n))
        smith = sorted(range(n), key=lambda j: (p[j] / w[j], j))
        out.append(Instance(f"n{n} #{seed + i}", p, w, weighted_completion(smith, p, w)))
    return tuple(out)




def score(instances: list[Instance], costs: list[int]) -> tuple[dict[str, float], str]:
    """Metrics and feedback from trusted costs: gap = mean of cost / optimum - 1."""
    gaps = [c / i.ref - 1 for i, c in zip(instances, costs)]
    metrics = {
        "gap": sum(gaps) / len(gaps),
        "worst_gap": max(gaps),
        "optimal_share": sum(g == 0 for g in gaps) / len(gaps),
        "instances": float(len(instances)),
    }
    worst = sorted(zip(instances, costs, gaps), key=lambda icg: -icg[2])[:3]
    lines = ["Instances furthest from the optimum:"]
    lines += [f"  {i.name}: {c} vs optimum {i.ref} ({100 * g:+.2f}%)" for i, c, g in worst]
    return finite(metrics), "\n".join(lines)


class TemplateVerifier(Verifier):
    version = "_template-1"
    draws = True  # load_source generates from the draw (problem.toml marks train and test drawn)

    def load_source(self, name: str, draw: int | None = None) -> Sequence[Instance]:
        return load_instances(name, draw)

    def arguments(self, inst: Instance) -> tuple:
        return list(inst.p), list(inst.w)

    def accept(self, inst: Instance, order: object) -> int:
        return weighted_completion(check_permutation(order, inst.n, call="schedule()", item="job"),
                                   inst.p, inst.w)

    def score(self, instances: list[Instance], results: list[int]) -> tuple[dict[str, float], str]:
        return score(instances, results)
