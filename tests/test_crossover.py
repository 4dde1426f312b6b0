"""Crossover (issue 20): a second parent from another island, a prompt that asks to combine the
two, ``parent2_id`` stored, both edges drawn in the lineage."""

from __future__ import annotations

import json
import random

import pandas as pd
import pytest

from evaluators.problem import load_problem
from evolve.archive.store import EliteView, ProgramView
from evolve.llm.stub_server import Step, StubLLM
from evolve.prompts.builder import CROSSOVER, build_compact_messages, build_messages
from evolve.search.selection import choose_mate
from ui.figures import lineage_tree

from .conftest import query, run_cli
from .test_evolution_quality import compact_config, env, rule


def elite(pid: int, score: float, cell: str = "c") -> EliteView:
    return EliteView(cell=f"{cell}{pid}", program_id=pid, score=score, children_count=0)


def test_a_mate_comes_from_another_island_else_another_cell_never_the_parent():
    rng = random.Random(1)
    own, others = [elite(1, -3.0), elite(2, -1.0)], [elite(7, -2.0), elite(8, -0.5)]
    picks = [choose_mate(1, own, others, rng) for _ in range(300)]
    assert set(picks) == {7, 8} and picks.count(8) > picks.count(7)  # rank-weighted, other islands
    assert {choose_mate(1, own, [], rng) for _ in range(50)} == {2}  # else the island's other cells
    assert choose_mate(1, own, [elite(1, -3.0)], rng) == 2  # the parent itself never
    assert choose_mate(1, [elite(1, -3.0)], [], rng) is None  # nothing to cross with yet


def view(pid: int, code: str, score: float) -> ProgramView:
    return ProgramView(id=pid, code=code, parent_id=None, generation=0, island=0, status="ok",
                       combined_score=score, metrics={"gap": -score}, feedback="fine", error=None,
                       cell=None, edit_kind="seed", label=None, fingerprint=None, params=None)


def test_the_prompts_show_the_second_parent_and_ask_to_combine():
    spec = load_problem("smtt")
    a = view(1, spec.initial_code, -1.5)
    b = view(2, spec.baselines()["wmdd"], -0.38)
    compact = build_compact_messages(spec, a, [], [], "Try something.", focus="priority", mate=b)
    user = compact[1]["content"]
    assert "A second working program (score -0.38" in user and "max(p_j, d_j - t)" in user
    assert user.rstrip().endswith(CROSSOVER) and "Try something." not in user  # the tail asks it
    full = build_messages(spec, a, [view(3, "x = 1", -9.0)], "rewrite", mate=b)[1]["content"]
    assert "## Second parent (score -0.38" in full and CROSSOVER in full and "x = 1" not in full


def test_the_lineage_draws_the_second_parent_dashed():
    nodes = pd.DataFrame({"id": [1, 2, 3], "parent": [None, 1, 1], "generation": [0, 1, 2],
                          "island": [0, 1, 0], "iteration": [None, 1, 2], "status": ["ok"] * 3,
                          "score": [-1.0, -0.5, -0.2], "cell": ["a", "b", "c"], "parent2": [None, None, 2]})
    fig = lineage_tree(nodes, [1, 3], None)
    mates = [t for t in fig.data if t.name == "second parent (crossover)"]
    assert len(mates) == 1 and mates[0].line.dash == "dash" and list(mates[0].x[:2]) != [None, None]
    plain = lineage_tree(nodes.assign(parent2=[None] * 3), [1, 3], None)
    assert not [t for t in plain.data if t.name == "second parent (crossover)"]


@pytest.mark.slow
def test_a_crossover_run_stores_both_parents(tmp_path):
    with StubLLM(default=Step(content=rule("return (d_j - p_j) / w_j"))) as stub:
        cfg = compact_config(tmp_path, stub.url, "search:\n  crossover_ratio: 1.0\n"
                             "tuning:\n  enabled: false\n")
        res = run_cli("run", "smtt_small", "--config", cfg, "--iterations", "1", "--from",
                      "initial,wmdd", "--runs-dir", str(tmp_path / "runs"), "--run-name", "x",
                      "--no-report", env=env())
        prompt = json.dumps(stub.requests[0])
    assert res.returncode == 0, res.stdout + res.stderr
    db = tmp_path / "runs" / "x" / "archive.db"
    starts = dict(query(db, "select island, id from programs where edit_kind in ('seed', 'baseline')"))
    (parent, mate, island, kind), = query(
        db, "select parent_id, parent2_id, island, edit_kind from programs where iteration = 1")
    assert kind == "crossover" and parent == starts[island] and mate == starts[1 - island]
    assert query(db, "select edit_kind, inspiration_ids from iterations") == [("crossover", f"[{mate}]")]
    assert "A second working program" in prompt and "Combine the two programs" in prompt
