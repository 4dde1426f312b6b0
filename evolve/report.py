"""Tables for people: baselines, run status, and the final held-out report.

Scores come only from trusted evaluations (the executor and verifiers, or the archive); this
module formats them with rich.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from evaluators.base import EvalOutcome
from evaluators.problem import ProblemSpec, load_problem
from evolve.archive.events import search_events
from evolve.archive.models import EvalTask, Evaluation, Iteration, LlmCall, Program, Run
from evolve.archive.store import Archive
from evolve.executors.base import EvalJob, Executor
from evolve.heartbeat import resume_hint, shown_status
from evolve.wording import plural

Parent = aliased(Program)


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


async def evaluate_many(executor: Executor, spec: ProblemSpec, codes: dict[str, str],
                        sets: list[str]) -> dict[tuple[str, str], EvalOutcome]:
    keys = [(name, s) for name in codes for s in sets]
    outs = await asyncio.gather(*(executor.evaluate(EvalJob(spec.name, codes[n], s)) for n, s in keys))
    return dict(zip(keys, outs))


async def baseline_results(archive: Archive, run_id: int, spec: ProblemSpec, executor: Executor,
                           sets: list[str]) -> dict[tuple[str, str], EvalOutcome]:
    """Every baseline's outcome on ``sets`` for this run: stored ones under the current evaluator
    version are reused, missing ones are scored through ``executor`` and stored with the run."""
    from evaluators.jobs import evaluator_version

    stored = archive.baseline_outcomes(run_id, evaluator_version(spec.name))
    codes = spec.baselines()
    todo = [(n, s) for n in codes for s in sets if (n, s) not in stored]
    outs = await asyncio.gather(*(executor.evaluate(EvalJob(spec.name, codes[n], s)) for n, s in todo))
    for (name, set_name), out in zip(todo, outs):
        if out.evaluator_version not in ("n/a", "unknown"):
            archive.record_baseline(run_id, name, set_name, out)
        stored[(name, set_name)] = out
    return {(n, s): stored[(n, s)] for n in codes for s in sets}


def metric_columns(results: dict[tuple[str, str], EvalOutcome], set_name: str) -> list[str]:
    cols: set[str] = set()
    for (_, s), out in results.items():
        if s == set_name and out.ok:
            cols |= {k for k in out.metrics if k.startswith("aggregate_gap_")}
    return sorted(cols)


def fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def baseline_table(spec: ProblemSpec, results: dict[tuple[str, str], EvalOutcome], sets: list[str],
                   title: str, width: int | None = None) -> Table:
    """Objective per set, then the problem's ``report`` metrics, then per-group aggregate gaps:
    one row per policy, or, where that would not fit ``width`` characters (an 80-column terminal
    showed cant_be_late's ten columns as 'tra…'), one row per figure and a column per policy."""
    metric = spec.objective.metric
    extra = {s: metric_columns(results, s) for s in sets}
    header = [f"{s} {c.replace('aggregate_gap_', 'agg ')}" for s in sets
              for c in [metric, *spec.report, *extra[s]]]
    rows: dict[str, list[str]] = {}
    for name in dict.fromkeys(n for n, _ in results):
        row = rows[name] = []
        for s in sets:
            out = results.get((name, s))
            if out is None or not out.ok:
                row += ["failed" if out else "-"] + ["-"] * (len(spec.report) + len(extra[s]))
                continue
            row.append(pct(out.metrics.get(metric)) if spec.objective.percent
                       else fmt(out.metrics.get(metric)))
            row += [fmt(out.metrics.get(c)) for c in spec.report]
            row += [pct(out.metrics.get(c)) for c in extra[s]]
    table = Table(title=title)
    if width is None or _natural_width(["policy", *header], [[n, *r] for n, r in rows.items()]) <= width:
        table.add_column("policy")
        for col in header:
            table.add_column(col, justify="right")
        for name, row in rows.items():
            table.add_row(name, *row)
        return table
    table.add_column("")
    for name in rows:
        table.add_column(name, justify="right")
    for k, col in enumerate(header):
        table.add_row(col, *(row[k] for row in rows.values()))
    return table


def _natural_width(header: list[str], rows: list[list[str]]) -> int:
    """Characters a rich table needs to show every cell unwrapped (borders and padding included)."""
    return sum(max(len(x) for x in column) + 3 for column in zip(header, *rows)) + 1


@dataclass(frozen=True)
class RunCounts:
    """What ``evolve status`` counts for a run, from the archive."""

    run: Run
    best: list[Program]
    outcomes: dict[str, int]
    programs: dict[str, int]
    calls: tuple  # count, dollars, prompt tokens, completion tokens, failed
    unpriced: int
    ledger: tuple  # evaluations sent to workers, executions, not finished
    held: dict[str, dict[int, float]]  # validation / test score of the best programs
    made: dict[str | None, int]  # programs per edit kind
    repaired: int
    guarded: int
    near: int
    tuned_better: int


def run_counts(archive: Archive, run_id: int, top: int) -> RunCounts:
    with archive.session() as s:
        run = s.get(Run, run_id)
        best = s.execute(select(Program).where(Program.run_id == run_id,
                                               Program.combined_score.is_not(None))
                         .order_by(Program.combined_score.desc(), Program.id).limit(top)).scalars().all()
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
        held = {name: dict(s.execute(select(Evaluation.program_id, Evaluation.combined_score)
                                     .where(Evaluation.set_name == name,
                                            Evaluation.program_id.in_([p.id for p in best]))).all())
                for name in ("validation", "test")}
        made = dict(s.execute(select(Program.edit_kind, func.count()).where(Program.run_id == run_id)
                              .group_by(Program.edit_kind)).all())
        repaired, guarded = (s.scalar(select(func.count()).select_from(Program).where(
            Program.run_id == run_id, Program.edit_kind == kind, Program.status == "ok")) or 0
            for kind in ("repair", "guard"))
        near = s.scalar(select(func.count()).select_from(Iteration).where(
            Iteration.run_id == run_id, Iteration.reason.like("near-duplicate of program%"))) or 0
        tuned_better = s.scalar(select(func.count()).select_from(Program)
                                .join(Parent, Parent.id == Program.parent_id)
                                .where(Program.run_id == run_id, Program.edit_kind == "tune",
                                       Program.combined_score > Parent.combined_score)) or 0
        s.expunge_all()
    return RunCounts(run, list(best), outcomes, programs, tuple(calls), unpriced, tuple(ledger), held,
                     made, repaired, guarded, near, tuned_better)


def _search_rows(c: RunCounts, archive: Archive, summary: Table) -> None:
    """Repairs, guards, tuning, near-duplicates, restarts, advice, same behaviour."""
    iterations = sum(c.outcomes.values())
    calls_by = archive.call_yield(c.run.id)
    if calls_by.repair_calls:
        summary.add_row("repairs", f"{plural(calls_by.repair_calls, 'repair call')}, "
                        f"{plural(c.made.get('repair', 0), 'child', 'children')}, {c.repaired} passed "
                        f"({100 * c.repaired / calls_by.repair_calls:.0f}% "
                        f"of calls; fresh proposals: a valid program from {calls_by.proposal_valid} "
                        f"of {calls_by.proposal_calls} calls)")
    if c.made.get("guard"):
        summary.add_row("guards", f"{plural(c.made['guard'], 'failed child', 'failed children')} "
                        "guarded against division by zero and math domain errors (no LLM call), "
                        f"{c.guarded} passed")
    if c.made.get("tune"):
        summary.add_row("tuning", f"{plural(c.made['tune'], 'tuned program')}, {c.tuned_better} better than "
                        "the program they were tuned from")
    if c.near:
        summary.add_row("near-duplicates", f"{c.near} of {iterations} iterations "
                        f"({100 * c.near / max(1, iterations):.0f}%) rejected unevaluated: "
                        "nearly the code of a program of their island")
    events = search_events(archive, c.run.id)
    restarts = [e for e in events if e.kind == "restart"]
    if restarts:
        summary.add_row("restarts", f"{plural(len(restarts), 'island')} restarted from the run's best after "
                        "stagnating (islands " + ", ".join(str(e.island) for e in restarts) + ")")
    advice = [e for e in events if e.kind == "advice"]
    if advice:
        summary.add_row("advice", f"{plural(len(advice), 'summary', 'summaries')} of recent "
                        f"iterations shown in later prompts (latest: iterations {advice[-1].first_iteration}-"
                        f"{advice[-1].last_iteration})")
    if c.programs.get("same"):
        summary.add_row("same behaviour", f"{plural(c.programs['same'], 'child', 'children')} computed the "
                        "same outputs as their parent on the quick check (not evaluated further)")


def best_table(c: RunCounts) -> Table:
    table = Table(title=f"best {len(c.best)} programs")
    shown = [name for name in c.held if c.held[name] or name == "test"]
    for col in ("id", "gen", "island", "parent", "score", *(f"{n} score" for n in shown), "cell"):
        table.add_column(col, justify="right" if col != "cell" else "left")
    for p in c.best:
        other = [c.held[n].get(p.id) for n in shown]
        table.add_row(str(p.id), str(p.generation), str(p.island), str(p.parent_id or "-"),
                      f"{p.combined_score:.6g}", *("-" if v is None else f"{v:.6g}" for v in other),
                      p.cell or "-")
    return table


def status_tables(archive: Archive, run_id: int, top: int = 10) -> tuple[Table, Table]:
    c = run_counts(archive, run_id, top)
    run = c.run
    status = shown_status(run.status, run.updated_at)
    summary = Table(title=f"run {run.name} ({run.problem}): {status}", show_header=False)
    summary.add_column("what")
    summary.add_column("value")
    if status == "stalled":
        summary.add_row("stalled", resume_hint(run.name))
    summary.add_row("iterations", f"{sum(c.outcomes.values())} "
                    + " ".join(f"{k}={v}" for k, v in sorted(c.outcomes.items())))
    summary.add_row("programs", " ".join(f"{k}={v}" for k, v in sorted(c.programs.items())))
    summary.add_row("LLM calls", f"{c.calls[0]} ({c.calls[4]} failed), tokens {c.calls[2]} in / "
                    f"{c.calls[3]} out")
    summary.add_row("cost", f"${c.calls[1]:.4f}" + (f" ({c.unpriced} calls of unknown price counted "
                                                    "as $0)" if c.unpriced else ""))
    _search_rows(c, archive, summary)
    starts = archive.starts(run_id)
    if starts:
        summary.add_row("starting points", ", ".join(
            f"{program_name(st.edit_kind, st.label, st.id)} "
            + (f"{st.combined_score:.6g}" if st.combined_score is not None else st.status)
            for st in starts))
    spec = load_problem(run.problem)
    drawn = [name for name, s in spec.sets.items() if s.drawn]
    if drawn:
        summary.add_row("instances", f"{', '.join(drawn)}: " + (
            f"drawn for this run (draw {run.draw})" if run.draw is not None else "the public draw"))
    st = standing(archive, run_id, spec.objective.metric)
    if st is not None:
        summary.add_row("winner", "\n".join(standing_lines(spec, st)))
    if c.ledger[0]:
        summary.add_row("distributed", f"{c.ledger[0]} evaluations sent to workers, {c.ledger[1]} "
                        f"executions, {c.ledger[2]} not finished")
    if run.stop_reason:
        summary.add_row("stopped", run.stop_reason)
    return summary, best_table(c)


def record_test_evaluation(archive: Archive, program_id: int, out: EvalOutcome) -> None:
    archive.record_evaluation(program_id, set_name="test", evaluator_version=out.evaluator_version,
                              outcome=out)


@dataclass(frozen=True)
class Standing:
    """The run's winner (``Archive.winner``) against its best starting point (on the validation
    set where one was scored, else on train), in the problem's own metric; values for each set
    where it has been scored."""

    winner_id: int
    winner_name: str
    start_id: int
    start_name: str
    train: tuple[float | None, float | None]  # (winner, start)
    test: tuple[float | None, float | None]
    validation: tuple[float | None, float | None] = (None, None)


def program_name(kind: str | None, label: str | None, pid: int) -> str:
    if kind == "seed":
        return f"initial (#{pid})"
    if kind == "baseline":
        return f"{label} (#{pid})"
    return f"evolved #{pid}" + (f" ({kind})" if kind in ("repair", "tune", "guard", "crossover") else "")


def _scored(archive: Archive, ids: list[int], set_name: str) -> dict[int, tuple[float, dict]]:
    """Each program's latest passing evaluation on ``set_name``: (combined score, metrics)."""
    with archive.session() as s:
        rows = s.execute(select(Evaluation.program_id, Evaluation.combined_score, Evaluation.metrics)
                         .where(Evaluation.set_name == set_name, Evaluation.ok.is_(True),
                                Evaluation.program_id.in_(ids))
                         .order_by(Evaluation.id)).all()
    return {pid: (score, metrics) for pid, score, metrics in rows}


def standing(archive: Archive, run_id: int, metric: str) -> Standing | None:
    starts = [s for s in archive.starts(run_id) if s.status == "ok" and s.combined_score is not None]
    win_id = archive.winner(run_id)
    if not starts or win_id is None:
        return None
    ids = [win_id, *(s.id for s in starts)]
    validated = _scored(archive, ids, "validation")
    tested = _scored(archive, ids, "test")
    checked = [s for s in starts if s.id in validated]
    start = (max(checked, key=lambda s: (validated[s.id][0], s.combined_score, -s.id)) if checked
             else max(starts, key=lambda s: (s.combined_score, -s.id)))
    win, start_view = archive.program(win_id), archive.program(start.id)

    def pair(scored: dict[int, tuple[float, dict]]) -> tuple[float | None, float | None]:
        return tuple(scored[i][1].get(metric) if i in scored else None  # type: ignore[return-value]
                     for i in (win.id, start.id))

    return Standing(win.id, program_name(win.edit_kind, win.label, win.id), start.id,
                    program_name(start.edit_kind, start.label, start.id),
                    (win.metrics.get(metric), start_view.metrics.get(metric)), pair(tested),
                    pair(validated))


def change(spec: ProblemSpec, new: float | None, old: float | None) -> str:
    """``new`` against ``old`` in the objective's metric: both values and the difference, and
    whether that is better (direction-aware)."""
    if new is None or old is None:
        return "-"
    show = pct if spec.objective.percent else fmt
    diff = new - old
    better = diff < 0 if spec.objective.direction == "minimize" else diff > 0
    verdict = "better" if better else "worse" if diff else "equal"
    amount = (f"{100 * abs(diff):.2f} points" if spec.objective.percent else f"{abs(diff):.4g}")
    rel = f", {100 * abs(diff) / abs(old):.1f}%" if old else ""
    return f"{show(new)} vs {show(old)}: {verdict}" + (f" by {amount}{rel}" if diff else "")


def standing_lines(spec: ProblemSpec, st: Standing) -> list[str]:
    metric = spec.objective.metric
    if st.winner_id == st.start_id:
        where = "validation" if st.validation[0] is not None else "training"
        return [f"winner: {st.winner_name}, a starting program: evolution found nothing better "
                f"on the {where} set",
                "to try next: more iterations (evolve resume RUN --iterations N), a larger model "
                "(--model), the baselines as starting points too (config seeds: initial and "
                "baselines), or what failed (evolve status RUN, the dashboard's overview)"]
    lines = [f"winner {st.winner_name} vs the best starting point {st.start_name}, {metric}:",
             f"  train: {change(spec, *st.train)}"]
    if st.validation[0] is not None:
        lines.append(f"  validation: {change(spec, *st.validation)}")
    if st.test[0] is not None:
        lines.append(f"  test (held out): {change(spec, *st.test)}")
    return lines
