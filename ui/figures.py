"""Plotly figures for the dashboard: score curves, LLM usage, lineage tree, elite grid, comparison.

Pure functions from frames to figures (no Streamlit, no database), so they are testable and their
cost is measured by the page-load benchmark. A lineage tree of more than 3,000 programs is drawn with WebGL.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from itertools import pairwise

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from evaluators.problem import FeatureDim, Objective, SecondObjective

PATH_COLOUR = "#d62728"
FAILED_COLOUR = "#b0b0b0"


BEST_COLOUR = "#1f77b4"
REFERENCE_COLOURS = ("#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def robust_range(values: list[float], pad: float = 0.12) -> list[float]:
    """An axis range around ``values`` (the curve and reference lines, not every program: one
    outlier must not squash the curve), padded on both sides."""
    lo, hi = min(values), max(values)
    span = (hi - lo) or abs(hi) * 0.1 or 1.0
    return [lo - pad * span, hi + pad * span]


def log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 ticks from ``lo`` to ``hi`` (a log axis's own minor labels read as 2, 3, 5, 2, ...)."""
    ticks = []
    for exp in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        ticks += [m * 10 ** exp for m in (1, 2, 5) if lo <= m * 10 ** exp <= hi]
    return ticks


def best_curve(best: pd.DataFrame, points: pd.DataFrame, refs: list[tuple[str, float]],
               objective: Objective | None, x: str) -> tuple[go.Figure, int]:
    """The run-wide best (thick step line) over ``x`` (iteration or calls), every scored program
    (grey dots) and the programs people wrote (dashed lines), in the objective's metric and unit.
    Returns the figure and how many programs fall outside its axis."""
    shown = objective.shown if objective is not None else (lambda v: v)
    ys = [shown(v) for v in best["score"]]
    ref_ys = [(name, shown(v)) for name, v in refs]
    y_range = robust_range(ys + [y for _, y in ref_ys])
    fig = go.Figure()
    dots = points.dropna(subset=["score"])
    dot_ys = [shown(v) for v in dots["score"]]
    dots_trace = go.Scattergl if len(dots) > 2000 else go.Scatter  # SVG crawls at 10,000 dots
    fig.add_trace(dots_trace(x=dots[x], y=dot_ys, mode="markers", name="a program",
                             marker={"color": FAILED_COLOUR, "size": 5},
                             text=[f"#{int(i)}" for i in dots["id"]],
                             hovertemplate="%{text}: %{y:.4g}<extra></extra>"))
    fig.add_trace(go.Scatter(x=best[x], y=ys, mode="lines+markers", line_shape="hv", name="best so far",
                             line={"color": BEST_COLOUR, "width": 3}, marker={"size": 7},
                             text=[f"#{int(p)}" if not pd.isna(p) else "" for p in best["program"]],
                             hovertemplate="%{text} %{y:.4g}<extra>best so far</extra>"))
    x_end = [min(points[x].min(), best[x].min()), max(points[x].max(), best[x].max())]
    for i, (name, y) in enumerate(ref_ys):
        colour = REFERENCE_COLOURS[i % len(REFERENCE_COLOURS)]
        fig.add_trace(go.Scatter(x=x_end, y=[y, y], mode="lines", name=name, hoverinfo="name+y",
                                 line={"color": colour, "dash": "dash", "width": 1.5}))
    log = all(v > 0 for v in ys + [y for _, y in ref_ys]) and y_range[1] > 10 * max(min(ys), 1e-12)
    if log:  # a gap falling from 150% to 3%: both ends readable
        lo, hi = min(ys + [y for _, y in ref_ys]), max(ys + [y for _, y in ref_ys])
        y_range = [math.log10(lo) - 0.15, math.log10(hi) + 0.15]
    fig.update_layout(xaxis_title="LLM calls" if x == "calls" else "iteration",
                      yaxis_title=objective.label() if objective is not None else
                      "combined score (higher is better)", yaxis_range=y_range,
                      yaxis_type="log" if log else "linear",
                      height=430, margin={"t": 10, "b": 10, "l": 70, "r": 20}, uirevision=x,
                      legend={"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0})
    if log:
        fig.update_yaxes(tickvals=log_ticks(*[10 ** r for r in y_range]))
    shown_range = [10 ** r for r in y_range] if log else y_range
    outside = sum(1 for y in dot_ys if not shown_range[0] <= y <= shown_range[1])
    return fig, outside


def trade_off(points: pd.DataFrame, front: pd.DataFrame, refs: list[tuple[str, float, float]],
              objective: Objective, second: SecondObjective) -> go.Figure:
    """Every program on the objective (y) against the second objective (x), both in the unit
    people read; the Pareto front as a line through its programs, the programs people wrote as
    labelled diamonds. Clicking a program opens it (``customdata`` is its id)."""
    fig = go.Figure()
    dots = go.Scattergl if len(points) > 2000 else go.Scatter
    fig.add_trace(dots(x=[second.shown(v) for v in points["second"]],
                       y=[objective.shown(v) for v in points["score"]], mode="markers",
                       name="a program", marker={"color": FAILED_COLOUR, "size": 6},
                       customdata=points["id"], hovertemplate="#%{customdata}: %{y:.4g}, "
                       "%{x:.4g}<extra></extra>"))
    line = front.assign(x=[second.shown(v) for v in front["second"]]).sort_values("x")
    fig.add_trace(go.Scatter(x=line["x"], y=[objective.shown(v) for v in line["score"]],
                             mode="lines+markers",
                             name="Pareto front", line={"color": PATH_COLOUR, "width": 2},
                             marker={"size": 9}, customdata=line["id"],
                             hovertemplate="#%{customdata}: %{y:.4g}, %{x:.4g}<extra>front</extra>"))
    for i, (name, score, value) in enumerate(refs):
        fig.add_trace(go.Scatter(x=[second.shown(value)], y=[objective.shown(score)],
                                 mode="markers+text", name=name, text=[name],
                                 textposition="top center", hoverinfo="name+x+y",
                                 marker={"symbol": "diamond", "size": 11,
                                         "color": REFERENCE_COLOURS[i % len(REFERENCE_COLOURS)]}))
    xs = [second.shown(v) for v in points["second"]] + [second.shown(v) for _, _, v in refs]
    log_x = bool(xs) and min(xs) > 0 and max(xs) > 20 * min(xs)
    ys = [objective.shown(v) for v in front["score"]] + [objective.shown(s) for _, s, _ in refs]
    fig.update_layout(xaxis_title=second.label(), yaxis_title=objective.label(),
                      xaxis_type="log" if log_x else "linear",
                      yaxis_range=robust_range(ys, pad=0.2) if ys else None, height=430,
                      margin={"t": 30, "b": 10, "l": 70, "r": 40}, uirevision="trade_off",
                      legend={"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0})
    return fig


def progress(curves: pd.DataFrame, objective: Objective | None = None) -> go.Figure:
    """Best-so-far (solid) and median of recent scores (dotted) per island over iterations, in the
    objective's metric and unit; the axis fits the best-so-far curves."""
    shown = objective.shown if objective is not None else (lambda v: v)
    fig = go.Figure()
    for island, part in curves.groupby("island"):
        colour = px.colors.qualitative.D3[int(island) % 10]
        fig.add_trace(go.Scatter(x=part["iteration"], y=[shown(v) for v in part["best"]], mode="lines",
                                 line_shape="hv", name=f"island {island} best", line={"color": colour}))
        fig.add_trace(go.Scatter(x=part["iteration"], y=[shown(v) for v in part["median"]],
                                 mode="lines", name=f"island {island} median",
                                 line={"color": colour, "dash": "dot"}))
    fig.update_layout(xaxis_title="iteration", yaxis_title=objective.label() if objective is not None
                      else "combined score (higher is better)",
                      yaxis_range=robust_range([shown(v) for v in curves["best"]]),
                      height=400, margin={"t": 10, "b": 10, "l": 70}, legend={"orientation": "h",
                      "yanchor": "top", "y": -0.18, "x": 0})
    return fig


def llm_usage(calls: pd.DataFrame) -> go.Figure:
    """Cumulative tokens and dollars (LLM seconds where no call had a price: a local model) by
    LLM call of the run, one line per model."""
    priced = bool(calls["cost $"].sum() > 0)
    second = "dollars" if priced else "seconds of LLM time"
    fig = make_subplots(rows=1, cols=2, subplot_titles=("tokens", second), horizontal_spacing=0.14)
    calls = calls.sort_values("time").assign(call=range(1, len(calls) + 1))
    for i, (model, part) in enumerate(calls.groupby("model")):
        colour = px.colors.qualitative.D3[i % 10]
        part = part.assign(tokens=(part["prompt tokens"] + part["completion tokens"]).cumsum(),
                           spent=(part["cost $"] if priced else part["latency s"].fillna(0)).cumsum())
        step = max(1, len(part) // 500)  # a cumulative curve loses nothing visible at 500 points
        part = part.iloc[sorted({*range(0, len(part), step), len(part) - 1})]
        fig.add_trace(go.Scatter(x=part["call"], y=part["tokens"], name=model, line={"color": colour}), 1, 1)
        fig.add_trace(go.Scatter(x=part["call"], y=part["spent"], name=model,
                                 line={"color": colour}, showlegend=False), 1, 2)
    fig.update_xaxes(title_text="LLM call of the run", rangemode="tozero")
    fig.update_yaxes(rangemode="tozero")
    fig.update_layout(height=360, margin={"t": 70, "b": 10},
                      legend={"orientation": "h", "yanchor": "top", "y": -0.25, "x": 0})
    return fig


def thinned(frame: pd.DataFrame, points: int = 600) -> pd.DataFrame:
    """At most about ``points`` rows of ``frame`` (every k-th and the last): a browser draws
    10,000-point SVG lines slowly, and a step series loses nothing visible at this width."""
    step = max(1, len(frame) // points)
    return frame if step == 1 else pd.concat([frame.iloc[::step], frame.iloc[-1:]])


def throughput(calls: pd.DataFrame, evaluations: pd.DataFrame, iterations: pd.DataFrame) -> go.Figure:
    """LLM calls and evaluations in flight over time (left), seconds per iteration (right)."""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.6, 0.4],
                        subplot_titles=("in flight over time", "seconds per iteration"))
    for frame, name, colour in ((calls, "LLM calls", BEST_COLOUR), (evaluations, "evaluations",
                                                                     REFERENCE_COLOURS[1])):
        if not frame.empty:
            frame = thinned(frame)
            fig.add_trace(go.Scatter(x=frame["time"], y=frame["in flight"], name=name,
                                     line_shape="hv", line={"color": colour}), 1, 1)
    if not iterations.empty:
        iterations = thinned(iterations)
        fig.add_trace(go.Scatter(x=iterations["iteration"], y=iterations["seconds"], name="seconds",
                                 mode="lines+markers" if len(iterations) < 200 else "lines",
                                 line={"color": FAILED_COLOUR}, showlegend=False), 1, 2)
    fig.update_yaxes(title_text="running at once", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="s since the previous iteration", row=1, col=2)
    fig.update_xaxes(title_text="iteration", row=1, col=2)
    fig.update_layout(height=330, margin={"t": 40, "b": 40}, legend={"orientation": "h"})
    return fig


def tree_layout(nodes: pd.DataFrame) -> dict[int, tuple[float, float]]:
    """(x, y) per program: x is the generation, leaves take consecutive rows and a parent sits at
    the mean of its children (a tidy tree, computed without recursion)."""
    ids = set(nodes["id"].astype(int))
    children: dict[int | None, list[int]] = {}
    for pid, parent in zip(nodes["id"].astype(int), nodes["parent"]):
        key = int(parent) if parent is not None and not pd.isna(parent) and int(parent) in ids else None
        children.setdefault(key, []).append(pid)
    gen = dict(zip(nodes["id"].astype(int), nodes["generation"].astype(int)))
    pos: dict[int, tuple[float, float]] = {}
    row = 0.0
    stack: list[tuple[int, bool]] = [(r, False) for r in reversed(children.get(None, []))]
    while stack:
        node, expanded = stack.pop()
        kids = children.get(node, [])
        if not kids:
            pos[node] = (gen[node], row)
            row += 1
        elif expanded:
            pos[node] = (gen[node], sum(pos[k][1] for k in kids) / len(kids))
        else:
            stack.append((node, True))
            stack.extend((k, False) for k in reversed(kids))
    return pos


def colour_range(scores: pd.Series) -> dict[str, float]:
    """A colour scale from the 10th percentile to the best score: a few failed-looking programs far
    below would otherwise paint every other node the top colour."""
    if len(scores) < 5:
        return {}
    lo, hi = float(scores.quantile(0.1)), float(scores.max())
    return {"cmin": lo, "cmax": hi} if hi > lo else {}


Line = tuple[list[float | None], list[float | None]]  # x and y of segments, None between them


def _edges(pos: dict[int, tuple[float, float]], links: Iterable[tuple[int, object]],
           on_path: set[tuple[int, int]] | None = None) -> tuple[Line, Line]:
    """Segments parent -> child for the (child, parent) ``links`` whose parent is drawn, split into
    those on ``on_path`` (pairs (parent, child)) and the others."""
    path_x: list[float | None] = []
    path_y: list[float | None] = []
    edge_x: list[float | None] = []
    edge_y: list[float | None] = []
    for pid, parent in links:
        if parent is None or pd.isna(parent) or int(parent) not in pos:
            continue
        (x0, y0), (x1, y1) = pos[int(parent)], pos[pid]
        xs, ys = (path_x, path_y) if on_path and (int(parent), pid) in on_path else (edge_x, edge_y)
        xs += [x0, x1, None]
        ys += [y0, y1, None]
    return (path_x, path_y), (edge_x, edge_y)


def _add_nodes(fig: go.Figure, trace: type, frame: pd.DataFrame) -> None:
    """The programs at their ``x``, ``y``: failed or pending as grey crosses, scored ones by colour."""
    for label, part, marker in (
        ("failed / pending", frame[frame["score"].isna()],
         {"color": FAILED_COLOUR, "symbol": "x", "size": 7}),
        ("scored", frame[frame["score"].notna()],
         {"color": frame.loc[frame["score"].notna(), "score"], "colorscale": "Viridis", "size": 10,
          **colour_range(frame["score"].dropna()),
          "showscale": True, "colorbar": {"title": "score"}, "line": {"width": 0.5, "color": "#333"}}),
    ):
        fig.add_trace(trace(
            x=part["x"], y=part["y"], mode="markers", name=label, marker=marker,
            customdata=part["id"].astype(int),
            text=[f"#{int(i)} · gen {int(g)} · island {int(isl)} · "
                  + ("failed" if pd.isna(s) else f"score {s:.6g}")
                  for i, g, isl, s in zip(part["id"], part["generation"], part["island"], part["score"])],
            hovertemplate="%{text}<extra></extra>"))


def lineage_tree(nodes: pd.DataFrame, path: list[int], selected: int | None) -> go.Figure:
    """The tree of ``nodes`` coloured by score; ``path`` (seed to best) drawn thick in red."""
    pos = tree_layout(nodes)
    trace = go.Scattergl if len(pos) > 3000 else go.Scatter  # WebGL only where SVG would crawl
    ids = nodes["id"].astype(int)
    (path_x, path_y), (edge_x, edge_y) = _edges(pos, zip(ids, nodes["parent"]), set(pairwise(path)))
    _, (mate_x, mate_y) = _edges(pos, zip(ids, nodes.get("parent2", [None] * len(nodes))))
    fig = go.Figure()
    fig.add_trace(trace(x=edge_x, y=edge_y, mode="lines", hoverinfo="skip", showlegend=False,
                        line={"color": "#c8c8c8", "width": 1}))
    if mate_x:  # crossovers: the second parent's edge, dashed
        fig.add_trace(go.Scatter(x=mate_x, y=mate_y, mode="lines", hoverinfo="skip",
                                 name="second parent (crossover)",
                                 line={"color": "#1f77b4", "width": 1.5, "dash": "dash"}))
    fig.add_trace(trace(x=path_x, y=path_y, mode="lines", hoverinfo="skip",
                        name="seed → best", line={"color": PATH_COLOUR, "width": 4}))
    _add_nodes(fig, trace, nodes.assign(x=[pos[int(i)][0] for i in nodes["id"]],
                                        y=[pos[int(i)][1] for i in nodes["id"]]))
    if selected is not None and selected in pos:
        fig.add_trace(go.Scatter(x=[pos[selected][0]], y=[pos[selected][1]], mode="markers",
                                 name=f"#{selected}", hoverinfo="skip",
                                 marker={"size": 20, "color": "rgba(0,0,0,0)",
                                         "line": {"width": 3, "color": "#ff7f0e"}}))
    fig.update_layout(height=max(420, min(1400, 14 * (len(pos) ** 0.5) * 6)), clickmode="event+select",
                      uirevision="lineage",  # zoom and pan survive the live refresh's new data
                      xaxis={"title": "generation", "dtick": 1}, yaxis={"visible": False},
                      margin={"t": 20, "b": 40}, legend={"orientation": "h"})
    return fig


def bin_labels(dim: FeatureDim) -> list[str]:
    """Human ranges of a feature's bins, e.g. ``0-1000`` (log-scaled features on a log scale)."""
    lo, hi = dim.min, dim.max
    if dim.scale == "log":
        a, b = math.log1p(max(lo, 0.0)), math.log1p(max(hi, 0.0))
        edges = [math.expm1(a + i * (b - a) / dim.bins) for i in range(dim.bins + 1)]
    else:
        edges = [lo + i * (hi - lo) / dim.bins for i in range(dim.bins + 1)]

    def fmt(v: float) -> str:
        return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"

    return [f"{fmt(edges[i])}-{fmt(edges[i + 1])}" for i in range(dim.bins)]


def _best_cells(cells: pd.DataFrame) -> dict[tuple[int, int], tuple[float, int, str]]:
    """(x bin, y bin) -> (score, program, cell key) of the best elite there (further features folded)."""
    best: dict[tuple[int, int], tuple[float, int, str]] = {}
    for cell, program, score in zip(cells["cell"], cells["program"], cells["score"]):
        idx = [int(v) for v in str(cell).split(",")] if cell else [0]
        key = (idx[0], idx[1] if len(idx) > 1 else 0)
        if key not in best or score > best[key][0]:
            best[key] = (score, int(program), str(cell))
    return best


def elite_grids(grid: pd.DataFrame, dims: list[FeatureDim]) -> go.Figure:
    """Every island's MAP-Elites grid as a heatmap of square cells, two islands per row, one colour
    scale for all (click a cell to open its program; its ``customdata`` is the program id).

    Cells are keys like ``"3,1"`` over the problem's features; a third and later feature are folded
    (the grid shows the best over them).
    """
    islands = sorted(int(i) for i in grid["island"].unique())
    xbins = dims[0].bins if dims else 1
    ybins = dims[1].bins if len(dims) > 1 else 1
    cols = min(2, len(islands))
    rows = -(-len(islands) // cols)
    titles = [f"island {i}" for i in islands]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.12,
                        vertical_spacing=0.5 / rows)
    size = max(10, min(40, int(330 / max(xbins, ybins, 1))))
    for n, island in enumerate(islands):
        best = _best_cells(grid[grid["island"] == island])
        fig.add_trace(go.Scatter(
            x=[k[0] for k in best], y=[k[1] for k in best], mode="markers", name=f"island {island}",
            customdata=[v[1] for v in best.values()], showlegend=False,
            marker={"symbol": "square", "size": size, "color": [v[0] for v in best.values()],
                    "coloraxis": "coloraxis"},
            text=[f"island {island} · cell {v[2]} · program #{v[1]} · score {v[0]:.6g}"
                  for v in best.values()],
            hovertemplate="%{text}<extra></extra>"), n // cols + 1, n % cols + 1)
    for dim, bins, update in ((dims[0] if dims else None, xbins, fig.update_xaxes),
                              (dims[1] if len(dims) > 1 else None, ybins, fig.update_yaxes)):
        axis = {"range": [-0.5, bins - 0.5], "tickmode": "array", "tickvals": list(range(bins))}
        if dim is not None:
            axis.update(title_text=dim.name, ticktext=bin_labels(dim))
        update(**axis)
    lo, hi = float(grid["score"].min()), float(grid["score"].max())
    fig.update_layout(coloraxis={"colorscale": "Viridis", "colorbar": {"title": "score"},
                                 **({"cmin": lo, "cmax": hi} if hi > lo else {})},  # real scores only
                      height=rows * (140 + size * max(ybins, 2) * 1.3), clickmode="event+select",
                      margin={"t": 40})
    return fig


def comparison(table: pd.DataFrame, metric: str) -> go.Figure:
    """Grouped bars: the objective metric per policy, one group per instance set."""
    long = table.melt(id_vars="policy", var_name="set", value_name=metric).dropna()
    fig = px.bar(long, x="policy", y=metric, color="set", barmode="group", text_auto=".4g")
    fig.update_layout(height=380, margin={"t": 20, "b": 40})
    return fig

