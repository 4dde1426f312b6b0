"""Lineage: the ancestry tree of the best programs (or the whole run), coloured by score, with the
path from the seed to the best program highlighted. Click a node to open the program."""

import pandas as pd
import streamlit as st

from ui import figures, queries, state


def ancestors(progs: pd.DataFrame, ids: list[int]) -> set[int]:
    parent = {int(i): (None if pd.isna(p) else int(p)) for i, p in zip(progs["id"], progs["parent"])}
    keep: set[int] = set()
    for start in ids:
        current: int | None = start
        while current is not None and current not in keep:
            keep.add(current)
            current = parent.get(current)
    return keep


def body(sel: state.Selected) -> None:
    run = sel.run
    st.title(f"Lineage · {run.name}")
    progs = queries.programs(sel.engine, run.id)
    if progs.empty:
        st.info("This run has no programs yet.")
        return
    best = queries.best_program(sel.engine, run.id)
    focus = state.program_id(best)
    if focus is not None and focus not in set(progs["id"].astype(int)):
        st.warning(f"program {focus} is not in run {run.name}; showing the best program")
        focus = best
    scored = progs.dropna(subset=["score"]).sort_values("score", ascending=False)
    left, right = st.columns([3, 1])
    whole = right.toggle("whole run", value=len(progs) <= 300,
                         help=f"all {len(progs)} programs; off: ancestry of the top programs only")
    top = right.slider("top programs", 1, max(2, min(500, len(scored))), min(20, max(1, len(scored))),
                       disabled=whole or len(scored) < 2)
    wanted = [int(i) for i in scored["id"].head(top)] + ([focus] if focus is not None else [])
    nodes = progs if whole else progs[progs["id"].isin(ancestors(progs, wanted))]
    path = queries.lineage(progs, best) if best is not None else []
    right.metric("programs shown", len(nodes))
    right.caption("Red: seed → best program. Orange ring: the program in the URL. "
                  "Grey crosses failed. Click a node to open it.")
    fig = figures.lineage_tree(nodes, path, focus)
    with left:
        state.clickable_chart(fig, run.name, "lineage_tree")
    if focus is not None:
        chain = queries.lineage(progs, focus)
        st.subheader(f"Seed → #{focus}" + (" (the best program)" if focus == best else ""))
        rows = progs.set_index("id").loc[chain, ["generation", "island", "iteration", "status", "score"]]
        st.dataframe(rows.reset_index(), hide_index=True, width="stretch")


state.live(body)
