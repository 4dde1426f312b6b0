"""Controller side: send evaluations to Celery workers and learn outcomes from the archive.

For a program, ``evaluate`` makes sure its ledger row exists, publishes one message with a
deterministic task id, and waits until a worker has stored the outcome in the archive (one
poller checks every in-flight row in a single query). The archive is the source of truth: if the
controller dies, workers keep storing outcomes, and a resumed controller finds them there.

A sweeper resends messages the broker may have lost (queue empty yet a row still queued, e.g.
after a broker restart without persistence) and those of workers that died whole; duplicate
deliveries are harmless because workers claim rows. If the broker stays unreachable longer than
``broker_outage_seconds``, every waiting evaluation fails with ``ExecutorError``, which stops the
run cleanly for ``evolve resume``.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy.engine import make_url

from evaluators.base import EvalOutcome
from evaluators.jobs import evaluator_version
from evaluators.problem import load_problem
from evolve.archive.ledger import Ledger, TaskView, claimant_alive
from evolve.archive.store import Archive
from evolve.config import ExecutorConfig
from evolve.executors.base import EvalJob, Executor, ExecutorError
from evolve.executors.celery.app import (
    EVALUATE,
    EVALUATE_CODE,
    QUEUE,
    check_broker,
    make_app,
    queue_length,
    time_limits,
)

log = logging.getLogger("evolve.run")

POLL_SECONDS = 0.05
SWEEP_SECONDS = 2.0


def worker_db_url(url: str) -> str:
    """The archive URL workers are told, without its password (it would sit in the broker)."""
    return make_url(url).set(password=None).render_as_string(hide_password=False)


class CeleryExecutor(Executor):
    def __init__(self, archive: Archive, run_name: str, settings: ExecutorConfig, capacity: int,
                 note=lambda message: None):
        self.capacity = max(1, capacity)
        self.archive = archive
        self.ledger = Ledger(archive)
        self.run_name = run_name
        self.settings = settings
        self.note = note
        self.app = make_app(settings.broker)
        check_broker(self.app)
        self._db = worker_db_url(archive.url)
        run = archive.find_run(run_name) if run_name else None
        # programs' evaluations read their run's draw from the archive; code without a program
        # row (baselines for the report) is sent with it
        self.draw = run.draw if run is not None else None
        self._waiting: dict[int, tuple[asyncio.Future, EvalJob, TaskView]] = {}
        self._unsent: set[int] = set()
        self._poller: asyncio.Task | None = None
        self._broker_down_since: float | None = None
        self._last_sweep = time.monotonic()

    # -- Executor ----------------------------------------------------------------------------
    async def evaluate(self, job: EvalJob) -> EvalOutcome:
        if job.program_id is None:
            return await self._evaluate_code(job)
        version = evaluator_version(job.problem)
        task_id = f"evolve:{self.run_name}:{job.program_id}:{job.set_name}:{version}:0"
        row = self.ledger.ensure(job.program_id, job.set_name, version, 0, task_id)
        if row.state == "done":
            return self._stored(row)
        future = asyncio.get_running_loop().create_future()
        self._waiting[row.id] = (future, job, row)
        if row.state == "queued" or not claimant_alive(row.claimed_by, row.heartbeat_at,
                                                        self.settings.lease_seconds):
            await self._send([row.id])
        if self._poller is None or self._poller.done():
            self._poller = asyncio.ensure_future(self._poll())
        try:
            return await future
        finally:
            self._waiting.pop(row.id, None)

    def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
        self.app.close()

    # -- sending -----------------------------------------------------------------------------
    def _payload(self, job: EvalJob, row: TaskView) -> dict:
        program = self.archive.program(job.program_id)
        islands = list(job.elite_islands) if job.elite_islands else [program.island]
        return {"task_id": row.task_id, "db": self._db, "problem": job.problem, "set": job.set_name,
                "version": row.evaluator_version, "islands": islands, "lease": self.settings.lease_seconds,
                "max_attempts": self.settings.max_attempts,
                "behaviour_of": list(job.behaviour_of) if job.behaviour_of else None}

    async def _send(self, ids: list[int]) -> None:
        messages = []
        for i in ids:
            if i not in self._waiting:
                continue
            _, job, row = self._waiting[i]
            soft, hard = time_limits(load_problem(job.problem))
            messages.append((i, row.task_id, self._payload(job, row), soft, hard))
        if not messages:
            return
        try:
            await asyncio.to_thread(self._publish, messages)
        except Exception as exc:
            self._unsent.update(i for i, *_ in messages)
            if self._broker_down_since is None:
                self._broker_down_since = time.monotonic()
                self.note(f"cannot publish to the broker at {self.settings.broker} "
                          f"({type(exc).__name__}: {exc}); retrying")
            return
        if self._broker_down_since is not None:
            self.note(f"broker at {self.settings.broker} reachable again")
        self._broker_down_since = None
        self._unsent.difference_update(i for i, *_ in messages)
        self.ledger.mark_sent(i for i, *_ in messages)

    def _publish(self, messages: list[tuple]) -> None:
        with self.app.producer_or_acquire() as producer:
            for _, task_id, payload, soft, hard in messages:
                self.app.send_task(EVALUATE, args=[payload], task_id=task_id, queue=QUEUE,
                                   soft_time_limit=soft, time_limit=hard, producer=producer,
                                   retry=True, retry_policy={"max_retries": 2, "interval_start": 0.2,
                                                             "interval_step": 0.5,
                                                             "interval_max": 1.0})

    # -- waiting -----------------------------------------------------------------------------
    async def _poll(self) -> None:
        while self._waiting:
            await asyncio.sleep(POLL_SECONDS)
            try:
                await self._check()
            except Exception as exc:  # the archive may blink; keep waiting, say so once
                log.warning("polling the archive failed: %s", exc)

    async def _check(self) -> None:
        for row in self.ledger.settled(list(self._waiting)):
            future, _, _ = self._waiting[row.id]
            if future.done():
                continue
            if row.state == "done":
                try:
                    future.set_result(self._stored(row))
                except ExecutorError as exc:
                    future.set_exception(exc)
            else:
                future.set_exception(ExecutorError(f"evaluation refused: {row.message}"))
        if time.monotonic() - self._last_sweep >= SWEEP_SECONDS:
            self._last_sweep = time.monotonic()
            await self._sweep()

    async def _sweep(self) -> None:
        s = self.settings
        if self._unsent:
            await self._send(sorted(self._unsent))
        if (self._broker_down_since is not None
                and time.monotonic() - self._broker_down_since > s.broker_outage_seconds):
            error = ExecutorError(
                f"the Celery broker at {s.broker} has been unreachable for more than "
                f"{s.broker_outage_seconds:g}s: start it, then `evolve resume {self.run_name}`")
            for future, _, _ in self._waiting.values():
                if not future.done():
                    future.set_exception(error)
            return
        stuck = self.ledger.stuck(list(self._waiting), s.resend_after_seconds, s.lease_seconds)
        if not stuck:
            return
        dead = [r.id for r in stuck if r.state == "running"]
        queued = [r.id for r in stuck if r.state == "queued"]
        if queued and await asyncio.to_thread(queue_length, self.app) != 0:
            queued = []  # messages are still waiting: workers are busy, nothing was lost
        if dead or queued:
            log.info("resending %d evaluation(s) of dead workers and %d lost in the broker",
                     len(dead), len(queued))
            await self._send(dead + queued)

    def _stored(self, row: TaskView) -> EvalOutcome:
        out = self.archive.evaluation_outcome(row.program_id, row.set_name, row.evaluator_version)
        if out is None:
            raise ExecutorError(f"evaluation {row.task_id} is marked done but has no stored result")
        return out

    # -- code without a program row ------------------------------------------------------------
    async def _evaluate_code(self, job: EvalJob) -> EvalOutcome:
        soft, hard = (limit * job.sessions for limit in time_limits(load_problem(job.problem)))
        result = await asyncio.to_thread(
            self.app.send_task, EVALUATE_CODE, args=[{**job.to_dict(), "draw": self.draw}], queue=QUEUE,
            soft_time_limit=soft, time_limit=hard)
        out = await asyncio.to_thread(result.get, timeout=hard + 600, propagate=False)
        if not isinstance(out, dict):
            raise ExecutorError(f"a worker failed to evaluate code for {job.problem}: {out!r}")
        if out.get("evaluator_version") != evaluator_version(job.problem):
            raise ExecutorError(
                f"a worker scored {job.problem} with evaluator {out.get('evaluator_version')} but "
                f"this controller has {evaluator_version(job.problem)}: install the same evolve "
                "version on the workers and restart them")
        return EvalOutcome.of(out)  # the worker's dict, as a record from here on
