"""The tables of prefix_reuse_ordering: real tables from problems/prefix_reuse_ordering/data/ (see
its PROVENANCE.md), a row subset drawn per run, and the three tiny gate tables built here.

A source ``table=NAME rows=R seed=S`` is R rows of ``data/NAME.json`` chosen without replacement
by ``numpy.random.default_rng(entropy(draw, S))`` and kept in the file's order (the public draw,
``draw`` None, is the README's). The source ``gate`` is the gate tables.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from evaluators.draws import entropy
from evaluators.prefix_reuse_ordering.model import Table

# Gate: 8 rows each; repeated values, a single-column table with duplicate rows and an empty value.
GATE = (
    Table("gate: orders", ("customer", "product", "qty", "city"), (
        ("ann", "tea", "2", "Oslo"), ("bob", "coffee", "1", "Rome"), ("ann", "coffee", "2", "Oslo"),
        ("cy", "tea", "5", "Rome"), ("bob", "tea", "1", "Rome"), ("ann", "tea", "1", "Oslo"),
        ("dee", "cocoa", "2", "Lima"), ("cy", "coffee", "5", "Rome"))),
    Table("gate: pets", ("kind", "colour", "age", "name", "vaccinated"), (
        ("cat", "black", "3", "Tom", "yes"), ("dog", "brown", "5", "Rex", "yes"),
        ("cat", "white", "3", "Mia", "no"), ("dog", "black", "2", "Ace", "yes"),
        ("cat", "black", "7", "Zoe", "yes"), ("bird", "green", "1", "Kiwi", ""),
        ("dog", "brown", "5", "Max", "no"), ("cat", "white", "3", "Leo", "yes"))),
    Table("gate: one column", ("word",), tuple((w,) for w in (
        "prefix", "prefetch", "prefix", "cache", "cached", "", "prefix", "pre"))),
)


def parse_source(source: str) -> tuple[str, int, int]:
    """``"table=penguins rows=200 seed=1000"`` -> (table, rows, seed)."""
    fields = dict(f.partition("=")[::2] for f in source.split())
    if set(fields) != {"table", "rows", "seed"} \
            or not (fields["rows"].isdigit() and fields["seed"].isdigit()):
        raise ValueError(f"table source {source!r}: write it as 'table=<name> rows=<R> seed=<int>' or 'gate'")
    return fields["table"], int(fields["rows"]), int(fields["seed"])


@lru_cache(maxsize=16)
def read_table(path: Path) -> Table:
    data = json.loads(path.read_text())
    return Table(data["table"], tuple(data["columns"]), tuple(tuple(r) for r in data["rows"]))


@lru_cache(maxsize=64)
def load_source(data_dir: Path, source: str, draw: int | None = None) -> tuple[Table, ...]:
    if source == "gate":
        return GATE
    name, rows, seed = parse_source(source)
    path = data_dir / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"table source {source!r}: no table {name!r} in {data_dir}")
    full = read_table(path)
    if not 0 < rows <= full.n:
        raise ValueError(f"table source {source!r}: {name} has {full.n} rows")
    rng = np.random.default_rng(entropy(draw, seed))  # the one place the draw enters
    keep = sorted(int(i) for i in rng.choice(full.n, size=rows, replace=False))
    return (Table(f"{name} ({rows} rows)", full.columns, tuple(full.rows[i] for i in keep)),)
