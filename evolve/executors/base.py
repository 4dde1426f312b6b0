"""The executor contract the loop depends on: submit an ``EvalJob``, await an outcome dict.

Any executor (local process pool, Celery on Redis) implements ``evaluate`` and ``close``; the loop
never knows which one it has. Outcomes are ``EvalOutcome`` records; they are dicts only while
they cross a process or Celery boundary (``evaluators.jobs.run_job`` returns one).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass

from evaluators.base import EvalOutcome


@dataclass(frozen=True)
class EvalJob:
    problem: str
    code: str
    set_name: str = "train"
    program_id: int | None = None
    run: str | None = None
    elite_islands: tuple[int, ...] = ()  # grids a passing program is offered to ((): its own)
    # (program id, gate fingerprint) of the program this one was derived from: the same replies
    # on the gate end the evaluation there ("same" behaviour)
    behaviour_of: tuple[int, str] | None = None
    # constant tuning: ``code`` is parameterised; score each setting in one session ("scores")
    settings: tuple[tuple[float, ...], ...] | None = None

    @property
    def sessions(self) -> int:
        """How many evaluations' worth of time the job may take."""
        return max(1, len(self.settings or ()))

    def to_dict(self) -> dict:
        data = asdict(self)
        data["set"] = data.pop("set_name")
        return data


class ExecutorError(Exception):
    """The executor cannot evaluate at all (broker gone, workers refuse); the run must stop."""


class Executor(ABC):
    capacity: int = 1
    # the run's draw of the problem's drawn sets (evaluators/draws.py), for every job it runs;
    # None: the public draw (`evolve baseline`, `evolve verify` without --draw)
    draw: int | None = None

    @abstractmethod
    async def evaluate(self, job: EvalJob) -> EvalOutcome:
        """Run the job; always return an outcome (errors become ``ok=False`` outcomes)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release workers."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
