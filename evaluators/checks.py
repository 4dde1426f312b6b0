"""Checks shared by verifiers: a candidate's reply validated before anything is computed from it.

Each raises ``InvalidOutput`` with one line naming the first thing wrong (the entry, its value and
what was expected), which is what the model reads as feedback."""

from __future__ import annotations

from evaluators.base import InvalidOutput


def check_permutation(order: object, n: int, *, call: str, item: str) -> list[int]:
    """``order`` must be a list holding every index 0..n-1 exactly once, as Python ints (not
    bools, floats or numpy integers); ``call`` names the candidate's function and ``item`` what an
    index stands for, in messages."""
    expected = f"a list holding each {item} index 0..{n - 1} exactly once"
    if not isinstance(order, list):
        raise InvalidOutput(f"{call} must return {expected}, got {type(order).__name__}")
    if len(order) != n:
        raise InvalidOutput(f"{call} returned {len(order)} entries, expected all {n} ({expected})")
    seen = [False] * n
    for pos, index in enumerate(order):
        if type(index) is not int:
            raise InvalidOutput(f"entry {pos} is {type(index).__name__} {index!r:.40}; {item} indices "
                                "must be Python ints")
        if not 0 <= index < n:
            raise InvalidOutput(f"entry {pos} is {index}, outside 0..{n - 1}: not a permutation")
        if seen[index]:
            missing = sorted(set(range(n)) - {x for x in order if type(x) is int})[:5]
            raise InvalidOutput(f"{item} {index} appears more than once (entry {pos}): not a "
                                f"permutation of 0..{n - 1} (missing {missing})")
        seen[index] = True
    return order
