"""The search's own steps between proposals: restarting a stagnating island from the run's best,
stopping on a plateau, and writing advice on recent iterations for later prompts (issue 20).

The controller calls ``before_proposal``, ``after_iteration`` and ``scored``; everything these
steps change is written to the archive (``search_events``, the elites), and ``resume`` reads back
what a resumed run needs.
"""

from __future__ import annotations

from evolve.archive.events import range_outcomes, record_advice, restart_island, search_events
from evolve.archive.store import Archive
from evolve.config import RunConfig
from evolve.search.advice import Change, summarise
from evolve.search.stagnation import Stagnation


class SearchSteps:
    def __init__(self, archive: Archive, run_id: int, cfg: RunConfig):
        self.archive = archive
        self.run_id = run_id
        self.restart_after = cfg.search.stagnation_iterations
        self.advice_interval = cfg.prompts.advice_interval
        self.stagnation = Stagnation(self.restart_after, cfg.stop.plateau_iterations)
        self.advice = ""  # the latest advice, shown in prompts
        self._advised_to = 0  # the last iteration it covers

    def resume(self, iterations: int) -> None:
        """Counts start again from ``iterations``; the latest advice is shown again."""
        self.stagnation.run_improved(iterations)
        if given := search_events(self.archive, self.run_id, "advice"):
            self.advice, self._advised_to = given[-1].text, given[-1].last_iteration or 0

    def plateau_reason(self, iterations: int) -> str | None:
        return self.stagnation.plateau_reason(iterations)

    def scored(self, islands: tuple[int, ...], before: list[float | None], score: float,
               run_best: bool, iterations: int) -> None:
        """A program scored ``score`` on ``islands`` (whose bests were ``before``)."""
        if run_best:
            self.stagnation.run_improved(iterations)
        for island, b in zip(islands, before, strict=True):
            if b is None or score > b:
                self.stagnation.island_improved(island)

    def before_proposal(self, island: int, iterations: int) -> str | None:
        """Count a proposal from ``island``; restart the island from the run's best program if it
        stagnated (unless it holds that program). Returns what was done, or None."""
        if not self.stagnation.proposed(island):
            return None
        top = self.archive.top_programs(self.run_id, 1)
        own = self.archive.island_best(self.run_id, island)
        if not top or (own is not None and own >= top[0][1]):
            return None
        best = self.archive.program(top[0][0])
        if best.cell is None or best.combined_score is None:
            return None
        why = (f"island {island}: no better island best in {self.restart_after} proposals (island "
               f"best {'none' if own is None else f'{own:.6g}'}); restarted from program {best.id} "
               f"({best.combined_score:.6g})")
        restart_island(self.archive, self.run_id, island=island, iteration=iterations,
                       program_id=best.id, cell=best.cell, score=best.combined_score, why=why)
        return why

    def after_iteration(self, number: int) -> str | None:
        """Every ``advice_interval`` iterations, summarise the ones since the last advice (up to
        the first whose program is still being evaluated). Returns a note when advice was written."""
        if not self.advice_interval or number - self._advised_to < self.advice_interval:
            return None
        first = self._advised_to
        outcomes = range_outcomes(self.archive, self.run_id, first, number)
        waiting = [it for pid, it in outcomes.programs if self.archive.program(pid).status == "pending"]
        last = min(waiting, default=number + 1) - 1
        if last <= first:
            return None
        if last < number:  # the counts stop before the first program still being evaluated
            outcomes = range_outcomes(self.archive, self.run_id, first, last)
        changes = []
        for pid, _ in outcomes.programs:
            prog = self.archive.program(pid)
            changes.append(Change(prog, self.archive.program(prog.parent_id)
                                  if prog.parent_id is not None else None))
        self._advised_to = last
        text = summarise(first, last, changes, outcomes)
        if not text:
            return None
        record_advice(self.archive, self.run_id, iteration=number, first=first + 1, last=last, text=text)
        self.advice = text
        return f"advice for later prompts from iterations {first + 1}-{last}"
