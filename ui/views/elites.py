"""MAP-Elites: each island's grid of elites as a heatmap; click a cell to open its program."""

import math

import streamlit as st

from evaluators.problem import FeatureDim, ProblemError, load_problem
from ui import figures, queries, state


def dims_of(problem: str) -> list[FeatureDim]:
    try:
        return load_problem(problem).features
    except ProblemError:
        return []


def body(sel: state.Selected) -> None:
    run = sel.run
    st.title(f"MAP-Elites · {run.name}")
    grid = queries.elites(sel.engine, run.id)
    if grid.empty:
        st.info("No elites yet: a program enters the grid once it passes its evaluation.")
        return
    dims = dims_of(run.problem)
    if dims:
        folded = ", ".join(d.name for d in dims[2:])
        st.caption("x: " + dims[0].name + (f", y: {dims[1].name}" if len(dims) > 1 else "")
                   + (f" (further features folded: {folded})" if folded else "")
                   + ". Colour: combined score of the cell's elite (one scale for every island). "
                   "Click a cell to open its program.")
    else:
        st.caption(f"problem {run.problem} is not installed here: cells are shown by their keys")
    cells = math.prod(d.bins for d in dims) if dims else 0
    filled = grid["cell"].nunique()
    if cells and filled <= max(1, cells // 10):
        st.warning(f"{filled} of {cells} cells hold a program: nearly every program falls in the "
                   "same few bins, so the grid keeps little diversity. The feature ranges in "
                   f"problems/{run.problem}/problem.toml may not fit what these programs do.")
    summary = grid.groupby("island")["score"].agg(["size", "max"])
    st.markdown(" · ".join(f"**island {i}:** {int(n)} cells, best {best:.6g}"
                           for i, n, best in zip(summary.index, summary["size"], summary["max"])))
    state.clickable_chart(figures.elite_grids(grid, dims), run.name, "elite_grids")


state.live(body)
