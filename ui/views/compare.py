"""Compare: the run's winner against every human baseline on the train and held-out sets."""

import pandas as pd
import streamlit as st

from evolve.problem import ProblemError, load_problem
from ui import figures, queries, state


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
    except ProblemError:
        metric, direction = "score", "maximize"
    evals = queries.evaluations(sel.engine, [best])
    base = queries.baselines(sel.engine, run.id)
    winner = queries.program_title(sel.engine, best)  # a starting program may win: not "evolved"
    rows: dict[str, dict[str, float | None]] = {winner: {}}
    for s, ok, metrics in zip(evals["set"], evals["ok"], evals["metrics"]):
        if s != "gate":
            rows[winner][s] = (metrics or {}).get(metric) if ok else None
    for name, s, ok, metrics in zip(base["policy"], base["set"], base["ok"], base["metrics"]):
        rows.setdefault(name, {})[s] = (metrics or {}).get(metric) if ok else None
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
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={s: st.column_config.NumberColumn(format="%.6g") for s in sets})
    if len(table) > 1 or len(sets) > 0:
        st.plotly_chart(figures.comparison(table, metric), width="stretch")
    if st.button(f"Open the winner #{best}"):
        state.open_program(run.name, best)


state.live(body)
