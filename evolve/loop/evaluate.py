"""The evaluation step: a program sent to the executor and what its trusted outcome changes.

The outcome is recorded with the program's features and cell (offered as an elite of its
islands), the progress and the search state (island bests, plateau, Pareto fronts) are updated,
a new island best is queued for constant tuning (``tune``), and a failed child is guarded
(division by zero, math domain errors: no LLM call) or queued for a repair call while repairs pay.
"""

from __future__ import annotations

from evolve.archive.store import ChildDraft, ProgramView
from evolve.executors.base import EvalJob
from evolve.guards import guard_for
from evolve.loop.base import ControllerBase
from evolve.search.grid import placement

# a child failing like this gets one repair call; timeouts, crashes and forgeries do not
REPAIRABLE = frozenset({"load", "exception", "invalid"})
LLM_EDITS = frozenset({"diff", "rewrite", "function"})  # children of a proposal (not repairs,
# tunings or guards)


class Evaluations(ControllerBase):
    """Evaluations, guards and the repair queue (uses ``tune``'s ``_tune``)."""

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
