"""The policy's reply, parsed and validated strictly: ids to admit, ids to preempt, a prefill budget.

A reply is a list of request ids to admit (in order), or a dict with only the keys ``admit``
(list of ids), ``preempt`` (list of ids) and ``prefill_budget`` (int). Admitted ids must be
waiting, preempted ids running; ids are ints (never bools), no duplicates, no id both admitted and
preempted. Anything else (metrics, clocks, lengths, unknown keys, floats, strings) raises
``InvalidOutput`` naming what was wrong and what is expected.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

from evaluators.base import InvalidOutput

KEYS = ("admit", "preempt", "prefill_budget")
EXPECTED = "a list of waiting request ids, or a dict with keys admit / preempt / prefill_budget"


@dataclass(frozen=True)
class Decision:
    admit: tuple[int, ...] = ()
    preempt: tuple[int, ...] = ()
    prefill_budget: int | None = None


def clip(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _ids(value: object, what: str, pool: Container[int], pool_name: str, when: str) -> tuple[int, ...]:
    if type(value) is not list:
        raise InvalidOutput(f"schedule() at {when}: {what} must be a list of int request ids, got "
                            f"{type(value).__name__} {clip(value)}")
    seen: set[int] = set()
    for rid in value:
        if type(rid) is not int:
            raise InvalidOutput(f"schedule() at {when}: {what} holds {type(rid).__name__} {clip(rid)}; "
                                "request ids are ints (not bools, floats or strings)")
        if rid in seen:
            raise InvalidOutput(f"schedule() at {when}: request {rid} appears twice in {what}")
        if rid not in pool:
            raise InvalidOutput(f"schedule() at {when}: request {rid} in {what} is not {pool_name}; "
                                f"only ids from state['{pool_name}'] may be listed there")
        seen.add(rid)
    return tuple(value)


def parse_reply(reply: object, waiting: Container[int], running: Container[int], when: str,
                budget_range: tuple[int, int]) -> Decision:
    """The decision in ``reply``; ``waiting``/``running`` hold the ids that may be admitted/preempted."""
    if type(reply) is list:
        return Decision(admit=_ids(reply, "the admit list", waiting, "waiting", when))
    if type(reply) is not dict:
        raise InvalidOutput(f"schedule() at {when} must return {EXPECTED}; got "
                            f"{type(reply).__name__} {clip(reply)}")
    extra = sorted(set(reply) - set(KEYS))
    if extra:
        raise InvalidOutput(f"schedule() at {when}: unknown key(s) {', '.join(map(repr, extra))}; only "
                            "admit, preempt and prefill_budget are accepted (the simulator measures "
                            "everything else)")
    admit = _ids(reply.get("admit", []), "'admit'", waiting, "waiting", when)
    preempt = _ids(reply.get("preempt", []), "'preempt'", running, "running", when)
    budget = reply.get("prefill_budget")
    if budget is not None:
        low, high = budget_range
        if type(budget) is not int or not low <= budget <= high:
            raise InvalidOutput(f"schedule() at {when}: prefill_budget must be an int in {low}..{high} "
                                f"(prefill tokens per iteration), got {clip(budget)}")
    return Decision(admit=admit, preempt=preempt, prefill_budget=budget)
