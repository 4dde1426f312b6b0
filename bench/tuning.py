"""Constant tuning: which derivative-free optimiser, measured on real programs through the sandbox.

    .venv/bin/python bench/tuning.py [--seeds 3] [--budget 40] [--batch 8] [--workers 2]
                                     [--programs smtt/atc,...] [--optimisers cma,...] [--save runs.jsonl]

About 45 minutes on 2 cores for the default 72 runs (``--save`` keeps finished runs and resumes).

For each program its tunable literals (``evolve.tuning.literals.find_tunable``) are searched on
the problem's training set by each optimiser with the same budget: batches of ``--batch``
settings (ask 8, tell 8) scored by ``evaluators.tuning_job.score_settings`` in one warm sandbox
session per batch, the first batch holding the original constants. Every optimiser searches the
same space (``evolve.tuning.optimiser.Space``: v * e^x, x in [-2, 2]) behind the same ask/tell
wrapper (``Tuner``: repeats answered from memory, failures worst), so only the library differs.
The table shows the start score, the best training score after 8/24/40 settings (mean over
seeds), wall seconds per run, and the held-out test score of the original program beside the
tuned ones (mean over seeds): does tuning on train carry over? Higher scores are better
(``-gap`` for smtt, ``-excess`` for bin_packing, SLO attainment for llm_serving).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import statistics
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluators.jobs import verifier_for  # noqa: E402
from evaluators.tuning_job import score_settings  # noqa: E402
from evolve.tuning.literals import find_tunable, parameterise, substitute  # noqa: E402
from evolve.tuning.optimiser import SIGMA, SPREAD, CmaTuner, Tuner  # noqa: E402

# a smtt rule with three constants: ATC's look-ahead 2.0, a due-date look-ahead 0.5 in the WMDD
# key and the weight 0.6 of ATC's urgency (train gap 12.8% as written; ATC: 4.3%, WMDD: 38.8%)
HYBRID = '''"""ATC / WMDD hybrid: the weighted modified due date, discounted by ATC's urgency."""

# EVOLVE-BLOCK-START
import math


def priority(p_j: int, w_j: int, d_j: int, t: int, p_mean: float) -> float:
    """Smallest first: the WMDD key with a due-date look-ahead, discounted by ATC urgency."""
    urgency = math.exp(-max(d_j - p_j - t, 0) / (2.0 * p_mean))
    wmdd = max(p_j, d_j - t - 0.5 * p_mean) / w_j
    return wmdd * (1.0 - 0.6 * urgency)


def schedule(p: list[int], w: list[int], d: list[int]) -> list[int]:
    p_mean = sum(p) / len(p)
    left = set(range(len(p)))
    t = 0
    order = []
    while left:
        j = min(left, key=lambda j: (priority(p[j], w[j], d[j], t, p_mean), d[j], j))
        order.append(j)
        left.remove(j)
        t += p[j]
    return order
