"""Proposal: one iteration whatever came of it (a child, a rejected reply, a repeat, an LLM
error), with why, the prompt and every reply; the programs it names open on the Program page."""

import streamlit as st

from ui import queries, state
from ui.calls import show_calls

OUTCOMES = {"child": "child", "rejected": "rejected", "duplicate": "repeat", "llm_error": "LLM error",
            "variant": "direction"}


def _number() -> int | None:
    raw = st.query_params.get("iteration")
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        st.warning(f"iteration {raw!r} in the URL is not a number")
        return None


def _remember() -> None:
    st.query_params["iteration"] = str(st.session_state["proposal_choice"])


def body(sel: state.Selected) -> None:
    run = sel.run
    number = _number() or max(1, run.iterations)
    st.session_state["proposal_choice"] = number
    st.number_input("Iteration", min_value=1, step=1, key="proposal_choice", on_change=_remember,
                    width=200)
    detail = queries.proposal_detail(sel.engine, run.id, number)
    st.title(f"Iteration {number}")
    if detail is None:
        st.error(f"run {run.name} has no iteration {number} (it has {run.iterations}): pick one "
                 "from the overview's list of proposals that gave nothing new")
        return
    it = detail.iteration
    cols = st.columns(4)
    cols[0].metric("outcome", OUTCOMES.get(it["outcome"], it["outcome"]))
    cols[1].metric("edit", it["edit kind"] or "-")
    cols[2].metric("island", it["island"])
    cols[3].metric("parent", "-" if it["parent"] is None else f"#{it['parent']}")
    st.caption(f"model {it['model'] or '-'} · at {it['at']:%Y-%m-%d %H:%M:%S} UTC"
               + (f" · direction: {it['direction']}" if it["direction"] else ""))
    if it["reason"]:
        st.markdown("**why**")
        st.code(it["reason"], language=None, wrap_lines=True)  # the model's or a candidate's text
    buttons = st.columns(3)
    if it["parent"] is not None and buttons[0].button(f"Open parent #{it['parent']}"):
        state.open_program(run.name, it["parent"])
    if it["child"] is not None:
        label = "Open the program it repeats" if it["outcome"] == "duplicate" else "Open its child"
        if buttons[1].button(f"{label} #{it['child']}"):
            state.open_program(run.name, it["child"])
    st.subheader("Prompt and reply")
    if not detail.llm_calls:
        st.write("No LLM call is recorded for this iteration.")
    show_calls(detail.llm_calls)


state.live(body)
