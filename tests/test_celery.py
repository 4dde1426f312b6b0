"""The Celery executor against a real Redis broker and a real in-thread Celery worker.

The worker is the one ``celery.contrib.pytest`` starts (a real consumer: broker round trips,
acks, task ids), running evolve's own app and tasks; no eager mode anywhere.
"""

from __future__ import annotations

import asyncio

import pytest

from evaluators.jobs import run_job
from evaluators.problem import load_problem
from evolve.archive.ledger import Ledger
from evolve.archive.store import Archive
from evolve.config import ExecutorConfig
from evolve.executors.base import EvalJob, ExecutorError
from evolve.executors.celery.app import EVALUATE, EVALUATE_CODE, QUEUE, make_app
from evolve.executors.celery.executor import CeleryExecutor
from evolve.executors.celery.tasks import register

from .conftest import WMDD_DIFF


@pytest.fixture
def celery_app(redis_url):
    app = make_app(redis_url)
    register(app)
    yield app
    app.close()


@pytest.fixture(scope="session")
def celery_includes():
    return ("celery.contrib.testing.tasks",)  # the ping task start_worker checks with


@pytest.fixture(scope="session")
def celery_worker_parameters():
    return {"queues": (QUEUE,)}


@pytest.fixture
def archive(tmp_path):
    a = Archive.for_run_dir(tmp_path / "run")
    yield a
    a.close()


def wmdd_code() -> str:
    seed = load_problem("smtt").initial_code
    search, replace = WMDD_DIFF.split("=======\n")
    return seed.replace(search.split("<<<<<<< SEARCH\n")[1], replace.split(">>>>>>> REPLACE")[0])


def make_executor(archive, redis_url, **settings) -> CeleryExecutor:
    return CeleryExecutor(archive, "r", ExecutorConfig(kind="celery", broker=redis_url, **settings), 2)


def test_program_evaluated_once_and_stored_by_the_worker(celery_worker, celery_app, archive, redis_url):
    run = archive.create_run("r", "smtt", {})
    pid = archive.add_seed(run, wmdd_code())
    executor = make_executor(archive, redis_url)
    out = asyncio.run(executor.evaluate(EvalJob("smtt", wmdd_code(), "train", pid, "r", (0, 1))))
    assert out.ok and -0.40 < out.combined_score < -0.37  # WMDD's training gap is 38.8%
    prog = archive.program(pid)
    assert prog.status == "ok" and prog.combined_score == out.combined_score and prog.cell
    assert {e.program_id for i in (0, 1) for e in archive.elites(run, i)} == {pid}  # same txn
    task = Ledger(archive).by_task_id(f"evolve:r:{pid}:train:smtt-2:0")
    assert (task.state, task.attempts) == ("done", 1)
    # the same message delivered again (redelivery, sweeper resend) is claimed by no one
    payload = executor._payload(EvalJob("smtt", "", "train", pid, "r", (0, 1)), task)
    celery_app.send_task(EVALUATE, args=[payload], queue=QUEUE)
    sentinel = celery_app.send_task(EVALUATE_CODE, args=[EvalJob("smtt", wmdd_code(), "gate").to_dict()],
                                    queue=QUEUE)
    assert sentinel.get(timeout=60)["ok"]  # the solo worker took the duplicate before this
    # a resumed controller asking again gets the stored outcome without a new task
    assert asyncio.run(executor.evaluate(EvalJob("smtt", "", "train", pid, "r"))).combined_score \
        == out.combined_score
    with archive.session() as s:
        from sqlalchemy import text

        assert s.execute(text("select count(*) from evaluations")).scalar() == 1
        assert s.execute(text("select attempts, sends from eval_tasks")).one() == (1, 1)
    executor.close()


