"""The conflict-aware cost model: makespan of a transaction order, and a provable lower bound.

A transaction is a list of operations ``(op, key)`` with ``op`` in ``{"r", "w"}``; each operation
takes one time unit and a started transaction runs its operations back to back (operation k of a
transaction started at s occupies [s + k, s + k + 1)). Per key, a transaction *holds* the key from
its first to its last operation on it, in write mode if any of those operations writes, else in
read mode. The order is the serialization order: a transaction starts at the earliest time >= 0
at which, for every key it holds, its first operation on that key comes no earlier than the
release (end of the last operation on that key) of every earlier-ordered transaction that holds
the key in a conflicting mode (at least one of the two writes). Readers share a key. Makespan is
the end of the last operation. This module is trusted code: it never sees candidate code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Op = tuple[str, int]


@dataclass(frozen=True)
class Hold:
    """One transaction's hold on one key: offsets of its first and last operation, and the mode."""

    key: int
    first: int
    last: int
    write: bool


@dataclass(frozen=True)
class Txn:
    length: int
    holds: tuple[Hold, ...]


def prepare(ops: Sequence[Op]) -> Txn:
    """Per-key hold intervals of one transaction (in order of first access)."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    write: dict[int, bool] = {}
    for k, (op, key) in enumerate(ops):
        first.setdefault(key, k)
        last[key] = k
        write[key] = write.get(key, False) or op == "w"
    return Txn(len(ops), tuple(Hold(x, first[x], last[x], write[x]) for x in first))


def prepare_all(workload: Sequence[Sequence[Op]]) -> tuple[Txn, ...]:
    return tuple(prepare(ops) for ops in workload)


def start_times(txns: Sequence[Txn], order: Sequence[int]) -> list[int]:
    """Start time of every transaction (indexed by transaction) when run in ``order``."""
    any_release: dict[int, int] = {}  # key -> latest release by any holder so far
    write_release: dict[int, int] = {}  # key -> latest release by a write-mode holder so far
    starts = [0] * len(txns)
    for t in order:
        txn = txns[t]
        s = 0
        for h in txn.holds:
            ready = (any_release if h.write else write_release).get(h.key, 0) - h.first
            if ready > s:
                s = ready
        starts[t] = s
        for h in txn.holds:
            release = s + h.last + 1
            if release > any_release.get(h.key, 0):
                any_release[h.key] = release
            if h.write and release > write_release.get(h.key, 0):
                write_release[h.key] = release
    return starts


def makespan(txns: Sequence[Txn], order: Sequence[int]) -> int:
    """Time the last operation completes when the transactions run in ``order``."""
    starts = start_times(txns, order)
    return max((starts[t] + txns[t].length for t in order), default=0)


def lower_bound(txns: Sequence[Txn]) -> int:
    """A bound no order can beat: max(longest transaction, max over written keys of the key's bound).

    For a key with at least one write-mode holder, hold intervals of write-mode holders are
    pairwise disjoint and disjoint from every read-mode interval (readers may overlap each other),
    so the intervals cover at least sum(writer spans) + max(reader span). The earliest interval
    starts after its owner's operations before it (>= the smallest such head over holders) and
    the latest one ends before its owner's operations after it (>= the smallest tail).
    """
    per_key: dict[int, list[tuple[int, int, int, bool]]] = {}
    for txn in txns:
        for h in txn.holds:
            per_key.setdefault(h.key, []).append(
                (h.first, h.last - h.first + 1, txn.length - h.last - 1, h.write))
    bound = max((t.length for t in txns), default=0)
    for holders in per_key.values():
        writers = [span for _, span, _, w in holders if w]
        if not writers:
            continue
        readers = [span for _, span, _, w in holders if not w]
        head = min(f for f, _, _, _ in holders)
        tail = min(t for _, _, t, _ in holders)
        bound = max(bound, head + sum(writers) + max(readers, default=0) + tail)
    return bound


def serial_time(txns: Sequence[Txn]) -> int:
    """Strictly one transaction after another: the pessimistic bound every order stays within."""
    return sum(t.length for t in txns)
