"""The executor a command asks for: the local process pool, or Celery workers behind a broker
(checked to answer before anything is sent). Executors are context managers: ``with
make_executor(...) as executor:`` releases workers on every exit."""

from __future__ import annotations

from collections.abc import Callable

from evaluators.problem import ProblemSpec
from evolve.archive.store import Archive
from evolve.config import ExecutorConfig
from evolve.executors.base import Executor, ExecutorError


def make_executor(spec: ProblemSpec, workers: int, settings: ExecutorConfig | None = None,
                  archive: Archive | None = None, run_name: str = "",
                  note: Callable[[str], None] = lambda m: None, draw: int | None = None) -> Executor:
    """A Celery executor (``settings.kind == "celery"``) reads the run's draw from the archive,
    or uses ``draw`` when there is no run (`evolve baseline --executor celery`); a local one uses
    ``draw`` (None: the public draw). Raises ``ExecutorError`` when the broker does not answer."""
    if settings is not None and settings.kind == "celery":
        from evolve.executors.celery.app import BrokerUnreachable
        from evolve.executors.celery.executor import CeleryExecutor

        try:
            executor = CeleryExecutor(archive, run_name, settings, workers, note)
        except BrokerUnreachable as exc:
            raise ExecutorError(str(exc)) from None
        if not run_name:
            executor.draw = draw
        return executor
    from evolve.executors.local import LocalExecutor

    return LocalExecutor(workers, spec.limits.wall_seconds, spec.name, draw)
