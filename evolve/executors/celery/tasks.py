"""Worker side: the evaluation tasks, run in Celery pool processes next to the sandbox.

``evolve.evaluate`` evaluates one program of an archive: check the evaluator version, claim the
ledger row (a second delivery of the same message is skipped), run ``evaluators.jobs.run_job``
with a heartbeat going, and store the outcome, the program's new status and its elite offers in
one transaction. The message is acknowledged only after that (``acks_late``), so a worker that
dies anywhere before it leaves the message to be redelivered, and the ledger counts the death.

``evolve.evaluate_code`` scores code that has no program row (baselines) and returns the outcome
through the result backend; it has no side effects and can be re-run freely.
"""

from __future__ import annotations

import logging
import socket
import threading

from celery import Celery
from celery.signals import worker_process_init

from evaluators.base import EvalOutcome
from evaluators.jobs import evaluator_version, run_job
from evaluators.problem import ProblemError, load_problem
from evolve.archive.db import current_revision, head_revision, make_engine, shown_url
from evolve.archive.ledger import HEARTBEAT_SECONDS, Claim, Ledger, me
from evolve.archive.store import Archive
from evolve.executors.celery.app import EVALUATE, EVALUATE_CODE
from evolve.search.grid import placement

log = logging.getLogger("evolve.worker")

_db_override: str | None = None  # set by `evolve worker --db URL`


class ArchiveMismatch(Exception):
    pass


def set_db_override(url: str | None) -> None:
    global _db_override
    _db_override = url


def check_archive(url: str, empty_ok: bool = False) -> None:
    """Connect and compare schema revisions; raise with a one-line fix on any problem.

    ``empty_ok``: a database no controller has used yet is fine (a worker may start first).
    """
    engine = make_engine(url)
    try:
        rev = current_revision(engine)
    except Exception as exc:
        raise ArchiveMismatch(f"cannot reach the archive database at {shown_url(url)}: "
                              f"{type(exc).__name__}: {str(exc).splitlines()[0]}; check --db URL "
                              "and that the database server is running") from None
    finally:
        engine.dispose()
    if rev is None and empty_ok:
        return
    if rev != head_revision():
        raise ArchiveMismatch(f"the archive at {shown_url(url)} has schema revision {rev}, this worker "
                              f"expects {head_revision()}: run the same evolve version on the "
                              "controller and the workers")


_archives: dict[str, Archive] = {}


def _archive(url: str) -> Archive:
    if url not in _archives:
        check_archive(url)
        _archives[url] = Archive(url, migrate=False)
    return _archives[url]


@worker_process_init.connect
def _fresh_engines(**_kwargs) -> None:
    """A forked pool process must not reuse the connections its parent opened."""
    for archive in _archives.values():
        archive.engine.dispose(close=False)


def _heartbeat(ledger: Ledger, task_id: int, claimant: str, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_SECONDS):
        try:
            ledger.heartbeat(task_id, claimant)
        except Exception as exc:  # the database may blink; the lease tolerates missed beats
            log.warning("heartbeat for evaluation %s failed: %s", task_id, exc)


def evaluate(payload: dict) -> str:
    """Evaluate one archived program; returns what was done (for logs), never the score."""
    archive = _archive(_db_override or payload["db"])
    ledger = Ledger(archive)
    row = ledger.by_task_id(payload["task_id"])
    if row is None:
        log.error("evaluation %s is not in the archive at %s (one broker or Redis db per "
                  "archive); dropped", payload["task_id"], shown_url(archive.url))
        return "missing"
    problem, expected = payload["problem"], payload["version"]
    try:
        have = evaluator_version(problem)
    except ProblemError as exc:
        have, why = None, str(exc)
    if have != expected:
        where = f"{socket.gethostname()} (pid {me().split('|')[2]})"
        why = (f"worker {where} has evaluator {have} for {problem} but the controller expects "
               f"{expected}" if have else f"worker {where} cannot load problem {problem}: {why}")
        ledger.refuse(row.id, f"{why}: install the controller's evolve version on that worker "
                              "and restart it, then `evolve resume` the run")
        return "refused"
    claimant = me()
    claim = ledger.claim(row.id, claimant, payload["lease"], payload["max_attempts"])
    if claim.action == "skip":
        log.info("evaluation %s skipped: %s", payload["task_id"], claim.reason)
        return "skipped"
    if claim.action == "poison":
        outcome = EvalOutcome(ok=False, error_kind="worker_lost", evaluator_version=expected, error=(
            f"the evaluation killed its worker {claim.task.attempts} times ({claim.reason}); "
            "marked failed"))
        ledger.finish(claim.task, outcome, None, None, ())
        return "poison"
    return _run_claimed(ledger, claim, claimant, payload)


def _run_claimed(ledger: Ledger, claim: Claim, claimant: str, payload: dict) -> str:
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(ledger, claim.task.id, claimant, stop),
                            daemon=True)
    beat.start()
    try:
        out = run_job({"problem": payload["problem"], "code": claim.code, "set": payload["set"],
                       "behaviour_of": payload.get("behaviour_of"), "draw": claim.draw})
    finally:
        stop.set()
    out = EvalOutcome.of(out)  # the worker process's dict, as a record from here on
    features = cell = None
    if payload["set"] == "train":
        features, cell = placement(claim.code, out, load_problem(payload["problem"]).features)
    stored = ledger.finish(claim.task, out, features, cell, payload["islands"])
    return "done" if stored else "already stored"


def evaluate_code(job: dict) -> dict:
    return run_job(job)


def register(app: Celery) -> None:
    app.task(name=EVALUATE, acks_late=True, reject_on_worker_lost=True, ignore_result=True)(evaluate)
    app.task(name=EVALUATE_CODE, acks_late=True, reject_on_worker_lost=True)(evaluate_code)
