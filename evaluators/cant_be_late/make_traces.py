"""Write the instance sets: ``python -m evaluators.cant_be_late.make_traces [--check]``.

Builds every set of ``traces.RECIPES`` (fixed seeds), adds each instance's omniscient optimum
(``optimum.py``) and writes ``problems/cant_be_late/data/<set>.json``. With ``--check`` it writes
nothing and exits non-zero if a committed file differs from what the recipe produces.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from evaluators.cant_be_late.instances import parse_instance
from evaluators.cant_be_late.optimum import omniscient_cost
from evaluators.cant_be_late.traces import PROFILES, RECIPES, TICK_HOURS, build_set
from evaluators.problem import problems_dir


def build(name: str, draw: int | None = None) -> dict:
    """One set with each instance's omniscient optimum (``draw`` None: the committed public one)."""
    rows = build_set(name, RECIPES[name], draw)
    for row in rows:
        row["opt_cost"] = round(omniscient_cost(parse_instance(row, TICK_HOURS)), 6)
    profiles = sorted({p for row in rows for p in row["profiles"]})
    return {"generator": "two-state Markov spot availability per region, evaluators/cant_be_late/traces.py",
            "seed": RECIPES[name].seed, "tick_hours": TICK_HOURS,
            "profiles": {p: {"mean_up_h": PROFILES[p].mean_up, "mean_down_h": PROFILES[p].mean_down}
                         for p in profiles},
            "instances": rows}


def render(name: str) -> str:
    return json.dumps(build(name), indent=1) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="compare with the committed files")
    args = ap.parse_args()
    folder = Path(problems_dir()) / "cant_be_late" / "data"
    stale = []
    for name in RECIPES:
        path, text = folder / f"{name}.json", render(name)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        sys.exit(f"stale instance files: {', '.join(stale)}")


if __name__ == "__main__":
    main()
