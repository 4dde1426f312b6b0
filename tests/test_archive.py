"""Archive: Alembic schema, SQLite WAL + BEGIN IMMEDIATE under concurrent writers, PostgreSQL."""

from __future__ import annotations

import multiprocessing
import uuid

import pytest
from sqlalchemy import text

from evolve.archive.db import head_revision, sqlite_url
from evolve.archive.store import Archive, CallYield, ChildDraft

from .conftest import query

OUT = {"ok": True, "metrics": {"gap": 0.5}, "combined_score": -0.5, "feedback": "worst: x",
       "error": None, "error_kind": None, "seconds": 0.2}


def exercise(a: Archive) -> None:
    """The write path of one run, shared by the SQLite and PostgreSQL tests."""
    run = a.create_run(f"r-{uuid.uuid4().hex[:6]}", "smtt", {"k": 1})
    seed = a.add_seed(run, "seed code")
    assert a.add_seed(run, "seed code") == seed  # idempotent
    assert a.record_evaluation(seed, set_name="train", evaluator_version="v1", outcome=OUT)
    assert not a.record_evaluation(seed, set_name="train", evaluator_version="v1", outcome=OUT)
    n1, child, fresh = a.commit_iteration(run, proposal="p1", island=0, parent_id=seed,
                                          inspiration_ids=[], model="m", edit_kind="diff",
                                          outcome="child", reason=None,
                                          child=ChildDraft("child code", seed, None, 1, 0))
    assert (n1, fresh) == (1, True)
    n2, dup, fresh2 = a.commit_iteration(run, proposal="p2", island=0, parent_id=seed,
                                         inspiration_ids=[], model="m", edit_kind="diff",
                                         outcome="child", reason=None,
                                         child=ChildDraft("child code", seed, None, 1, 0))
    assert (n2, dup, fresh2) == (2, child, False)
    n3, none, _ = a.commit_iteration(run, proposal="p3", island=1, parent_id=seed, inspiration_ids=[1],
                                     model="m", edit_kind=None, outcome="rejected",
                                     reason="syntax error", child=None)
    assert (n3, none) == (3, None)
    assert a.iteration_count(run) == 3
    assert a.failed_attempts(run, seed, 3) == [
        "reply rejected: syntax error",
        f"the reply repeated program {child} (same code as program {child}): propose a different change"]
    # a child equal to an earlier program up to comments, docstrings and layout is a duplicate
    _, first, new = a.commit_iteration(run, proposal="p4", island=0, parent_id=seed, inspiration_ids=[],
                                       model="m", edit_kind="function", outcome="child", reason=None,
                                       child=ChildDraft("def f(x):\n    return x + 1\n", seed, None, 1, 0,
                                                        edit_kind="function"))
    assert new
    _, again, new = a.commit_iteration(
        run, proposal="p5", island=0, parent_id=seed, inspiration_ids=[], model="m", edit_kind="function",
        outcome="child", reason=None,
        child=ChildDraft('def f(x):\n    """Add one."""\n    return (x + 1)  # one more\n', seed, None, 1, 0))
    assert (again, new) == (first, False)
    assert "up to comments, docstrings and layout" in a.failed_attempts(run, seed, 1)[0]
    _, exact_only, new = a.commit_iteration(
        run, proposal="p6", island=0, parent_id=seed, inspiration_ids=[], model="m", edit_kind="function",
        outcome="child", reason=None, normalised=False,
        child=ChildDraft("def f(x):\n    return (x + 1)\n", seed, None, 1, 0))
    assert new and exact_only != first  # with the check off, only exact copies are duplicates
    # a child that behaved like its parent on the quick check
    same = {**OUT, "ok": False, "combined_score": None, "error_kind": "same", "error": "same outputs",
            "same_as": seed, "fingerprint": "f" * 64}
    a.record_evaluation(first, set_name="train", evaluator_version="v1", outcome=same)
    view = a.program(first)
    assert (view.status, view.same_as, view.fingerprint, view.edit_kind) == ("same", seed, "f" * 64,
                                                                             "function")
    assert any("computed exactly the same outputs as its parent" in f
               for f in a.failed_attempts(run, seed, 3))
    a.record_evaluation(exact_only, set_name="train", evaluator_version="v1",
                        outcome={**OUT, "ok": False, "combined_score": None, "error_kind": "exception",
                                 "error": "ZeroDivisionError"})
    assert a.program(exact_only).status == "failed"
    # of the seed's last three proposals, the duplicate (p5) and the same-behaviour child (p4)
    # repeated something; the failed child (p6) did not
    assert (a.repeats(run, seed, 3), a.repeats(run, seed, 1)) == (2, 0)
    assert a.knows_code(run, "def f(x):\n    return (x + 1)  # known up to layout\n")
    assert not a.knows_code(run, "def f(x):\n    return x + 2\n")
    with a.engine.connect() as c:
        outcomes = dict(c.execute(text("select outcome, count(*) from iterations where run_id = :r "
                                       "group by outcome"), {"r": run}).all())
    assert outcomes["duplicate"] == 2 and outcomes["rejected"] == 1
    with a.engine.connect() as c:
        assert c.execute(text("select children_count from programs where id = :p"),
                         {"p": seed}).scalar() == 3
    assert [p.id for p in a.pending_programs(run)] == [child]
    assert a.program(seed).edit_kind == "seed"
    a.record_evaluation(child, set_name="train", evaluator_version="v1",
                        outcome=dict(OUT, combined_score=-0.1), features={"code_length": 10.0}, cell="0,0")
    assert a.top_programs(run, 2) == [(child, -0.1), (seed, -0.5)]
    a.record_llm_call(run, proposal="p1", attempt=1, model="m", messages=[{"role": "user", "content": "x"}],
                      reply="r", prompt_tokens=10, completion_tokens=5, cost=0.25, cost_known=True,
                      latency=0.1, error=None)
    assert a.total_cost(run) == pytest.approx(0.25)
    # calls by purpose: a failed child whose guard passed counts as a valid proposal; a repair call
    # whose child failed as a repair without a valid program; duplicates and rejections as nothing
    guard, _ = a.add_program(run, ChildDraft("def f(x):\n    return (x or 1)\n", exact_only, None, 2, 0,
                                             edit_kind="guard"), 6, True)
    a.record_evaluation(guard, set_name="train", evaluator_version="v1", outcome=OUT)
    _, fix, _ = a.commit_iteration(run, proposal="p7", island=0, parent_id=exact_only, inspiration_ids=[],
                                   model="m", edit_kind="repair", outcome="child", reason=None,
                                   child=ChildDraft("def f(x):\n    return x[0]\n", exact_only, None, 2, 0,
                                                    edit_kind="repair"))
    a.record_evaluation(fix, set_name="train", evaluator_version="v1",
                        outcome={**OUT, "ok": False, "combined_score": None, "error_kind": "exception",
                                 "error": "TypeError"})
    assert a.call_yield(run) == CallYield(repair_calls=1, repair_valid=0, proposal_calls=6,
                                          proposal_valid=2)


