"""The proposal step: what the next LLM call asks, and of which model.

A queued repair goes first, then a prompt direction when one is due, else a proposal from the
next island: its parent (kept for a stint of ``asks_per_parent`` asks), inspirations, crossover
mate and focus function, the model (by weight or bandit, reheated for a parent whose proposals
repeat) and the prompt. The call itself and what comes of it are ``commit``'s.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from evolve.archive.events import model_records
from evolve.archive.store import ProgramView
from evolve.config import REHEAT_CAP, REHEAT_WINDOW, ModelEntry
from evolve.edits import verbatim_copies
from evolve.llm.bandit import bandit_pick
from evolve.llm.client import LlmFailed
from evolve.llm.openai_compat import Shape
from evolve.loop.base import ControllerBase
from evolve.prompts.builder import (
    build_compact_messages,
    build_messages,
    build_repair_messages,
    focus_for,
)
from evolve.search.islands import island_for
from evolve.search.selection import Stint, choose_inspirations, choose_mate, choose_parent


class Proposals(ControllerBase):
    """The next proposal, repair or direction call, prepared and started as a task (uses
    ``commit``'s ``_ask``, ``_commit``, ``_recorder`` and ``_seeds``, and ``evaluate``'s
    ``_repair_pays``)."""

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
