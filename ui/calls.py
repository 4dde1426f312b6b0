"""The LLM calls of one proposal as the Program and Proposal pages show them: every attempt's
prompt messages and reply, verbatim in code blocks (replies are the model's text, never markup)."""

import json

import streamlit as st


def messages_markdown(messages: list) -> None:
    for m in messages or []:
        role = m.get("role", "?") if isinstance(m, dict) else "?"
        content = m.get("content", "") if isinstance(m, dict) else str(m)
        st.markdown(f"**{role}**")
        st.code(content if isinstance(content, str) else json.dumps(content, indent=1), language=None,
                wrap_lines=True)


def show_calls(calls: list[dict]) -> None:
    for call in calls:
        with st.expander(f"attempt {call['attempt']} · {call['model']} · {call['latency s']:.1f} s · "
                         f"${call['cost $']:.5f}", expanded=len(calls) == 1):
            if call["error"]:
                st.error(call["error"])
            st.markdown("#### prompt")
            messages_markdown(call["messages"])
            st.markdown("#### reply")
            st.code(call["reply"] or "(no reply)", language="markdown", wrap_lines=True)