def test_sqlite_schema_comes_from_alembic_and_uses_wal(tmp_path):
    a = Archive.for_run_dir(tmp_path / "run")
    exercise(a)
    a.close()
    db = tmp_path / "run" / "archive.db"
    assert query(db, "select version_num from alembic_version") == [(head_revision(),)]
    assert query(db, "pragma journal_mode") == [("wal",)]
    tables = {r[0] for r in query(db, "select name from sqlite_master where type='table'")}
    assert {"runs", "programs", "evaluations", "llm_calls", "iterations", "elites"} <= tables
    Archive(sqlite_url(db)).close()  # reopening an up-to-date archive is a no-op migration


def _writer(url: str, run_id: int, worker: int, n: int) -> None:
    a = Archive(url)
    for i in range(n):
        # read-then-write in one transaction: deferred BEGIN would fail with "database is locked"
        a.commit_iteration(run_id, proposal=f"w{worker}-{i}", island=worker, parent_id=None,
                           inspiration_ids=[], model="m", edit_kind="diff", outcome="child",
                           reason=None, child=ChildDraft(f"code {worker} {i}", None, None, 1, worker))
    a.close()


def test_concurrent_writers_lose_nothing(tmp_path):
    a = Archive.for_run_dir(tmp_path / "run")
    run = a.create_run("r", "smtt", {})
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(a.url, run, w, 50)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    db = tmp_path / "run" / "archive.db"
    numbers = [r[0] for r in query(db, "select number from iterations order by number")]
    assert numbers == list(range(1, 201))
    assert query(db, "select count(*) from programs") == [(200,)]
    a.close()


