"""Program: code, diff against its parent, trusted metrics and feedback, the prompt and reply that
made it, evaluation timings, and the export button."""

import difflib

import pandas as pd
import streamlit as st

from ui import export_action, queries, state
from ui.calls import show_calls


def _remember() -> None:
    st.query_params["program"] = str(st.session_state["program_choice"])


def evaluations(detail: queries.ProgramDetail, engine) -> None:
    evals = queries.evaluations(engine, [detail.id])
    if evals.empty:
        st.info("Not evaluated yet (pending).")
        return
    for _, ev in evals.iterrows():
        result = f"score {ev['score']:.6g}" if ev["ok"] else f"failed ({ev['error kind']})"
        where = ev["set"]
        if not ev["ok"] and str(ev["error"] or "").startswith("quick check"):
            where = f"{where}, quick check (small instances, before the full set)"
        head = f"{where}: {result} · {ev['seconds']:.2f} s · evaluator {ev['evaluator']}"
        with st.expander(head, expanded=ev["set"] == "train"):
            if not ev["ok"]:  # as written: a traceback keeps its lines
                st.markdown(f"**error** ({ev['error kind']})")
                st.code(ev["error"] or "(no message)", language=None, wrap_lines=True)
            metrics = pd.DataFrame(sorted((ev["metrics"] or {}).items()), columns=["metric", "value"])
            if not metrics.empty:
                st.dataframe(metrics, hide_index=True, width="stretch")
            if ev["feedback"] and ev["feedback"].strip() != str(ev["error"] or "").strip():
                st.markdown("**verifier feedback**")
                st.code(ev["feedback"], language=None, wrap_lines=True)


def timings(detail: queries.ProgramDetail, engine) -> None:
    rows = [{"step": f"LLM call (attempt {c['attempt']}, {c['model']})", "seconds": c["latency s"],
             "note": c["error"] or f"{c['prompt tokens']} in / {c['completion tokens']} out tokens"}
            for c in detail.llm_calls]
    evals = queries.evaluations(engine, [detail.id])
    rows += [{"step": f"evaluation on {s}", "seconds": sec, "note": "ok" if ok else "failed"}
             for s, sec, ok in zip(evals["set"], evals["seconds"], evals["ok"])]
    st.dataframe(pd.DataFrame(rows, columns=["step", "seconds", "note"]), hide_index=True, width="stretch")
    if detail.tasks:
        st.markdown("**distributed evaluation ledger**")
        st.dataframe(pd.DataFrame(detail.tasks), hide_index=True, width="stretch")


def diff_box(sel: state.Selected, detail: queries.ProgramDetail) -> None:
    """The program against its parent, or against any program of the run."""
    against = st.number_input("against program", min_value=1, step=1, value=detail.parent_id,
                              placeholder="a program id", key=f"diff_against_{detail.id}",
                              help="its parent by default; any program of the run", width=200)
    if against is None:
        st.write("The seed has no parent: pick a program to compare with.")
        return
    other = queries.program_detail(sel.engine, int(against))
    if other is None or other.run_id != sel.run.id:
        st.error(f"program {against} is not in run {sel.run.name}: pick one from the Programs page")
        return
    diff = difflib.unified_diff(other.code.splitlines(), detail.code.splitlines(), f"#{other.id}",
                                f"#{detail.id}", lineterm="")
    if other.score is not None and detail.score is not None:
        st.caption(f"score #{detail.id} {detail.score:.6g} vs #{other.id} {other.score:.6g} "
                   f"({detail.score - other.score:+.6g}, combined score: higher is better)")
    st.code("\n".join(diff) or "(identical code)", language="diff")


def children_box(sel: state.Selected, detail: queries.ProgramDetail) -> None:
    """The programs made from this one, with their score change against it."""
    state.open_clicked()
    kids = queries.children(sel.engine, detail.id)
    if kids.empty:
        st.write("No program was made from this one yet.")
        return
    change = [None if s != s or detail.score is None else s - detail.score for s in kids["score"]]
    st.caption(f"{len(kids)} programs made from #{detail.id}; change: their combined score minus "
               "this one's (higher is better). Pick a row to open it.")
    table = kids.assign(change=change)

    def picked() -> None:
        rows = st.session_state[f"children_{detail.id}"].selection.rows
        if rows:
            st.session_state["clicked_program"] = (sel.run.name, int(table.iloc[rows[0]]["id"]))

    st.dataframe(table, hide_index=True, width="stretch", on_select=picked,
                 selection_mode="single-row", key=f"children_{detail.id}",
                 column_config={"score": st.column_config.NumberColumn(format="%.6g"),
                                "change": st.column_config.NumberColumn(format="%+.4g")})


