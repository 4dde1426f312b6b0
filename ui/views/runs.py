"""Runs: every run in the archives with its problem, status, progress, best score and cost."""

import streamlit as st

from evolve.heartbeat import resume_hint
from ui import state

st.title("Runs")
COLUMNS = ["run", "problem", "status", "iterations", "programs", "best score", "cost $", "started",
           "last iteration", "archive"]


def body() -> None:
    state.all_runs.clear()
    table, _ = state.all_runs()
    if table.empty:
        st.info("No runs yet. Start one with `evolve run smtt --iterations 30`, then refresh.")
        return
    running = int((table["status"] == "running").sum())
    st.caption(f"{len(table)} run{'s' if len(table) != 1 else ''}, {running} running. "
               "Pick a row to open its overview.")
    event = st.dataframe(table[COLUMNS], hide_index=True, width="stretch", on_select="rerun",
                         selection_mode="single-row", key="runs_table",
                         column_config={"best score": st.column_config.NumberColumn(format="%.6g"),
                                        "cost $": st.column_config.NumberColumn(format="$%.4f")})
    rows = event.selection.rows if event is not None else []
    if rows:
        st.switch_page("views/overview.py", query_params={"run": str(table.iloc[rows[0]]["run"])})
    for name in table[table["status"] == "stalled"]["run"]:
        st.warning(f"**{name}** is stalled: {resume_hint(name)}")
    stopped = table[table["stop reason"].notna()]
    for name, reason in zip(stopped["run"], stopped["stop reason"]):
        st.caption(f"**{name}** stopped: {reason}")


sel = state.current()
live = sel is not None and st.session_state.get(f"live_{sel.run.name}")
st.fragment(body, run_every=state.LIVE_SECONDS if live else None)()
