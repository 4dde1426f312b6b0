"""evolve under test: its run config, one ``evolve run`` through the CLI, and what its archive says.

The run config names one model entry, the embedded model's settings (``evolve.runs.local_entry``:
``style: compact``, its temperature and max_tokens) pointing at the counting proxy, with the
model named ``openai/<upstream model id>``: for an embedded model evolve then treats the proxy as
that model's server (``ensure_local_servers`` finds the model answering /v1/models there and
reuses it). Feature switches are plain dicts merged into the config: ``FULL`` is every feature on
and starting from the initial program and the human baselines; each entry of ``ABLATIONS``
turns one feature off.

From the archive (tables ``iterations``, ``programs``, ``llm_calls``, ``evaluations``) it reads
the run's best-so-far train score by LLM calls (a program counts from the number of ``llm_calls``
rows recorded before it was stored), the winner (``Archive.winner``: chosen on the problem's
validation set where it has one), children and failed children, duplicates (an iteration with
outcome ``duplicate``, or whose child has the normalised code of an earlier program of the run),
behaviour duplicates (status ``same``) and repairs (iterations with edit_kind ``repair``). A
child that failed but whose guarded program (edit kind ``guard``, no LLM call) passed is valid.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import yaml
from quality_eval import norm_hash
from quality_types import Endpoint, RunKey, RunTrace, curve_of

ROOT = Path(__file__).resolve().parent.parent
SECRET_VARS = ("OPENAI_API_KEY", "EVOLVE_MODEL", "EVOLVE_API_BASE", "ANTHROPIC_API_KEY")
BENCH_DRAW = 0x5EED_0000_0000  # drawn sets: one fixed draw (>= 2**40) per seed, so every variant of a
# seed is scored on identical instances (the bench compares configurations, it guards no secret)
LLM_TIMEOUT_SECONDS = 900.0  # both systems: never fires before the server answers (llama.cpp keeps
# generating for a client that gave up, so a retry after a timeout only queues behind it)

FULL: dict = {
    "seeds": ["initial", "baselines"],
    "hygiene": {"request_seed": True, "dedupe": True, "same_behaviour": True,
                "fresh_inspiration": True, "reheat": 0.3},
    "repair": {"enabled": True},
    "tuning": {"enabled": True, "budget": 40, "max_params": 12},
    "prompts": {"edge_cases": True, "failing_values": True},
}
ABLATIONS: dict[str, dict] = {  # variant -> what it changes in FULL
    "no-hygiene": {"hygiene": {"request_seed": False, "dedupe": False, "same_behaviour": False,
                               "fresh_inspiration": False, "reheat": 0.0}},
    "no-repair": {"repair": {"enabled": False}},
    "from-initial": {"seeds": ["initial"]},
    "no-tuning": {"tuning": {"enabled": False}},
    "no-prompts": {"prompts": {"edge_cases": False, "failing_values": False}},
    # search choices measured against the default (issues 17, 20): asks of one parent, crossover,
    # novelty rejection
    "one-ask": {"search": {"asks_per_parent": 1}},
    "crossover": {"search": {"crossover_ratio": 0.5}},
    "novelty": {"hygiene": {"novelty_threshold": 0.9}},
    # issue 20: an island without a better best in 2 of its proposals restarts from the run's best
    # (an embedded run asks each parent 3 times, so a larger limit never fires in 12 calls); a
    # summary of the last 4 iterations in later prompts; directions chosen by the bandit (at 12
    # calls a run only explores its 6 directions: measure it on longer runs)
    "restarts": {"search": {"stagnation_iterations": 2}},
    "advice": {"prompts": {"advice_interval": 4}},
    "directions": {"prompts": {"direction_choice": "bandit"}},
    # half the parent choices from the island's Pareto front (problems with [objective.second]:
    # moe_eplb, llm_serving)
    "pareto": {"search": {"pareto_ratio": 0.5}},
    # with a second model in the pool (``quality.py --pool MODEL``): each call's model chosen by the
    # UCB on improvements per second of LLM time instead of by equal weights
    "bandit": {"llm": {"choice": "bandit"}},
}


class EvolveRunFailed(Exception):
    """``evolve run`` exited with an error; the message carries its last lines."""


def merged(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in override.items():
        out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def features(variant: str) -> dict:
    return FULL if variant == "full" else merged(FULL, ABLATIONS[variant])


def model_entry(endpoint: Endpoint, proxy_url: str) -> dict:
    from evolve.llm.embedded.local_model import MODELS
    from evolve.runs import local_entry

    # the embedded model's own entry (sampling, prompt style and format), as the main command has
    # it; another server gets the chat API (its model may not speak ChatML)
    base = local_entry(endpoint.model) if endpoint.model in MODELS else local_entry()
    entry = base.model_copy(update={"name": f"openai/{endpoint.model}", "api_base": proxy_url})
    out = entry.model_dump(exclude_none=True)
    if not endpoint.embedded:
        out.pop("prompt_format", None)
    return out


def run_config(pool: list[tuple[Endpoint, str]], seed: int, variant: str) -> dict:
    """The run's config: one model entry per (endpoint, its proxy's URL) of the pool."""
    return merged({"llm": {"models": [model_entry(e, url) for e, url in pool],
                           "timeout_seconds": LLM_TIMEOUT_SECONDS},
                   "seed": seed, "draw": BENCH_DRAW + seed, "final_report": False}, features(variant))


def evolve_command() -> list[str]:
    exe = Path(sys.executable).parent / "evolve"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "evolve.cli"]


def run_evolve(key: RunKey, budget: int, pool: list[tuple[Endpoint, str]], out: Path) -> RunTrace:
    """One ``evolve run`` of ``budget`` iterations (one LLM call each) through the CLI, its model
    pool the (endpoint, proxy URL) pairs of ``pool``."""
    runs_dir = out / "runs"
    run_dir = runs_dir / key.name
    if run_dir.exists():  # an interrupted earlier attempt: start it again from nothing
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    cfg = run_config(pool, key.seed, key.variant)
    notes = []
    cfg_file = runs_dir / f"{key.name}.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VARS}
    env.update(PYTHONUNBUFFERED="1", COLUMNS="160")
    log = runs_dir / f"{key.name}.log"
    started = time.monotonic()
    with log.open("w") as f:
        res = subprocess.run([*evolve_command(), "run", key.problem, "--config", str(cfg_file),
                              "--iterations", str(budget), "--run-name", key.name,
                              "--runs-dir", str(runs_dir), "--no-report"],
                             cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT,
                             timeout=budget * 900 + 1800)
    wall = time.monotonic() - started
    text = log.read_text(errors="replace")
    if res.returncode != 0:
        tail = "\n".join(line for line in text.splitlines()[-12:] if line.strip())
        raise EvolveRunFailed(f"evolve run {key.name} exited with {res.returncode}; see {log}:\n{tail}")
    if pool[0][0].embedded and "already running" not in text:
        notes.append("evolve did not report reusing the proxy as its model server (check the log)")
    trace = read_run(run_dir / "archive.db", key, budget, wall, "+".join(cfg.get("seeds", ["initial"])))
    return RunTrace(**{**trace.__dict__, "notes": tuple(notes) + trace.notes})


def _when(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def read_run(db: Path, key: RunKey, budget: int, wall: float, start: str) -> RunTrace:
    """The run's trace from its archive (read-only)."""
    from evolve.archive.events import model_records
    from evolve.archive.store import Archive

    archive = Archive(f"sqlite:///{db}", migrate=False)
    try:
        run = archive.find_run(key.name)
        if run is None:
            raise EvolveRunFailed(f"no run {key.name} in {db}")
        run_id = run.id
        best = archive.winner(run_id)
        winner = archive.program(best).code if best is not None else ""
        models = model_records(archive, run_id)
    finally:
        archive.close()
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        trace = _trace(con, run_id, key, budget, wall, start, winner)
    finally:
        con.close()
    if len(models) < 2:
        return trace
    # a pool: what each model's proposals gave (the model bandit's record of the run)
    yields = tuple(f"{r.name}: {r.calls} proposals, {r.improvements} beat their parent, "
                   f"{r.seconds / max(r.calls, 1):.1f} s of LLM time each" for r in models.values())
    return RunTrace(**{**trace.__dict__, "notes": trace.notes + yields})


