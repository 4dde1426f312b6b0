"""OpenEvolve 0.4.0 under test: its config, its evaluator (our verifier through a bridge), one run.

OpenEvolve is installed in its own virtualenv by ``bench/vs_openevolve.openevolve_python()`` and
driven by that module's runner (``openevolve.api.run_evolution``). Settings are OpenEvolve's
defaults except what a fair comparison needs:

- the same endpoint (the counting proxy), model and temperature as evolve's embedded model entry,
  the same LLM timeout, ``max_iterations`` = the call budget; ``max_tokens``: ``MAX_TOKENS``
  (1024; evolve's 600 is for one function, OpenEvolve asks for whole programs);
- ``random_seed: null`` at the top level: with its default (42) OpenEvolve sends one constant
  ``seed`` with every request, so the llama.cpp server would return the same sample for any
  repeated prompt; without it OpenEvolve sends none and the proxy gives each request a fresh
  seed, as evolve does. Its database keeps a seed (the bench seed) for reproducible sampling;
- ``prompt.system_message``: the problem's brief (problems/<name>/brief.md), what evolve tells
  the model too;
- one parallel evaluation (``evaluator.parallel_evaluations: 1``), an evaluation timeout of the
  problem's wall limit + 60 s, no cascade (our verifier runs its own quick gate first);
- ``diff_based_evolution``: chosen per model by the pilot (``bench/quality.py --pilot``, figures
  in its module docstring): SEARCH/REPLACE diffs (OpenEvolve's default, ``DIFF_BASED``) for the
  1.5B model and any other, full rewrites for the 0.5B model (``DIFF_BASED_BY_MODEL``).

Its evaluator (a file OpenEvolve loads in its worker process) runs ``bench/quality_eval.py`` with
evolve's Python for every candidate, returns ``{"combined_score": ...}`` (a failed program gets
``FAILED_SCORE`` and its error as an artifact; a passing one gets the verifier's feedback as an
artifact, the same text evolve's prompts show) and appends (calls so far at the proxy's /stats,
score, ok, normalised code hash) to a JSONL log, from which the bench computes the best train
score per call count, valid children and duplicates.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml
from quality_evolve import LLM_TIMEOUT_SECONDS, SECRET_VARS
from quality_types import Endpoint, RunKey, RunTrace, curve_of

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
# the pilots' choice per model (``bench/quality.py --pilot``; figures in its docstring): with the
# 1.5B model full rewrites only ever reproduced the parent, diffs sometimes made a new program;
# with the 0.5B model no diff applied, rewrites made new programs
DIFF_BASED = True  # OpenEvolve's own default
DIFF_BASED_BY_MODEL = {"qwen2.5-coder-0.5b-instruct-q4_k_m": False}
# its prompts ask for a whole program (or diffs of it), not one function as evolve's compact ones:
# evolve's 600 tokens cut full rewrites of the longer baselines short; 1024 still keeps its
# prompts (1.5-2.5k tokens here) plus the reply within the server's 4096-token context
MAX_TOKENS = 1024
FAILED_SCORE = -1e6

EVALUATOR = '''"""OpenEvolve evaluator written by bench/quality_openevolve.py: evolve's trusted verifier."""
import json
import subprocess
import time
import urllib.request

from openevolve.evaluation_result import EvaluationResult

PYTHON, BRIDGE, PROBLEM = {python!r}, {bridge!r}, {problem!r}
STATS, LOG, CODES, TIMEOUT, FAILED = {stats!r}, {log!r}, {codes!r}, {timeout}, {failed}


def _calls():
    try:
        with urllib.request.urlopen(STATS, timeout=30) as resp:
            return json.load(resp)["calls"]
    except Exception:
        return -1


def evaluate(program_path):
    calls = _calls()
    try:
        res = subprocess.run([PYTHON, BRIDGE, PROBLEM, program_path], capture_output=True,
                             text=True, timeout=TIMEOUT)
        out = json.loads(res.stdout.strip().splitlines()[-1])
    except Exception as exc:
        out = {{"ok": False, "combined_score": None, "metric": None, "feedback": "",
               "error": "bridge: %s: %s" % (type(exc).__name__, exc), "norm_hash": ""}}
    with open(LOG, "a") as f:
        f.write(json.dumps({{"calls": calls, "ok": out["ok"], "score": out["combined_score"],
                            "metric": out["metric"], "norm_hash": out["norm_hash"],
                            "error": (out["error"] or "")[:300], "time": time.time()}}) + "\\n")
    with open(CODES, "a") as f:
        f.write(json.dumps({{"calls": calls, "code": open(program_path).read()}}) + "\\n")
    if out["ok"]:
        return EvaluationResult(metrics={{"combined_score": out["combined_score"]}},
                                artifacts={{"feedback": out["feedback"]}})
    return EvaluationResult(metrics={{"combined_score": FAILED}},
                            artifacts={{"error": out["error"] or "failed"}})
