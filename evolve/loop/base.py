"""The controller's shared state and bookkeeping: progress, the tasks in flight, notes.

``ControllerBase`` holds what every part of ``evolve.loop.Controller`` reads and writes: the
archive, config, executor and LLM client, the ``Progress`` the CLI shows, the asyncio tasks in
flight (each tracked so that a task's crash stops the run), the queue of repairs and the search
state. The parts add the steps: ``propose`` (what the next LLM call asks), ``commit``
(the call and its iteration row), ``evaluate`` (evaluations, guards and repairs) and
``tune`` (constant tuning); ``evolve.loop`` drives the run.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from evaluators.problem import ProblemSpec
from evolve.archive.store import Archive
from evolve.config import RunConfig
from evolve.executors.base import Executor, ExecutorError
from evolve.llm.client import LlmClient
from evolve.llm.pool import ModelPool
from evolve.search.directions import Directions
from evolve.search.front_parents import FrontParents
from evolve.search.novelty import NoveltyIndex
from evolve.search.selection import Ratios, Stint
from evolve.search.steps import SearchSteps

log = logging.getLogger("evolve.run")


class RunFailed(Exception):
    """The run cannot go on (seed program broken, provider rejects every request, ...)."""


@dataclass
class Progress:
    """What the CLI shows; updated by the controller after every event."""

    iterations: int = 0
    target: int = 0
    best_score: float | None = None
    best_program: int | None = None
    cost: float = 0.0
    evaluated: int = 0
    failed: int = 0
    same: int = 0  # children that behaved exactly like their parent (not evaluated further)
    rejected: int = 0
    llm_errors: int = 0
    repairs: int = 0  # repair calls whose child was evaluated
    repaired: int = 0  # ... and passed
    guards: int = 0  # failed children guarded against division by zero etc. (no LLM call)
    guarded: int = 0  # ... whose guarded program passed
    tunings: int = 0
    tuned: int = 0  # tunings whose tuned program beat its parent
    restarts: int = 0  # islands restarted from the run's best after stagnating
    proposals_in_flight: int = 0
    evaluations_in_flight: int = 0
    messages: list[str] = field(default_factory=list)


class ControllerBase:
    """The state shared by the controller's parts, and the bookkeeping they all use."""

    rng: random.Random  # set by ``Controller.run`` (seeded by the run's seed and iterations so far)
    _last_migration: int  # set by ``Controller.run``: the iteration of the last migration

    def __init__(self, archive: Archive, run_id: int, run_name: str, spec: ProblemSpec,
                 cfg: RunConfig, executor: Executor, llm: LlmClient,
                 on_progress: Callable[[Progress], None] = lambda p: None):
        self.archive = archive
        self.run_id = run_id
        self.run_name = run_name
        self.spec = spec
        self.cfg = cfg
        self.executor = executor
        self.llm = llm
        self.pool = ModelPool(cfg.llm.models)
        self.on_progress = on_progress
        self.progress = Progress(target=cfg.stop.iterations)
        self.ratios = Ratios(cfg.search.fitness_ratio, cfg.search.elite_ratio,
                             cfg.search.random_ratio, cfg.search.novelty_bonus)
        self._proposals: set[asyncio.Task] = set()
        self._evaluations: set[asyncio.Task] = set()
        self._tunings: set[asyncio.Task] = set()
        self._tuning_slot = asyncio.Semaphore(1)  # one tuning at a time: children keep a worker
        self._repairs: deque[int] = deque()  # failed children waiting for their repair call
        self._repairs_paused = False  # repairs gave valid programs less often than proposals
        self._tuned: set[int] = set()  # programs tuned (or being tuned) in this run
        self._interrupted: str | None = None
        self._fatal: str | None = None
        self._wake = asyncio.Event()
        self._slot = 0
        self._stint: Stint | None = None
        threshold = cfg.hygiene.novelty_threshold
        self.novelty = NoveltyIndex(threshold) if threshold > 0 else None
        self._novelty_loaded = False
        self.steps = SearchSteps(archive, run_id, cfg)  # restarts, plateau, advice
        self.fronts = FrontParents(archive, run_id, spec, cfg.search.pareto_ratio)
        self.directions = Directions(archive, run_id, cfg, "lowered" if spec.objective.direction
                                     == "minimize" else "raised")

    def _emit(self) -> None:
        self.progress.proposals_in_flight = len(self._proposals)
        self.progress.evaluations_in_flight = len(self._evaluations)
        self.on_progress(self.progress)

    def _note(self, message: str) -> None:
        log.info(message)
        self.progress.messages.append(message)
        del self.progress.messages[:-20]

    def _track(self, bucket: set[asyncio.Task], coro) -> None:
        task = asyncio.ensure_future(coro)
        bucket.add(task)

        def done(t: asyncio.Task) -> None:
            bucket.discard(t)
            if not t.cancelled() and isinstance(t.exception(), ExecutorError):
                self._fatal = str(t.exception())
                self._note(self._fatal)
            elif not t.cancelled() and t.exception() is not None:
                exc = t.exception()
                log.error("task failed", exc_info=exc)
                self._fatal = f"internal error: {type(exc).__name__}: {exc} (traceback in the run log)"
                self._note(self._fatal)
            self._wake.set()

        task.add_done_callback(done)
