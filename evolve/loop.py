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
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from evaluators.problem import ProblemSpec
from evolve.archive.events import model_records
from evolve.archive.store import Archive, ChildDraft, ProgramView
from evolve.config import REHEAT_CAP, REHEAT_WINDOW, ModelEntry, RunConfig
from evolve.edits import EditRejected, apply_reply, verbatim_copies
from evolve.executors.base import EvalJob, Executor, ExecutorError
from evolve.guards import guard_for
from evolve.heartbeat import beat
from evolve.llm.bandit import bandit_pick
from evolve.llm.client import Attempt, LlmClient, LlmFailed
from evolve.llm.openai_compat import Shape
from evolve.llm.pool import ModelPool
from evolve.prompts.builder import (
    build_compact_messages,
    build_messages,
    build_repair_messages,
    focus_for,
)
from evolve.prompts.reply_shape import function_reply
from evolve.search.directions import Directions
from evolve.search.front_parents import FrontParents
from evolve.search.grid import placement
from evolve.search.islands import island_for, migrate_ring
from evolve.search.novelty import NearDuplicate, NoveltyIndex
from evolve.search.selection import Ratios, Stint, choose_inspirations, choose_mate, choose_parent
from evolve.search.steps import SearchSteps
from evolve.starts import islands_of, resolve_starts
from evolve.stop import Stop
from evolve.tuning import operator as tuning

