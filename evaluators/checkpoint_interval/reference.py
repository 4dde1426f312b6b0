"""Reference intervals (Young 1974, Daly 2006) and the brute-force best fixed interval.

    .venv/bin/python -m evaluators.checkpoint_interval.reference [--sets train,test]

prints, per set and per group of job families (failure law x constant / varying checkpoint
cost), the *expected* overhead of each reference policy: every family of the set's recipe is
simulated on ``--replicates`` fresh jobs (seeds of their own, so the figure is the policy's
expectation, not its luck on the set's failures). Policies: a fixed hour; Young's and Daly's
intervals recomputed at every call with the checkpoint cost of that moment; Daly's interval from
the cost at the start, kept (``daly_static``: a framework's fixed save interval); the best fixed
interval among 0.5x .. 4x Daly's (13 on a log grid, chosen on the same replicates: brute force);
and a hazard-aware interval that knows the Weibull shape (``hazard_interval``: what a policy that
learnt the failure law could reach). Everything runs in this process on trusted code.
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict
from collections.abc import Callable

import numpy as np

from evaluators.checkpoint_interval.instances import RECIPES, Instance, make_instance
from evaluators.checkpoint_interval.simulator import simulate


def young(cost: float, mtbf: float) -> float:
    """Young (CACM 1974): sqrt(2 C M)."""
    return math.sqrt(2.0 * cost * mtbf)


def daly(cost: float, mtbf: float) -> float:
    """Daly (FGCS 2006), eq. 37: sqrt(2 C M) [1 + sqrt(C / 2M) / 3 + (C / 2M) / 9] - C for C < 2M,
    else M."""
    if cost >= 2.0 * mtbf:
        return mtbf
    x = cost / (2.0 * mtbf)
    return math.sqrt(2.0 * cost * mtbf) * (1.0 + math.sqrt(x) / 3.0 + x / 9.0) - cost


def clamp(value: float, state: dict) -> float:
    return min(max(value, state["min_interval"]), state["work"])


def daly_policy(state: dict) -> float:
    return clamp(daly(state["checkpoint_cost"], state["mtbf"]), state)


def young_policy(state: dict) -> float:
    return clamp(young(state["checkpoint_cost"], state["mtbf"]), state)


def fixed_policy(hours: float) -> Callable[[dict], float]:
    return lambda state: clamp(hours, state)


def hazard_interval(cost: float, age: float, shape: float, mtbf: float) -> float:
    """Young's rule with the mean Weibull hazard over the next interval instead of 1 / M:
    tau = sqrt(2 C tau / (Lambda(age + tau) - Lambda(age))), Lambda(x) = (x / scale)^k, solved
    by fixed-point iteration (k = 1 gives Young's interval)."""
    scale = mtbf / math.gamma(1.0 + 1.0 / shape)
    tau = young(cost, mtbf)
    for _ in range(30):
        hazard = ((age + tau) / scale) ** shape - (age / scale) ** shape
        tau = math.sqrt(2.0 * cost * tau / max(hazard, 1e-12))
    return tau


def oracle_hazard_policy(inst: Instance) -> Callable[[dict], float]:
    """The hazard-aware interval with the job's true shape (a reference, not a candidate)."""
    return lambda s: clamp(hazard_interval(s["checkpoint_cost"], s["since_failure"], inst.shape,
                                           s["mtbf"]), s)


def daly_static_policy() -> Callable[[dict], float]:
    """Daly's interval from the cost seen at the job's start, kept for the whole job: a fixed
    save interval as a training framework is configured with."""
    fixed: list[float] = []

    def decide(state: dict) -> float:
        if state["call"] == 0:
            fixed[:] = [daly(state["checkpoint_cost"], state["mtbf"])]
        return clamp(fixed[0], state)
    return decide


MULTIPLES = tuple(float(2 ** (j / 4)) for j in range(-4, 9))   # 0.5x .. 4x Daly's interval


def replicates(set_name: str, family_index: int, count: int) -> list[Instance]:
    """Fresh jobs of one family of a set (seeds of their own, not the set's)."""
    recipe = RECIPES[set_name]
    fam = recipe.families[family_index]
    return [make_instance(f"replicate {r}", fam, recipe.work,
                          np.random.default_rng([777, recipe.seed, family_index, r])) for r in range(count)]


def expected(jobs: list[Instance], policy: Callable[[Instance], Callable[[dict], object]]) -> float:
    return float(np.mean([simulate(job, policy(job)).overhead for job in jobs]))


def family_row(set_name: str, family_index: int, count: int) -> dict[str, float]:
    """Expected overheads (mean over ``count`` replicate jobs) of every reference policy, and the
    best fixed interval among ``MULTIPLES`` of Daly's interval at the nominal cost."""
    jobs = replicates(set_name, family_index, count)
    fam = RECIPES[set_name].families[family_index]
    base = daly(fam.cost0, fam.mtbf)
    fixed = [expected(jobs, lambda _, m=m: fixed_policy(m * base)) for m in MULTIPLES]
    best = int(np.argmin(fixed))
    return {"hourly": expected(jobs, lambda _: fixed_policy(1.0)),
            "young": expected(jobs, lambda _: young_policy),
            "daly": expected(jobs, lambda _: daly_policy),
            "daly_static": expected(jobs, lambda _: daly_static_policy()),
            "best_fixed": fixed[best], "best_multiple": MULTIPLES[best],
            "hazard": expected(jobs, oracle_hazard_policy)}


def table(set_name: str, count: int) -> dict[str, dict[str, float]]:
    """Per group (failure law x cost pattern group) and for all: the mean of ``family_row``."""
    rows: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for i, fam in enumerate(RECIPES[set_name].families):
        row = family_row(set_name, i, count)
        group = f"{fam.failure} {'const' if fam.pattern == 'const' else 'varying'}"
        for g in ("all", group):
            for key, value in row.items():
                rows[g][key].append(value)
    return {g: {k: float(np.mean(v)) for k, v in cols.items()} for g, cols in sorted(rows.items())}


COLUMNS = ("hourly", "young", "daly", "daly_static", "best_fixed", "hazard")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="train,test")
    ap.add_argument("--replicates", type=int, default=8)
    args = ap.parse_args()
    for set_name in args.sets.split(","):
        print(f"{set_name}: expected overhead (wall / work - 1), {args.replicates} replicate jobs per family")
        print(f"  {'group':<16}" + "".join(f"{c:>13}" for c in COLUMNS) + f"{'best x Daly':>13}")
        for group, cols in table(set_name, args.replicates).items():
            print(f"  {group:<16}" + "".join(f"{100 * cols[c]:>12.2f}%" for c in COLUMNS)
                  + f"{cols['best_multiple']:>13.2f}")


if __name__ == "__main__":
    main()
