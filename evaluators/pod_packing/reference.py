"""CP-SAT reference (OR-Tools), solved level by level, and its on-disk cache.

The model of arXiv 2511.08373: a Boolean x[i, n] per pod and node it fits on alone, at most one
node per pod, CPU and memory capacity per node. Priorities are optimised in turn from the highest:
maximise the placed pods of that priority, then fix that count (>= the value found) and go on;
finally minimise evictions (running pods not on their current node). Each priority step
maximises (running + 1) * placed_p - evictions, so evictions only break ties between equal
counts; the step counts as proven when the solver's bound excludes one more placed pod (if it
does not, a count-only solve of half the step's time tries to prove it). Each step starts from
the previous step's solution as a hint (the first from the given hint, e.g. the kube-scheduler
placement). The reference is OPTIMAL only if every step was proven optimal, else FEASIBLE.
Evaluation never runs the solver: it reads ``problems/pod_packing/data/reference.json``, written
by ``python -m evaluators.pod_packing.make_reference``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evaluators.pod_packing.cluster import PRIORITIES, Cluster
from evaluators.pod_packing.model import Outcome, check_placement, outcome

FILE = "reference.json"


@dataclass(frozen=True)
class Reference:
    placed: tuple[int, ...]
    evictions: int
    status: str  # OPTIMAL | FEASIBLE
    steps: tuple[str, ...]  # solver status per step: priority 3, 2, 1, 0, evictions
    seconds: float
    assignment: tuple[int | None, ...]

    @property
    def outcome(self) -> Outcome:
        return Outcome(self.placed, self.evictions)


def solve(cluster: Cluster, seconds: float, hint: Sequence[int | None] | None = None,
          workers: int = 2) -> Reference:
    """Lexicographic CP-SAT solve with ``seconds`` per step."""
    from ortools.sat.python import cp_model

    started = time.monotonic()
    model = cp_model.CpModel()
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    for i, pod in enumerate(cluster.pods):
        for n, (cpu, mem) in enumerate(cluster.nodes):
            if pod.cpu <= cpu and pod.mem <= mem:
                x[i, n] = model.new_bool_var(f"x{i}_{n}")
    by_pod: dict[int, list] = {}
    by_node: dict[int, list[tuple[int, cp_model.IntVar]]] = {}
    for (i, n), var in x.items():
        by_pod.setdefault(i, []).append(var)
        by_node.setdefault(n, []).append((i, var))
    for vars_ in by_pod.values():
        model.add_at_most_one(vars_)
    for n, items in by_node.items():
        cpu, mem = cluster.nodes[n]
        model.add(sum(cluster.pods[i].cpu * v for i, v in items) <= cpu)
        model.add(sum(cluster.pods[i].mem * v for i, v in items) <= mem)
    current = (hint if hint is not None else [p.node for p in cluster.pods])

    def set_hint(assignment: Sequence[int | None]) -> None:
        model.clear_hints()
        for (i, n), var in x.items():
            model.add_hint(var, assignment[i] == n)

    def run(objective, maximize: bool, limit: float = seconds) -> tuple[str, int, int]:
        model.maximize(objective) if maximize else model.minimize(objective)
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = limit
        solver.parameters.num_workers = workers
        solver.parameters.random_seed = 0
        status = solver.solve(model)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            raise RuntimeError(f"CP-SAT found no solution for {cluster.name}: {solver.status_name(status)}")
        nonlocal current
        current = [next((n for n in range(len(cluster.nodes)) if (i, n) in x and solver.value(x[i, n])), None)
                   for i in range(len(cluster.pods))]
        return solver.status_name(status), round(solver.objective_value), int(solver.best_objective_bound)

    moved = [1 - x[i, pod.node] for i, pod in enumerate(cluster.pods) if pod.node is not None]
    steps = []
    for p in reversed(range(PRIORITIES)):
        vars_p = [v for (i, _), v in x.items() if cluster.pods[i].priority == p]
        if not vars_p:
            steps.append("OPTIMAL")
            continue
        set_hint(current)
        # (running + 1) * placed_p - evictions: the count first, evictions only break its ties,
        # so each step already returns a placement with few moves for the next one to start from
        scale = len(moved) + 1
        status, best, bound = run(scale * sum(vars_p) - sum(moved), maximize=True)
        count = -(-best // scale)  # best = scale * count - evictions, 0 <= evictions < scale
        # the count is proven once no placement with count + 1 (worth >= scale * count + 1) is left
        proven = status == "OPTIMAL" or bound <= scale * count
        if not proven:  # try to prove the count alone (easier than the tie-break), from this solution
            set_hint(current)
            saved = list(current)
            status, better, bound = run(sum(vars_p), maximize=True, limit=seconds / 2)
            proven = status == "OPTIMAL"
            if better > count:  # the tie-break search missed a placement the plain count found
                count = better
            else:
                current = saved
        model.add(sum(vars_p) >= count)
        steps.append("OPTIMAL" if proven else "FEASIBLE")
    set_hint(current)
    status = run(sum(moved), maximize=False)[0] if moved else "OPTIMAL"
    steps.append(status)
    check_placement(list(current), cluster)
    result = outcome(cluster, current)
    return Reference(result.placed, result.evictions,
                     "OPTIMAL" if all(s == "OPTIMAL" for s in steps) else "FEASIBLE",
                     tuple(steps), time.monotonic() - started, tuple(current))


def to_json(ref: Reference, cluster: Cluster) -> dict:
    return {"fingerprint": cluster.fingerprint(), "placed": list(ref.placed), "evictions": ref.evictions,
            "status": ref.status, "steps": list(ref.steps), "seconds": round(ref.seconds, 2),
            "assignment": list(ref.assignment)}


def load_cache(data_dir: Path) -> dict[str, dict]:
    path = data_dir / FILE
    return json.loads(path.read_text())["entries"] if path.exists() else {}


def cached(entries: dict[str, dict], cluster: Cluster) -> Reference:
    """The cached reference of ``cluster``; refuses a missing or stale entry."""
    entry = entries.get(cluster.name)
    if entry is None or entry["fingerprint"] != cluster.fingerprint():
        why = "missing" if entry is None else "stale (the generator changed)"
        raise RuntimeError(f"pod_packing reference for {cluster.name} is {why}: run "
                           "`python -m evaluators.pod_packing.make_reference`")
    return Reference(tuple(entry["placed"]), entry["evictions"], entry["status"], tuple(entry["steps"]),
                     entry["seconds"], tuple(entry["assignment"]))
