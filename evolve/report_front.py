"""The run's Pareto front of objective against second objective as a table for ``evolve
status``, with the command that exports any point of it."""

from __future__ import annotations

from rich.table import Table

from evaluators.problem import ProblemSpec
from evolve.archive.fronts import run_points
from evolve.archive.store import Archive
from evolve.search.pareto import pareto_front
from evolve.wording import plural


def front_table(archive: Archive, run_id: int, run_name: str, spec: ProblemSpec) -> Table | None:
    """None when the problem has no second objective or no program has both scores."""
    second = spec.objective.second
    if second is None:
        return None
    front = pareto_front(run_points(archive.engine, run_id, second))
    if not front:
        return None
    objective = spec.objective
    table = Table(title=f"Pareto front on the training set: {plural(len(front), 'program')} no "
                  f"other beats on both (export one: evolve export {run_name} --program ID --out "
                  "policy.py)")
    for col in ("id", objective.label(), second.label()):
        table.add_column(col, justify="right")
    for point in front:
        table.add_row(str(point.program_id), f"{objective.shown(point.score):.6g}",
                      f"{second.shown(point.second):.6g}")
    return table
