"""The bench's tables: one per problem (evolve and OpenEvolve, mean and per seed), one ablation
table per problem, repair success rates; as markdown (printed and written) and as JSON.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from quality_score import best_by
from quality_types import BaselineScore, RunResult, Score, to_json

SYSTEM_NAMES = {"evolve": "evolve", "openevolve": "OpenEvolve"}


def checkpoints(budget: int) -> list[int]:
    """25/50/100 calls for a budget of 100, else 25%/50%/100% of it."""
    return sorted({max(1, round(budget * f)) for f in (0.25, 0.5, 1.0)})


def fmt_metric(problem: str, value: float | None) -> str:
    from evaluators.problem import load_problem

    if value is None:
        return "-"
    return f"{100 * value:.2f}%" if load_problem(problem).objective.percent else f"{value:.4g}"


def beats(problem: str, winner: Score, baseline: Score | None) -> bool | None:
    from evaluators.problem import load_problem

    if baseline is None or not baseline.ok or not winner.ok or winner.metric is None:
        return None
    if load_problem(problem).objective.direction == "minimize":
        return winner.metric < baseline.metric
    return winner.metric > baseline.metric


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.fmean(known) if known else None


def _share(k: int, n: int) -> str:
    return f"{100 * k / n:.0f}%" if n else "-"


def _row(label: str, seed: str, problem: str, runs: list[RunResult], budget: int,
         best_test: BaselineScore | None) -> list[str]:
    cells = [label, seed, runs[0].start if len({r.start for r in runs}) == 1 else "mixed"]
    for c in checkpoints(budget):
        cells.append(fmt_metric(problem, _mean([(s.metric if (s := r.best_at(c)) else None)
                                               for r in runs])))
    cells.append(fmt_metric(problem, _mean([r.winner_test.metric if r.winner_test.ok else None
                                            for r in runs])))
    cells.append(fmt_metric(problem, best_test.test.metric) + f" ({best_test.name})" if best_test else "-")
    wins = [beats(problem, r.winner_test, best_test.test if best_test else None) for r in runs]
    if all(w is None for w in wins):
        cells.append("-")
    elif len(runs) == 1:
        cells.append("yes" if wins[0] else "no")
    else:
        cells.append(f"{sum(bool(w) for w in wins)}/{len(runs)}")
    cells.append(_share(sum(r.valid_children for r in runs), sum(r.children for r in runs)))
    known = [r for r in runs if r.improving_children is not None]
    cells.append(_share(sum(r.improving_children or 0 for r in known), sum(r.children for r in known)))
    cells.append(_share(sum(r.duplicates for r in runs), sum(r.iterations for r in runs)))
    busy, calls = sum(r.llm.busy_seconds for r in runs), sum(r.llm.calls for r in runs)
    cells.append(f"{busy / calls:.1f}" if calls else "-")
    cells.append("/".join(str(r.llm.calls) for r in runs) if len(runs) > 1 else str(runs[0].llm.calls))
    return cells


def _header(problem: str, budget: int) -> list[str]:
    from evaluators.problem import load_problem

    obj = load_problem(problem).objective
    cols = ["system", "seed", "start"]
    cols += [f"train {obj.metric} @{c} calls" for c in checkpoints(budget)]
    cols += [f"held-out {obj.metric}", "best baseline held-out", "beats it", "valid children",
             "improving children", "duplicates", "s / LLM call", "LLM calls"]
    return cols


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def table(problem: str, title: str, rows_of: list[tuple[str, str, list[RunResult]]],
          baselines: list[BaselineScore], budget: int) -> str:
    """One markdown table: a row per (label, seed column, runs averaged in it)."""
    best_test = best_by(baselines, "test")
    rows = [_row(label, seed, problem, runs, budget, best_test) for label, seed, runs in rows_of if runs]
    return f"### {title}\n\n" + _markdown(_header(problem, budget), rows) if rows else ""


def problem_table(problem: str, results: list[RunResult], baselines: list[BaselineScore],
                  budget: int) -> str:
    from evaluators.problem import load_problem

    obj = load_problem(problem).objective
    best_train = best_by(baselines, "train")
    rows_of = []
    for system in ("evolve", "openevolve"):
        # the configuration every seed ran: full, or the one --variant named for the whole bench
        ran = {r.key.variant for r in results if r.key.system == system and r.key.problem == problem}
        main = "full" if "full" in ran or len(ran) != 1 else next(iter(ran))
        runs = sorted((r for r in results if r.key.system == system and r.key.variant == main
                       and r.key.problem == problem), key=lambda r: r.key.seed)
        name = SYSTEM_NAMES[system] + ("" if main == "full" else f" {main}")
        if len(runs) > 1:
            rows_of.append((f"**{name}**", "mean", runs))
        rows_of += [(name, str(r.key.seed), [r]) for r in runs]
    body = table(problem, f"{problem}: {obj.direction} {obj.metric}, {budget} LLM calls per run",
                 rows_of, baselines, budget)
    if not body:
        return ""
    return body + (f"\n\nBest baseline on train: {best_train.name} "
                   f"({fmt_metric(problem, best_train.train.metric)} train, "
                   f"{fmt_metric(problem, best_train.test.metric)} held-out)." if best_train else "")


def ablation_table(problem: str, results: list[RunResult], baselines: list[BaselineScore],
                   budget: int, variants: list[str]) -> str:
    first = min((r.key.seed for r in results if r.key.problem == problem), default=None)
    pick = {(r.key.system, r.key.variant): r for r in results if r.key.seed == first}
    labelled = [("evolve", "full", "evolve (all features)"),
                *[("evolve", v, f"evolve {v}") for v in variants],
                ("openevolve", "full", "OpenEvolve (from the best baseline)"),
                ("openevolve", "from-initial", "OpenEvolve from-initial")]
    rows_of = [(label, str(first), [pick[(s, v)]]) for s, v, label in labelled if (s, v) in pick]
    if not any(v != "full" for s, v in pick):
        return ""
    return table(problem, f"{problem}: ablation (seed {first})", rows_of, baselines, budget)


def repair_lines(results: list[RunResult]) -> list[str]:
    return [f"- {r.key.name}: repair success {r.repairs_ok}/{r.repairs} "
            f"({100 * (r.repairs_ok or 0) / r.repairs:.0f}%)"
            for r in results if r.repairs]


def note_lines(results: list[RunResult]) -> list[str]:
    return [f"- {r.key.name}: {n}" for r in results for n in r.notes]


def markdown_report(preamble: list[str], problems: list[str], results: list[RunResult],
                    baselines: dict[str, list[BaselineScore]], budget: int, variants: list[str]) -> str:
    parts = ["# Quality bench", "", *preamble, ""]
    for p in problems:
        mine = [r for r in results if r.key.problem == p]
        parts += [problem_table(p, mine, baselines.get(p, []), budget), ""]
        abl = ablation_table(p, mine, baselines.get(p, []), budget, variants)
        if abl:
            parts += [abl, ""]
    if reps := repair_lines(results):
        parts += ["Repair success (iterations with edit_kind 'repair' whose child evaluated ok):", *reps, ""]
    if notes := note_lines(results):
        parts += ["Notes:", *notes, ""]
    parts += ["Columns: best train score so far after that many LLM calls (counted at the proxy), "
              "in the problem's metric, mean over seeds; held-out: the winner (best on train) "
              "re-scored on the test set; beats it: winner better than the best human baseline "
              "on the test set; valid children: evaluated without failing / evaluated children; "
              "improving children: valid children scoring above their parent (a crossover: both "
              "parents) on train / evaluated children (evolve only); "
              "duplicates: iterations whose child was (normalised) code of an earlier program / "
              "iterations; s / LLM call: seconds the model server was busy per call."]
    return "\n".join(parts)


def write_json(path: Path, settings: dict, results: list[RunResult],
               baselines: dict[str, list[BaselineScore]]) -> None:
    path.write_text(json.dumps({"settings": settings,
                                "baselines": {p: [to_json(b) for b in bs] for p, bs in baselines.items()},
                                "runs": [to_json(r) for r in results]}, indent=1))
