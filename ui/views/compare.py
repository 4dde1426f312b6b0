"""Compare: the run's winner against every human baseline on the train and held-out sets."""

import pandas as pd
import streamlit as st

from evaluators.problem import ProblemError, load_problem
from ui import figures, queries, state


def verdict(table: pd.DataFrame, winner: str, sets: list[str], metric: str, direction: str,
            unit: str) -> str:
    """The winner against the best baseline on the most held-out set both were scored on."""
    for s in ("test", "validation", "train"):
        if s not in sets:
            continue
        mine = table.loc[table["policy"] == winner, s].dropna()
        others = table.loc[table["policy"] != winner, ["policy", s]].dropna()
        if mine.empty or others.empty:
            continue
        best = others.sort_values(s, ascending=direction == "minimize").iloc[0]
        diff = float(mine.iloc[0]) - float(best[s])
        better = diff < 0 if direction == "minimize" else diff > 0
        word = "better than" if better else ("equal to" if diff == 0 else "worse than")
        amount = f" by {abs(diff):.2f} points" if unit and diff else (f" by {abs(diff):.4g}" if diff else "")
        return (f"On **{s}**: the winner, **{winner}**, {metric} {float(mine.iloc[0]):.4g}{unit}, is "
                f"**{word}** the best baseline, {best['policy']} ({float(best[s]):.4g}{unit}){amount}.")
    return ""


def body(sel: state.Selected) -> None:
    run = sel.run
    st.title(f"Compare · {run.name}")
    best = queries.best_program(sel.engine, run.id)
    if best is None:
        st.info("No scored program yet.")
        return
    try:
        spec = load_problem(run.problem)
        metric, direction = spec.objective.metric, spec.objective.direction
        scale = 100.0 if spec.objective.percent else 1.0
    except ProblemError:
        metric, direction, scale = "score", "maximize", 1.0
    unit = "%" if scale == 100.0 else ""
    evals = queries.evaluations(sel.engine, [best])
    base = queries.baselines(sel.engine, run.id)
    winner = queries.program_title(sel.engine, best)  # a starting program may win: not "evolved"
    rows: dict[str, dict[str, float | None]] = {winner: {}}
    def shown(ok: bool, metrics: dict | None) -> float | None:
        value = (metrics or {}).get(metric) if ok else None
        return None if value is None else value * scale

    for s, ok, metrics in zip(evals["set"], evals["ok"], evals["metrics"]):
        if s != "gate":
            rows[winner][s] = shown(ok, metrics)
    for name, s, ok, metrics in zip(base["policy"], base["set"], base["ok"], base["metrics"]):
        rows.setdefault(name, {})[s] = shown(ok, metrics)
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("policy").reset_index()
    known = ("train", "validation", "test")
    sets = [c for c in known if c in table.columns] + [c for c in table.columns
                                                        if c not in ("policy", *known)]
    table = table[["policy", *sets]]
    chosen = (" The winner is the best of the run's leading programs on the validation set (never "
              "shown to the LLM), not only the best on train." if "validation" in sets else "")
    st.caption(f"objective: **{metric}** ({direction}); trusted verifier scores, sandboxed.{chosen}")
    if base.empty or "test" not in table.columns:
        st.warning("The baselines or the winner's held-out score are not in the archive yet: they are "
                   "scored by the run's final report, by `evolve export`, or by the Export button on "
                   "the winner's Program page.")
    if line := verdict(table, winner, sets, metric, direction, unit):
        st.markdown(line)
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={s: st.column_config.NumberColumn(
                     f"{s} {metric}" + (" (%)" if unit else ""),
                     format="%.2f%%" if unit else "%.6g") for s in sets})
    if len(table) > 1 or len(sets) > 0:
        st.plotly_chart(figures.comparison(table, metric + (" (%)" if unit else "")), width="stretch")
    if st.button(f"Open the winner #{best}"):
        state.open_program(run.name, best)


state.live(body)
