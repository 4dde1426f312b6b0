"""The archive's per-iteration SQL, built once with bound parameters.

Building a SQLAlchemy statement (coercions, bind parameters, cache keys) cost more CPU than
running it on SQLite; the statements used every iteration are therefore module constants, run
with parameter dicts, on the Core tables (no ORM bulk-insert path). Dialect-specific upserts are
built once per dialect name.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import Insert, Integer, bindparam, case, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased

from evolve.archive.models import Elite, Evaluation, Iteration, LlmCall, Program

PROGRAMS = Program.__table__
ITERATIONS = Iteration.__table__
LLM_CALLS = LlmCall.__table__

LIMIT = bindparam("n", type_=Integer, literal_execute=True)  # a row count, rendered inline
LAST_ITERATION = select(func.max(Iteration.number)).where(Iteration.run_id == bindparam("run_id"))
PROGRAM_BY_HASH = (select(Program.id)
                   .where(Program.run_id == bindparam("run_id"),
                          or_(Program.sha256 == bindparam("sha"), Program.norm_hash == bindparam("norm")))
                   .order_by(Program.id).limit(1))
INSERT_PROGRAM = PROGRAMS.insert().returning(PROGRAMS.c.id)
ADD_CHILD = (update(PROGRAMS).where(PROGRAMS.c.id == bindparam("pid"))
             .values(children_count=PROGRAMS.c.children_count + 1))
INSERT_ITERATION = ITERATIONS.insert()
INSERT_LLM_CALL = LLM_CALLS.insert()

PROGRAM_ROW = select(Program.id, Program.code, Program.parent_id, Program.generation, Program.island,
                     Program.status, Program.combined_score, Program.cell, Program.edit_kind,
                     Program.label, Program.fingerprint, Program.same_as, Program.params
                     ).where(Program.id == bindparam("pid"))
LATEST_EVALUATION = (select(Evaluation.metrics, Evaluation.feedback, Evaluation.error,
                            Evaluation.error_kind)
                     .where(Evaluation.program_id == bindparam("pid"),
                            Evaluation.set_name == bindparam("set_name"))
                     .order_by(Evaluation.id.desc()).limit(1))
FAILED_ATTEMPTS = (select(Iteration.outcome, Iteration.reason, Evaluation.error, Evaluation.error_kind,
                          Iteration.child_id)
                   .outerjoin(Evaluation, (Evaluation.program_id == Iteration.child_id)
                              & (Evaluation.set_name == "train") & (Evaluation.ok.is_(False)))
                   .where(Iteration.run_id == bindparam("run_id"),
                          Iteration.parent_id == bindparam("parent_id"))
                   .order_by(Iteration.number.desc()).limit(LIMIT))
# LLM calls by purpose (repair or proposal) and how many gave a new valid program: a child that
# passed, or whose guarded version passed (duplicates, rejections, same-behaviour children do not)
_GUARD = aliased(Program)
_VALID = or_(Program.status == "ok", exists().where(_GUARD.parent_id == Program.id,
                                                     _GUARD.edit_kind == "guard", _GUARD.status == "ok"))
CALL_YIELD = (select(Iteration.edit_kind, func.count(),
                     func.sum(case(((Iteration.outcome == "child") & _VALID, 1), else_=0)))
              .outerjoin(Program, Program.id == Iteration.child_id)
              .where(Iteration.run_id == bindparam("run_id"))
              .group_by(Iteration.edit_kind))
TOP_PROGRAMS = (select(Program.id, Program.combined_score)
                .where(Program.run_id == bindparam("run_id"), Program.combined_score.is_not(None))
                .order_by(Program.combined_score.desc(), Program.id).limit(LIMIT))
# the run's winner: best on the validation set where finalists were scored there (see
# evolve/selection.py), ties broken by the training score and then the earliest program
VALIDATED_WINNER = (select(Program.id)
                    .join(Evaluation, Evaluation.program_id == Program.id)
                    .where(Program.run_id == bindparam("run_id"), Program.combined_score.is_not(None),
                           Evaluation.set_name == "validation", Evaluation.ok.is_(True),
                           Evaluation.combined_score.is_not(None))
                    .order_by(Evaluation.combined_score.desc(), Program.combined_score.desc(),
                              Program.id).limit(1))
ISLAND_ELITES = (select(Elite.cell, Elite.program_id, Elite.score, Program.children_count)
                 .join(Program, Program.id == Elite.program_id)
                 .where(Elite.run_id == bindparam("run_id"), Elite.island == bindparam("island"))
                 .order_by(Elite.cell))

SCORE_PROGRAM = (update(PROGRAMS).where(PROGRAMS.c.id == bindparam("pid"))
                 .values(status=bindparam("status"), combined_score=bindparam("score"),
                         features=bindparam("features", type_=PROGRAMS.c.features.type),
                         cell=bindparam("cell"), fingerprint=bindparam("fingerprint"),
                         same_as=bindparam("same_as")))
RUN_OF_PROGRAM = select(Program.run_id).where(Program.id == bindparam("pid"))


def _insert(dialect: str, table: object) -> Insert:
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


@cache
def insert_evaluation(dialect: str) -> Insert:
    """INSERT an evaluation unless its key is stored; RETURNING its id (no row: already there)."""
    stmt = _insert(dialect, Evaluation.__table__)
    return stmt.on_conflict_do_nothing(
        index_elements=["program_id", "set_name", "evaluator_version", "seed"]
    ).returning(Evaluation.__table__.c.id)


@cache
def offer_elite(dialect: str) -> Insert:
    """Fill an empty cell or replace a lower score, atomically; RETURNING a row iff placed."""
    elites = Elite.__table__
    stmt = _insert(dialect, elites)
    return stmt.on_conflict_do_update(
        index_elements=["run_id", "island", "cell"],
        set_={"program_id": stmt.excluded.program_id, "score": stmt.excluded.score},
        where=stmt.excluded.score > elites.c.score,
    ).returning(elites.c.program_id)
