"""Stagnation (issue 20): a stuck island restarts from the run's best; a plateau stops the run."""

from __future__ import annotations

from evolve.llm.stub_server import Step, StubLLM
from evolve.search.stagnation import Stagnation

from .conftest import query, run_cli
from .test_evolution_quality import compact_config, env, rule

BETTER = rule("return max(p_j, d_j - t) / w_j")  # better than the seed's due date


def test_an_island_is_due_after_k_proposals_without_a_better_best():
    s = Stagnation(restart_after=2, plateau=None)
    assert not s.proposed(0) and not s.proposed(0)
    assert s.proposed(0)  # the third proposal without a better best
    assert not s.proposed(0) and s.proposed(0)  # counting starts again after a restart
    assert not s.proposed(1)  # islands count apart
    s.island_improved(0)
    assert not s.proposed(0) and not s.proposed(0)
    assert not Stagnation(restart_after=0, plateau=None).proposed(0)  # off


def test_a_plateau_counts_iterations_since_the_run_best_rose():
    s = Stagnation(restart_after=0, plateau=3)
    assert s.plateau_reason(2) is None
    assert s.plateau_reason(3).startswith("plateau: no better program in the last 3 iterations")
    s.run_improved(3)
    assert s.plateau_reason(5) is None
    assert Stagnation(restart_after=0, plateau=None).plateau_reason(100) is None


def test_a_stuck_island_restarts_from_the_runs_best(tmp_path):
    steps = [Step(content=BETTER), Step(content="no change"),
             Step(content="no change", delay=3.0),  # the better child is evaluated meanwhile
             Step(content="no change")]
    with StubLLM(default=Step(content="no change")) as stub:
        stub.push(*steps)
        cfg = compact_config(tmp_path, stub.url, "search:\n  islands: 2\n  asks_per_parent: 1\n"
                             "  stagnation_iterations: 1\ntuning:\n  enabled: false\n")
        res = run_cli("run", "smtt_small", "--config", cfg, "--iterations", "4", "--runs-dir",
                      str(tmp_path / "runs"), "--run-name", "r", "--no-report", env=env())
    assert res.returncode == 0, res.stdout + res.stderr
    db = tmp_path / "runs" / "r" / "archive.db"
    (child,), = query(db, "select child_id from iterations where number = 1")
    seed, child_score = query(db, "select p.id, c.combined_score from programs p, programs c "
                              f"where p.edit_kind = 'seed' and c.id = {child}")[0]
    assert child_score > query(db, f"select combined_score from programs where id = {seed}")[0][0]
    events = query(db, "select kind, island, program_id, iteration, text from search_events")
    assert [e[:3] for e in events] == [("restart", 1, child)], events
    assert events[0][4].startswith("island 1: no better island best in 1 proposals")
    assert query(db, "select cell, program_id from elites where island = 1") == \
        query(db, f"select cell, id from programs where id = {child}")
    # the island's next proposal works on the program it restarted from
    assert query(db, "select island, parent_id from iterations where number = 4") == [(1, child)]


def test_a_run_stops_on_a_plateau_as_finished(tmp_path):
    with StubLLM(default=Step(content="no change")) as stub:
        cfg = compact_config(tmp_path, stub.url, "stop:\n  plateau_iterations: 3\n")
        res = run_cli("run", "smtt_small", "--config", cfg, "--iterations", "20", "--runs-dir",
                      str(tmp_path / "runs"), "--run-name", "p", "--no-report", env=env())
    assert res.returncode == 0, res.stdout + res.stderr
    db = tmp_path / "runs" / "p" / "archive.db"
    assert query(db, "select count(*) from iterations") == [(3,)]
    (status, reason), = query(db, "select status, stop_reason from runs")
    assert status == "finished" and reason.startswith("plateau: no better program in the last 3"), reason
