"""Run overview: is it improving and does it beat what people wrote (the run-wide best against
the starting programs and baselines, in the problem's metric), failures, LLM usage, search events."""

import pandas as pd
import streamlit as st

from evaluators.problem import Objective
from evolve.heartbeat import resume_hint
from evolve.report import program_name
from ui import figures, queries, state


def fmt(objective: Objective | None, score: float) -> str:
    if objective is None:
        return f"{score:.6g}"
    return f"{objective.shown(score):.4g}{'%' if objective.percent else ''}"


def verdict(objective: Objective | None, best, refs: list[tuple[str, float]], titles: dict) -> str:
    """One sentence: the best program against the best one people wrote, on train."""
    if best.empty:
        return ""
    top = best.iloc[-2]  # the last row only extends the curve to the run's end
    name = titles.get(int(top["program"]), f"#{int(top['program'])}")
    metric = objective.metric if objective is not None else "score"
    line = f"Best on train: **{name}**, {metric} {fmt(objective, top['score'])}"
    if not refs:
        return line + "."
    ref_name, ref_score = max(refs, key=lambda r: r[1])
    if top["score"] > ref_score:
        return line + (f", better than the best program people wrote, {ref_name} "
                       f"({fmt(objective, ref_score)}).")
    return line + (f": evolution has not beaten the best program people wrote, {ref_name} "
                   f"({fmt(objective, ref_score)}), yet.")


def model_table(calls, yields):
    """Per model: its share of the calls, their tokens, dollars and latency, and what its
    proposals gave (the model bandit's record)."""
    per_model = calls.groupby("model").agg(**{
        "calls": ("model", "size"), "failed": ("failed", "sum"),
        "tokens in": ("prompt tokens", "sum"), "tokens out": ("completion tokens", "sum"),
        "$": ("cost $", "sum"), "median s": ("latency s", "median")}).reset_index()
    per_model.insert(2, "share", [f"{100 * n / max(1, len(calls)):.0f}%" for n in per_model["calls"]])
    return per_model.merge(yields, on="model", how="left")


def trade_off(sel: state.Selected, objective: Objective, progs: pd.DataFrame) -> None:
    """The objective against the problem's second objective, with the run's Pareto front."""
    second = objective.second
    seen = queries.trade_off(sel.engine, sel.run.id, second, progs,
                             queries.baselines(sel.engine, sel.run.id))
    if seen.points.empty:
        return
    st.subheader(f"Trade-off: {objective.metric} against {second.metric}")
    st.markdown(f"**{len(seen.front)}** programs on the Pareto front (no other program is better "
                f"on both); the search draws parents from it when `search.pareto_ratio` > 0. Click "
                f"a program to open it; export one with `evolve export {sel.run.name} --program ID "
                "--out policy.py`.")
    state.clickable_chart(figures.trade_off(seen.points, seen.front, seen.refs, objective, second),
                          sel.run.name, "trade_off")


def headline(sel: state.Selected, objective: Objective | None, progs, calls, best) -> None:
    run = sel.run
    st.title(f"Run {run.name}")
    cols = st.columns(6)
    cols[0].metric("status", run.status)
    cols[1].metric("iterations", run.iterations)
    cols[2].metric("programs", f"{len(progs)}", f"{int(progs['score'].notna().sum())} scored",
                   delta_color="off")
    cols[3].metric(f"best {objective.metric if objective else 'score'} (train)",
                   "-" if best.empty else fmt(objective, best["score"].iloc[-1]))
    cols[4].metric("LLM calls", len(calls), f"{int(calls['failed'].sum())} failed", delta_color="off")
    cols[5].metric("cost", f"${calls['cost $'].sum():.4f}")
    last = f" · last iteration {run.last_iteration:%Y-%m-%d %H:%M:%S} UTC" if run.last_iteration else ""
    stop = f" · stopped: {run.stop_reason}" if run.stop_reason else ""
    st.caption(f"problem **{run.problem}**{last}{stop}")
    if run.status == "stalled":
        st.warning(f"Stalled: {resume_hint(run.name)}")


def improving(sel: state.Selected, objective: Objective | None, progs, best) -> None:
    """The run's best against the programs people wrote, over iterations or LLM calls."""
    st.subheader("Is it improving?")
    if best.empty:
        st.info("No program has been scored yet.")
        return
    refs = queries.references(progs, queries.baselines(sel.engine, sel.run.id))
    titles = {int(pid): program_name(kind, label, int(pid)) for pid, kind, label
              in zip(progs["id"], progs["kind"], progs["label"])}
    st.markdown(verdict(objective, best, refs, titles))
    x = st.radio("x axis", ["iterations", "LLM calls"], horizontal=True, key="overview_x",
                 label_visibility="collapsed")
    fig, outside = figures.best_curve(best, progs, refs, objective,
                                      "calls" if x == "LLM calls" else "iteration")
    st.plotly_chart(fig, width="stretch")
    st.caption("Thick line: the best program so far on the training set; dots: every scored "
               "program; dashed lines: the programs people wrote (the seed and the baselines)."
               + (f" {outside} programs scored outside the axis (not drawn)." if outside else ""))
    if st.toggle("per island", key="overview_islands"):  # built only when asked for
        st.plotly_chart(figures.progress(queries.score_progress(progs), objective), width="stretch")


