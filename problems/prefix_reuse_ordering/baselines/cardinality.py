"""Columns by cardinality: the column with the fewest distinct values first (ties: index), the same
order for every row; then the rows sorted by their serialisation ("col: value\n" fields) in that
order (ties: index), so rows sharing the leading values are adjacent."""


def reorder_table(columns: list, rows: list) -> list:
    distinct = [len({r[c] for r in rows}) for c in range(len(columns))]
    order = sorted(range(len(columns)), key=lambda c: (distinct[c], c))

    def text(i: int) -> str:
        return "".join(f"{columns[c]}: {rows[i][c]}\n" for c in order)

    return [[i, list(order)] for i in sorted(range(len(rows)), key=lambda i: (text(i), i))]
