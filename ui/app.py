"""Entry point of the dashboard (``evolve ui`` runs ``streamlit run`` on this file)."""

import streamlit as st

from ui import state

st.set_page_config(page_title="evolve", page_icon=":material/account_tree:", layout="wide")
pages = [
    st.Page("views/runs.py", title="Runs", icon=":material/list:", default=True),
    st.Page("views/overview.py", title="Overview", icon=":material/monitoring:"),
    st.Page("views/lineage.py", title="Lineage", icon=":material/account_tree:"),
    st.Page("views/programs.py", title="Programs", icon=":material/table_rows:"),
    st.Page("views/program.py", title="Program", icon=":material/code:"),
    st.Page("views/proposal.py", title="Proposal", icon=":material/chat:"),
    st.Page("views/elites.py", title="MAP-Elites", icon=":material/grid_view:"),
    st.Page("views/compare.py", title="Compare", icon=":material/leaderboard:"),
]
page = st.navigation(pages)
st.session_state["selected"] = state.sidebar()
page.run()
