"""GGR, the greedy group recursion of Liu et al., "Optimizing LLM Queries in Relational Data
Analytics Workloads" (MLSys'25, arXiv 2403.05821, Algorithm 1), simplified (README).

On a set of rows and the columns not yet placed: pick the (column, value) with the largest hit
count len(field)^2 x (rows with that value - 1), where field = "col: value\n"; the rows having it
form a group that puts that column first and recurses on its other columns; the other rows recurse
on all the columns; the group comes first. When no value repeats (or one column is left), the rows
are sorted by the serialisation of the remaining columns in their original order. Simplified from
the paper: no functional dependencies (one column per step) and no early stop (the recursion goes
to the end).
"""


def reorder_table(columns: list, rows: list) -> list:
    out = []

    def rest_text(i: int, cols: list) -> str:
        return "".join(f"{columns[c]}: {rows[i][c]}\n" for c in cols)

    def ggr(ids: list, cols: list, prefix: list) -> None:
        while ids:
            best, best_hc = None, 0
            if len(cols) > 1 and len(ids) > 1:
                for c in cols:
                    counts = {}
                    for i in ids:
                        counts[rows[i][c]] = counts.get(rows[i][c], 0) + 1
                    for v, k in counts.items():
                        hc = len(f"{columns[c]}: {v}\n") ** 2 * (k - 1)
                        if hc > best_hc:
                            best, best_hc = (c, v), hc
            if best is None:  # no value repeats: sort what is left by its serialisation
                for i in sorted(ids, key=lambda i: (rest_text(i, cols), i)):
                    out.append([i, prefix + list(cols)])
                return
            c, v = best
            group = [i for i in ids if rows[i][c] == v]
            ggr(group, [d for d in cols if d != c], [*prefix, c])
            ids = [i for i in ids if rows[i][c] != v]

    ggr(list(range(len(rows))), list(range(len(columns))), [])
    return out