def export_box(sel: state.Selected, detail: queries.ProgramDetail) -> None:
    if detail.status != "ok":
        st.caption("Only a passing program can be exported.")
        return
    st.write("Write this program as a standalone module (no dependency on evolve) with its provenance, "
             "scored on the held-out set beside the baselines, plus a pytest check.")
    if st.button("Export as module", key=f"export_{detail.id}", type="primary"):
        with st.spinner("evolve export: scoring the held-out set and the baselines in the sandbox ..."):
            st.session_state[f"exported_{detail.id}"] = export_action.export(
                sel.source.url, sel.run.name, detail.id)
    result = st.session_state.get(f"exported_{detail.id}")
    if result is None:
        return
    if not result.ok:
        st.error(result.message)
        return
    st.success(f"wrote {result.module}")
    cols = st.columns(2)
    cols[0].download_button("Download module", result.module.read_bytes(), file_name=result.module.name,
                            mime="text/x-python")
    if result.check.exists():
        cols[1].download_button("Download its test", result.check.read_bytes(),
                                file_name=result.check.name, mime="text/x-python")


def body(sel: state.Selected) -> None:
    run = sel.run
    best = queries.best_program(sel.engine, run.id)
    focus = state.program_id(best)
    if focus is None:
        st.title("Program")
        st.info("This run has no scored program yet.")
        return
    st.session_state["program_choice"] = focus
    st.number_input("Program id", min_value=1, step=1, key="program_choice", on_change=_remember,
                    width=200)
    detail = queries.program_detail(sel.engine, focus)
    if detail is None or detail.run_id != run.id:
        st.title("Program")
        st.error(f"program {focus} is not in run {run.name}: pick one on the Lineage or MAP-Elites page")
        return
    header(sel, detail, best)
    tabs = st.tabs(["Code", "Diff", "Metrics & feedback", "Prompt & reply", "Children", "Timings",
                    "Export"])
    with tabs[0]:
        st.code(detail.code, language="python", line_numbers=True)
    with tabs[1]:
        diff_box(sel, detail)
    with tabs[2]:
        if detail.features:
            st.caption("features: " + ", ".join(f"{k} = {v:.4g}" for k, v in detail.features.items())
                       + f" → cell {detail.cell}")
        evaluations(detail, sel.engine)
    with tabs[3]:
        if not detail.llm_calls:
            st.write("No LLM call made this program (the seed, or a program imported by migration).")
        show_calls(detail.llm_calls)
    with tabs[4]:
        children_box(sel, detail)
    with tabs[5]:
        timings(detail, sel.engine)
    with tabs[6]:
        export_box(sel, detail)


def header(sel: state.Selected, detail: queries.ProgramDetail, best: int | None) -> None:
    """Title, score and where the program came from, with buttons to its parents."""
    run = sel.run
    score = "-" if detail.score is None else f"{detail.score:.6g}"
    st.title(f"Program #{detail.id}" + (" · best" if detail.id == best else ""))
    cols = st.columns(5)
    cols[0].metric("score", score)
    cols[1].metric("status", detail.status)
    cols[2].metric("generation", detail.generation)
    cols[3].metric("island", detail.island)
    cols[4].metric("parent", "-" if detail.parent_id is None else f"#{detail.parent_id}"
                   + (f" + #{detail.parent2_id}" if detail.parent2_id is not None else ""))
    it = detail.iteration
    if it:
        st.caption(f"iteration {it['number']} · model {it['model']} · {it['edit kind']} edit · "
                   f"outcome {it['outcome']}" + (f" · {it['reason']}" if it["reason"] else "")
                   + (f" · inspirations {it['inspirations']}" if it["inspirations"] else ""))
    elif detail.parent_id is None:
        st.caption("the seed program (the problem's initial.py)")
    if detail.parent_id is not None and st.button(f"Open parent #{detail.parent_id}"):
        state.open_program(run.name, detail.parent_id)
    if detail.parent2_id is not None and st.button(f"Open second parent #{detail.parent2_id} (crossover)"):
        state.open_program(run.name, detail.parent2_id)


state.live(body)
