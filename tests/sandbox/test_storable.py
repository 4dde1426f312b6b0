"""What a candidate shapes on its way into the archive cannot stop a run (issue 18, finding 1).

A candidate whose exception message holds a lone surrogate or a NUL byte made the SQLite write of
its error fail ("internal error"), and `evolve resume` died the same way; a reply frame whose kind
is not a string, or text PostgreSQL refuses, would too. Checked through the real sandbox and
verifier, on SQLite and PostgreSQL, and end to end through `evolve run` and `evolve resume`."""

from __future__ import annotations

import pytest

from evaluators.jobs import run_job, verifier_for
from evaluators.storable import TEXT_CAP, clean_kind, clean_outcome, clean_text
from evolve.archive.store import Archive
from evolve.llm.stub_server import Step, StubLLM

from ..conftest import query, run_cli, write_config

HOSTILE = ('def schedule(p, w, d):\n'
           '    raise ValueError("lone \\udcff surrogate, NUL \\x00 byte")\n')


def test_text_from_the_candidate_is_cleaned_to_storable_text():
    assert clean_text("a\udcffb\x00c") == "a\ufffdb\ufffdc"
    assert clean_text("ok ünïcode ✓") == "ok ünïcode ✓"
    assert clean_text(["not", "text"]) == "<list>"
    long = clean_text("x" * (5 * TEXT_CAP) + "END")
    assert len(long) < TEXT_CAP + 100 and long.endswith("END") and "characters cut" in long
    assert clean_kind(["timeout"]) == clean_kind("x" * 40) == clean_kind("memory") == "protocol"
    assert clean_kind("timeout") == "timeout" and clean_kind(None) is None
    out = clean_outcome({"ok": False, "metrics": {}, "combined_score": None, "feedback": None,
                         "error": "e\x00", "error_kind": {"a": 1}, "seconds": 0.1})
    assert out.error == "e\ufffd" and out.error_kind == "protocol" and out.feedback == ""


def test_an_evaluation_outcome_leaves_the_worker_cleaned():
    raw = verifier_for("smtt").evaluate(HOSTILE, "train")
    assert "\udcff" in raw.error and "\x00" in raw.error  # as the sandbox reports it
    out = run_job({"problem": "smtt", "code": HOSTILE, "set": "train"})
    assert "lone \ufffd surrogate, NUL \ufffd byte" in out["error"] and out["error"].encode()


def _stored_error(url: str) -> tuple[str, str]:
    outcome = verifier_for("smtt").evaluate(HOSTILE, "train").to_dict()  # not cleaned yet
    archive = Archive(url)
    try:
        run_id = archive.create_run("hostile", "smtt", {})
        pid = archive.add_seed(run_id, HOSTILE)
        assert archive.record_evaluation(pid, set_name="train", evaluator_version="v",
                                         outcome=outcome)
        stored = archive.evaluation_outcome(pid, "train", "v")
        return stored.error, archive.program(pid).status
    finally:
        archive.close()


def test_an_unstorable_error_text_is_stored_cleaned_on_sqlite(tmp_path):
    error, status = _stored_error(f"sqlite:///{tmp_path / 'a.db'}")
    assert status == "failed" and "lone \ufffd surrogate, NUL \ufffd byte" in error


def test_an_unstorable_error_text_is_stored_cleaned_on_postgresql(pg_url):
    error, status = _stored_error(pg_url)
    assert status == "failed" and "lone \ufffd surrogate, NUL \ufffd byte" in error


def test_an_outcome_the_database_still_refuses_fails_its_program_only(pg_url):
    """PostgreSQL's json refuses NaN: the write fails after cleaning, the program is recorded as
    failed with the reason, and the archive keeps working."""
    archive = Archive(pg_url)
    try:
        run_id = archive.create_run("refused", "smtt", {})
        pid = archive.add_seed(run_id, "def schedule(p, w, d):\n    return []\n")
        bad = {"ok": True, "metrics": {"gap": float("nan")}, "combined_score": 1.0,
               "feedback": "", "error": None, "error_kind": None, "seconds": 0.1}
        assert archive.record_evaluation(pid, set_name="train", evaluator_version="v", outcome=bad)
        prog = archive.program(pid)
        assert prog.status == "failed" and prog.combined_score is None
        stored = archive.evaluation_outcome(pid, "train", "v")
        assert stored.error_kind == "unstorable" and "could not be stored" in stored.error
        assert archive.iteration_count(run_id) == 0  # still answering
    finally:
        archive.close()


@pytest.mark.slow
def test_a_run_and_its_resume_go_on_past_a_hostile_error(tmp_path):
    reply = f"```python\n# from a server: \udcff \x00\n{HOSTILE}```"
    runs = str(tmp_path / "runs")
    cfg = write_config(tmp_path / "run.yaml", "search:\n  islands: 1\ntuning:\n  enabled: false\n"
                       "repair:\n  enabled: false\n")
    with StubLLM(default=Step(content=reply)) as stub:
        res = run_cli("run", "smtt", "--api-base", stub.url, "--iterations", "2", "--config",
                      str(cfg), "--runs-dir", runs, "--run-name", "h", "--no-report")
        assert res.returncode == 0, res.stdout + res.stderr
        db = tmp_path / "runs" / "h" / "archive.db"
        rows = query(db, "select p.status, e.error from programs p join evaluations e on "
                         "e.program_id = p.id where p.id = 2")
        assert rows[0][0] == "failed" and "lone \ufffd surrogate" in rows[0][1]
        code = query(db, "select code from programs where id = 2")[0][0]
        assert "# from a server: \ufffd \ufffd" in code  # the reply was cleaned on arrival
        res = run_cli("resume", "h", "--runs-dir", runs, "--iterations", "3")
        assert res.returncode == 0, res.stdout + res.stderr
