"""The results table: a row per policy where it fits the terminal, else a row per figure."""

from __future__ import annotations

from rich.console import Console

from evaluators.base import EvalOutcome
from evaluators.problem import load_problem
from evolve.report import baseline_table


def outcome(ratio: float) -> EvalOutcome:
    metrics = {"cost_ratio": ratio, "mean_cost": 92.49, "std_cost": 40.72,
               "cost_ratio_single": 0.6896, "cost_ratio_multi": 0.5013}
    return EvalOutcome(ok=True, metrics=metrics)


def shown(width: int, sets: list[str]) -> str:
    spec = load_problem("cant_be_late")
    results = {(name, s): outcome(r) for name, r in [("winner: evolved #12", 0.5912),
                                                       ("uniform_progress", 0.6043)] for s in sets}
    console = Console(width=width, record=True, color_system=None)
    console.print(baseline_table(spec, results, sets, "t", console.width))
    return console.export_text()


def test_a_table_too_wide_for_the_terminal_is_turned_on_its_side():
    text = shown(80, ["train", "test"])
    assert "…" not in text and all(len(line) <= 80 for line in text.splitlines())
    assert "winner: evolved #12" in text and "uniform_progress" in text
    row = next(line for line in text.splitlines() if "test cost_ratio " in line)
    assert "59.12%" in row and "60.43%" in row  # one figure per row, one policy per column


def test_a_table_that_fits_keeps_a_row_per_policy():
    text = shown(240, ["train"])
    row = next(line for line in text.splitlines() if "uniform_progress" in line)
    assert "60.43%" in row and "0.6896" in row and "train cost_ratio" in text
