"""The prompt-cache model of prefix_reuse_ordering: serialising a row, the prefix hit rate of an
ordering, and the complete check of a candidate's reply, all on the trusted side.

A row is sent to the LLM as its fields in a column order, each field ``f"{column}: {value}\n"``,
concatenated. The engine's prompt cache keeps the previous prompt: row k reuses the longest
common prefix (in characters) of its serialisation and row k-1's (the first row reuses nothing).
The hit rate of a table is the sum of those prefixes over the total length of all rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evaluators.base import InvalidOutput
from evaluators.checks import check_permutation

CALL = "reorder_table()"


@dataclass(frozen=True)
class Table:
    """One table: the verifier's own copy (the candidate receives lists built from it)."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    @property
    def n(self) -> int:
        return len(self.rows)

    @property
    def m(self) -> int:
        return len(self.columns)

    def as_json(self) -> tuple[list[str], list[list[str]]]:
        """The arguments of one call: the column names and the rows, fresh lists."""
        return list(self.columns), [list(r) for r in self.rows]


@dataclass(frozen=True)
class Ordering:
    """A checked reply: the rows in prompt order, and each of those rows' column order."""

    rows: tuple[int, ...]
    columns: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Reuse:
    """The cache arithmetic of one ordered table, in characters."""

    hits: int
    total: int

    @property
    def rate(self) -> float:
        return self.hits / self.total if self.total else 0.0


def serialise(table: Table, row: int, order: Sequence[int]) -> str:
    """Row ``row`` of ``table`` as its fields in column order ``order``."""
    values = table.rows[row]
    return "".join(f"{table.columns[c]}: {values[c]}\n" for c in order)


def common_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix of a and b."""
    k, limit = 0, min(len(a), len(b))
    while k < limit and a[k] == b[k]:
        k += 1
    return k


def reuse(table: Table, ordering: Ordering) -> Reuse:
    """Hits and total characters of the prompts of ``ordering``, serialised from ``table``."""
    hits = total = 0
    previous = ""
    for row, order in zip(ordering.rows, ordering.columns):
        text = serialise(table, row, order)
        hits += common_prefix(previous, text)
        total += len(text)
        previous = text
    return Reuse(hits, total)


def original(table: Table) -> Ordering:
    """Rows and columns as the table has them."""
    return Ordering(tuple(range(table.n)), tuple(tuple(range(table.m)) for _ in range(table.n)))


def check_reply(reply: object, table: Table) -> Ordering:
    """``reply`` must be a list of n entries ``[row, columns]``: the rows' indices a permutation of
    0..n-1 (each row exactly once) and every ``columns`` a permutation of 0..m-1 (every field of
    the row exactly once), all Python ints (bools, floats, strings refused). Nothing else in the
    reply is read: the prompts are serialised from ``table``."""
    n, m = table.n, table.m
    shape = f"a list of {n} entries [row index, list of its {m} column indices]"
    if not isinstance(reply, list):
        raise InvalidOutput(f"{CALL} must return {shape}, got {type(reply).__name__}")
    if len(reply) != n:
        raise InvalidOutput(f"{CALL} returned {len(reply)} entries for {n} rows: every row must appear "
                            f"exactly once ({shape})")
    for pos, entry in enumerate(reply):
        if not isinstance(entry, list) or len(entry) != 2:
            raise InvalidOutput(f"entry {pos} is {type(entry).__name__} {entry!r:.60}; expected "
                                "[row index, list of column indices]")
    rows = check_permutation([entry[0] for entry in reply], n, call=CALL, item="row")
    columns = []
    for pos, (row, order) in enumerate(reply):
        try:
            columns.append(tuple(check_permutation(order, m, call=f"{CALL}[{pos}][1]", item="column")))
        except InvalidOutput as err:
            raise InvalidOutput(f"the column order of entry {pos} (row {row}): {err}") from None
    return Ordering(tuple(rows), tuple(columns))
