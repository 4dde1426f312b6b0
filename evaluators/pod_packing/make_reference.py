"""Regenerate the cached CP-SAT references: ``python -m evaluators.pod_packing.make_reference [--force]``.

For every cluster of every set in ``problems/pod_packing/problem.toml`` without an up-to-date
entry (same name and fingerprint) in ``problems/pod_packing/data/reference.json``, solve the
lexicographic CP-SAT model (2 workers, per-step time limit by size: 1 s up to 40 pods, 3 s up to
100, 10 s above) starting from the better of the two kube-scheduler baselines' placements, which
are human code from ``problems/pod_packing/baselines`` run here offline (never candidate code).
Prints, per set, how often CP-SAT beats the default scheduler and proves it optimal.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path
from types import ModuleType

from evaluators.pod_packing.cluster import Cluster, load_source
from evaluators.pod_packing.model import check_placement, outcome
from evaluators.pod_packing.reference import FILE, load_cache, solve, to_json
from evaluators.problem import ProblemSpec, load_problem


def step_seconds(cluster: Cluster) -> float:
    n = len(cluster.pods)
    return 1.0 if n <= 40 else 3.0 if n <= 100 else 10.0


def baseline(spec: ProblemSpec, name: str) -> ModuleType:
    path = spec.root / "baselines" / f"{name}.py"
    module_spec = importlib.util.spec_from_file_location(f"pod_packing_{name}", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="re-solve every cluster")
    args = parser.parse_args()
    spec = load_problem("pod_packing")
    data_dir = spec.root / "data"
    entries = {} if args.force else load_cache(data_dir)
    kube, most = baseline(spec, "kube_scheduler"), baseline(spec, "most_allocated")
    fresh: dict[str, dict] = {}
    for set_name, inst_set in spec.sets.items():
        better = optimal = kube_optimal = total = 0
        for source in inst_set.sources:
            for cluster in load_source(source):
                nodes, pods = cluster.as_json()
                plans = [check_placement(m.place(nodes, pods), cluster) for m in (kube, most)]
                plans.sort(key=lambda plan: outcome(cluster, plan).key(), reverse=True)
                entry = entries.get(cluster.name)
                if entry is None or entry["fingerprint"] != cluster.fingerprint():
                    entry = to_json(solve(cluster, step_seconds(cluster), hint=plans[0]), cluster)
                fresh[cluster.name] = entry
                ref_key = outcome(cluster, entry["assignment"]).key()
                kube_key = outcome(cluster, kube.place(nodes, pods)).key()
                total += 1
                better += ref_key > kube_key
                optimal += entry["status"] == "OPTIMAL"
                kube_optimal += entry["status"] == "OPTIMAL" and ref_key == kube_key
                print(f"{set_name:5s} {cluster.name:22s} {entry['status']:8s} {entry['seconds']:6.1f}s "
                      f"ref {ref_key} kube {kube_key}", flush=True)
        print(f"{set_name}: CP-SAT beats kube_scheduler on {better}/{total}, proves optimality on "
              f"{optimal}/{total}, kube_scheduler proven optimal on {kube_optimal}/{total}", flush=True)
        write(data_dir / FILE, {**entries, **fresh})  # progress survives an interruption
    write(data_dir / FILE, fresh)  # only the clusters the sets name now


def write(path: Path, entries: dict[str, dict]) -> None:
    path.write_text(json.dumps({"solver": "OR-Tools CP-SAT, 2 workers, lexicographic by priority then "
                                "evictions", "entries": entries}, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
