"""Pareto search (issue 20): the front of objective against a second objective, parents drawn
from it by crowding distance, and what the CLI, export and dashboard show of it."""

from __future__ import annotations

import json
import random
import shutil
from collections import Counter
from pathlib import Path

import pytest

from evaluators.problem import SecondObjective, load_problem
from evolve.archive.store import Archive
from evolve.llm.stub_server import Step, StubLLM
from evolve.search.front_parents import FrontParents
from evolve.search.pareto import Point, choose_on_front, crowding, dominates, pareto_front

from .conftest import query, run_cli
from .test_evolution_quality import FIXTURES, compact_config, env, rule

P = Point


def test_the_front_keeps_exactly_the_points_no_other_beats_on_both():
    points = [P(1, 0.9, 0.1), P(2, 0.5, 0.5), P(3, 0.1, 0.9), P(4, 0.4, 0.4),  # 4 under 2
              P(5, 0.9, 0.05),  # same score as 1, worse second
              P(6, 0.5, 0.5)]  # a copy of 2: the older stands for both
    front = pareto_front(points)
    assert [p.program_id for p in front] == [1, 2, 3]
    for p in points:
        on = p in front
        assert on == (not any(dominates(q, p) for q in points)) or p.program_id == 6
    assert pareto_front([]) == []
    assert not dominates(P(1, 1, 1), P(2, 1, 1)) and dominates(P(1, 1, 1.1), P(2, 1, 1))


def test_crowding_favours_the_ends_and_sparse_stretches():
    front = pareto_front([P(1, 1.0, 0.0), P(2, 0.95, 0.05), P(3, 0.9, 0.1), P(4, 0.0, 1.0)])
    d = crowding(front)
    assert d[0] == d[-1] == 2 * max(d[1:-1])  # the ends
    assert d[2] > d[1]  # point 3 borders the long stretch to point 4; point 2 sits in a cluster
    assert crowding(front[:2]) == [1.0, 1.0]
    picks = Counter(choose_on_front(front, random.Random(k)).program_id for k in range(4000))
    assert set(picks) == {1, 2, 3, 4}
    assert picks[1] > picks[3] > picks[2] and picks[4] > picks[3]


SECOND = """
[objective.second]
# the ratio of summed costs to summed references (the objective is the mean of the ratios)
metric = "aggregate_gap"
direction = "minimize"
percent = true
"""


@pytest.fixture
def problems(tmp_path) -> Path:
    """The test problem smtt_small with a second objective (under ``tmp_path/problems``)."""
    shutil.copytree(FIXTURES / "problems" / "smtt_small", tmp_path / "problems" / "smtt_small")
    toml = tmp_path / "problems" / "smtt_small" / "problem.toml"
    toml.write_text(toml.read_text() + SECOND)
    return tmp_path / "problems"


def _scored(archive: Archive, run: int, code: str, island: int, gap: float, agg: float) -> int:
    pid = archive.add_start(run, code, "seed", None, island)
    archive.record_evaluation(pid, set_name="train", evaluator_version="v", outcome={
        "ok": True, "metrics": {"gap": gap, "aggregate_gap": agg}, "combined_score": -gap,
        "feedback": "", "error": None, "error_kind": None, "seconds": 0.1},
        features={}, cell="0", elite_islands=(island,))
    return pid


