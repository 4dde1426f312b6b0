"""``evolve worker``: check the broker, the archive and the sandbox, then run a Celery worker.

Every machine that should evaluate candidates runs one worker (prefork pool, ``--concurrency``
processes). A worker needs the broker URL, and the archive URL unless every task's own URL
(the controller's, without password) reaches the database from this machine.
"""

from __future__ import annotations

import os

from evolve.executors.celery.app import QUEUE, check_broker, make_app
from evolve.executors.celery.tasks import check_archive, register, set_db_override


def start_worker(broker: str, db: str | None, concurrency: int, loglevel: str = "INFO") -> None:
    app = make_app(broker)
    check_broker(app)
    if db:
        check_archive(db, empty_ok=True)
    set_db_override(db)
    register(app)
    app.worker_main(["worker", f"--concurrency={concurrency}", "--pool=prefork",
                     f"--loglevel={loglevel}", "-n", f"evolve-{os.getpid()}@%h", "-Q", QUEUE,
                     "--without-gossip", "--without-mingle"])
