"""SQLAlchemy 2.0 schema of the archive: runs, programs, evaluations, llm_calls, iterations, elites.

The archive is the checkpoint. Every state change of a run is a committed row here, so a killed
controller resumes from the database alone. Schema changes go through Alembic (``migrations/``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    problem: Mapped[str] = mapped_column(String(100))
    config: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="running")  # running|stopped|finished
    stop_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_migration: Mapped[int] = mapped_column(Integer, default=0)  # iteration count at last migration
    # the seed its drawn instance sets are generated from (evaluators/draws.py); None: public draw
    draw: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Program(Base):
    __tablename__ = "programs"
    __table_args__ = (
        UniqueConstraint("run_id", "sha256", name="uq_program_run_sha"),
        Index("ix_programs_run_score", "run_id", "combined_score"),
        Index("ix_programs_run_status", "run_id", "status"),
        Index("ix_programs_run_norm", "run_id", "norm_hash"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    norm_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)  # codehash.normalised_hash
    code: Mapped[str] = mapped_column(Text)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("programs.id"), nullable=True)
    parent2_id: Mapped[int | None] = mapped_column(ForeignKey("programs.id"), nullable=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    island: Mapped[int] = mapped_column(Integer, default=0)
    iteration: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # pending|ok|failed, or same: its outputs on the quick check equal those of program ``same_as``
    status: Mapped[str] = mapped_column(String(20), default="pending")
    # how it was made: seed|baseline|diff|rewrite|function|repair|tune (label: the baseline's name)
    edit_kind: Mapped[str | None] = mapped_column(String(20), nullable=True)
    label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    same_as: Mapped[int | None] = mapped_column(ForeignKey("programs.id"), nullable=True)
    fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)  # quick-check outputs
    params: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # tuned constants (edit_kind tune)
    combined_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    cell: Mapped[str | None] = mapped_column(String(64), nullable=True)
    features: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    children_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Evaluation(Base):
    __tablename__ = "evaluations"
    __table_args__ = (UniqueConstraint("program_id", "set_name", "evaluator_version", "seed",
                                       name="uq_evaluation_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    set_name: Mapped[str] = mapped_column(String(50))
    evaluator_version: Mapped[str] = mapped_column(String(50))
    seed: Mapped[int] = mapped_column(Integer, default=0)
    ok: Mapped[bool] = mapped_column(Boolean)
    metrics: Mapped[dict] = mapped_column(JSON)
    combined_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    feedback: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_kind: Mapped[str | None] = mapped_column(String(30), nullable=True)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LlmCall(Base):
    __tablename__ = "llm_calls"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    proposal: Mapped[str] = mapped_column(String(40), index=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    model: Mapped[str] = mapped_column(String(200))
    messages: Mapped[list] = mapped_column(JSON)
    reply: Mapped[str | None] = mapped_column(Text, nullable=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    cost_known: Mapped[bool] = mapped_column(Boolean, default=True)
    latency: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    seed: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the request's sampling seed
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Iteration(Base):
    """One finished proposal: which parent, which model, and what came of the reply."""

    __tablename__ = "iterations"
    __table_args__ = (UniqueConstraint("run_id", "number", name="uq_iteration_number"),
                      Index("ix_iterations_run_parent", "run_id", "parent_id", "number"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    number: Mapped[int] = mapped_column(Integer)
    proposal: Mapped[str] = mapped_column(String(40), unique=True)
    island: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("programs.id"), nullable=True)
    inspiration_ids: Mapped[list] = mapped_column(JSON, default=list)
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # diff|rewrite|function|repair|crossover, or variant (a call that wrote a prompt direction)
    edit_kind: Mapped[str | None] = mapped_column(String(20), nullable=True)
    outcome: Mapped[str] = mapped_column(String(20))  # child|duplicate|rejected|llm_error|variant
    # the direction its prompt ended with, where prompts.direction_choice is bandit
    direction: Mapped[str | None] = mapped_column(Text, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    child_id: Mapped[int | None] = mapped_column(ForeignKey("programs.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Elite(Base):
    """The MAP-Elites grid of each island: the best program per (island, cell)."""

    __tablename__ = "elites"
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    island: Mapped[int] = mapped_column(Integer, primary_key=True)
    cell: Mapped[str] = mapped_column(String(64), primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    score: Mapped[float] = mapped_column(Float)


class EvalTask(Base):
    """The ledger of one distributed evaluation: who runs it, how often it was tried, its state.

    One row per evaluation key (program, set, evaluator version, seed). Workers claim a row before
    running it, so a message delivered twice is run once; a claim whose worker died counts as an
    attempt, and a candidate that keeps killing its worker is failed after a capped number.
    """

    __tablename__ = "eval_tasks"
    __table_args__ = (UniqueConstraint("program_id", "set_name", "evaluator_version", "seed",
                                       name="uq_eval_task_key"),
                      Index("ix_eval_tasks_state", "state"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    set_name: Mapped[str] = mapped_column(String(50))
    evaluator_version: Mapped[str] = mapped_column(String(50))
    seed: Mapped[int] = mapped_column(Integer, default=0)
    task_id: Mapped[str] = mapped_column(String(200), unique=True)
    state: Mapped[str] = mapped_column(String(20), default="queued")  # queued|running|done|failed|refused
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    sends: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BaselineScore(Base):
    """A human baseline's trusted score on one instance set, kept with the run it was compared to.

    Written when a run's final report or an export scores the baselines, so the dashboard can
    show the comparison without running anything.
    """

    __tablename__ = "baseline_scores"
    __table_args__ = (UniqueConstraint("run_id", "name", "set_name", "evaluator_version",
                                       name="uq_baseline_score_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    set_name: Mapped[str] = mapped_column(String(50))
    evaluator_version: Mapped[str] = mapped_column(String(50))
    ok: Mapped[bool] = mapped_column(Boolean)
    metrics: Mapped[dict] = mapped_column(JSON)
    combined_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SearchEvent(Base):
    """A step the search took on its own: an island reseeded after stagnating (``restart``) or a
    summary of an iteration range written into later prompts (``advice``)."""

    __tablename__ = "search_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # restart|advice|variant (a written direction)
    iteration: Mapped[int] = mapped_column(Integer)  # the run's iteration count when it happened
    island: Mapped[int | None] = mapped_column(Integer, nullable=True)
    program_id: Mapped[int | None] = mapped_column(ForeignKey("programs.id"), nullable=True)
    first_iteration: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_iteration: Mapped[int | None] = mapped_column(Integer, nullable=True)
    text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
