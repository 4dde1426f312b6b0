"""The model bandit (issue 20): each call's model chosen by a UCB on improvements per unit of cost,
counted from the archive (so it survives resume)."""

from __future__ import annotations

import random

from evolve.config import ModelEntry
from evolve.llm.bandit import MIN_CALLS, ModelRecord, bandit_pick, ucb_scores
from evolve.llm.stub_server import Step, StubLLM

from .conftest import query, run_cli, write_config
from .test_evolution_quality import env, rule

SMALL, LARGE = ModelEntry(name="openai/small"), ModelEntry(name="openai/large")


def rec(name: str, calls: int, improvements: int, seconds: float, dollars: float = 0.0) -> ModelRecord:
    return ModelRecord(name, calls, improvements, seconds, dollars)


def test_a_model_is_tried_before_its_record_counts():
    records = {"openai/small": rec("openai/small", 10, 5, 10.0)}
    picks = {bandit_pick([SMALL, LARGE], records, random.Random(s)).name for s in range(20)}
    assert picks == {"openai/large"}
    records["openai/large"] = rec("openai/large", MIN_CALLS - 1, 0, 30.0)
    assert bandit_pick([SMALL, LARGE], records, random.Random(0)).name == "openai/large"


def test_improvements_per_second_decide_between_tried_models():
    # the large model improves 3x as often but takes 4x as long per call: the small one pays more
    records = {"openai/small": rec("openai/small", 40, 4, 40.0),
               "openai/large": rec("openai/large", 40, 12, 160.0)}
    scores = ucb_scores(list(records.values()))
    assert scores["openai/small"] > scores["openai/large"]
    assert bandit_pick([SMALL, LARGE], records, random.Random(0)).name == "openai/small"
    # at the same speed the one that improves more wins
    records["openai/large"] = rec("openai/large", 40, 12, 40.0)
    assert bandit_pick([SMALL, LARGE], records, random.Random(0)).name == "openai/large"


def test_dollars_are_the_cost_when_every_model_has_a_price():
    records = [rec("openai/small", 40, 4, 400.0, dollars=0.40), rec("openai/large", 40, 4, 40.0, dollars=4.0)]
    scores = ucb_scores(records)  # slow but cheap wins on dollars
    assert scores["openai/small"] > scores["openai/large"]


def test_exploration_keeps_a_rarely_tried_model_in_play():
    records = [rec("openai/small", 200, 20, 200.0), rec("openai/large", 3, 0, 3.0)]
    scores = ucb_scores(records)
    assert scores["openai/large"] > scores["openai/small"]  # 3 calls say little: try it again


def run_pool(tmp_path, name: str, choice: str, iterations: int) -> list[tuple]:
    slow = Step(content="no change", delay=0.4)
    with StubLLM(default=slow) as bad, StubLLM(default=Step(content="no change")) as good:
        good.push(Step(content=rule("return max(p_j, d_j - t) / w_j")))
        models = "".join(f"    - {{name: openai/{n}, api_base: '{s.url}', style: compact, "
                         "max_tokens: 600}\n" for n, s in (("slow", bad), ("fast", good)))
        cfg = write_config(tmp_path / f"{name}.yaml", f"llm:\n  choice: {choice}\n  models:\n{models}"
                           "proposals_in_flight: 1\nevaluations_in_flight: 1\ntuning:\n  enabled: false\n")
        res = run_cli("run", "smtt_small", "--config", str(cfg), "--iterations", str(iterations),
                      "--runs-dir", str(tmp_path / "runs"), "--run-name", name, "--no-report", env=env())
    assert res.returncode == 0, res.stdout + res.stderr
    return query(tmp_path / "runs" / name / "archive.db",
                 "select model, count(*) from iterations group by model order by model")


def test_a_run_sends_most_calls_to_the_model_that_pays_and_resumes_with_its_record(tmp_path):
    shares = dict(run_pool(tmp_path, "b", "bandit", 16))
    assert sum(shares.values()) == 16
    assert shares["openai/fast"] >= 11 and shares["openai/slow"] >= MIN_CALLS, shares
    # the record is the archive's, read on every pick: a resumed run goes on from it
    from evolve.archive.db import sqlite_url
    from evolve.archive.events import model_records
    from evolve.archive.store import Archive

    archive = Archive(sqlite_url(tmp_path / "runs" / "b" / "archive.db"), migrate=False)
    try:
        records = model_records(archive, archive.find_run("b").id)
    finally:
        archive.close()
    assert records["openai/fast"].calls == shares["openai/fast"]
    assert records["openai/fast"].improvements == 1 and records["openai/slow"].improvements == 0
    assert records["openai/slow"].seconds > records["openai/fast"].seconds


def test_weights_split_calls_without_looking_at_the_record(tmp_path):
    shares = dict(run_pool(tmp_path, "w", "weights", 16))
    assert min(shares.values()) >= 4, shares


def test_a_repeat_of_an_improving_program_is_a_proposal_but_not_an_improvement(tmp_path):
    from evolve.archive.events import model_records
    from evolve.archive.store import Archive, ChildDraft

    archive = Archive(f"sqlite:///{tmp_path / 'a.db'}")
    run = archive.create_run("r", "smtt", {})
    seed = archive.add_seed(run, "x = 0\n")
    ok = {"ok": True, "metrics": {}, "feedback": "", "error": None, "error_kind": None, "seconds": 0.1}
    archive.record_evaluation(seed, set_name="train", evaluator_version="v",
                              outcome={**ok, "combined_score": -2.0}, cell="0")
    better = ChildDraft("x = 1\n", seed, None, 1, 0, "diff")
    for model, proposal in (("openai/a", "p1"), ("openai/b", "p2")):  # b repeats a's child
        archive.commit_iteration(run, proposal=proposal, island=0, parent_id=seed, inspiration_ids=[],
                                 model=model, edit_kind="diff", outcome="child", reason=None,
                                 child=better)
    (child,), = query(tmp_path / "a.db", "select id from programs where parent_id is not null")
    archive.record_evaluation(child, set_name="train", evaluator_version="v",
                              outcome={**ok, "combined_score": -1.0}, cell="0")
    assert query(tmp_path / "a.db", "select model, outcome from iterations order by number") == \
        [("openai/a", "child"), ("openai/b", "duplicate")]
    records = model_records(archive, run)
    assert (records["openai/a"].calls, records["openai/a"].improvements) == (1, 1)
    assert (records["openai/b"].calls, records["openai/b"].improvements) == (1, 0)
    archive.close()
