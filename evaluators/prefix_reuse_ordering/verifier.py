"""Trusted prefix_reuse_ordering verifier: send a table, check the row and column orders, score the
prompt cache's prefix hit rate of the prompts it serialises itself.

The candidate receives the column names and the rows (one ``reorder_table`` call per table) and
returns ``[row, column order]`` per prompt position. ``model.check_reply`` checks the reply
completely (every row once, every row's columns a permutation, Python ints only); the prompts are
then serialised from the verifier's own copy of the table, so no string or number of the reply
but the indices is read. hit_rate = mean over tables of (characters reused from the previous
prompt) / (characters of all prompts).
"""

from __future__ import annotations

from collections.abc import Sequence

from evaluators.base import Verifier, finite
from evaluators.prefix_reuse_ordering.model import Reuse, Table, check_reply, original, reuse
from evaluators.prefix_reuse_ordering.tables import load_source


def score(tables: list[Table], results: list[Reuse]) -> tuple[dict[str, float], str]:
    """Metrics and feedback from trusted hit counts."""
    rates = [r.rate for r in results]
    metrics = {"hit_rate": sum(rates) / len(rates), "worst_hit_rate": min(rates),
               "pooled_hit_rate": sum(r.hits for r in results) / sum(r.total for r in results),
               "instances": float(len(tables))}
    lines = [f"Prefix hit rate: {100 * metrics['hit_rate']:.2f}% (mean over {len(tables)} tables; "
             f"{100 * metrics['pooled_hit_rate']:.2f}% of all characters). Per table (original order "
             "of rows and columns in brackets):"]
    for table, res in zip(tables, results):
        base = reuse(table, original(table)).rate
        lines.append(f"  {table.name}, {table.m} columns: {100 * res.rate:.2f}% ({100 * base:.2f}%)")
    return finite(metrics), "\n".join(lines)


class PrefixReuseOrderingVerifier(Verifier):
    version = "prefix_reuse_ordering-1"
    draws = True

    def load_source(self, name: str, draw: int | None = None) -> Sequence[Table]:
        return load_source(self.spec.root / "data", name, draw)

    def arguments(self, table: Table) -> tuple:
        return table.as_json()

    def accept(self, table: Table, reply: object) -> Reuse:
        return reuse(table, check_reply(reply, table))

    def score(self, tables: list[Table], results: list[Reuse]) -> tuple[dict[str, float], str]:
        return score(tables, results)
