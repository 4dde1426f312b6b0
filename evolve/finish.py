"""The end of a finished run: the winner chosen (on the validation set where the problem has one),
then, with the final report on, the winner, the seed and every baseline scored on the held-out
set and printed side by side with how far the winner is from its best starting point (a Pareto
run's front points too).
"""

from __future__ import annotations

import asyncio

from rich.markup import escape

from evaluators.base import EvalOutcome
from evolve.archive.fronts import run_points
from evolve.archive.store import ProgramView
from evolve.cli.support import console
from evolve.report import (
    baseline_results,
    baseline_table,
    evaluate_many,
    program_name,
    record_test_evaluation,
    standing,
    standing_lines,
)
from evolve.runs import RunHandle
from evolve.search.pareto import crowding, pareto_front
from evolve.selection import VALIDATION, Selection, choose_winner


def finish(handle: RunHandle, executor, report: bool) -> None:
    spec, archive = handle.spec, handle.archive
    if archive.winner(handle.run_id) is None:
        return
    checked = [s for s in (VALIDATION,) if s in spec.sets]
    if checked:
        console.print("choosing the winner among the leading programs on the validation set ...")
    choice = asyncio.run(choose_winner(archive, spec, executor, handle.run_id))
    best = archive.program(choice.winner)
    name = program_name(best.edit_kind, best.label, best.id)
    if checked:
        leader = archive.top_programs(handle.run_id, 1)[0][0]
        console.print(f"winner: {name}, the best of {len(choice.finalists)} finalists on the "
                      "validation set" + ("" if leader == best.id else
                                          f" (not #{leader}, the best on the training set)"))
    if report:
        _report(handle, executor, best, choice, checked)


FRONT_POINTS = 6  # a Pareto run's front points scored on the held-out set beside the winner


def _front_points(handle: RunHandle) -> list[int]:
    """A Pareto run's front on train (its ends and its least crowded points, at most
    ``FRONT_POINTS``), to be scored on the held-out set: does the trade-off hold there?"""
    second = handle.spec.objective.second
    if second is None or handle.cfg.search.pareto_ratio <= 0:
        return []
    front = pareto_front(run_points(handle.archive.engine, handle.run_id, second))
    spread = sorted(zip(crowding(front), front), key=lambda dp: -dp[0])[:FRONT_POINTS]
    return sorted(p.program_id for _, p in spread)


def _report(handle: RunHandle, executor, best: ProgramView, choice: Selection,
            checked: list[str]) -> None:
    spec, archive = handle.spec, handle.archive
    held_out = [s for s in ("test",) if s in spec.sets]
    sets = ["train", *checked, *held_out]
    winner = f"winner: {program_name(best.edit_kind, best.label, best.id)}"
    # the starting programs that are not baselines (the seed) are scored beside them
    starts = [archive.program(st.id) for st in archive.starts(handle.run_id)
              if st.edit_kind == "seed" and st.status == "ok"]
    own = {winner: best, **{program_name(p.edit_kind, p.label, p.id): p for p in starts if p.id != best.id}}
    shown = {p.id for p in own.values()}
    own.update({f"front #{pid}": archive.program(pid) for pid in _front_points(handle)
                if pid not in shown})
    console.print("scoring the winner on " + ", ".join(held_out) + " and the baselines on "
                  + ", ".join(sets) + " ...")
    results = {(name, "train"): EvalOutcome(ok=True, metrics=p.metrics) for name, p in own.items()}
    for name, p in own.items():  # finalists: scored on the validation set by choose_winner
        for s in checked:
            results[(name, s)] = (archive.evaluation_outcome(p.id, s, choice.version)
                                  or EvalOutcome(ok=False))

    async def both() -> list[dict]:
        return await asyncio.gather(
            evaluate_many(executor, spec, {name: p.code for name, p in own.items()}, held_out),
            baseline_results(archive, handle.run_id, spec, executor, sets))

    for part in asyncio.run(both()):
        results.update(part)
    for name, p in own.items():
        for s in held_out:
            record_test_evaluation(archive, p.id, results[(name, s)])
    for st in archive.starts(handle.run_id):  # a baseline start's held-out score is its baseline's
        for s in held_out:
            out = results.get((st.label, s))
            if st.edit_kind == "baseline" and st.id != best.id and out is not None:
                record_test_evaluation(archive, st.id, out)
    console.print(baseline_table(spec, results, sets, f"{spec.name}: winner vs starting points and "
                                 "baselines", console.width))
    drawn = [s for s in sets if spec.sets[s].drawn]
    if drawn:
        console.print(f"{', '.join(drawn)}: " + (
            f"instances drawn for this run (draw {handle.draw}), unknown to every candidate"
            if handle.draw is not None else "the public draw (README tables): a candidate could "
            "have rebuilt them from the generator's seeds"), highlight=False)
    st = standing(archive, handle.run_id, spec.objective.metric)
    if st is not None:
        for line in standing_lines(spec, st):
            console.print(escape(line), highlight=False)
