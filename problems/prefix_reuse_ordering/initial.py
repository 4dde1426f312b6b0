"""Seed policy for prefix_reuse_ordering: the original order of rows and columns.

Every row keeps the table's column order, ranked by column_priority() (the seed ranks a column by
its index, so the order is unchanged), and the rows stay in the table's order. Only the
EVOLVE-BLOCK is evolved.
"""

# EVOLVE-BLOCK-START
def column_priority(col: int, columns: list, rows: list) -> float:
    """Rank of column `col` (name columns[col]; values rows[i][col]); the smallest comes first in
    every prompt, ties by index. The original order: the column's index."""
    return float(col)


def reorder_table(columns: list, rows: list) -> list:
    """Return [row index, column order] per prompt, in prompt order: every row exactly once, each
    column order a permutation of 0..len(columns)-1."""
    order = sorted(range(len(columns)), key=lambda c: (column_priority(c, columns, rows), c))
    return [[i, list(order)] for i in range(len(rows))]
# EVOLVE-BLOCK-END