def test_front_parents_read_the_islands_front_back_and_keep_it(tmp_path, problems, monkeypatch):
    monkeypatch.setenv("EVOLVE_PROBLEMS", str(problems))
    spec = load_problem("smtt_small")
    assert spec.objective.second == SecondObjective(metric="aggregate_gap", direction="minimize",
                                                    percent=True)
    archive = Archive(f"sqlite:///{tmp_path / 'a.db'}")
    run = archive.create_run("r", "smtt_small", {})
    good_gap = _scored(archive, run, "a = 1\n", 0, gap=0.01, agg=0.05)
    good_agg = _scored(archive, run, "a = 2\n", 0, gap=0.03, agg=0.02)
    _scored(archive, run, "a = 3\n", 0, gap=0.04, agg=0.06)  # dominated by both
    other = _scored(archive, run, "a = 4\n", 1, gap=0.001, agg=0.001)  # another island's
    parents = FrontParents(archive, run, spec, share=1.0)
    rng = random.Random(1)
    assert {parents.choose(0, rng) for _ in range(50)} == {good_gap, good_agg}
    parents.scored(99, (0,), score=-0.02, metrics={"gap": 0.02, "aggregate_gap": 0.01})
    assert [p.program_id for p in parents.front(0)] == [good_gap, 99]
    assert [p.program_id for p in parents.front(1)] == [other]
    # off: no draw from the generator, so a run without it is unchanged
    off, before = FrontParents(archive, run, spec, share=0.0), rng.getstate()
    assert off.choose(0, rng) is None and rng.getstate() == before
    archive.close()


# better than the seed on both gaps, and in another grid cell (code length), so the grid alone
# would still choose the seed at times
BETTER = rule("".join(f"padding_{k} = {k}  # code that moves the program to another bin\n    "
                      for k in range(16)) + "return max(p_j, d_j - t) / w_j")


def test_a_pareto_run_draws_its_parents_from_the_front(tmp_path, problems):
    with StubLLM(default=Step(content="no change")) as stub:
        stub.push(Step(content=BETTER), Step(content="no change", delay=3.0))
        # the grid alone picks the seed or the child at random (with pareto_ratio 0 this run's
        # parents are 1, 1, 2, ...): every pick from the front is the child
        cfg = compact_config(tmp_path, stub.url, "search:\n  islands: 1\n  asks_per_parent: 1\n"
                             "  pareto_ratio: 1.0\n  random_ratio: 1.0\n  fitness_ratio: 0.0\n"
                             "  elite_ratio: 0.0\ntuning:\n  enabled: false\n")
        with_second = {**env(), "EVOLVE_PROBLEMS": str(problems)}
        res = run_cli("run", "smtt_small", "--config", cfg, "--iterations", "10", "--runs-dir",
                      str(tmp_path / "runs"), "--run-name", "p", "--no-report", env=with_second)
        assert res.returncode == 0, res.stdout + res.stderr
        status = run_cli("status", "p", "--runs-dir", str(tmp_path / "runs"), env=with_second)
    db = tmp_path / "runs" / "p" / "archive.db"
    (child,), = query(db, "select child_id from iterations where number = 1")
    (seed,), = query(db, "select id from programs where edit_kind = 'seed'")
    metrics = {pid: json.loads(m) for pid, m in query(
        db, "select program_id, metrics from evaluations where set_name = 'train'")}
    assert all(metrics[child][k] < metrics[seed][k] for k in ("gap", "aggregate_gap")), metrics
    # once the child (which beats the seed on both) is scored, the front is the child alone
    assert query(db, "select parent_id from iterations where number >= 3") == [(child,)] * 8
    assert "Pareto front on the training set: 1 program no other" in status.stdout, status.stdout
    assert "evolve export p --program ID" in status.stdout


def test_a_pareto_run_on_a_problem_without_a_second_objective_is_refused(tmp_path):
    cfg = compact_config(tmp_path, "http://127.0.0.1:9", "search:\n  pareto_ratio: 0.5\n")
    res = run_cli("run", "smtt_small", "--config", cfg, "--iterations", "1", "--runs-dir",
                  str(tmp_path / "runs"), "--run-name", "x", env=env())
    assert res.returncode != 0
    errors = [ln for ln in res.stderr.splitlines() + res.stdout.splitlines() if "pareto_ratio" in ln]
    assert errors and "declares no [objective.second]" in errors[0], errors
    assert not (tmp_path / "runs" / "x").exists()
