"""Kill the controller mid-run (SIGKILL, Ctrl-C) and resume: nothing lost, nothing doubled."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time

import pytest

from evolve.llm.stub_server import Step, StubLLM

from .conftest import ROOT, clean_env, evolve_cmd, query, run_cli, variant_rewrite, write_config

TOTAL = 14


def start_run(stub: StubLLM, tmp_path, name: str) -> subprocess.Popen:
    cfg = write_config(tmp_path / "run.yaml", "proposals_in_flight: 3\nevaluations_in_flight: 2\n"
                       "search:\n  islands: 2\n  migration_interval: 4\n")
    return subprocess.Popen(evolve_cmd("run", "smtt", "--api-base", stub.url, "--iterations", str(TOTAL),
                                       "--config", str(cfg), "--no-report",
                                       "--runs-dir", str(tmp_path / "runs"), "--run-name", name),
                            cwd=ROOT, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def wait_for_iterations(db, n: int, proc: subprocess.Popen, pending: int = 0, timeout: float = 120) -> None:
    """Wait until n iterations are committed and at least ``pending`` children await evaluation."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            done = query(db, "select count(*) from iterations")[0][0]
            waiting = query(db, "select count(*) from programs where status = 'pending'")[0][0]
        except sqlite3.OperationalError:
            done = waiting = 0
        if done >= n and waiting >= pending:
            return
        time.sleep(0.02)
    raise AssertionError(f"run did not reach {n} iterations with {pending} pending")


def assert_consistent(db) -> None:
    numbers = [r[0] for r in query(db, "select number from iterations order by number")]
    assert numbers == list(range(1, TOTAL + 1)), numbers
    assert query(db, "select count(*) from programs where status = 'pending'") == [(0,)]
    children = query(db, "select count(*) from iterations where outcome = 'child'")[0][0]
    programs = query(db, "select count(*) from programs")[0][0]
    assert programs == children + 1  # + the seed; duplicates point at existing programs
    # each program evaluated exactly once on the training set
    assert query(db, "select count(*), count(distinct program_id) from evaluations "
                     "where set_name = 'train'") == [(programs, programs)]
    for (pid,) in query(db, "select child_id from iterations where outcome = 'child'"):
        assert query(db, "select status from programs where id = ?", pid)[0][0] in ("ok", "failed", "same")
    assert query(db, "select status from runs") == [("finished",)]


def assert_stalled(db, name: str, monkeypatch) -> None:
    """Status and dashboard call a running run whose heartbeat is older than the stall limit
    stalled, with the command that continues it (the limit set to 0 s: any age is too old)."""
    import evolve.heartbeat
    from evolve.archive.db import sqlite_url
    from evolve.archive.store import Archive
    from evolve.report import status_tables
    from ui import queries
    from ui.readonly import readonly_engine

    monkeypatch.setattr(evolve.heartbeat, "STALL_SECONDS", 0.0)
    archive = Archive(sqlite_url(db), migrate=False)
    try:
        summary, _ = status_tables(archive, archive.find_run(name).id)
    finally:
        archive.close()
    assert summary.title.endswith(": stalled")
    assert f"`evolve resume {name}`" in summary.columns[1]._cells[0]
    engine = readonly_engine(sqlite_url(db))
    assert list(queries.runs(engine)["status"]) == ["stalled"]
    assert queries.run_info(engine, name).status == "stalled"
    monkeypatch.setattr(evolve.heartbeat, "STALL_SECONDS", 3600.0)  # a live run is not stalled
    assert list(queries.runs(engine)["status"]) == ["running"]


@pytest.mark.slow
def test_sigkill_mid_run_then_resume(tmp_path, monkeypatch):
    responder = lambda n, body: Step(content=variant_rewrite(n), delay=0.15)  # noqa: E731
    with StubLLM(responder=responder) as stub:
        proc = start_run(stub, tmp_path, "killed")
        db = tmp_path / "runs" / "killed" / "archive.db"
        wait_for_iterations(db, 5, proc, pending=1)
        os.killpg(proc.pid, signal.SIGKILL)  # the controller and its worker pool die at once
        proc.wait(10)
        before = query(db, "select count(*) from iterations")[0][0]
        assert 5 <= before < TOTAL
        # issue 21, defect 5: the archive still says running; without a heartbeat it is stalled
        assert query(db, "select status from runs") == [("running",)]
        assert_stalled(db, "killed", monkeypatch)
        # killed with a child stored but not evaluated: resume must evaluate it, not drop it
        assert query(db, "select count(*) from programs where status = 'pending'")[0][0] >= 1
        res = run_cli("resume", "killed", "--runs-dir", str(tmp_path / "runs"))
        assert res.returncode == 0, res.stderr
        assert f"resuming killed at iteration {before} of {TOTAL}" in res.stdout
    assert_consistent(db)


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_then_resume(tmp_path):
    responder = lambda n, body: Step(content=variant_rewrite(n), delay=0.3)  # noqa: E731
    with StubLLM(responder=responder) as stub:
        proc = start_run(stub, tmp_path, "interrupted")
        db = tmp_path / "runs" / "interrupted" / "archive.db"
        wait_for_iterations(db, 3, proc)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends to the foreground group
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "interrupted" in out
        status, reason = query(db, "select status, stop_reason from runs")[0]
        assert status == "stopped" and "interrupted" in reason
        res = run_cli("resume", "interrupted", "--runs-dir", str(tmp_path / "runs"))
        assert res.returncode == 0, res.stderr
    assert_consistent(db)
