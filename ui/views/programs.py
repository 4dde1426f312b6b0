"""Programs: every program of the run in one table, filtered by status, island, edit kind and
model, with a search in their code; pick a row to open the program."""

import streamlit as st

from evaluators.problem import Objective
from ui import queries, state


def shown(frame, objective: Objective | None):
    """Scores in the problem's metric and unit (percent where the problem says so)."""
    if objective is None:
        return frame
    return frame.assign(score=[None if v != v else objective.shown(v) for v in frame["score"]])


def body(sel: state.Selected) -> None:
    run = sel.run
    st.title(f"Programs · {run.name}")
    objective = state.objective_of(run.problem)
    progs = queries.program_table(sel.engine, run.id)
    if progs.empty:
        st.info("This run has no programs yet.")
        return
    cols = st.columns(5)
    filters = {}
    for col, name in zip(cols, ("status", "island", "kind", "model")):
        options = sorted(progs[name].dropna().unique().tolist(), key=str)
        filters[name] = col.multiselect(name, options, key=f"programs_{name}", placeholder="all")
    needle = cols[4].text_input("code contains", key="programs_code", placeholder="e.g. math.exp")
    for name, chosen in filters.items():
        if chosen:
            progs = progs[progs[name].isin(chosen)]
    if needle:
        progs = progs[progs["id"].isin(queries.programs_with_code(sel.engine, run.id, needle))]
    metric = (f"{objective.metric} (%)" if objective.percent else objective.metric) if objective \
        else "score"
    st.caption(f"{len(progs)} programs; `{metric}`: on the training set, "
               + (objective.label() if objective else "combined score (higher is better)")
               + ". Click a column header to sort; pick a row to open its program.")
    table = shown(progs, objective).rename(columns={"score": metric})

    def picked() -> None:
        rows = st.session_state["programs_table"].selection.rows
        if rows:
            st.session_state["clicked_program"] = (run.name, int(table.iloc[rows[0]]["id"]))

    state.open_clicked()
    st.dataframe(table, hide_index=True, width="stretch", on_select=picked,
                 height=min(35 * (len(table) + 1) + 3, 700),
                 selection_mode="single-row", key="programs_table",
                 column_config={metric: st.column_config.NumberColumn(format="%.4g")})


state.live(body)
