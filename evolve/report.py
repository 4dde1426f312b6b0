"""Tables for people: baselines, run status, and the final held-out report.

Scores come only from trusted evaluations (the executor and verifiers, or the archive); this
module formats them with rich.
"""

from __future__ import annotations

import asyncio

from rich.table import Table
from sqlalchemy import func, select

from evolve.archive.models import EvalTask, Evaluation, Iteration, LlmCall, Program, Run
from evolve.archive.store import Archive
from evolve.executors.base import EvalJob, Executor
from evolve.problem import ProblemSpec


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


async def evaluate_many(executor: Executor, spec: ProblemSpec, codes: dict[str, str],
                        sets: list[str]) -> dict[tuple[str, str], dict]:
    keys = [(name, s) for name in codes for s in sets]
    outs = await asyncio.gather(*(executor.evaluate(EvalJob(spec.name, codes[n], s)) for n, s in keys))
    return dict(zip(keys, outs))


async def baseline_results(archive: Archive, run_id: int, spec: ProblemSpec, executor: Executor,
                           sets: list[str]) -> dict[tuple[str, str], dict]:
    """Every baseline's outcome on ``sets`` for this run: stored ones under the current evaluator
    version are reused, missing ones are scored through ``executor`` and stored with the run."""
    from evaluators.jobs import evaluator_version

    stored = archive.baseline_outcomes(run_id, evaluator_version(spec.name))
    codes = spec.baselines()
    todo = [(n, s) for n in codes for s in sets if (n, s) not in stored]
    outs = await asyncio.gather(*(executor.evaluate(EvalJob(spec.name, codes[n], s)) for n, s in todo))
    for (name, set_name), out in zip(todo, outs):
        if out.get("evaluator_version") not in (None, "n/a", "unknown"):
            archive.record_baseline(run_id, name, set_name, out)
        stored[(name, set_name)] = out
    return {(n, s): stored[(n, s)] for n in codes for s in sets}


def metric_columns(results: dict[tuple[str, str], dict], set_name: str) -> list[str]:
    cols: set[str] = set()
    for (_, s), out in results.items():
        if s == set_name and out["ok"]:
            cols |= {k for k in out["metrics"] if k.startswith("aggregate_gap_")}
    return sorted(cols)


def fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def baseline_table(spec: ProblemSpec, results: dict[tuple[str, str], dict], sets: list[str],
                   title: str) -> Table:
    """Objective per set, then the problem's ``report`` metrics, then per-group aggregate gaps."""
    metric = spec.objective.metric
    table = Table(title=title)
    table.add_column("policy")
    extra = {s: metric_columns(results, s) for s in sets}
    for s in sets:
        table.add_column(f"{s} {metric}", justify="right")
        for col in spec.report:
            table.add_column(f"{s} {col}", justify="right")
        for col in extra[s]:
            table.add_column(f"{s} {col.replace('aggregate_gap_', 'agg ')}", justify="right")
    for name in dict.fromkeys(n for n, _ in results):
        row = [name]
        for s in sets:
            out = results.get((name, s))
            if out is None or not out["ok"]:
                row += ["failed" if out else "-"] + ["-"] * (len(spec.report) + len(extra[s]))
                continue
            row.append(pct(out["metrics"].get(metric)) if spec.objective.percent
                       else fmt(out["metrics"].get(metric)))
            row += [fmt(out["metrics"].get(c)) for c in spec.report]
            row += [pct(out["metrics"].get(c)) for c in extra[s]]
        table.add_row(*row)
    return table


def status_tables(archive: Archive, run_id: int, top: int = 10) -> tuple[Table, Table]:
    with archive.session() as s:
        run = s.get(Run, run_id)
        best = s.execute(select(Program).where(Program.run_id == run_id,
                                               Program.combined_score.is_not(None))
                         .order_by(Program.combined_score.desc()).limit(top)).scalars().all()
        outcomes = dict(s.execute(select(Iteration.outcome, func.count())
                                  .where(Iteration.run_id == run_id)
                                  .group_by(Iteration.outcome)).all())
        programs = dict(s.execute(select(Program.status, func.count())
                                  .where(Program.run_id == run_id).group_by(Program.status)).all())
        calls = s.execute(select(func.count(), func.coalesce(func.sum(LlmCall.cost), 0.0),
                                 func.coalesce(func.sum(LlmCall.prompt_tokens), 0),
                                 func.coalesce(func.sum(LlmCall.completion_tokens), 0),
                                 func.count(LlmCall.error))
                          .where(LlmCall.run_id == run_id)).one()
        unpriced = s.scalar(select(func.count()).select_from(LlmCall)
                            .where(LlmCall.run_id == run_id, LlmCall.cost_known.is_(False))) or 0
        ledger = s.execute(select(func.count(), func.coalesce(func.sum(EvalTask.attempts), 0),
                                  func.count().filter(EvalTask.state != "done"))
                           .join(Program, Program.id == EvalTask.program_id)
                           .where(Program.run_id == run_id)).one()
        tests = dict(s.execute(select(Evaluation.program_id, Evaluation.combined_score)
                               .where(Evaluation.set_name == "test",
                                      Evaluation.program_id.in_([p.id for p in best]))).all())
    summary = Table(title=f"run {run.name} ({run.problem}): {run.status}", show_header=False)
    summary.add_column("what")
    summary.add_column("value")
    summary.add_row("iterations", f"{sum(outcomes.values())} "
                    + " ".join(f"{k}={v}" for k, v in sorted(outcomes.items())))
    summary.add_row("programs", " ".join(f"{k}={v}" for k, v in sorted(programs.items())))
    summary.add_row("LLM calls", f"{calls[0]} ({calls[4]} failed), tokens {calls[2]} in / "
                    f"{calls[3]} out")
    summary.add_row("cost", f"${calls[1]:.4f}" + (f" ({unpriced} calls of unknown price counted as $0)"
                                                    if unpriced else ""))
    if ledger[0]:
        summary.add_row("distributed", f"{ledger[0]} evaluations sent to workers, {ledger[1]} "
                        f"executions, {ledger[2]} not finished")
    if run.stop_reason:
        summary.add_row("stopped", run.stop_reason)
    table = Table(title=f"best {len(best)} programs")
    for col in ("id", "gen", "island", "parent", "score", "test score", "cell"):
        table.add_column(col, justify="right" if col != "cell" else "left")
    for p in best:
        test = tests.get(p.id)
        table.add_row(str(p.id), str(p.generation), str(p.island), str(p.parent_id or "-"),
                      f"{p.combined_score:.6g}", "-" if test is None else f"{test:.6g}", p.cell or "-")
    return summary, table


def record_test_evaluation(archive: Archive, program_id: int, out: dict) -> None:
    archive.record_evaluation(program_id, set_name="test",
                              evaluator_version=out.get("evaluator_version", "unknown"), outcome=out)
