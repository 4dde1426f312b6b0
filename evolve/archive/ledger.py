"""The evaluation ledger: claims, heartbeats and attempts of distributed evaluations.

A distributed executor may deliver a message twice (redelivery after a worker died, a sweeper
resend, a broker restart). The ledger makes execution exactly-once where it matters: a worker
claims the row of an evaluation key before running it, a second delivery finds the claim and
skips, and a claim whose worker died (its process is gone, or its heartbeat went stale) counts
as one attempt. After ``max_attempts`` deaths the evaluation is stored as failed: a poison
candidate cannot take the fleet down one worker at a time.

The result and the ledger's ``done`` state are written in the same transaction as the
evaluation row (see ``finish``), so the archive alone says what has been evaluated.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from evaluators.base import EvalOutcome
from evolve.archive.models import EvalTask, Program, Run, utcnow
from evolve.archive.store import Archive, store_or_fail, store_outcome

HEARTBEAT_SECONDS = 5.0


@dataclass(frozen=True)
class TaskView:
    id: int
    task_id: str
    program_id: int
    set_name: str
    evaluator_version: str
    state: str  # queued | running | done | refused
    attempts: int
    claimed_by: str | None
    heartbeat_at: datetime | None
    sent_at: datetime | None
    message: str | None


@dataclass(frozen=True)
class Claim:
    """What a worker should do with a delivery: ``run`` it, ``skip`` it, or fail it as ``poison``."""

    action: str
    task: TaskView | None
    code: str = ""
    reason: str = ""
    draw: int | None = None  # of the program's run: its drawn sets' instances (never in a message)


@cache
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
    except OSError:
        return "noboot"


def _start_time(pid: int) -> str | None:
    """Kernel start time of a live (non-zombie) process, or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def me() -> str:
    """This process as a claimant: host, boot, pid and start time (pid reuse cannot fake it)."""
    return f"{socket.gethostname()}|{_boot_id()}|{os.getpid()}|{_start_time(os.getpid())}"


def claimant_alive(claimed_by: str | None, heartbeat_at: datetime | None, lease_seconds: float) -> bool:
    """Whether the worker holding a claim still runs it.

    On the claimant's own machine the process table answers at once; elsewhere a heartbeat
    newer than the lease does.
    """
    if not claimed_by:
        return False
    host, boot, pid, started = [*claimed_by.split("|"), "", "", ""][:4]
    if host == socket.gethostname() and boot == _boot_id() and pid.isdigit():
        return _start_time(int(pid)) == started
    if heartbeat_at is None:
        return False
    return _aware(heartbeat_at) > utcnow() - timedelta(seconds=lease_seconds)


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _view(t: EvalTask) -> TaskView:
    return TaskView(t.id, t.task_id, t.program_id, t.set_name, t.evaluator_version, t.state,
                    t.attempts, t.claimed_by, t.heartbeat_at, t.sent_at, t.message)


