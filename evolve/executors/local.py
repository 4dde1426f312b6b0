"""Local executor: a pool of worker processes, each running trusted verifiers.

Workers are started with the ``spawn`` method (no inherited engine state). Each worker warms up
as it starts: it loads the problem's verifier and starts its sandbox template, all workers at
once when the executor is made, so the first evaluations do not pay for them in series. Spawned
workers would re-import the engine's ``__main__`` (the CLI: about 0.5 s of CPU per worker for
imports no job needs), so the pool starts them with ``__main__`` hidden; the initializer and the
jobs are functions of importable modules. (A fork server was measured too: its workers still
import the main module, and it gained nothing measurable here.) A worker dies with the engine
(parent-death signal). The candidate itself runs one level further down, in a sandbox child that
the verifier starts and kills on its deadline. As a second line of defence the executor gives
every job a guard timeout (the problem's wall limit plus a margin); a worker that overruns it is
killed with the whole pool, which is rebuilt, and the job is recorded as an executor timeout.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import signal
import sys
import types
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

from evaluators.base import EvalOutcome
from evaluators.jobs import run_job, verifier_for
from evolve.executors.base import EvalJob, Executor
from sandbox.session import template

GUARD_MARGIN_SECONDS = 30.0


PR_SET_PDEATHSIG = 1


def _start_worker(problem: str | None, engine_pid: int, draw: int | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the controller's to handle
    # a SIGKILLed engine takes its workers (and their sandboxes) with it; without this they would
    # wait forever, each holding the other's end of the pool's job queue
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != engine_pid:
        os._exit(0)  # the engine died before the line above
    if problem is None:
        return
    try:
        verifier_for(problem, draw)
        template()
    except Exception:  # the same error comes back from run_job, with its context
        pass


def _ready() -> None:
    """A no-op job: submitting one per worker makes the pool start every worker now."""


@contextmanager
def _main_hidden() -> Iterator[None]:
    """While a spawn-method pool launches its workers (on its first submits, in this thread), show
    it an empty ``__main__``, so the workers neither import nor re-run the engine's main module."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


class LocalExecutor(Executor):
    def __init__(self, workers: int, guard_seconds: float, problem: str | None = None,
                 draw: int | None = None):
        self.capacity = max(1, workers)
        self.guard_seconds = guard_seconds + GUARD_MARGIN_SECONDS
        self.problem = problem
        self.draw = draw
        self._pool: ProcessPoolExecutor | None = None
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        if problem is not None:
            self._get_pool()

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.capacity,
                                             mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_start_worker,
                                             initargs=(self.problem, os.getpid(), self.draw))
            with _main_hidden():
                for _ in range(self.capacity):
                    self._pool.submit(_ready)
        return self._pool

    def _reset_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        for proc in list(getattr(pool, "_processes", {}).values()):
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        pool.shutdown(wait=False, cancel_futures=True)

    def _slot(self, loop: asyncio.AbstractEventLoop) -> asyncio.Semaphore:
        """One slot per worker (per event loop): a job waits here, not in the pool's queue, so
        its guard timeout counts only the time a worker spends on it."""
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(self.capacity))
        return self._slots[1]

    async def evaluate(self, job: EvalJob) -> EvalOutcome:
        loop = asyncio.get_running_loop()
        async with self._slot(loop):
            return EvalOutcome.of(await self._run(loop, job))  # the worker's dict, as a record

    async def _run(self, loop: asyncio.AbstractEventLoop, job: EvalJob) -> dict:
        try:
            fut = loop.run_in_executor(self._get_pool(), run_job, {**job.to_dict(), "draw": self.draw})
            return await asyncio.wait_for(fut, timeout=self.guard_seconds * job.sessions)
        except TimeoutError:
            self._reset_pool()
            return _failure("executor", f"worker exceeded the guard timeout of "
                                        f"{self.guard_seconds * job.sessions:.0f}s; worker pool restarted")
        except BrokenProcessPool as exc:
            self._reset_pool()
            return _failure("executor", f"worker process died ({exc}); worker pool restarted")

    def close(self) -> None:
        self._reset_pool()


def _failure(kind: str, message: str) -> dict:
    return EvalOutcome(ok=False, feedback=message, error=message, error_kind=kind,
                       evaluator_version="n/a").to_dict()
