"""Novelty rejection (issue 20): near-duplicates of an island's programs are not evaluated."""

from __future__ import annotations

import pytest

from evaluators.problem import load_problem
from evolve.llm.stub_server import Step, StubLLM
from evolve.search.novelty import NoveltyIndex, signature, tokens

from .conftest import query, run_cli
from .test_evolution_quality import compact_config, env, rule

SEED = load_problem("smtt").initial_code


def with_rule(body: str) -> str:
    return SEED.replace("    return d_j\n", f"    {body}\n")


def test_numbers_comments_and_layout_do_not_make_a_program_new():
    a = with_rule("return (d_j - 2.0 * p_j) / w_j  # slack per weight")
    b = with_rule("return (d_j - 3.5 * p_j) / w_j")
    assert tokens(a) == tokens(b) and "<num>" in tokens(a)
    assert signature(a).jaccard(signature(b)) == 1.0
    other = with_rule("return max(p_j, d_j - t) / (w_j * p_j) + t / (1 + d_j)")
    assert signature(a).jaccard(signature(other)) < 0.9


def test_a_near_duplicate_is_found_on_its_island_only():
    index = NoveltyIndex(0.9)
    index.add(1, 0, with_rule("return (d_j - 2.0 * p_j) / w_j"))
    index.add(2, 1, with_rule("return max(p_j, d_j - t) / w_j"))
    near = index.near(0, with_rule("return (d_j - 7 * p_j) / w_j"))
    assert near is not None and near.program_id == 1 and near.similarity >= 0.9
    assert "near-duplicate of program 1" in near.reason(0.9)
    assert index.near(1, with_rule("return (d_j - 7 * p_j) / w_j")) is None  # another island
    assert index.near(0, with_rule("return p_j * w_j - d_j + t * t / (1 + w_j)")) is None


@pytest.mark.slow
def test_a_run_rejects_a_near_duplicate_before_evaluating_it(tmp_path):
    with StubLLM(default=Step(content="no change")) as stub:
        stub.push(Step(content=rule("return (d_j - 2 * p_j) / w_j")))
        stub.push(Step(content=rule("return (d_j - 3 * p_j) / w_j")))  # one constant changed
        cfg = compact_config(tmp_path, stub.url, "search:\n  islands: 1\n  asks_per_parent: 1\n"
                             "  elite_ratio: 0\n  random_ratio: 0\nhygiene:\n  novelty_threshold: 0.9\n"
                             "tuning:\n  enabled: false\nrepair:\n  enabled: false\n")
        res = run_cli("run", "smtt_small", "--config", cfg, "--iterations", "2", "--runs-dir",
                      str(tmp_path / "runs"), "--run-name", "n", "--no-report", env=env())
    assert res.returncode == 0, res.stdout + res.stderr
    db = tmp_path / "runs" / "n" / "archive.db"
    rows = query(db, "select number, outcome, reason, child_id from iterations order by number")
    assert rows[0][1] == "child"
    assert rows[1][1] == "duplicate" and rows[1][3] is None, rows
    assert rows[1][2].startswith(f"near-duplicate of program {rows[0][3]} (similarity")
    assert query(db, "select count(*) from programs") == [(2,)]  # the seed and the first child only
    status = run_cli("status", "n", "--runs-dir", str(tmp_path / "runs"), env=env())
    assert "1 of 2 iterations (50%) rejected unevaluated" in status.stdout, status.stdout