'''


class OpenEvolveRunFailed(Exception):
    """OpenEvolve exited with an error; the message carries its last lines."""


def openevolve_config(endpoint: Endpoint, proxy_url: str, brief: str, budget: int, seed: int,
                      eval_timeout: float, diff_based: bool) -> dict:
    from evolve.runs import local_entry

    settings = local_entry()  # the embedded model's sampling, as evolve uses it
    return {
        "max_iterations": budget,
        "random_seed": None,
        "diff_based_evolution": diff_based,
        "llm": {"api_base": proxy_url, "api_key": "none",
                "models": [{"name": endpoint.model, "weight": 1.0}],
                "temperature": settings.temperature, "max_tokens": max(settings.max_tokens, MAX_TOKENS),
                "timeout": int(LLM_TIMEOUT_SECONDS)},
        "prompt": {"system_message": brief},
        "database": {"random_seed": seed},
        "evaluator": {"parallel_evaluations": 1, "cascade_evaluation": False,
                      "timeout": int(eval_timeout)},
    }


def diff_based_for(model: str) -> bool:
    return DIFF_BASED_BY_MODEL.get(model, DIFF_BASED)


def run_openevolve(key: RunKey, budget: int, start_code: str, start: str, endpoint: Endpoint,
                   proxy_url: str, stats_url: str, out: Path, diff_based: bool) -> RunTrace:
    from vs_openevolve import OE_RUNNER, openevolve_python

    from evaluators.problem import load_problem

    spec = load_problem(key.problem)
    work = out / "openevolve" / key.name
    if work.exists():  # an interrupted earlier attempt: start it again from nothing
        shutil.rmtree(work)
    work.mkdir(parents=True)
    log = work / "evaluations.jsonl"
    eval_timeout = spec.limits.wall_seconds + 60
    (work / "initial.py").write_text(start_code)
    (work / "evaluator.py").write_text(EVALUATOR.format(
        python=sys.executable, bridge=str(BENCH / "quality_eval.py"), problem=key.problem,
        stats=stats_url, log=str(log), codes=str(work / "candidates.jsonl"), timeout=eval_timeout,
        failed=FAILED_SCORE))
    (work / "runner.py").write_text(OE_RUNNER)
    brief = spec.prompt_brief() if hasattr(spec, "prompt_brief") else spec.brief  # all sections
    cfg = openevolve_config(endpoint, proxy_url, brief, budget, key.seed, eval_timeout, diff_based)
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VARS}
    python = openevolve_python()
    started = time.monotonic()
    with (work / "stdout.log").open("w") as f:
        res = subprocess.run([str(python), str(work / "runner.py"), str(work / "initial.py"),
                              str(work / "evaluator.py"), str(work / "config.yaml"), str(budget),
                              str(work / "out")], cwd=work, env=env, stdout=f,
                             stderr=subprocess.STDOUT, timeout=budget * 1200 + 1800)
    wall = time.monotonic() - started
    if res.returncode != 0:
        tail = (work / "stdout.log").read_text(errors="replace").splitlines()[-12:]
        raise OpenEvolveRunFailed(f"OpenEvolve {key.name} exited with {res.returncode}; see "
                                  f"{work / 'stdout.log'}:\n" + "\n".join(tail))
    best = work / "out" / "best" / "best_program.py"
    winner = best.read_text() if best.exists() else start_code
    trace = read_log(log, work / "stdout.log", key, budget, wall, start, winner)
    if not best.exists():
        note = "no best program saved: the start program stands"
        return RunTrace(**{**trace.__dict__, "notes": (*trace.notes, note)})
    return trace


def read_log(log: Path, stdout: Path, key: RunKey, budget: int, wall: float, start: str,
             winner: str) -> RunTrace:
    """The run's trace from our evaluator's log (the first entry is the start program) and from
    OpenEvolve's own log: a reply that reproduces its parent is dropped before evaluation there
    (``Iteration N error: Rewrite is identical to the parent program`` / ``Diff did not change
    the parent program``) and counts as a duplicate."""
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] \
        if log.exists() else []
    text = stdout.read_text(errors="replace") if stdout.exists() else ""
    identical = len(re.findall(r"Iteration \d+ error: (Rewrite is identical to the parent program|"
                               r"Diff did not change the parent program)", text))
    points = [(max(r["calls"], 0), r["score"], r["metric"]) for r in rows if r["ok"]]
    children = rows[1:]
    seen = {rows[0]["norm_hash"]} if rows else set()
    duplicates = identical
    for r in children:
        if r["norm_hash"] and r["norm_hash"] in seen:
            duplicates += 1
        seen.add(r["norm_hash"])
    return RunTrace(key=key, budget=budget, curve=curve_of(points), winner_code=winner,
                    iterations=budget, children=len(children),
                    valid_children=sum(1 for r in children if r["ok"]), duplicates=duplicates,
                    same_behaviour=None, repairs=None, repairs_ok=None, wall_seconds=wall,
                    start=start)