# a child failing like this gets one repair call; timeouts, crashes and forgeries do not
REPAIRABLE = frozenset({"load", "exception", "invalid"})
LLM_EDITS = frozenset({"diff", "rewrite", "function"})  # children of a proposal (not repairs,
# tunings or guards)

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
    def _stop_reason(self, started: float) -> Stop | None:
        stop, p = self.cfg.stop, self.progress
        if self._interrupted:
            return Stop("interrupted", self._interrupted)
        if self._fatal:
            return Stop("fatal", self._fatal)
        if stop.wall_seconds is not None and time.monotonic() - started >= stop.wall_seconds:
            return Stop("wall", f"wall-time limit of {stop.wall_seconds:g}s reached")
        if stop.budget_usd is not None and p.cost >= stop.budget_usd:
            return Stop("budget", f"budget of ${stop.budget_usd:g} spent (${p.cost:.4f})")
        if (stop.target_score is not None and p.best_score is not None
                and p.best_score >= stop.target_score):
            return Stop("target", f"target score {stop.target_score:g} reached "
                        f"(best {p.best_score:.6g})")
        if plateau := self.steps.plateau_reason(p.iterations):
            return Stop("plateau", plateau)
        if p.iterations >= stop.iterations:
            return Stop("iterations", f"reached the iteration limit ({stop.iterations})")
        return None

    async def _main(self, started: float) -> Stop:
        p = self.progress
        while True:
            reason = self._stop_reason(started)
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
            timeout = None
            if self.cfg.stop.wall_seconds is not None:
                timeout = max(0.0, self.cfg.stop.wall_seconds - (time.monotonic() - started))
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

    # -- proposals ---------------------------------------------------------------------------
    def _start_proposal(self) -> None:
        if self._repairs and not self._repair_pays():  # queued before repairs were found not to pay
            self._repairs.clear()
        if self._repairs:
            self._track(self._proposals, self._repair(self._repairs.popleft()))
            return
        if self.directions.due(self.progress.iterations + len(self._proposals)):
            self._track(self._proposals, self._write_direction())
            return
        island = island_for(self._slot // self.cfg.search.asks_per_parent, self.cfg.search.islands)
        self._slot += 1
        self._track(self._proposals, self._propose(island))

    async def _propose(self, island: int) -> None:
        if restarted := self.steps.before_proposal(island, self.progress.iterations):
            if self._stint is not None and self._stint.island == island:
                self._stint = None
            self.progress.restarts += 1
            self._note(restarted)
        parent, insp_ids, focus, mate = self._parent_for(island)
        inspirations = [self.archive.program(i) for i in insp_ids]
        failures = self.archive.failed_attempts(self.run_id, parent.id, 3)
        model = self._reheated(self._model(), parent.id)
        if model.style == "compact":
            edit_kind = "function"
            if focus is None:
                focus = focus_for(self.spec, parent.code, self.rng)
                self._stint = replace(self._stint, focus=focus)
            if self.cfg.hygiene.fresh_inspiration:
                inspirations = [p for p in inspirations if not self._copy_repeats(parent, p, focus)]
            direction = self.directions.choose(self.rng)
            messages = build_compact_messages(self.spec, parent, inspirations, failures,
                                              direction, self.cfg.prompts, focus,
                                              mate, self.steps.advice)
        else:
            edit_kind = "diff" if self.rng.random() < self.cfg.edits.diff_ratio else "rewrite"
            direction = self.directions.for_full_prompt(self.rng)
            messages = build_messages(self.spec, parent, inspirations, edit_kind, failures,
                                      self.cfg.prompts, mate, self.steps.advice, direction)
        if mate is not None:
            insp_ids, edit_kind = [mate.id], "crossover"
        await self._ask(model, messages, parent, island, insp_ids, edit_kind, focus,
                        mate.id if mate is not None else None, direction or None)

    def _parent_for(self, island: int) -> tuple[ProgramView, list[int], str | None, ProgramView | None]:
        """The parent, inspirations, focus function (None: not chosen yet) and second parent (a
        crossover's, else None) of the next proposal from ``island``: the last ones again while
        the island's stint of ``asks_per_parent`` asks lasts (the prompt then differs only in its
        tail), else a fresh choice."""
        stint = self._stint
        if stint is not None and stint.island == island and stint.left > 0:
            self._stint = replace(stint, left=stint.left - 1)
            mate = self.archive.program(stint.mate_id) if stint.mate_id is not None else None
            return self.archive.program(stint.parent_id), list(stint.insp_ids), stint.focus, mate
        s = self.cfg.search
        elites = self.archive.elites(self.run_id, island)
        on_front = self.fronts.choose(island, self.rng)
        parent = self.archive.program(on_front if on_front is not None else
                                      choose_parent(elites, self.rng, self.ratios)[0].program_id)
        top = self.archive.top_programs(self.run_id, s.top_inspirations + 1)
        insp_ids = choose_inspirations(parent.id, top, elites, self.rng, s.top_inspirations,
                                       s.diverse_inspirations)
        mate_id = None
        if s.crossover_ratio > 0 and self.rng.random() < s.crossover_ratio:
            others = [e for i in range(s.islands) if i != island
                      for e in self.archive.elites(self.run_id, i)]
            mate_id = choose_mate(parent.id, elites, others, self.rng)
        self._stint = Stint(island, parent.id, tuple(insp_ids), None, s.asks_per_parent - 1, mate_id)
        return parent, insp_ids, None, self.archive.program(mate_id) if mate_id is not None else None

    def _model(self) -> ModelEntry:
        """The pool's model for the next call: by weight, or by the bandit on the run's record."""
        if self.cfg.llm.choice == "bandit" and len(self.pool.models) > 1:
            return bandit_pick(self.pool.models, model_records(self.archive, self.run_id), self.rng)
        return self.pool.pick(self.rng)

    @staticmethod
    def _shape(model: ModelEntry, code: str, focus: str | None) -> Shape:
        """A function rewrite's reply cap and stop; other prompts ask the model's defaults."""
        return function_reply(code, focus, model.max_tokens) if model.style == "compact" and focus \
            else Shape()

    def _reheated(self, model: ModelEntry, parent_id: int) -> ModelEntry:
        """``model`` at a higher temperature for a parent whose latest proposals were repeats:
        a prompt that drew a repeat draws it again at the same temperature."""
        heat = self.cfg.hygiene.reheat * self.archive.repeats(self.run_id, parent_id, REHEAT_WINDOW)
        if heat <= 0 or model.temperature >= REHEAT_CAP:
            return model
        return model.model_copy(update={"temperature": min(model.temperature + heat, REHEAT_CAP)})

    def _copy_repeats(self, parent: ProgramView, other: ProgramView, focus: str) -> bool:
        """Whether a reply that copies ``other`` into ``parent`` would repeat a program of the run
        (small models copy the program shown as better when it does not fit the parent)."""
        return any(self.archive.knows_code(self.run_id, code) for code in
                   verbatim_copies(parent.code, other.code, focus, self.spec.entry,
                                   self.cfg.edits.max_code_chars))

    async def _repair(self, failed_id: int) -> None:
        """One repair call for a child that failed: its code and error, fix one function."""
        failed = self.archive.program(failed_id)
        model = self._model()
        messages, target = build_repair_messages(self.spec, failed, model.style == "compact",
                                                 self.cfg.prompts)
        await self._ask(model, messages, failed, failed.island, [], "repair", target)

    def _recorder(self, proposal: str, messages: list[dict[str, str]]) -> Callable[[Attempt], None]:
        """What stores each attempt of one LLM call (prompt, reply, tokens, cost, latency)."""
        def record(a: Attempt) -> None:
            self.archive.record_llm_call(
                self.run_id, proposal=proposal, attempt=a.attempt, model=a.model,
                messages=messages, reply=a.reply, prompt_tokens=a.prompt_tokens,
                completion_tokens=a.completion_tokens, cost=a.cost, cost_known=a.cost_known,
                latency=a.latency, error=a.error, seed=a.seed)
            self.progress.cost += a.cost
            if a.error:
                self._note(f"LLM attempt {a.attempt} failed: {a.error}")
        return record

    def _seeds(self) -> Callable[[], int] | None:
        return (lambda: self.rng.getrandbits(31)) if self.cfg.hygiene.request_seed else None

    async def _write_direction(self) -> None:
        """One LLM call that writes a new prompt direction from the others' record; it is an
        iteration of its own (outcome ``variant``, or rejected when the reply is not a new one)."""
        messages = self.directions.request(self.progress.iterations + len(self._proposals))
        model, proposal = self._model(), uuid.uuid4().hex
        common = dict(proposal=proposal, island=0, parent_id=None, inspiration_ids=[],
                      model=model.name, edit_kind="variant", child=None)
        try:
            reply = await self.llm.complete(model, messages, self._recorder(proposal, messages),
                                            self._seeds(), Shape())
        except LlmFailed as exc:
            self.directions.failed()
            self._commit(**common, outcome="llm_error", reason=str(exc))
            self.progress.llm_errors += 1
            return
        text = self.directions.accept(reply)
        if text is None:
            self._commit(**common, outcome="rejected", reason="not a new one-line direction")
            return
        self._commit(**common, outcome="variant", reason=None)
        self.directions.store(text, self.progress.iterations)
        self._note(f"new prompt direction: {text}")

    async def _ask(self, model: ModelEntry, messages: list[dict[str, str]], parent: ProgramView,
                   island: int, insp_ids: list[int], edit_kind: str, focus: str | None,
                   mate_id: int | None = None, direction: str | None = None) -> None:
        """One LLM call and what came of it: an iteration row, and a child to evaluate (of
        ``parent`` and, for a crossover, ``mate_id``)."""
        proposal = uuid.uuid4().hex
        common = dict(proposal=proposal, island=island, parent_id=parent.id,
                      inspiration_ids=insp_ids, model=model.name, edit_kind=edit_kind,
                      direction=direction)
        try:
            reply = await self.llm.complete(model, messages, self._recorder(proposal, messages),
                                            self._seeds(), self._shape(model, parent.code, focus))
        except LlmFailed as exc:
            self._commit(**common, outcome="llm_error", reason=str(exc), child=None)
            self.progress.llm_errors += 1
            if exc.fatal:
                self._fatal = f"the LLM provider rejected the request: {exc}"
            return
        try:
            edit = apply_reply(reply, parent.code, self.spec.entry, self.cfg.edits.max_code_chars,
                               focus=focus, packages=self.spec.imports)
        except EditRejected as exc:
            self._commit(**common, outcome="rejected", reason=exc.reason, child=None)
            self.progress.rejected += 1
            self._note(f"reply rejected: {exc.reason}")
            return
        kind = edit_kind if edit_kind in ("repair", "crossover") else edit.kind
        common["edit_kind"] = kind
        near = self._near_duplicate(island, edit.code) if kind != "repair" else None
        if near is not None:  # a repair's small fix of its failing program is the point of it
            self._commit(**common, outcome="duplicate", reason=near.reason(self.novelty.threshold),
                         child=None)
            return
        child = ChildDraft(code=edit.code, parent_id=parent.id, parent2_id=mate_id,
                           generation=parent.generation + 1, island=island, edit_kind=kind)
        child_id, fresh = self._commit(**common, outcome="child", reason=None, child=child)
        if fresh and child_id is not None:
            if self.novelty is not None:
                self.novelty.add(child_id, island, edit.code)
            self._start_evaluation(self.archive.program(child_id), (island,))

    def _near_duplicate(self, island: int, code: str) -> NearDuplicate | None:
        """A program of ``island`` that ``code`` nearly repeats (novelty rejection on), else None."""
        if self.novelty is None:
            return None
        if not self._novelty_loaded:  # every program so far, resumed runs' included
            for pid, isl, prog_code in self.archive.program_codes(self.run_id):
                self.novelty.add(pid, isl, prog_code)
            self._novelty_loaded = True
        return self.novelty.near(island, code)

    def _commit(self, *, child: ChildDraft | None, outcome: str, **fields: object) -> tuple[int | None, bool]:
        number, child_id, fresh = self.archive.commit_iteration(
            self.run_id, outcome=outcome, child=child, normalised=self.cfg.hygiene.dedupe, **fields)
        self.progress.iterations += 1
        if number - self._last_migration >= self.cfg.search.migration_interval:
            moves = migrate_ring(self.archive, self.run_id, self.cfg.search.islands)
            self.archive.set_last_migration(self.run_id, number)
            self._last_migration = number
            if moves:
                self._note(f"migration after iteration {number}: {len(moves)} elites moved")
        if advised := self.steps.after_iteration(number):
            self._note(advised)
        return child_id, fresh

    # -- evaluations -------------------------------------------------------------------------
    def _start_evaluation(self, prog: ProgramView, islands: tuple[int, ...]) -> None:
        self._track(self._evaluations, self._evaluate(prog, islands))

    def _behaviour_of(self, prog: ProgramView) -> tuple[int, str] | None:
        """The parent a child must differ from on the quick check: an LLM child's passing parent."""
        if not self.cfg.hygiene.same_behaviour or prog.edit_kind not in LLM_EDITS or prog.parent_id is None:
            return None
        parent = self.archive.program(prog.parent_id)
        if parent.status != "ok" or not parent.fingerprint:
            return None
        return parent.id, parent.fingerprint

    async def _evaluate(self, prog: ProgramView, islands: tuple[int, ...]) -> None:
        before = [self.archive.island_best(self.run_id, i) for i in islands]
        out = await self.executor.evaluate(EvalJob(self.spec.name, prog.code, "train", prog.id,
                                                   self.run_name, tuple(islands),
                                                   self._behaviour_of(prog)))
        features, cell = placement(prog.code, out, self.spec.features)
        self.archive.record_evaluation(prog.id, set_name="train",
                                       evaluator_version=out.evaluator_version,
                                       outcome=out, features=features, cell=cell,
                                       elite_islands=islands)
        p = self.progress
        p.evaluated += 1
        if prog.edit_kind == "repair":
            p.repairs += 1
            p.repaired += out.ok
        p.guarded += prog.edit_kind == "guard" and out.ok
        if out.error_kind == "same":
            p.same += 1
            self._note(f"program {prog.id} behaves exactly like its parent {prog.parent_id} on the "
                       "quick check; not evaluated further")
            return
        if not out.ok:
            p.failed += 1
            self._note(f"program {prog.id} failed: {str(out.error)[:200]}")
            if self.cfg.repair.enabled and out.error_kind in REPAIRABLE:
                await self._after_failure(prog, out.error or "", islands)
            return
        score = out.combined_score
        run_best = p.best_score is None or score > p.best_score
        if run_best:
            p.best_score, p.best_program = score, prog.id
        self.steps.scored(islands, before, score, run_best, p.iterations)
        self.fronts.scored(prog.id, islands, score, out.metrics)
        if prog.edit_kind == "tune" and prog.parent_id is not None:
            parent = self.archive.program(prog.parent_id)
            p.tuned += parent.combined_score is not None and score > parent.combined_score
        new_best = any(b is None or score > b for b in before)
        if self.cfg.tuning.enabled and new_best and prog.edit_kind != "tune" and prog.id not in self._tuned:
            self._tuned.add(prog.id)
            self._track(self._tunings, self._tune(self.archive.program(prog.id)))

    async def _after_failure(self, prog: ProgramView, error: str, islands: tuple[int, ...]) -> None:
        """A failed child of a proposal or a repair that a guard can fix (division by zero, math
        domain error) is guarded and evaluated (no LLM call); a failed child of a proposal, or a
        failed guard of one, gets a repair call instead."""
        origin = prog.edit_kind
        if origin == "guard" and prog.parent_id is not None:
            origin = self.archive.program(prog.parent_id).edit_kind
        guarded = guard_for(self.spec.entry, prog.code, error) if prog.edit_kind != "guard" else None
        if guarded is not None and prog.edit_kind in LLM_EDITS | {"repair"}:
            draft = ChildDraft(code=guarded, parent_id=prog.id, parent2_id=None,
                               generation=prog.generation + 1, island=prog.island, edit_kind="guard")
            child_id, fresh = self.archive.add_program(self.run_id, draft, self.progress.iterations,
                                                       self.cfg.hygiene.dedupe)
            if fresh:
                self.progress.guards += 1
                self._note(f"program {prog.id}: guarded against division by zero and math domain "
                           f"errors; evaluating program {child_id}")
                await self._evaluate(self.archive.program(child_id), islands)
                return
        if origin in LLM_EDITS and self._repair_pays():
            self._repairs.append(prog.id)

    def _repair_pays(self) -> bool:
        """Whether a repair call is worth a proposal call here (say so when that changes)."""
        trials = self.cfg.repair.trials
        if trials is None:
            return True
        calls = self.archive.call_yield(self.run_id)
        pays = calls.repair_pays(trials)
        if pays == self._repairs_paused:
            self._repairs_paused = not pays
            self._note(f"repair calls {'paused' if not pays else 'resumed'}: {calls.repair_valid} of "
                       f"{calls.repair_calls} gave a valid program, fresh proposals "
                       f"{calls.proposal_valid} of {calls.proposal_calls}")
        return pays

    # -- constant tuning ---------------------------------------------------------------------
    async def _tune(self, prog: ProgramView) -> None:
        """Tune the numeric constants of a new island best on the training set; a better setting
        becomes a child (edit kind ``tune``) evaluated like any other."""
        cfg = self.cfg.tuning
        plan = tuning.plan(prog.code, cfg.max_params, self.spec.entry)
        if plan is None:
            return
        self.progress.tunings += 1

        async def score(settings: list[list[float]]) -> list[float | None]:
            out = await self.executor.evaluate(EvalJob(
                self.spec.name, plan.code, "train", settings=tuple(tuple(x) for x in settings)))
            return list(out.scores) if isinstance(out.scores, list) else [None] * len(settings)

        async with self._tuning_slot:
            found = await tuning.search(plan, score, cfg.budget, cfg.batch,
                                        seed=self.cfg.seed * 1_000_003 + prog.id)
        if found is None or prog.combined_score is None or found.score <= prog.combined_score:
            self._note(f"tuning program {prog.id}: no setting of its {len(plan.literals)} constants "
                       "beat it on the training set")
            return
        code = tuning.apply(prog.code, plan, found.values)
        draft = ChildDraft(code=code, parent_id=prog.id, parent2_id=None,
                           generation=prog.generation + 1, island=prog.island, edit_kind="tune",
                           params=tuning.params_record(plan, found.values))
        child_id, fresh = self.archive.add_program(self.run_id, draft, self.progress.iterations,
                                                   self.cfg.hygiene.dedupe)
        if fresh:
            self._note(f"tuning program {prog.id}: {len(plan.literals)} constants tuned "
                       f"({found.score:.6g} vs {prog.combined_score:.6g} on the training set); "
                       f"evaluating program {child_id}")
            await self._evaluate(self.archive.program(child_id), (prog.island,))