def test_postgresql_archive(pg_url):
    a = Archive(pg_url)
    exercise(a)
    with a.engine.connect() as c:
        assert c.execute(text("select version_num from alembic_version")).scalar() == head_revision()
    a.close()


OK_OUT = {"ok": True, "metrics": {}, "feedback": "", "error": None, "error_kind": None, "seconds": 0.1}


def _scorer(url: str, ids: list[int], worker: int) -> None:
    """Store evaluations and elite offers for every program, racing the other scorers."""
    from evolve.archive.ledger import Ledger

    a = Archive(url, migrate=False)
    ledger = Ledger(a)
    for pid in ids:
        task = ledger.ensure(pid, "train", "v1", 0, f"t:{pid}")
        claim = ledger.claim(task.id, f"w{worker}", lease=30, max_attempts=3)
        if claim.action == "run":
            ledger.finish(claim.task, {**OK_OUT, "combined_score": -float(pid)}, {}, "c", [0, 1])
        a.record_evaluation(pid, set_name="train", evaluator_version="v1",
                            outcome={**OK_OUT, "combined_score": -float(pid)}, cell="c",
                            elite_islands=[0, 1])
    a.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_scorers_store_each_evaluation_once(backend, tmp_path, request):
    url = (Archive.for_run_dir(tmp_path / "run").url if backend == "sqlite"
           else request.getfixturevalue("pg_url"))
    a = Archive(url)
    run = a.create_run("r", "smtt", {})
    ids = [a.add_seed(run, f"program {i}") for i in range(40)]
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_scorer, args=(url, ids[w::2] + ids, w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with a.session() as s:
        count = s.execute(text("select count(*), count(distinct program_id) from evaluations")).one()
        claims = s.execute(text("select sum(attempts), count(*) from eval_tasks "
                                "where state = 'done'")).one()
        elites = s.execute(text("select island, program_id from elites order by island")).all()
    assert tuple(count) == (40, 40)
    assert tuple(claims) == (40, 40)  # every row claimed and run exactly once
    best = ids[0]  # score -id: the lowest id is the best, whatever order the writers raced in
    assert [tuple(e) for e in elites] == [(0, best), (1, best)]
    a.close()


def test_evaluated_program_cache_is_bounded(tmp_path, monkeypatch):
    from evolve.archive import store

    monkeypatch.setattr(store, "PROGRAM_CACHE", 3)
    a = Archive.for_run_dir(tmp_path / "run")
    run = a.create_run("cache", "smtt", {})
    ids = []
    for i in range(6):
        _, pid, _ = a.commit_iteration(run, proposal=f"p{i}", island=0, parent_id=None,
                                       inspiration_ids=[], model="m", edit_kind="rewrite",
                                       outcome="child", reason=None,
                                       child=ChildDraft(f"code {i}", None, None, 1, 0))
        a.record_evaluation(pid, set_name="train", evaluator_version="v1", outcome=OUT)
        ids.append(pid)
        assert a.program(pid).status == "ok"
    assert list(a._programs) == ids[-3:]  # the oldest went; the newest are served from memory
    assert a.program(ids[0]).code == "code 0"  # an evicted program is read again


def test_repairs_that_never_worked_do_not_pay_even_against_proposals_that_never_did():
    assert CallYield(repair_calls=3, repair_valid=0, proposal_calls=6, proposal_valid=0).repair_pays(4)
    assert not CallYield(repair_calls=4, repair_valid=0, proposal_calls=6, proposal_valid=0).repair_pays(4)
    assert CallYield(repair_calls=4, repair_valid=1, proposal_calls=6, proposal_valid=0).repair_pays(4)
    assert not CallYield(repair_calls=8, repair_valid=1, proposal_calls=6, proposal_valid=4).repair_pays(4)
