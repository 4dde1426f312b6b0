"""Search events in the archive: island restarts and advice, written and read back, and what
each model's calls gave (the model bandit's record).

A restart replaces an island's MAP-Elites grid with one program (the run's best) and records why,
in one transaction, so a resumed run sees the grid and the event together or neither. Advice is a
summary of an iteration range that later prompts show; the latest one is what a resumed run shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, and_, case, delete, func, insert, or_, select
from sqlalchemy.orm import aliased

from evaluators.storable import clean_text
from evolve.archive.models import Elite, Iteration, LlmCall, Program, SearchEvent, utcnow
from evolve.archive.store import Archive
from evolve.edits import UNCHANGED
from evolve.llm.bandit import ModelRecord
from evolve.search.variants import VariantRecord


@dataclass(frozen=True)
class EventView:
    kind: str  # restart|advice
    iteration: int
    island: int | None
    program_id: int | None
    first_iteration: int | None
    last_iteration: int | None
    text: str


def restart_island(archive: Archive, run_id: int, *, island: int, iteration: int, program_id: int,
                   cell: str, score: float, why: str) -> None:
    """Empty ``island``'s grid, place ``program_id`` in it and record the restart."""
    with archive.engine.begin() as c:
        c.execute(delete(Elite).where(Elite.run_id == run_id, Elite.island == island))
        c.execute(insert(Elite).values(run_id=run_id, island=island, cell=cell,
                                       program_id=program_id, score=score))
        c.execute(insert(SearchEvent).values(run_id=run_id, kind="restart", iteration=iteration,
                                             island=island, program_id=program_id,
                                             text=clean_text(why), created_at=utcnow()))


def record_advice(archive: Archive, run_id: int, *, iteration: int, first: int, last: int,
                  text: str) -> None:
    with archive.engine.begin() as c:
        c.execute(insert(SearchEvent).values(run_id=run_id, kind="advice", iteration=iteration,
                                             first_iteration=first, last_iteration=last,
                                             text=clean_text(text), created_at=utcnow()))


def search_events(archive: Archive, run_id: int, kind: str | None = None) -> list[EventView]:
    """The run's events, oldest first (only ``kind`` when given)."""
    query = select(SearchEvent.kind, SearchEvent.iteration, SearchEvent.island,
                   SearchEvent.program_id, SearchEvent.first_iteration, SearchEvent.last_iteration,
                   SearchEvent.text).where(SearchEvent.run_id == run_id)
    if kind is not None:
        query = query.where(SearchEvent.kind == kind)
    with archive.engine.connect() as c:
        return [EventView(*row) for row in c.execute(query.order_by(SearchEvent.id)).all()]


@dataclass(frozen=True)
class RangeOutcomes:
    """What the iterations ``first + 1 .. last`` of a run gave: programs made (children, guards,
    tunings; (id, iteration) oldest first) and the proposals that made none, by outcome."""

    programs: tuple[tuple[int, int], ...]
    duplicates: int
    unchanged: int  # replies that changed nothing
    rejected: int  # other unusable replies
    llm_errors: int


def range_outcomes(archive: Archive, run_id: int, first: int, last: int) -> RangeOutcomes:
    with archive.engine.connect() as c:
        made = c.execute(select(Program.id, Program.iteration).where(
            Program.run_id == run_id, Program.iteration > first, Program.iteration <= last)
            .order_by(Program.id)).all()
        rows = c.execute(select(Iteration.outcome, Iteration.reason).where(
            Iteration.run_id == run_id, Iteration.number > first, Iteration.number <= last)).all()
    rejected = [reason for outcome, reason in rows if outcome == "rejected"]
    return RangeOutcomes(
        programs=tuple((pid, it) for pid, it in made),
        duplicates=sum(outcome == "duplicate" for outcome, _ in rows),
        unchanged=sum(reason == UNCHANGED for reason in rejected),
        rejected=sum(reason != UNCHANGED for reason in rejected),
        llm_errors=sum(outcome == "llm_error" for outcome, _ in rows))


def model_records(archive: Archive, run_id: int) -> dict[str, ModelRecord]:
    """Per model: proposals whose outcome is known (repairs aside), how many children beat their
    parent, and the latency and dollars of all its LLM attempts."""
    with archive.engine.connect() as c:
        return records_on(c, run_id)


def _decided(c: Connection, run_id: int, key) -> dict[str, tuple[int, int]]:
    """Per value of ``key`` (an Iteration column): proposals whose outcome is known (repairs and
    direction-writing calls aside) and how many of their children beat their parent."""
    child, parent = aliased(Program), aliased(Program)
    improved = case((and_(child.status == "ok", child.combined_score > parent.combined_score), 1),
                    else_=0)
    decided = (select(key, func.count(), func.sum(improved))  # a repeat names a program, not a child
               .outerjoin(child, (child.id == Iteration.child_id) & (Iteration.outcome == "child"))
               .outerjoin(parent, parent.id == Iteration.parent_id)
               .where(Iteration.run_id == run_id,
                      or_(Iteration.edit_kind.is_(None),
                          Iteration.edit_kind.not_in(("repair", "variant"))),
                      or_(child.id.is_(None), child.status != "pending"))
               .group_by(key))
    return {k: (n, int(m or 0)) for k, n, m in c.execute(decided).all() if k is not None}


def records_on(c: Connection, run_id: int) -> dict[str, ModelRecord]:
    """``model_records`` on an open connection (the dashboard's read-only one)."""
    spent = (select(LlmCall.model, func.sum(LlmCall.latency), func.sum(LlmCall.cost))
             .where(LlmCall.run_id == run_id).group_by(LlmCall.model))
    counts = _decided(c, run_id, Iteration.model)
    costs = {m: (float(s or 0), float(d or 0)) for m, s, d in c.execute(spent).all()}
    return {m: ModelRecord(m, *counts.get(m, (0, 0)), *costs.get(m, (0.0, 0.0)))
            for m in set(counts) | set(costs) if m is not None}


def direction_records(c: Connection, run_id: int) -> dict[str, VariantRecord]:
    """Per prompt direction: proposals decided with it and how many beat their parent."""
    return {d: VariantRecord(d, n, k) for d, (n, k) in _decided(c, run_id, Iteration.direction).items()}


def record_variant(archive: Archive, run_id: int, *, iteration: int, text: str) -> None:
    """A direction the LLM wrote (already cleaned to one line by evolve/search/variants.py)."""
    with archive.engine.begin() as c:
        c.execute(insert(SearchEvent).values(run_id=run_id, kind="variant", iteration=iteration,
                                             text=clean_text(text), created_at=utcnow()))
