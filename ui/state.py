"""What every dashboard page shares: which archives to read, the chosen run and program, live refresh.

The run and program are kept in the URL (``?run=NAME&program=ID``) so a page can be bookmarked or
opened from another page; the sidebar's run picker writes the URL when it changes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from evaluators.problem import Objective, ProblemError, load_problem
from ui import queries
from ui.readonly import ArchiveUnavailable, Source, readonly_engine, sources

LIVE_SECONDS = 5


@dataclass(frozen=True)
class Selected:
    source: Source
    engine: Engine
    run: queries.RunInfo


def archive_sources() -> list[Source]:
    return sources(os.environ.get("EVOLVE_UI_DB") or None,
                   Path(os.environ.get("EVOLVE_UI_RUNS_DIR") or "runs"))


@st.cache_data(ttl=3, show_spinner=False)
def all_runs() -> tuple[pd.DataFrame, list[str]]:
    """Runs of every archive (with a ``source`` column) and the archives that could not be read."""
    frames, problems = [], []
    for i, src in enumerate(archive_sources()):
        try:
            frame = queries.runs(readonly_engine(src.url))
        except ArchiveUnavailable as exc:
            problems.append(str(exc))
            continue
        frames.append(frame.assign(source=i, archive=src.label))
    if not frames:
        return pd.DataFrame(columns=["id", "run", "problem", "status", "source", "archive"]), problems
    return pd.concat(frames, ignore_index=True), problems


def where_runs() -> str:
    return os.environ.get("EVOLVE_UI_DB") or os.environ.get("EVOLVE_UI_RUNS_DIR") or "runs"


def _pick_instead() -> None:
    st.query_params["run"] = st.session_state["run_missing"]
    st.query_params.pop("program", None)


def _remember_run() -> None:
    st.query_params["run"] = st.session_state["run_choice"]
    st.query_params.pop("program", None)


def sidebar() -> Selected | None:
    """The run picker and live toggle; returns the chosen run (None when there is none)."""
    table, problems = all_runs()
    for message in problems:
        st.sidebar.error(message)
    names = list(dict.fromkeys(table["run"]))
    if not names:
        st.sidebar.warning(f"no runs in {where_runs()}: start one with `evolve run PROBLEM`, "
                           "or pass `evolve ui --db URL` / `--runs-dir DIR`")
        return None
    wanted = st.query_params.get("run")
    if wanted is not None and wanted not in names:  # a stale bookmark or a typo: say so, show nothing
        st.error(f"no run {wanted!r} in {where_runs()}: pick one in the sidebar or on the Runs page")
        st.session_state.pop("run_choice", None)
        st.sidebar.selectbox("Run", names, index=None, key="run_missing", placeholder="choose a run",
                             on_change=_pick_instead)
        st.stop()
    if wanted in names and st.session_state.get("run_choice") != wanted:
        st.session_state["run_choice"] = wanted
    if st.session_state.get("run_choice") not in names:
        st.session_state["run_choice"] = names[0]
    st.query_params["run"] = st.session_state["run_choice"]
    labels = {r: f"{r} ({p}, {s})" for r, p, s in zip(table["run"], table["problem"], table["status"])}
    name = st.sidebar.selectbox("Run", names, key="run_choice", format_func=labels.get,
                                on_change=_remember_run)
    src = archive_sources()[int(table.loc[table["run"] == name, "source"].iloc[0])]
    engine = readonly_engine(src.url)
    info = queries.run_info(engine, name)
    if info is None:
        return None
    st.sidebar.toggle(f"Live refresh (every {LIVE_SECONDS} s)", value=info.status == "running",
                      key=f"live_{name}")
    st.sidebar.caption(f"archive: {src.label}  \nread-only: the dashboard never writes scores")
    return Selected(src, engine, info)


def current() -> Selected | None:
    return st.session_state.get("selected")


def require_run() -> Selected:
    sel = current()
    if sel is None:
        st.info("No run to show yet: start one with `evolve run PROBLEM`.")
        st.stop()
    return sel


def live(body: Callable[[Selected], None]) -> None:
    """Render ``body`` for the chosen run, re-running it every few seconds while live is on."""
    sel = require_run()
    if st.session_state.get(f"live_{sel.run.name}"):
        st.fragment(lambda: body(_fresh(sel)), run_every=LIVE_SECONDS)()
    else:
        body(sel)


def _fresh(sel: Selected) -> Selected:
    info = queries.run_info(sel.engine, sel.run.name) or sel.run
    return Selected(sel.source, sel.engine, info)


def objective_of(problem: str) -> Objective | None:
    """The problem's objective (None: the problem is not installed where the dashboard runs)."""
    try:
        return load_problem(problem).objective
    except ProblemError:
        return None


def program_id(default: int | None) -> int | None:
    raw = st.query_params.get("program")
    try:
        return int(raw) if raw is not None else default
    except ValueError:
        st.warning(f"program id {raw!r} in the URL is not a number; showing the best program")
        return default


def clicked_program(event) -> int | None:
    """The program id of the point clicked in a plotly chart (its ``customdata``), if any."""
    for point in event.selection.points if event is not None else []:
        data = point.get("customdata")
        if data is not None:
            return int(data[0] if isinstance(data, list) else data)
    return None


def open_program(run: str, program: int) -> None:
    st.switch_page("views/program.py", query_params={"run": run, "program": str(program)})


def open_clicked() -> None:
    """Open the program a chart or table callback picked before this rerun, if any."""
    pending = st.session_state.pop("clicked_program", None)
    if pending is not None:
        open_program(*pending)


def clickable_chart(fig, run: str, key: str) -> None:
    """A plotly chart whose clicked point (its ``customdata``: a program id) opens that program.

    The click is read in the chart's callback, before the rerun: a chart's identity includes its
    data, so on a run in progress the rerun draws a new chart (new programs) and the selection of
    the one clicked would be lost (issue 21, defect 4). The page switch happens on the rerun."""
    open_clicked()

    def picked() -> None:
        chosen = clicked_program(st.session_state.get(key))
        if chosen is not None:
            st.session_state["clicked_program"] = (run, chosen)

    st.plotly_chart(fig, width="stretch", on_select=picked, selection_mode="points", key=key)