# EVOLVE-BLOCK-END
'''

PROGRAMS = {  # name: (problem, source file or code)
    "smtt/atc": ("smtt", "problems/smtt/baselines/atc.py"),
    "smtt/hybrid": ("smtt", HYBRID),
    "bin_packing/or3": ("bin_packing", "problems/bin_packing/baselines/funsearch_or3.py"),
    "llm_serving/sjf_aging": ("llm_serving", "problems/llm_serving/baselines/sjf_aging.py"),
}


class OptunaTuner(Tuner):
    """Optuna's ask-and-tell interface with one sampler; the origin is enqueued as trial one."""

    sampler = "tpe"

    def _start(self) -> None:
        import optuna
        from optuna.distributions import FloatDistribution

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        names = [f"x{i}" for i in range(self.dim)]
        if self.sampler == "tpe":
            sampler = optuna.samplers.TPESampler(seed=self.seed)
        else:
            sampler = optuna.samplers.CmaEsSampler(x0=dict.fromkeys(names, 0.0), sigma0=SIGMA, seed=self.seed,
                                                   popsize=self.batch, warn_independent_sampling=False)
        self._study = optuna.create_study(sampler=sampler)
        self._study.enqueue_trial(dict.fromkeys(names, 0.0))
        self._dists = {name: FloatDistribution(-SPREAD, SPREAD) for name in names}
        self._trials: list = []

    def _ask_x(self, n: int) -> list[list[float]]:
        self._trials = [self._study.ask(self._dists) for _ in range(n)]
        return [[trial.params[name] for name in self._dists] for trial in self._trials]

    def _tell_x(self, xs: list[list[float]], losses: list[float]) -> None:
        for trial, loss in zip(self._trials, losses, strict=True):
            self._study.tell(trial, loss)


class OptunaCmaTuner(OptunaTuner):
    sampler = "cmaes"


class NevergradTuner(Tuner):
    """A nevergrad optimiser on a bounded array (step ``SIGMA``), told it has ``batch`` workers."""

    algorithm = "NGOpt"

    def _start(self) -> None:
        import numpy as np
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import nevergrad as ng
        param = ng.p.Array(init=np.zeros(self.dim), lower=-SPREAD, upper=SPREAD).set_mutation(sigma=SIGMA)
        param.random_state = np.random.RandomState(self.seed)
        self._opt = ng.optimizers.registry[self.algorithm](parametrization=param, budget=self.budget,
                                                           num_workers=self.batch)
        self._opt.suggest(np.zeros(self.dim))
        self._cands: list = []

    def _ask_x(self, n: int) -> list[list[float]]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._cands = [self._opt.ask() for _ in range(n)]
        return [[float(v) for v in cand.value] for cand in self._cands]

    def _tell_x(self, xs: list[list[float]], losses: list[float]) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for cand, loss in zip(self._cands, losses, strict=True):
                self._opt.tell(cand, loss)


class OnePlusOneTuner(NevergradTuner):
    algorithm = "OnePlusOne"


class RandomTuner(Tuner):
    """Control: uniform in [-2, 2]^n after the origin."""

    def _start(self) -> None:
        import numpy as np
        self._rng = np.random.default_rng(self.seed)
        self._first = True

    def _ask_x(self, n: int) -> list[list[float]]:
        xs = [list(map(float, self._rng.uniform(-SPREAD, SPREAD, self.dim))) for _ in range(n)]
        if self._first:
            xs[0], self._first = [0.0] * self.dim, False
        return xs

    def _tell_x(self, xs: list[list[float]], losses: list[float]) -> None:
        pass


OPTIMISERS: dict[str, type[Tuner]] = {
    "cma": CmaTuner, "optuna-tpe": OptunaTuner, "optuna-cmaes": OptunaCmaTuner,
    "ng-NGOpt": NevergradTuner, "ng-OnePlusOne": OnePlusOneTuner, "random": RandomTuner,
}
CHECKPOINTS = (8, 24, 40)


def program(name: str) -> tuple[str, str]:
    problem, source = PROGRAMS[name]
    return problem, source if "\n" in source else (ROOT / source).read_text()


def run_one(name: str, optimiser: str, seed: int, budget: int, batch: int) -> dict:
    """One tuning run: the best training score after each checkpoint, the best setting and its
    held-out score. A library that raises ends the run; the record says so (``error``)."""
    problem, code = program(name)
    verifier = verifier_for(problem)
    literals = find_tunable(code)
    record = {"name": name, "optimiser": optimiser, "seed": seed, "budget": budget, "batch": batch,
              "start": None, "error": None}
    curve: list[tuple[int, float | None]] = []
    started = time.monotonic()
    try:
        tuner = OPTIMISERS[optimiser]([lit.value for lit in literals], [lit.is_int for lit in literals],
                                      budget=budget, batch=batch, seed=seed)
        while batch_values := tuner.ask():
            scores = score_settings(verifier, parameterise(code, literals), batch_values, "train")
            if record["start"] is None:
                record["start"] = scores[0]  # the first setting asked is the original
            tuner.tell(batch_values, scores)
            curve.append((tuner.spent, tuner.best()[1]))
    except Exception as exc:  # a library bug: recorded, the other runs go on
        record["error"] = f"{type(exc).__name__}: {exc}"[:300]
        return {**record, "seconds": time.monotonic() - started}
    values, best = tuner.best()
    seconds = time.monotonic() - started
    return {**record, "best": best, "values": values, "seconds": seconds, "failed": tuner.failed,
            "at": {str(k): max((s for spent, s in curve if spent <= k and s is not None),
                               default=record["start"]) for k in CHECKPOINTS},
            "test": test_score(name, values)}


def test_score(name: str, values: list[float] | None) -> float | None:
    """Held-out score of the program with ``values`` (None: the original)."""
    problem, code = program(name)
    if values is not None:
        code = substitute(code, find_tunable(code), values)
    return verifier_for(problem).evaluate(code, "test").combined_score


def mean(xs: list[float | None]) -> float:
    got = [x for x in xs if x is not None]
    return statistics.fmean(got) if got else math.nan


def run_all(names: list[str], optimisers: list[str], args: argparse.Namespace) -> tuple[list[dict], dict]:
    """Every (program, optimiser, seed) run, in parallel; with ``--save`` each finished run is
    appended to a JSON-lines file and runs already there are not repeated."""
    saved: dict[tuple, dict] = {}
    path = Path(args.save) if args.save else None
    if path is not None and path.exists():
        for line in path.read_text().splitlines():
            r = json.loads(line)
            saved[(r["name"], r["optimiser"], r["seed"], r["budget"], r["batch"])] = r
    jobs = [(n, o, s) for n in names for s in range(args.seeds) for o in optimisers]
    todo = [job for job in jobs if (*job, args.budget, args.batch) not in saved]
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(args.workers, mp_context=ctx) as pool:
        originals = {n: pool.submit(test_score, n, None) for n in names}
        futures = [pool.submit(run_one, n, o, s, args.budget, args.batch) for n, o, s in todo]
        for future in as_completed(futures):
            r = future.result()
            saved[(r["name"], r["optimiser"], r["seed"], r["budget"], r["batch"])] = r
            if path is not None:
                with path.open("a") as fh:
                    fh.write(json.dumps(r) + "\n")
            outcome = f"best {r['best']:.5f}" if r["error"] is None else f"error {r['error'][:60]}"
            print(f"  {r['name']:<22} {r['optimiser']:<14} seed {r['seed']}  {outcome}  "
                  f"{r['seconds']:.0f}s", flush=True)
        test = {n: future.result() for n, future in originals.items()}
    return [saved[(*job, args.budget, args.batch)] for job in jobs], test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=40)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--programs", default=",".join(PROGRAMS))
    parser.add_argument("--optimisers", default=",".join(OPTIMISERS))
    parser.add_argument("--save", help="JSON-lines file of finished runs (resumes from it)")
    args = parser.parse_args()
    names, optimisers = args.programs.split(","), args.optimisers.split(",")
    for name in names:
        lits = find_tunable(program(name)[1])
        print(f"{name}: {len(lits)} constants {[lit.value for lit in lits]}", flush=True)
    started = time.monotonic()
    runs, test = run_all(names, optimisers, args)
    took = time.monotonic() - started
    print(f"\n{len(runs)} runs ({took:.0f}s in this invocation, {args.workers} workers); budget "
          f"{args.budget} in batches of {args.batch}, {args.seeds} seeds; scores: higher is better; "
          "best@k and test tuned: mean over seeds; wall s: mean per run\n")
    head = (f"| program | optimiser | start | best@{CHECKPOINTS[0]} | best@{CHECKPOINTS[1]} | "
            f"best@{CHECKPOINTS[2]} | wall s | failed settings | test original | test tuned |")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    gains: dict[tuple[str, int], list[float]] = {(o, k): [] for o in optimisers for k in CHECKPOINTS[1:]}
    crashed: dict[str, list[str]] = {}
    for name in names:
        ok_runs = [r for r in runs if r["name"] == name and r["error"] is None]
        start = ok_runs[0]["start"] if ok_runs else math.nan
        for opt in optimisers:
            mine = [r for r in ok_runs if r["optimiser"] == opt]
            errors = [r["error"] for r in runs if r["name"] == name and r["optimiser"] == opt and r["error"]]
            if errors:
                crashed.setdefault(opt, []).extend(errors)
            if not mine:
                print(f"| {name} | {opt} | {start:.5f} | crashed ({len(errors)}/{args.seeds} runs) | | | | | "
                      f"{test[name]:.5f} | |")
                continue
            at = [mean([r["at"][str(k)] for r in mine]) for k in CHECKPOINTS]
            note = f" ({len(mine)} of {args.seeds} runs; the rest crashed)" if errors else ""
            print(f"| {name} | {opt}{note} | {start:.5f} | {at[0]:.5f} | {at[1]:.5f} | {at[2]:.5f} | "
                  f"{mean([r['seconds'] for r in mine]):.0f} | {sum(r['failed'] for r in mine)} | "
                  f"{test[name]:.5f} | {mean([r['test'] for r in mine]):.5f} |")
        top = max((r["at"][str(CHECKPOINTS[-1])] for r in ok_runs), default=start)
        for opt, k in gains:  # share of the largest train gain any run reached on this program
            got = mean([r["at"][str(k)] for r in ok_runs if r["optimiser"] == opt])
            if not math.isnan(got):
                gains[(opt, k)].append((got - start) / (top - start) if top > start else 1.0)
    print("\nshare of the largest train gain seen on each program (any run), mean over seeds, then over "
          f"programs ({', '.join(names)}):")
    last = CHECKPOINTS[-1]
    for opt in sorted(optimisers, key=lambda o: -mean(gains[(o, last)])):
        print(f"  {opt:<14} " + "   ".join(
            f"@{k}: {mean(gains[(opt, k)]):.2f} ({', '.join(f'{g:.2f}' for g in gains[(opt, k)])})"
            for k in CHECKPOINTS[1:]))
    for opt, errors in crashed.items():
        print(f"\n{opt} crashed in {len(errors)} runs, e.g. {errors[0]}")


if __name__ == "__main__":
    main()
