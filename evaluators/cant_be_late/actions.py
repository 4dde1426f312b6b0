"""The policy's reply: one action per tick, parsed and validated strictly.

A reply is ``"SPOT"``, ``"ON_DEMAND"`` or ``"NONE"`` (in the job's current region) or a two-item
list ``[action, region]`` with an int region index. Anything else (other strings, numbers, bools,
dicts with claimed progress or cost, extra items, negative or out-of-range regions, SPOT where
spot is unavailable this tick) raises ``InvalidOutput`` naming what was wrong.
"""

from __future__ import annotations

from evaluators.base import InvalidOutput

SPOT, ON_DEMAND, NONE = "SPOT", "ON_DEMAND", "NONE"
KINDS = (SPOT, ON_DEMAND, NONE)
EXPECTED = "'SPOT', 'ON_DEMAND', 'NONE' or [action, region]"


def clip(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_action(reply: object, spot: list[bool], region: int, when: str) -> tuple[str, int]:
    """(kind, region) from a decide() reply; ``spot`` is this tick's availability per region,
    ``region`` the job's current region, ``when`` names the tick for messages."""
    if type(reply) is str:
        kind, target = reply, region
    elif type(reply) is list and len(reply) == 2:
        kind, target = reply
        if type(target) is not int:
            raise InvalidOutput(f"decide() at {when}: the region in {clip(reply)} must be an int "
                                f"index 0..{len(spot) - 1}, got {type(target).__name__}")
    else:
        raise InvalidOutput(f"decide() at {when} must return {EXPECTED}; got "
                            f"{type(reply).__name__} {clip(reply)} (only an action is accepted)")
    if type(kind) is not str or kind not in KINDS:
        raise InvalidOutput(f"decide() at {when}: unknown action {clip(kind)}; expected one of "
                            f"{', '.join(KINDS)} (upper case)")
    if not 0 <= target < len(spot):
        raise InvalidOutput(f"decide() at {when}: region {target} does not exist; this job has "
                            f"{len(spot)} region(s), indices 0..{len(spot) - 1}")
    if kind == SPOT and not spot[target]:
        raise InvalidOutput(f"decide() at {when} asked for SPOT in region {target}, but spot is "
                            f"unavailable there during this tick (state['spot'][{target}] is False)")
    return kind, target
