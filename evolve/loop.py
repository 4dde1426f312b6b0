"""The evolution controller: proposals and evaluations in flight, stop conditions, resume.

One ``Controller.run()`` drives a run until a stop condition holds. Proposals (select parent ->
prompt -> LLM -> edit) and evaluations (executor -> trusted verifier) run as asyncio tasks, up to
``proposals_in_flight`` and the executor's capacity. Each finished proposal is committed as one
iteration row together with its child program, so a SIGKILL loses at most the proposals still
waiting on the LLM; children stored but not yet evaluated stay ``pending`` and are evaluated on
resume. Graceful stops (iterations, budget, target) let in-flight work finish; Ctrl-C, SIGTERM and
the wall-time limit abandon it, leaving the archive consistent for ``evolve resume``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from evolve.archive.store import Archive, ChildDraft
from evolve.config import RunConfig
from evolve.edits import EditRejected, apply_reply
from evolve.executors.base import EvalJob, Executor, ExecutorError
from evolve.llm.client import Attempt, LlmClient, LlmFailed
from evolve.llm.pool import ModelPool
from evolve.problem import ProblemSpec
from evolve.prompts.builder import build_compact_messages, build_messages, directions
from evolve.search.grid import cell_key, feature_values
from evolve.search.islands import island_for, migrate_ring
from evolve.search.selection import Ratios, choose_inspirations, choose_parent

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
    rejected: int = 0
    llm_errors: int = 0
    proposals_in_flight: int = 0
    evaluations_in_flight: int = 0
    messages: list[str] = field(default_factory=list)


class Controller:
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
        self._interrupted: str | None = None
        self._fatal: str | None = None
        self._wake = asyncio.Event()
        self._slot = 0

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

    async def run(self) -> str:
        """Run to a stop condition; return the reason. The run row records status and reason."""
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
        self._last_migration = self.archive.last_migration(self.run_id)
        self.rng = random.Random(self.cfg.seed * 1_000_003 + p.iterations)
        top = self.archive.top_programs(self.run_id, 1)
        if top:
            p.best_program, p.best_score = top[0]
        try:
            try:
                await self._ensure_seed()
            except ExecutorError as exc:
                raise RunFailed(str(exc)) from None
            for prog in self.archive.pending_programs(self.run_id):
                self._start_evaluation(prog.id, prog.code, prog.island)
            reason = await self._main(started)
        finally:
            await self.llm.aclose()
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.remove_signal_handler(sig)
                except (NotImplementedError, RuntimeError):
                    pass
        finished = reason.startswith("reached the iteration limit")
        self.archive.set_run_status(self.run_id, "finished" if finished else "stopped", reason)
        self._emit()
        return reason

    # -- main loop ---------------------------------------------------------------------------
    def _stop_reason(self, started: float) -> str | None:
        stop, p = self.cfg.stop, self.progress
        if self._interrupted:
            return self._interrupted
        if self._fatal:
            return self._fatal
        if stop.wall_seconds is not None and time.monotonic() - started >= stop.wall_seconds:
            return f"wall-time limit of {stop.wall_seconds:g}s reached"
        if stop.budget_usd is not None and p.cost >= stop.budget_usd:
            return f"budget of ${stop.budget_usd:g} spent (${p.cost:.4f})"
        if (stop.target_score is not None and p.best_score is not None
                and p.best_score >= stop.target_score):
            return f"target score {stop.target_score:g} reached (best {p.best_score:.6g})"
        if p.iterations >= stop.iterations:
            return f"reached the iteration limit ({stop.iterations})"
        return None

    async def _main(self, started: float) -> str:
        p = self.progress
        while True:
            reason = self._stop_reason(started)
            if reason is None:
                while (len(self._proposals) < self.cfg.proposals_in_flight
                       and p.iterations + len(self._proposals) < self.cfg.stop.iterations):
                    self._start_proposal()
            elif not (self._proposals or self._evaluations) or self._abandons(reason):
                break
            self._emit()
            tasks = self._proposals | self._evaluations
            if not tasks:
                continue  # nothing in flight: the stop check above will end the loop
            self._wake.clear()
            waker = asyncio.ensure_future(self._wake.wait())
            timeout = None
            if self.cfg.stop.wall_seconds is not None:
                timeout = max(0.0, self.cfg.stop.wall_seconds - (time.monotonic() - started))
            await asyncio.wait(tasks | {waker}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            waker.cancel()
        await self._cancel_all()
        return reason

    def _abandons(self, reason: str) -> bool:
        return reason == self._interrupted or reason.startswith("wall-time") or reason == self._fatal

    async def _cancel_all(self) -> None:
        tasks = self._proposals | self._evaluations
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

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

    # -- seed --------------------------------------------------------------------------------
    async def _ensure_seed(self) -> None:
        seed_id = self.archive.add_seed(self.run_id, self.spec.initial_code)
        seed = self.archive.program(seed_id)
        if seed.status == "pending":
            await self._evaluate(seed_id, seed.code, island=None)
            seed = self.archive.program(seed_id)
        if seed.status != "ok":
            raise RunFailed(f"the initial program of {self.spec.name} failed evaluation: "
                            f"{seed.error} (fix problems/{self.spec.name}/initial.py)")

    # -- proposals ---------------------------------------------------------------------------
    def _start_proposal(self) -> None:
        island = island_for(self._slot, self.cfg.search.islands)
        self._slot += 1
        self._track(self._proposals, self._propose(island))

    async def _propose(self, island: int) -> None:
        s, ed = self.cfg.search, self.cfg.edits
        elites = self.archive.elites(self.run_id, island)
        pick, _mode = choose_parent(elites, self.rng, self.ratios)
        parent = self.archive.program(pick.program_id)
        top = self.archive.top_programs(self.run_id, s.top_inspirations + 1)
        insp_ids = choose_inspirations(parent.id, top, elites, self.rng, s.top_inspirations,
                                       s.diverse_inspirations)
        inspirations = [self.archive.program(i) for i in insp_ids]
        failures = self.archive.failed_attempts(self.run_id, parent.id, 3)
        model = self.pool.pick(self.rng)
        if model.style == "compact":
            edit_kind = "function"
            messages = build_compact_messages(self.spec, parent, inspirations, failures,
                                              self.rng.choice(directions()))
        else:
            edit_kind = "diff" if self.rng.random() < ed.diff_ratio else "rewrite"
            messages = build_messages(self.spec, parent, inspirations, edit_kind, failures)
        proposal = uuid.uuid4().hex

        def record(a: Attempt) -> None:
            self.archive.record_llm_call(
                self.run_id, proposal=proposal, attempt=a.attempt, model=a.model,
                messages=messages, reply=a.reply, prompt_tokens=a.prompt_tokens,
                completion_tokens=a.completion_tokens, cost=a.cost, cost_known=a.cost_known,
                latency=a.latency, error=a.error)
            self.progress.cost += a.cost
            if a.error:
                self._note(f"LLM attempt {a.attempt} failed: {a.error}")

        common = dict(proposal=proposal, island=island, parent_id=parent.id,
                      inspiration_ids=insp_ids, model=model.name, edit_kind=edit_kind)
        try:
            reply = await self.llm.complete(model, messages, record)
        except LlmFailed as exc:
            self._commit(**common, outcome="llm_error", reason=str(exc), child=None)
            self.progress.llm_errors += 1
            if exc.fatal:
                self._fatal = f"the LLM provider rejected the request: {exc}"
            return
        try:
            edit = apply_reply(reply, parent.code, self.spec.entry, ed.max_code_chars,
                               focus=(self.spec.focus or self.spec.entry) if edit_kind == "function"
                               else None)
        except EditRejected as exc:
            self._commit(**common, outcome="rejected", reason=exc.reason, child=None)
            self.progress.rejected += 1
            self._note(f"reply rejected: {exc.reason}")
            return
        common["edit_kind"] = edit.kind
        child = ChildDraft(code=edit.code, parent_id=parent.id, parent2_id=None,
                           generation=parent.generation + 1, island=island)
        child_id, fresh = self._commit(**common, outcome="child", reason=None, child=child)
        if fresh and child_id is not None:
            self._start_evaluation(child_id, edit.code, island)

    def _commit(self, *, child: ChildDraft | None, outcome: str, **fields: object) -> tuple[int | None, bool]:
        number, child_id, fresh = self.archive.commit_iteration(self.run_id, outcome=outcome,
                                                                child=child, **fields)
        self.progress.iterations += 1
        if number - self._last_migration >= self.cfg.search.migration_interval:
            moves = migrate_ring(self.archive, self.run_id, self.cfg.search.islands)
            self.archive.set_last_migration(self.run_id, number)
            self._last_migration = number
            if moves:
                self._note(f"migration after iteration {number}: {len(moves)} elites moved")
        return child_id, fresh

    # -- evaluations -------------------------------------------------------------------------
    def _start_evaluation(self, program_id: int, code: str, island: int | None) -> None:
        self._track(self._evaluations, self._evaluate(program_id, code, island))

    async def _evaluate(self, program_id: int, code: str, island: int | None) -> None:
        islands = range(self.cfg.search.islands) if island is None else [island]
        out = await self.executor.evaluate(EvalJob(self.spec.name, code, "train", program_id,
                                                   self.run_name, tuple(islands)))
        features = cell = None
        if out["ok"]:
            features = feature_values(code, out["metrics"], self.spec.features)
            cell = cell_key(features, self.spec.features)
        self.archive.record_evaluation(program_id, set_name="train",
                                       evaluator_version=out.get("evaluator_version", "unknown"),
                                       outcome=out, features=features, cell=cell,
                                       elite_islands=islands)
        p = self.progress
        p.evaluated += 1
        if not out["ok"]:
            p.failed += 1
            self._note(f"program {program_id} failed: {str(out['error'])[:200]}")
            return
        score = out["combined_score"]
        if p.best_score is None or score > p.best_score:
            p.best_score, p.best_program = score, program_id
