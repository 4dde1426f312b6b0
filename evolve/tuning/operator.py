"""Constant tuning as an evolution operator: plan it for a program, run the search, apply it.

``plan`` finds a program's tunable literals (``literals.find_tunable``) and parameterises it;
``search`` drives the optimiser (``optimiser.ConstantTuner``), scoring each batch of settings through
a caller-supplied coroutine (the controller sends one executor job per batch: one warm sandbox
session scores the whole batch on the training set); ``apply`` writes the best setting back into
the program's text. The controller stores the result as a child with edit kind ``tune``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from evolve.tuning.literals import Literal, find_tunable, parameterise, settle, substitute
from evolve.tuning.optimiser import ConstantTuner


@dataclass(frozen=True)
class Plan:
    literals: tuple[Literal, ...]
    code: str  # the program with its literals as parameters (``_evolve_set_params``)

    @property
    def start(self) -> list[float]:
        return [lit.value for lit in self.literals]


@dataclass(frozen=True)
class Found:
    values: tuple[float, ...]
    score: float


def plan(code: str, max_params: int, entry: str | None = None) -> Plan | None:
    """The tuning plan of ``code``, or None when it has no tunable literal."""
    literals = find_tunable(code, max_params, entry)
    if not literals:
        return None
    return Plan(tuple(literals), parameterise(code, literals))


async def search(plan: Plan, score: Callable[[list[list[float]]], Awaitable[list[float | None]]],
                 budget: int, batch: int, seed: int) -> Found | None:
    """Ask the optimiser for batches until ``budget`` settings are scored; the best setting that
    scored (None if none did)."""
    opt = ConstantTuner(plan.start, [lit.is_int for lit in plan.literals], budget=budget, batch=batch,
                        seed=seed)
    while True:
        settings = opt.ask()
        if not settings:
            break
        opt.tell(settings, await score(settings))
    values, value = opt.best()
    return None if value is None else Found(tuple(values), value)


def apply(code: str, plan: Plan, values: tuple[float, ...]) -> str:
    return substitute(code, plan.literals, values)


def params_record(plan: Plan, values: tuple[float, ...]) -> dict:
    """What the archive keeps of a tuning: each constant's line, old and new value."""
    return {"constants": [{"line": lit.lineno, "from": lit.value,
                           "to": settle(v, lit.is_int, lit.value)}
                          for lit, v in zip(plan.literals, values, strict=True)]}
