"""Prompt variants (issue 20, prompt co-evolution): the direction a prompt ends with ("combine two
inputs", "make one small change", ...) chosen by a bandit on how often its proposals beat their
parent, and new directions written by the LLM from the record of the others.

The population is the built-in directions (``prompts/templates/compact_directions.txt``) plus the
ones the run wrote (``search_events`` of kind ``variant``). Every proposal's direction is stored
with its iteration, so the record (and the bandit) is the archive's and survives resume. A written
direction is model output shown to later prompts: it is cut to one line of plain text.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

MAX_CHARS = 200  # a written direction is one sentence
MIN_USES = 2  # proposals with a direction before its record is trusted
POPULATION = 10  # directions in play at most: the built-in ones and the latest written ones


@dataclass(frozen=True)
class VariantRecord:
    text: str
    uses: int  # proposals decided with it
    improvements: int  # of which the child beat its parent


def pick_direction(population: list[str], records: dict[str, VariantRecord],
                   rng: random.Random) -> str:
    """A direction not tried enough yet (at random), else the best UCB1 score on improvements
    per proposal (ties at random)."""
    empty = VariantRecord("", 0, 0)
    untried = [d for d in population if records.get(d, empty).uses < MIN_USES]
    if untried:
        return rng.choice(untried)
    total = sum(records[d].uses for d in population)
    scores = {d: records[d].improvements / records[d].uses
              + math.sqrt(2 * math.log(max(total, 2)) / records[d].uses) for d in population}
    top = max(scores.values())
    return rng.choice([d for d in population if scores[d] == top])


def variant_messages(records: list[VariantRecord], goal: str) -> list[dict[str, str]]:
    """The request for one new direction, showing each direction's record (best first)."""
    shown = sorted(records, key=lambda r: (-(r.improvements / max(r.uses, 1)), -r.uses))
    lines = "\n".join(f"- {r.text} ({r.improvements} better programs from {r.uses} tries)"
                      for r in shown)
    return [{"role": "system", "content": "You write short instructions for a programmer who "
             "improves a scheduling or packing heuristic one change at a time."},
            {"role": "user", "content": f"These instructions were given with the program to "
             f"improve, and this is how often the change they led to {goal} the score:\n{lines}\n\n"
             "Write ONE new instruction in the style of the best ones but different from all of "
             "them: one sentence, at most 30 words, no code. Reply with the sentence only."}]


_CODE = re.compile(r"```|def |return |import ")


def clean_direction(reply: str) -> str | None:
    """The first sentence-like line of ``reply`` as plain text, or None if it is not one."""
    for line in reply.splitlines():
        text = re.sub(r"^[\s\-*\d.)\"']+", "", line).strip().strip("\"'")
        text = "".join(ch for ch in text if ch.isprintable())
        if len(text) >= 15 and not _CODE.search(text):
            if len(text) > MAX_CHARS:
                text = text[:MAX_CHARS].rsplit(" ", 1)[0] + "."
            return text
    return None


def population(builtin: list[str], written: list[str]) -> list[str]:
    """The directions in play: every built-in one and the latest written ones, distinct."""
    keep = max(0, POPULATION - len(builtin))
    latest = list(dict.fromkeys(w for w in reversed(written) if w not in builtin))[:keep]
    return builtin + latest[::-1]
