"""Build a generated SMTT set: ``python -m evaluators.smtt.make_generated [--n N --seed S]``.

References are exact DP optima up to n = 30 and best found by iterated local search above
(``reference_search``). Writes ``problems/smtt/data/gen<n>.json`` (instances, references,
generator parameters and seed), so the expensive part runs once and the file is committed as the
cache.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
from pathlib import Path

import numpy as np

from evaluators.problem import problems_dir
from evaluators.smtt.exact import optimal_weighted_tardiness
from evaluators.smtt.instances import LEVELS, generate
from evaluators.smtt.reference_search import best_found

DP_MAX_N = 30  # the subset DP is 2^n states


def reference(p, w, d) -> int:
    return optimal_weighted_tardiness(p, w, d) if len(p) <= DP_MAX_N else best_found(p, w, d)[1]


def build(n: int, per_class: int, seed: int) -> dict:
    """Instances drawn in a fixed order from one generator; references computed in parallel (each
    deterministic), so the file depends only on ``n``, ``per_class`` and ``seed``."""
    rng = np.random.default_rng(seed)
    rows = []
    for rdd in LEVELS:
        for tf in LEVELS:
            for k in range(per_class):
                p, w, d = generate(n, tf, rdd, rng)
                rows.append({"name": f"gen{n}-tf{tf}-rdd{rdd}-{k + 1}", "p": p, "w": w, "d": d,
                             "tf": tf, "rdd": rdd})
    with multiprocessing.Pool() as pool:
        refs = pool.starmap(reference, [(r["p"], r["w"], r["d"]) for r in rows])
    for row, ref in zip(rows, refs):
        row["ref"] = ref
    exact = n <= DP_MAX_N
    return {"generator": "Crauwels-Potts-Van Wassenhove (weighted), "
                         + ("exact DP over subsets" if exact else "best found by iterated local search"),
            "reference": "dp-optimal" if exact else "best-found",
            "n": n, "per_class": per_class, "seed": seed, "instances": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--per-class", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20261128)
    args = ap.parse_args()
    out = problems_dir() / "smtt" / "data" / f"gen{args.n}.json"
    Path(out).write_text(json.dumps(build(args.n, args.per_class, args.seed)))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
