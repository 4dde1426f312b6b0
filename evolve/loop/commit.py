"""One LLM call and what comes of it, committed.

Every attempt of the call is stored (prompt, reply, tokens, cost); the reply is applied as an
edit (a rejected one is an iteration too), a near-duplicate of a program of the island is turned
away, and the proposal is committed as one iteration row together with its child, after which
islands migrate and the search steps advise. A fresh child goes to evaluation.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from evolve.archive.store import ChildDraft, ProgramView
from evolve.config import ModelEntry
from evolve.edits import EditRejected, apply_reply
from evolve.llm.client import Attempt, LlmFailed
from evolve.llm.openai_compat import Shape
from evolve.loop.base import ControllerBase
from evolve.prompts.reply_shape import function_reply
from evolve.search.islands import migrate_ring
from evolve.search.novelty import NearDuplicate


class Commits(ControllerBase):
    """The LLM call of a proposal or repair and its iteration row (uses ``evaluate``'s
    ``_start_evaluation`` for a fresh child)."""

    @staticmethod
    def _shape(model: ModelEntry, code: str, focus: str | None) -> Shape:
        """A function rewrite's reply cap and stop; other prompts ask the model's defaults."""
        return function_reply(code, focus, model.max_tokens) if model.style == "compact" and focus \
            else Shape()

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