def test_mismatched_worker_refuses_instead_of_scoring(celery_worker, archive, redis_url, monkeypatch):
    run = archive.create_run("r", "smtt", {})
    pid = archive.add_seed(run, wmdd_code())
    # the controller runs a newer evaluator than the worker has
    monkeypatch.setattr("evolve.executors.celery.executor.evaluator_version", lambda p: "smtt-99")
    executor = make_executor(archive, redis_url)
    with pytest.raises(ExecutorError) as err:
        asyncio.run(executor.evaluate(EvalJob("smtt", wmdd_code(), "train", pid, "r")))
    message = str(err.value)
    assert "has evaluator smtt-2 for smtt but the controller expects smtt-99" in message
    assert "evolve resume" in message
    assert archive.program(pid).status == "pending"  # not scored, not failed: evaluated later
    assert archive.evaluation_outcome(pid, "train", "smtt-99") is None
    executor.close()


def test_baseline_code_evaluates_through_the_result_backend(celery_worker, archive, redis_url):
    executor = make_executor(archive, redis_url)
    out = asyncio.run(executor.evaluate(EvalJob("smtt", wmdd_code(), "gen20")))
    assert out.ok and out.evaluator_version == "smtt-2"
    executor.close()


def test_unreachable_broker_is_one_clear_line(archive):
    from evolve.executors.celery.app import BrokerUnreachable

    with pytest.raises(BrokerUnreachable) as err:
        make_executor(archive, "redis://127.0.0.1:1/0")
    assert "cannot reach the Celery broker at redis://127.0.0.1:1/0" in str(err.value)
    assert "--broker" in str(err.value) and "\n" not in str(err.value)


def test_cli_errors_for_unreachable_services_are_one_line(tmp_path):
    from .conftest import run_cli

    cases = [
        (["run", "smtt", "--api-base", "http://127.0.0.1:9/v1", "--executor", "celery", "--broker",
          "redis://127.0.0.1:1/0", "--runs-dir", str(tmp_path)], "cannot reach the Celery broker"),
        (["worker", "--broker", "redis://127.0.0.1:1/0"], "cannot reach the Celery broker"),
        (["worker", "--db", "postgresql+psycopg://postgres@127.0.0.1:1/evolve"],
         "cannot reach the archive database"),
        (["run", "smtt", "--api-base", "http://127.0.0.1:9/v1", "--db",
          "postgresql+psycopg://postgres@127.0.0.1:1/evolve"], "cannot reach the archive database"),
        (["run", "smtt", "--api-base", "http://127.0.0.1:9/v1", "--executor", "ray"],
         "--executor 'ray' (executor.kind): Input should be 'local' or 'celery'"),
    ]
    for args, expected in cases:
        res = run_cli(*args, timeout=60)
        # stderr is the one error line: no traceback before it, no continuation after it
        assert res.returncode == 2 and "Traceback" not in res.stdout + res.stderr, res.stderr
        assert res.stderr.endswith("\n") and res.stderr.count("\n") == 1, res.stderr
        assert res.stderr.startswith("error: ") and expected in res.stderr, res.stderr
    assert not any(tmp_path.iterdir())  # no run was created for an unreachable broker


def test_a_worker_scores_a_program_on_its_runs_draw(celery_worker, archive, redis_url):
    code = load_problem("bin_packing").baselines()["best_fit"]
    run = archive.create_run("r", "bin_packing", {}, draw=77)
    pid = archive.add_seed(run, code)
    executor = make_executor(archive, redis_url)
    assert executor.draw == 77  # read from the archive, for code sent without a program row
    stored = asyncio.run(executor.evaluate(EvalJob("bin_packing", code, "train", pid, "r")))
    sent = asyncio.run(executor.evaluate(EvalJob("bin_packing", code, "train")))
    executor.close()
    on_draw = run_job({"problem": "bin_packing", "code": code, "set": "train", "draw": 77})
    public = run_job({"problem": "bin_packing", "code": code, "set": "train"})
    assert stored.combined_score == sent.combined_score == on_draw["combined_score"]
    assert on_draw["combined_score"] != public["combined_score"]