def failures_and_usage(sel: state.Selected, calls) -> None:
    fails = queries.failures(sel.engine, sel.run.id)
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
        st.subheader("LLM tokens and cost")
        if calls.empty:
            st.write("No LLM calls yet.")
        else:
            st.plotly_chart(figures.llm_usage(calls), width="stretch")
            st.caption("Running totals by LLM call: tokens (prompt + completion) and dollars, or "
                       "seconds of LLM time where no model has a price (a local model).")


def yields(sel: state.Selected, calls) -> None:
    """What each model, edit kind and prompt direction gave; throughput."""
    run_id = sel.run.id
    if not calls.empty:
        st.subheader("Models: share and yield")
        st.dataframe(model_table(calls, queries.model_yield(sel.engine, run_id)), hide_index=True,
                     width="stretch",
                     column_config={"$": st.column_config.NumberColumn(format="%.4f"),
                                    "median s": st.column_config.NumberColumn(format="%.1f"),
                                    "s per improvement": st.column_config.NumberColumn(format="%.0f")})
    edits = queries.edit_yield(sel.engine, run_id)
    if not edits.empty:
        st.subheader("Edit kinds: what each gave")
        st.caption("Per kind of change asked (diff, rewrite, function rewrite, crossover, repair) and "
                   "made without a call (tune, guard): children, the share that passed, those that "
                   "beat their parent (both parents for a crossover), and LLM time and dollars per "
                   "improvement.")
        st.dataframe(edits, hide_index=True, width="stretch",
                     column_config={"LLM s per improvement": st.column_config.NumberColumn(format="%.0f"),
                                    "$ per improvement": st.column_config.NumberColumn(format="%.4f")})
    if st.toggle("throughput: calls and evaluations in flight, seconds per iteration",
                 key="overview_throughput"):  # read and drawn only when asked for
        flow = queries.throughput(sel.engine, run_id)
        st.plotly_chart(figures.throughput(flow.calls, flow.evaluations, flow.iterations),
                        width="stretch")
    directions = queries.direction_yield(sel.engine, run_id)
    if not directions.empty:
        st.subheader("Prompt directions")
        st.caption("The direction each compact prompt ended with, how often its proposals beat their "
                   "parent, and the directions the LLM wrote (prompts.direction_choice: bandit).")
        st.dataframe(directions, hide_index=True, width="stretch",
                     column_config={"direction": st.column_config.TextColumn(width="large")})


def setbacks(sel: state.Selected) -> None:
    """Every proposal that gave nothing new, linked to its iteration and program."""
    run = sel.run
    rows = queries.setbacks(sel.engine, run.id)
    if rows.empty:
        return
    st.subheader("Proposals that gave nothing new")
    st.caption(f"The latest {len(rows)}: rejected replies, repeats, LLM errors, failed children "
               "and children that behaved exactly like their parent, with the first line of why. "
               "Open an iteration for its prompt, reply and full reason, a program for its error.")
    link = [f"program?run={run.name}&program={int(p)}" if not pd.isna(p) else None
            for p in rows["program"].combine_first(rows["repeats"])]
    asked = [f"proposal?run={run.name}&iteration={int(n)}" for n in rows["iteration"]]
    st.dataframe(rows.drop(columns=["program", "repeats"]).assign(program=link, iteration=asked),
                 hide_index=True, width="stretch", height=min(38 * (len(rows) + 1), 420),
                 column_config={"program": st.column_config.LinkColumn(display_text=r"program=(\d+)$"),
                                "iteration": st.column_config.LinkColumn(
                                    display_text=r"iteration=(\d+)$"),
                                "why": st.column_config.TextColumn(width="large")})


def events(sel: state.Selected) -> None:
    rows = queries.search_events(sel.engine, sel.run.id)
    if rows.empty:
        return
    st.subheader("Search events")
    st.caption("Islands restarted from the run's best after stagnating, and the advice on recent "
               "iterations that later prompts showed.")
    st.dataframe(rows, hide_index=True, width="stretch",
                 column_config={"what": st.column_config.TextColumn(width="large")})


def body(sel: state.Selected) -> None:
    objective = state.objective_of(sel.run.problem)
    calls = queries.llm_usage(sel.engine, sel.run.id)
    progs = queries.with_calls(queries.programs(sel.engine, sel.run.id), calls["time"])
    best = queries.run_best(progs)
    headline(sel, objective, progs, calls, best)
    improving(sel, objective, progs, best)
    if objective is not None and objective.second is not None and not best.empty:
        trade_off(sel, objective, progs)
    failures_and_usage(sel, calls)
    yields(sel, calls)
    setbacks(sel)
    events(sel)


state.live(body)
