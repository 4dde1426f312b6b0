"""The run's prompt directions (issue 20, prompt variants): the population in play, the choice of
one per proposal (at random, or by the bandit on the archive's record), and when and how the LLM
writes a new one. Pure choices live in evolve/search/variants.py."""

from __future__ import annotations

import random

from evolve.archive.events import direction_records, record_variant, search_events
from evolve.archive.store import Archive
from evolve.config import RunConfig
from evolve.prompts.builder import directions
from evolve.search.variants import (
    VariantRecord,
    clean_direction,
    pick_direction,
    population,
    variant_messages,
)


class Directions:
    def __init__(self, archive: Archive, run_id: int, cfg: RunConfig, goal: str):
        self.archive = archive
        self.run_id = run_id
        self.bandit = cfg.prompts.direction_choice == "bandit"
        self.every = cfg.prompts.direction_writing_interval if self.bandit else 0
        self.goal = goal  # "lowered" or "raised": what a better child did to the objective
        written = search_events(archive, run_id, "variant")
        self._written_at = written[-1].iteration if written else 0
        self._written = [e.text for e in written]  # read once; ``store`` keeps it current
        self._writing = False

    def population(self) -> list[str]:
        return population(directions(), self._written)

    def records(self) -> dict[str, VariantRecord]:
        with self.archive.engine.connect() as c:
            return direction_records(c, self.run_id)

    def choose(self, rng: random.Random) -> str:
        """The direction of the next compact prompt."""
        if not self.bandit:
            return rng.choice(directions())
        return pick_direction(self.population(), self.records(), rng)

    def for_full_prompt(self, rng: random.Random) -> str:
        """Full prompts end with a direction only under the bandit (their own text is the task)."""
        return self.choose(rng) if self.bandit else ""

    def due(self, iterations: int) -> bool:
        """Whether the next call should write a direction (``iterations`` started so far)."""
        return bool(self.every) and not self._writing and iterations - self._written_at >= self.every

    def request(self, iterations: int) -> list[dict[str, str]]:
        self._writing, self._written_at = True, iterations
        records = self.records()
        return variant_messages([records.get(d, VariantRecord(d, 0, 0)) for d in self.population()],
                                self.goal)

    def accept(self, reply: str | None) -> str | None:
        """The direction a reply wrote, cleaned; None when it is not a new one."""
        self._writing = False
        text = clean_direction(reply or "")
        return None if text is None or text in self.population() else text

    def store(self, text: str, iteration: int) -> None:
        record_variant(self.archive, self.run_id, iteration=iteration, text=text)
        self._written.append(text)

    def failed(self) -> None:
        self._writing = False
