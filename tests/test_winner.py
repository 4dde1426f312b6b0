"""One winner (issue 21, defect 2): on equal scores report, status, export and dashboard name the
same program, the earliest."""

from __future__ import annotations

from evolve.archive.db import sqlite_url
from evolve.archive.store import Archive, ChildDraft
from evolve.report import standing, status_tables
from ui import queries
from ui.readonly import readonly_engine


def outcome(score: float) -> dict:
    return {"ok": True, "metrics": {"gap": -score}, "combined_score": score, "feedback": "",
            "error": None, "error_kind": None, "seconds": 0.1, "evaluator_version": "v"}


def test_on_a_tie_every_surface_names_the_earliest_program(tmp_path):
    db = tmp_path / "archive.db"
    archive = Archive(sqlite_url(db))
    run = archive.create_run("tie", "smtt", {})
    seed = archive.add_seed(run, "def schedule(p, w, d):\n    return list(range(len(p)))\n")
    archive.record_evaluation(seed, set_name="train", evaluator_version="v", outcome=outcome(-1.0),
                              cell="0", elite_islands=[0])
    child_ids = []
    for k in range(2):  # two later programs scoring exactly the same
        _, cid, _ = archive.commit_iteration(
            run, proposal=f"p{k}", island=0, parent_id=seed, inspiration_ids=[], model="m",
            edit_kind="rewrite", outcome="child", reason=None,
            child=ChildDraft(code=f"def schedule(p, w, d):\n    return list(range(len(p)))  # {k}\n",
                             parent_id=seed, parent2_id=None, generation=1, island=0))
        archive.record_evaluation(cid, set_name="train", evaluator_version="v", outcome=outcome(-1.0),
                                  cell="0", elite_islands=[0])
        child_ids.append(cid)
    try:
        assert archive.winner(run) == seed
        assert queries.best_program(readonly_engine(sqlite_url(db)), run) == seed
        st = standing(archive, run, "gap")
        assert st.winner_id == seed and st.winner_name == "initial (#1)"
        _, best_table = status_tables(archive, run)
        assert best_table.columns[0]._cells[0] == str(seed)  # the status table lists it first
    finally:
        archive.close()
