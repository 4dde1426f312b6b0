"""The evolution controller: proposals and evaluations in flight, stop conditions, resume.

One ``Controller.run()`` drives a run until a stop condition holds. Proposals (select parent ->
prompt -> LLM -> edit) and evaluations (executor -> trusted verifier) run as asyncio tasks, up to
``proposals_in_flight`` and the executor's capacity. Each finished proposal is committed as one
iteration row together with its child program, so a SIGKILL loses at most the proposals still
waiting on the LLM; children stored but not yet evaluated stay ``pending`` and are evaluated on
resume. Graceful stops (iterations, budget, target) let in-flight work finish; Ctrl-C, SIGTERM and
the wall-time limit abandon it, leaving the archive consistent for ``evolve resume``.

The controller is one class in parts, each a module of its own: ``base`` (shared state,
``Progress``, task tracking), ``stop`` (the stop conditions), ``propose`` (what the
next LLM call asks), ``commit`` (the call and its iteration row), ``evaluate``
(evaluations, guards, repairs) and ``tune`` (constant tuning). This module drives the run:
start-up and resume, the starting programs, the scheduling loop and shut-down.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time

from evolve.executors.base import ExecutorError
from evolve.heartbeat import beat
from evolve.loop.base import Progress, RunFailed
from evolve.loop.commit import Commits
from evolve.loop.evaluate import Evaluations
from evolve.loop.propose import Proposals
from evolve.loop.stop import stop_reason, wait_timeout
from evolve.loop.tune import ConstantTuning
from evolve.starts import islands_of, resolve_starts
from evolve.stop import Stop

__all__ = ["Controller", "Progress", "RunFailed"]


class Controller(Proposals, Commits, Evaluations, ConstantTuning):
    """Drives one run of the archive's ``run_id`` to a stop condition (see the module docstring)."""

    # -- public ------------------------------------------------------------------------------
    @property
    def interrupted(self) -> bool:
        return self._interrupted is not None

    @property
    def fatal(self) -> str | None:
        """Why the run had to stop on an error (provider rejects requests, internal error)."""
        return self._fatal

    def interrupt(self, why: str = "interrupted (Ctrl-C)") -> None:
        self._interrupted = why
        self._wake.set()

    async def run(self) -> Stop:
        """Run to a stop condition; return it. The run row records status and reason."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.interrupt,
                                        "interrupted (Ctrl-C)" if sig == signal.SIGINT else "terminated")
            except (NotImplementedError, RuntimeError):  # not the main thread
                pass
        started = time.monotonic()
        self.llm.warm()  # litellm's import overlaps the seed's evaluation
        p = self.progress
        p.iterations = self.archive.iteration_count(self.run_id)
        p.cost = self.archive.total_cost(self.run_id)
        self._slot = p.iterations
        self.steps.resume(p.iterations)
        self._last_migration = self.archive.last_migration(self.run_id)
        self.rng = random.Random(self.cfg.seed * 1_000_003 + p.iterations)
        top = self.archive.top_programs(self.run_id, 1)
        if top:
            p.best_program, p.best_score = top[0]
        self._tuned = self.archive.tuned_parents(self.run_id)
        self.archive.set_run_status(self.run_id, "running")
        heartbeat = asyncio.ensure_future(beat(self.archive, self.run_id))
        try:
            try:
                await self._ensure_starts()
            except ExecutorError as exc:
                raise RunFailed(str(exc)) from None
            for prog in self.archive.pending_programs(self.run_id):
                self._start_evaluation(prog, (prog.island,))
            stop = await self._main(started)
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
            await self.llm.aclose()
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.remove_signal_handler(sig)
                except (NotImplementedError, RuntimeError):
                    pass
        self.archive.set_run_status(self.run_id, "finished" if stop.finished else "stopped",
                                    stop.message)
        self._emit()
        return stop

    # -- main loop ---------------------------------------------------------------------------
    async def _main(self, started: float) -> Stop:
        p = self.progress
        while True:
            reason = stop_reason(self.cfg.stop, p, self.steps, started, self._interrupted, self._fatal)
            if reason is None:
                while (len(self._proposals) < self.cfg.proposals_in_flight
                       and p.iterations + len(self._proposals) < self.cfg.stop.iterations):
                    self._start_proposal()
            elif not (self._proposals or self._evaluations or self._tunings) or reason.abandons:
                break
            self._emit()
            tasks = self._proposals | self._evaluations | self._tunings
            if not tasks:
                continue  # nothing in flight: the stop check above will end the loop
            self._wake.clear()
            waker = asyncio.ensure_future(self._wake.wait())
            timeout = wait_timeout(self.cfg.stop, started)
            await asyncio.wait(tasks | {waker}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            waker.cancel()
        await self._cancel_all()
        return reason

    async def _cancel_all(self) -> None:
        tasks = self._proposals | self._evaluations | self._tunings
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- starting programs -------------------------------------------------------------------
    async def _ensure_starts(self) -> None:
        """Store and evaluate the starting programs (the seed and/or baselines), each the first
        elite of its islands; islands whose start failed begin from the best start that passed."""
        starts = resolve_starts(self.spec, self.cfg.seeds)
        islands = self.cfg.search.islands
        ids = [self.archive.add_start(self.run_id, st.code, st.kind, st.label, i % islands)
               for i, st in enumerate(starts)]
        homes = [islands_of(i, len(starts), islands) for i in range(len(starts))]
        # two starts with the same code are one program: evaluated once, for all their islands
        union: dict[int, list[int]] = {}
        for pid, home in zip(ids, homes, strict=True):
            union.setdefault(pid, []).extend(home)
        pending = [self.archive.program(pid) for pid in union]
        await asyncio.gather(*(self._evaluate(v, tuple(union[v.id])) for v in pending
                               if v.status == "pending"))
        views = [self.archive.program(pid) for pid in ids]
        passed = [v for v in views if v.status == "ok"]
        for st, v in zip(starts, views, strict=True):
            if v.status != "ok" and passed:
                self._note(f"starting program {st.name} failed on the training set and is not a "
                           f"starting point: {str(v.error)[:200]}")
        if not passed:
            first = views[0]
            where = (f"problems/{self.spec.name}/initial.py" if starts[0].kind == "seed"
                     else f"problems/{self.spec.name}/baselines/{starts[0].label}.py")
            what = "the initial program" if starts[0].kind == "seed" else f"baseline {starts[0].name}"
            raise RunFailed(f"{what} of {self.spec.name} failed evaluation: {first.error} (fix {where})")
        best = max(passed, key=lambda v: v.combined_score)
        for v, home in zip(views, homes, strict=True):  # every island gets an elite
            elite = v if v.status == "ok" else best
            if elite.cell is not None:
                for island in home:
                    self.archive.offer_elite(self.run_id, island, elite.cell, elite.id,
                                             elite.combined_score)
