"""Constant tuning: the numeric constants of a new island best searched on the training set;
a setting that beats the program becomes its child (edit kind ``tune``), evaluated like any other.
One tuning runs at a time, so children keep a worker."""

from __future__ import annotations

from evolve.archive.store import ChildDraft, ProgramView
from evolve.executors.base import EvalJob
from evolve.loop.base import ControllerBase
from evolve.tuning import operator as tuning


class ConstantTuning(ControllerBase):
    """Tuning of new island bests (uses ``evaluate``'s ``_evaluate`` for the tuned child)."""

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