def _trace(con: sqlite3.Connection, run_id: int, key: RunKey, budget: int, wall: float, start: str,
           winner: str) -> RunTrace:
    from evaluators.problem import load_problem

    metric = load_problem(key.problem).objective.metric
    programs = {row[0]: row for row in con.execute(
        "select id, status, combined_score, code, created_at, parent_id, parent2_id from programs "
        "where run_id = ? "
        "order by id", (run_id,))}
    call_times = sorted(_when(r[0]) for r in con.execute(
        "select created_at from llm_calls where run_id = ?", (run_id,)))
    train = {pid: json.loads(m) if isinstance(m, str) else m for pid, m in con.execute(
        "select e.program_id, e.metrics from evaluations e join programs p on p.id = e.program_id "
        "where p.run_id = ? and e.set_name = 'train' order by e.id", (run_id,))}
    points = []
    for pid, _status, score, _code, created, _parent, _parent2 in programs.values():
        if score is None:
            continue
        made = _when(created)
        calls = sum(1 for t in call_times if t <= made)
        points.append((calls, float(score), (train.get(pid) or {}).get(metric)))
    iterations = con.execute("select number, outcome, edit_kind, child_id from iterations "
                             "where run_id = ? order by number", (run_id,)).fetchall()
    hashes: dict[int, str] = {pid: norm_hash(row[3]) for pid, row in programs.items()}
    duplicates = sum(1 for _, outcome, _, _ in iterations if outcome == "duplicate")
    for _, outcome, _, child in iterations:
        if outcome == "child" and child in hashes:
            if any(hashes[other] == hashes[child] for other in programs if other < child):
                duplicates += 1
    # a child whose guarded program (no LLM call: evolve/guards.py) passed counts as valid
    rescued = {parent for parent, in con.execute(
        "select parent_id from programs where run_id = ? and edit_kind = 'guard' and status = 'ok'",
        (run_id,))}
    child_status = [("ok" if c in rescued else programs[c][1]) for _, outcome, _, c in iterations
                    if outcome == "child" and c in programs]
    children = [s for s in child_status if s != "pending"]
    improving = sum(1 for _, outcome, _, c in iterations if outcome == "child" and c in programs
                    and _beats_parent(programs, c))
    # a repair's outcome: its own child's status (a repair that repeated a program made none)
    repairs = [(programs[c][1] if outcome == "child" and c in programs else None)
               for _, outcome, kind, c in iterations if kind == "repair"]
    notes = []
    if len(call_times) != len(iterations):
        notes.append(f"{len(call_times)} LLM calls recorded for {len(iterations)} iterations")
    return RunTrace(
        key=key, budget=budget, curve=curve_of(points), winner_code=winner, iterations=len(iterations),
        children=len(children), valid_children=sum(1 for s in children if s in ("ok", "same")),
        duplicates=duplicates,
        same_behaviour=sum(1 for s in children if s == "same"),
        repairs=len(repairs) if repairs else None,
        repairs_ok=sum(1 for s in repairs if s == "ok") if repairs else None,
        wall_seconds=wall, start=start, notes=tuple(notes), improving_children=improving)


def _beats_parent(programs: dict[int, tuple], child: int) -> bool:
    """A valid child whose train score is above its parents' (combined_score: higher is better);
    a crossover must beat both (a copy of its better parent's rule is no improvement)."""
    _, status, score, _, _, parent, parent2 = programs[child]
    above = [programs.get(p) for p in (parent, parent2) if p is not None]
    return (status == "ok" and score is not None and bool(above)
            and all(a is not None and a[2] is not None and float(score) > float(a[2]) for a in above))
