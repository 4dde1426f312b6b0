"""Run overview: score curves per island, failures by kind, LLM tokens and dollars per model."""

import streamlit as st

from ui import figures, queries, state


def body(sel: state.Selected) -> None:
    run = sel.run
    st.title(f"Run {run.name}")
    progs = queries.programs(sel.engine, run.id)
    calls = queries.llm_usage(sel.engine, run.id)
    fails = queries.failures(sel.engine, run.id)
    scored = progs["score"].notna()
    cols = st.columns(6)
    cols[0].metric("status", run.status)
    cols[1].metric("iterations", run.iterations)
    cols[2].metric("programs", f"{len(progs)}", f"{int(scored.sum())} scored", delta_color="off")
    cols[3].metric("best score", "-" if not scored.any() else f"{progs['score'].max():.6g}")
    cols[4].metric("LLM calls", len(calls), f"{int(calls['failed'].sum())} failed", delta_color="off")
    cols[5].metric("cost", f"${calls['cost $'].sum():.4f}")
    st.caption(f"problem **{run.problem}**" + (f" · stopped: {run.stop_reason}" if run.stop_reason else ""))

    st.subheader("Score over iterations")
    curves = queries.score_progress(progs)
    if curves.empty:
        st.info("No program has been scored yet.")
    else:
        st.plotly_chart(figures.progress(curves), width="stretch")

    left, right = st.columns(2)
    with left:
        st.subheader("Failures by kind")
        if fails.empty:
            st.write("No failures.")
        else:
            st.dataframe(fails.sort_values("count", ascending=False), hide_index=True, width="stretch",
                         column_config={"count": st.column_config.ProgressColumn(
                             format="%d", min_value=0, max_value=int(fails["count"].max()))})
    with right:
        st.subheader("LLM tokens and dollars")
        if calls.empty:
            st.write("No LLM calls yet.")
        else:
            st.plotly_chart(figures.llm_usage(calls), width="stretch")
            per_model = calls.groupby("model").agg(
                calls=("model", "size"), failed=("failed", "sum"), prompt_tokens=("prompt tokens", "sum"),
                completion_tokens=("completion tokens", "sum"), cost=("cost $", "sum"),
                median_latency_s=("latency s", "median")).reset_index()
            st.dataframe(per_model, hide_index=True, width="stretch")


state.live(body)
