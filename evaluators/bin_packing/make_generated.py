"""Build the generated Weibull instances: ``python -m evaluators.bin_packing.make_generated``.

Writes ``problems/bin_packing/data/generated.json``: for each group its size, item count, seed
and instances. The file is committed so the instances stay fixed across numpy versions;
``tests/test_bin_packing.py`` checks that this script still reproduces it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from evaluators.bin_packing.instances import WEIBULL_CAPACITY, weibull_items
from evaluators.draws import entropy
from evaluators.problem import problems_dir

# group -> (instances, items per instance, seed)
GROUPS = {"weibull_train": (5, 2000, 20261128), "weibull_gate": (3, 50, 20261129)}


def group_rows(group: str, draw: int | None = None) -> list[dict]:
    """The instances of one group from its seed and ``draw`` (None: the committed public draw)."""
    count, n, seed = GROUPS[group]
    rng = np.random.default_rng(entropy(draw, seed))
    return [{"name": f"{group}/{k}", "capacity": WEIBULL_CAPACITY, "items": weibull_items(n, rng)}
            for k in range(count)]


def build() -> dict:
    groups = {}
    for group, (count, n, seed) in GROUPS.items():
        groups[group] = {"count": count, "items": n, "seed": seed, "instances": group_rows(group)}
    return {"generator": "sizes = round(Weibull(k=3, scale=45)) clipped to [1, 100], capacity 100, "
                         "numpy.random.default_rng(seed).weibull", "groups": groups}


def output_path() -> Path:
    return problems_dir() / "bin_packing" / "data" / "generated.json"


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    out = output_path()
    out.write_text(json.dumps(build(), separators=(",", ":")))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
