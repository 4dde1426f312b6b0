"""The archive's programs as points of a two-objective trade-off: the objective (combined score)
and the problem's second objective, read from each program's training evaluation.

The search keeps each island's Pareto front from these (``search/pareto.py``); the dashboard,
``evolve status`` and export read the run's.
"""

from __future__ import annotations

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from evaluators.problem import SecondObjective
from evolve.archive.models import Elite, Evaluation, Program
from evolve.search.pareto import Point


def run_points(engine: Engine, run_id: int, second: SecondObjective,
               island: int | None = None) -> list[Point]:
    """Every passing program of the run with both scores (of ``island``: the programs it
    proposed and those in its grid), oldest first; programs whose training metrics lack the
    second objective are left out."""
    query = (select(Program.id, Program.combined_score, Evaluation.metrics)
             .join(Evaluation, (Evaluation.program_id == Program.id)
                   & (Evaluation.set_name == "train") & Evaluation.ok)
             .where(Program.run_id == run_id, Program.status == "ok")
             .order_by(Program.id))
    if island is not None:
        in_grid = select(Elite.program_id).where(Elite.run_id == run_id, Elite.island == island)
        query = query.where(or_(Program.island == island, Program.id.in_(in_grid)))
    points: dict[int, Point] = {}
    with Session(engine) as s:
        for pid, score, metrics in s.execute(query):
            value = second.score(metrics or {})
            if score is not None and value is not None and pid not in points:
                points[pid] = Point(pid, score, value)
    return list(points.values())
