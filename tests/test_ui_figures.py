"""The overview's score chart (issue 21, defect 1): the run-wide best in the problem's metric and
unit, the programs people wrote as reference lines, an axis that one outlier cannot squash."""

from __future__ import annotations

import pandas as pd

from evaluators.problem import Objective
from ui import figures, queries

GAP = Objective(metric="gap", direction="minimize", combined_score="-gap", percent=True)


def frame(rows: list[tuple]) -> pd.DataFrame:
    """Programs: (id, iteration, calls, score, kind, label)."""
    return pd.DataFrame([dict(id=i, iteration=it, calls=c, score=s, kind=k, label=lab, island=0)
                         for i, it, c, s, k, lab in rows])


PROGRAMS = frame([(1, 0, 0, -1.5, "seed", None), (2, 0, 0, -0.4, "baseline", "wmdd"),
                  (3, 1, 1, -11.5, "function", None),  # an outlier far below
                  (4, 2, 2, None, "function", None), (5, 3, 3, -0.12, "function", None),
                  (6, 5, 5, -0.3, "function", None)])


def test_the_run_best_rises_only_and_reaches_the_runs_end():
    best = queries.run_best(PROGRAMS)
    assert list(best["program"][:-1]) == [1, 2, 5]
    assert list(best["score"]) == [-1.5, -0.4, -0.12, -0.12]
    assert best.iloc[-1]["iteration"] == 5 and best.iloc[-1]["calls"] == 5  # drawn to the end


def test_references_are_the_starting_programs_and_stored_baselines_on_train():
    base = pd.DataFrame([("wmdd", "train", True, -0.4), ("atc", "train", True, -0.05),
                         ("atc", "test", True, -0.07), ("broken", "train", False, None)],
                        columns=["policy", "set", "ok", "score"])
    assert queries.references(PROGRAMS, base) == [("initial (#1)", -1.5), ("wmdd (#2)", -0.4),
                                                  ("atc", -0.05)]


def test_the_chart_is_in_percent_and_an_outlier_does_not_set_its_axis():
    best = queries.run_best(PROGRAMS)
    fig, outside = figures.best_curve(best, PROGRAMS, [("initial (#1)", -1.5)], GAP, "iteration")
    assert fig.layout.yaxis.title.text == "gap (%, lower is better)"
    line = next(t for t in fig.data if t.name == "best so far")
    assert list(line.y) == [150.0, 40.0, 12.0, 12.0]
    assert fig.layout.yaxis.type == "log"  # 150% down to 12%: both ends readable
    assert outside == 1  # the 1150% outlier is off the axis, and the caption says so
    names = [t.name for t in fig.data]
    assert "initial (#1)" in names


def test_a_metric_that_can_be_negative_gets_a_linear_axis_padded_around_the_curve():
    objective = Objective(metric="balancedness", direction="maximize", combined_score="balancedness")
    best = pd.DataFrame({"iteration": [0, 4], "calls": [0, 4], "score": [-0.2, 0.5], "program": [1, None]})
    fig, _ = figures.best_curve(best, frame([(1, 0, 0, -0.2, "seed", None)]), [], objective, "calls")
    assert fig.layout.yaxis.type == "linear" and fig.layout.xaxis.title.text == "LLM calls"
    lo, hi = fig.layout.yaxis.range
    assert lo < -20 < 50 < hi and hi - lo < 100


def test_the_trade_off_chart_draws_the_front_in_order_and_the_programs_people_wrote():
    from evaluators.problem import SecondObjective
    from evolve.search.pareto import Point, pareto_front

    balance = Objective(metric="balancedness", direction="maximize", combined_score="balancedness")
    ms = SecondObjective(metric="rebalance_ms", direction="minimize")
    points = [Point(1, 0.48, -0.6), Point(2, 0.86, -1.9), Point(3, 0.75, -0.6), Point(4, 0.80, -40.0),
              Point(5, 0.70, -1.0)]
    fig = figures.trade_off(queries.points_frame(points), queries.points_frame(pareto_front(points)),
                            [("deepseek", 0.86, -1.9)], balance, ms)
    dots, front, ref = fig.data
    assert list(front.customdata) == [3, 2] and list(front.x) == [0.6, 1.9]  # by rebalance_ms
    assert list(front.y) == [75.0, 86.0]  # in percent, as people read balancedness
    assert ref.name == "deepseek" and ref.marker.symbol == "diamond"
    assert len(dots.x) == 5 and fig.layout.xaxis.type == "log"  # 0.6 ms to 40 ms
    assert fig.layout.xaxis.title.text == "rebalance_ms (lower is better)"


def usage(costs: list[float]) -> pd.DataFrame:
    start = pd.Timestamp("2026-12-05 07:00:00")
    return pd.DataFrame({"time": [start + pd.Timedelta(milliseconds=100 * k) for k in range(len(costs))],
                         "model": ["a", "b"] * (len(costs) // 2), "prompt tokens": [100] * len(costs),
                         "completion tokens": [50] * len(costs), "cost $": costs,
                         "latency s": [2.0] * len(costs)})


def test_llm_usage_is_drawn_by_call_in_dollars_or_in_seconds_for_local_models():
    local = figures.llm_usage(usage([0.0] * 4))
    titles = [a.text for a in local.layout.annotations]
    assert titles == ["tokens", "seconds of LLM time"]
    a_tokens, a_seconds = local.data[0], local.data[1]  # model a made calls 1 and 3 of the run
    assert list(a_tokens.x) == [1, 3] and list(a_tokens.y) == [150, 300]
    assert list(a_seconds.y) == [2.0, 4.0]
    priced = figures.llm_usage(usage([0.01, 0.0, 0.02, 0.0]))
    assert priced.layout.annotations[1].text == "dollars" and list(priced.data[1].y) == [0.01, 0.03]