class Ledger:
    def __init__(self, archive: Archive):
        self.archive = archive

    # -- controller side ---------------------------------------------------------------------
    def ensure(self, program_id: int, set_name: str, version: str, seed: int, task_id: str) -> TaskView:
        """The ledger row of an evaluation key, created ``queued`` if new; refused rows reopen."""
        with self.archive.session() as s, s.begin():
            row = s.scalar(select(EvalTask).where(
                EvalTask.program_id == program_id, EvalTask.set_name == set_name,
                EvalTask.evaluator_version == version, EvalTask.seed == seed))
            if row is None:
                try:
                    with s.begin_nested():
                        row = EvalTask(program_id=program_id, set_name=set_name,
                                       evaluator_version=version, seed=seed, task_id=task_id,
                                       state="queued", attempts=0, sends=0)
                        s.add(row)
                except IntegrityError:
                    row = s.scalar(select(EvalTask).where(EvalTask.task_id == task_id))
            elif row.state == "refused":
                row.state, row.updated_at = "queued", utcnow()
            return _view(row)

    def mark_sent(self, task_ids: Iterable[int]) -> None:
        ids = list(task_ids)
        if not ids:
            return
        with self.archive.session() as s, s.begin():
            s.execute(update(EvalTask).where(EvalTask.id.in_(ids))
                      .values(sent_at=utcnow(), sends=EvalTask.sends + 1))

    def settled(self, task_ids: Sequence[int]) -> list[TaskView]:
        """Rows among ``task_ids`` that are done or refused."""
        if not task_ids:
            return []
        with self.archive.session() as s:
            rows = s.scalars(select(EvalTask).where(EvalTask.id.in_(list(task_ids)),
                                                    EvalTask.state.in_(("done", "refused")))).all()
            return [_view(r) for r in rows]

    def stuck(self, task_ids: Sequence[int], resend_after: float, lease: float) -> list[TaskView]:
        """Rows whose message may be lost: queued and not sent for ``resend_after`` seconds,
        or running on a worker that is gone."""
        if not task_ids:
            return []
        cutoff = utcnow() - timedelta(seconds=resend_after)
        with self.archive.session() as s:
            rows = s.scalars(select(EvalTask).where(EvalTask.id.in_(list(task_ids)),
                                                    EvalTask.state.in_(("queued", "running")))).all()
            out = []
            for r in rows:
                if r.state == "queued" and (r.sent_at is None or _aware(r.sent_at) < cutoff):
                    out.append(_view(r))
                elif r.state == "running" and not claimant_alive(r.claimed_by, r.heartbeat_at, lease):
                    out.append(_view(r))
            return out

    # -- worker side -------------------------------------------------------------------------
    def by_task_id(self, task_id: str) -> TaskView | None:
        with self.archive.session() as s:
            row = s.scalar(select(EvalTask).where(EvalTask.task_id == task_id))
            return None if row is None else _view(row)

    def claim(self, task_id: int, claimant: str, lease: float, max_attempts: int) -> Claim:
        with self.archive.session() as s, s.begin():
            row = s.get(EvalTask, task_id, with_for_update=True)
            if row is None:
                return Claim("skip", None, reason="no such evaluation in this archive")
            if row.state in ("done", "refused"):
                return Claim("skip", _view(row), reason=f"already {row.state}")
            if row.state == "running":
                if claimant_alive(row.claimed_by, row.heartbeat_at, lease):
                    return Claim("skip", _view(row), reason=f"running on {row.claimed_by}")
                lost = f"attempt {row.attempts} lost its worker {row.claimed_by}"
                row.message = lost if not row.message else f"{row.message}; {lost}"
                if row.attempts >= max_attempts:
                    return Claim("poison", _view(row), reason=row.message)
            row.state, row.attempts, row.claimed_by = "running", row.attempts + 1, claimant
            row.heartbeat_at = row.updated_at = utcnow()
            code, draw = s.execute(select(Program.code, Run.draw).join(Run, Run.id == Program.run_id)
                                   .where(Program.id == row.program_id)).one()
            return Claim("run", _view(row), code=code, draw=draw)

    def heartbeat(self, task_id: int, claimant: str) -> None:
        with self.archive.session() as s, s.begin():
            s.execute(update(EvalTask).where(EvalTask.id == task_id, EvalTask.claimed_by == claimant,
                                             EvalTask.state == "running")
                      .values(heartbeat_at=utcnow()))

    def finish(self, task: TaskView, outcome: EvalOutcome | dict, features: dict | None, cell: str | None,
               elite_islands: Sequence[int]) -> bool:
        """Store the outcome and close the row in one transaction; False if already stored. An
        outcome the database refuses is stored as the program's failure (``unstorable``)."""
        def write(out: EvalOutcome, features: dict | None, cell: str | None,
                  elite_islands: Sequence[int]) -> bool:
            with self.archive.session() as s, s.begin():
                row = s.get(EvalTask, task.id, with_for_update=True)
                row.state, row.updated_at = "done", utcnow()
                return store_outcome(s, row.program_id, row.set_name, row.evaluator_version,
                                     row.seed, out, features, cell, elite_islands)

        return store_or_fail(write, outcome, features, cell, elite_islands)

    def refuse(self, task_id: int, message: str) -> None:
        with self.archive.session() as s, s.begin():
            s.execute(update(EvalTask).where(EvalTask.id == task_id, EvalTask.state == "queued")
                      .values(state="refused", message=message, updated_at=utcnow()))
