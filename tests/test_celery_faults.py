"""Distributed runs with real `evolve worker` processes on Redis: kill things, lose nothing.

Each test starts real Celery workers (prefork pools) as subprocesses, drives `evolve run
--executor celery` against the scripted LLM server, breaks something with SIGKILL (a worker's
pool process, the controller, the broker) and then checks the archive: every program evaluated
exactly once on the training set, and the ledger shows how many times each was executed
(``attempts``) and how many times the controller published it (``sends``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from evolve.archive.db import sqlite_url
from evolve.archive.store import Archive
from evolve.executors.celery.app import QUEUE
from evolve.llm.stub_server import Step, StubLLM

from .conftest import ROOT, _unavailable, clean_env, evolve_cmd, run_cli, variant_rewrite, write_config

pytestmark = pytest.mark.slow

FIXTURES = ROOT / "tests" / "fixtures"


def env(**extra: str) -> dict[str, str]:
    return clean_env(PYTHONPATH=f"{FIXTURES}{os.pathsep}{ROOT}", **extra)


def q(url: str, sql: str, **params: object) -> list[tuple]:
    """Rows of ``sql`` on the archive; any database error is raised."""
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return [tuple(r) for r in c.execute(text(sql), params).all()]
    finally:
        engine.dispose()


def seen(url: str, sql: str, **params: object) -> list[tuple]:
    """``q`` while a run is starting: [] until its SQLite archive exists and has its tables."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return []
    try:
        return q(url, sql, **params)
    except OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise


def count(url: str, sql: str) -> int:
    return (seen(url, sql) or [(0,)])[0][0]


def slow_rewrite(n: int, seconds: float) -> str:
    """A valid candidate whose first call sleeps: its evaluation is in flight for a while."""
    return (f"```python\nimport time\n_calls = [0]\n\n\ndef schedule(p, w, d):\n    # slow {n}\n"
            f"    _calls[0] += 1\n    if _calls[0] == 1:\n        time.sleep({seconds})\n"
            f"    return sorted(range(len(p)), key=lambda j: (d[j], ({n} * j) % 5))\n```\n")


class Workers:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.procs: list[subprocess.Popen] = []

    def start(self, broker: str, db: str | None = None, concurrency: int = 1,
              extra_env: dict | None = None) -> subprocess.Popen:
        log = self.tmp / f"worker-{len(self.procs)}.log"
        args = ["worker", "--broker", broker, "--concurrency", str(concurrency)]
        proc = subprocess.Popen(evolve_cmd(*args, *(["--db", db] if db else [])), cwd=ROOT,
                                env=env(**(extra_env or {})), stdout=log.open("w"),
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        deadline = time.monotonic() + 60
        while "ready." not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(30)


@pytest.fixture
def workers(tmp_path) -> Iterator[Workers]:
    w = Workers(tmp_path)
    yield w
    w.stop()


CONTROLLERS: list[subprocess.Popen] = []


def controller(args: list[str], **kwargs) -> subprocess.Popen:
    """`evolve run` in the background; killed after the test whatever happens."""
    proc = subprocess.Popen(evolve_cmd(*args), cwd=ROOT, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)
    CONTROLLERS.append(proc)
    return proc


@pytest.fixture(autouse=True)
def _kill_controllers() -> Iterator[None]:
    yield
    while CONTROLLERS:
        proc = CONTROLLERS.pop()
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)


def run_args(stub: StubLLM, broker: str, name: str, iterations: int, tmp_path: Path,
             db: str | None, cfg: str = "", problem: str = "smtt", report: bool = False) -> list[str]:
    config = write_config(tmp_path / f"{name}.yaml", "tuning:\n  enabled: false\nproposals_in_flight: 3\n"
                          "evaluations_in_flight: 4\nsearch:\n  islands: 2\n  migration_interval: 4\n"
                          + cfg)
    return ["run", problem, "--api-base", stub.url, "--iterations", str(iterations), "--config",
            str(config), "--executor", "celery", "--broker", broker, "--runs-dir",
            str(tmp_path / "runs"), "--run-name", name, *(["--db", db] if db else []),
            *([] if report else ["--no-report"])]


def assert_exact(url: str, iterations: int) -> None:
    """No program lost, none evaluated twice, every ledger row closed."""
    numbers = [r[0] for r in q(url, "select number from iterations order by number")]
    assert numbers == list(range(1, iterations + 1))
    children = q(url, "select count(*) from iterations where outcome = 'child'")[0][0]
    programs = q(url, "select count(*) from programs")[0][0]
    assert programs == children + 1
    assert q(url, "select count(*) from programs where status = 'pending'") == [(0,)]
    assert q(url, "select count(*), count(distinct program_id) from evaluations "
                  "where set_name = 'train'") == [(programs, programs)]
    assert q(url, "select count(*) from eval_tasks where state = 'done' and set_name = 'train'") \
        == [(programs,)]
    assert q(url, "select status from runs") == [("finished",)]


def wait_until(predicate, proc: subprocess.Popen | None, timeout: float = 120, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process ended before {what}: {proc.communicate()}")
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _stopped(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


@contextmanager
def frozen(proc: subprocess.Popen, url: str) -> Iterator[None]:
    """The controller stopped (SIGSTOP: its sweeper can resend nothing) at a moment it holds no
    write lock on its SQLite archive, which workers still write; resumed on leaving."""
    path = url.removeprefix("sqlite:///")
    for _ in range(200):
        os.kill(proc.pid, signal.SIGSTOP)
        wait_until(lambda: _stopped(proc.pid), None, 10, "the controller to stop")
        con = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute("ROLLBACK")
            break
        except sqlite3.OperationalError:  # stopped inside a write: let it finish, try again
            os.kill(proc.pid, signal.SIGCONT)
            time.sleep(0.02)
        finally:
            con.close()
    else:
        raise AssertionError("the controller never let go of its archive's write lock")
    try:
        yield
    finally:
        os.kill(proc.pid, signal.SIGCONT)


def test_run_on_two_workers_with_postgresql(workers, redis_url, pg_url, tmp_path):
    workers.start(redis_url, pg_url)
    workers.start(redis_url, pg_url)
    with StubLLM(responder=lambda n, body: Step(content=variant_rewrite(n))) as stub:
        res = run_cli(*run_args(stub, redis_url, "two", 12, tmp_path, pg_url, report=True), env=env())
    assert res.returncode == 0, res.stdout + res.stderr
    assert "executor celery" in res.stdout and "winner vs starting points and baselines" in res.stdout
    assert_exact(pg_url, 12)
    assert q(pg_url, "select max(attempts) from eval_tasks") == [(1,)]
    claimants = {r[0].split("|")[2] for r in q(pg_url, "select claimed_by from eval_tasks")}
    assert len(claimants) == 2  # both workers' pool processes evaluated
    # the winner was chosen on the validation set through the workers; the final report scored it
    # (and the seed, its starting point) on the held-out set; baselines went through workers too
    validated = q(pg_url, "select count(*) from evaluations where set_name = 'validation'")[0][0]
    assert validated >= 2
    archive = Archive(pg_url, migrate=False)
    try:
        best = archive.winner(archive.find_run("two").id)
    finally:
        archive.close()
    tested = {r[0] for r in q(pg_url, "select program_id from evaluations where set_name = 'test'")}
    assert best in tested and tested <= {best, 1}


@pytest.mark.parametrize("victim", ["pool process", "whole worker"])
def test_worker_killed_mid_evaluation_is_redelivered(victim, workers, redis_url, tmp_path):
    """A pool process dying hands its message back at once (acks_late + reject_on_worker_lost:
    the broker redelivers, the controller publishes once); a whole worker dying (its machine
    gone) leaves its message unacknowledged in the broker, so the controller's sweeper resends."""
    first = workers.start(redis_url, concurrency=1)
    if victim == "whole worker":
        workers.start(redis_url, concurrency=1)  # someone must be left to finish the job

    def reply(n: int, body: dict) -> Step:
        return Step(content=slow_rewrite(n, 3.0) if n == 1 else variant_rewrite(n))

    with StubLLM(responder=reply) as stub:
        proc = controller(run_args(stub, redis_url, "wkill", 6, tmp_path, None))
        url = sqlite_url(tmp_path / "runs" / "wkill" / "archive.db")
        slow = ("select t.claimed_by, t.program_id from eval_tasks t join programs p "
                "on p.id = t.program_id where p.code like '%slow 1%' and t.state = 'running'")
        wait_until(lambda: seen(url, slow), proc, what="the slow evaluation to start")
        claimed_by, program = q(url, slow)[0]
        child = int(claimed_by.split("|")[2])
        time.sleep(0.5)
        if victim == "pool process":
            attempts = "select attempts from eval_tasks where program_id = :p"
            with frozen(proc, url):  # the redelivery cannot be the sweeper's
                os.kill(child, signal.SIGKILL)
                wait_until(lambda: q(url, attempts, p=program) == [(2,)], None, 90,
                           "the broker to redeliver the killed pool process's message to a new "
                           "pool process while the controller is stopped (acks_late, "
                           "reject_on_worker_lost)")
        else:
            parent = int(Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[1])
            owner = next(w for w in workers.procs if w.pid == parent)
            assert owner is first or len(workers.procs) == 2
            os.killpg(owner.pid, signal.SIGKILL)  # main process, pool, sandboxes: all at once
        out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, out + err
    assert_exact(url, 6)
    attempts, sends, message = q(url, "select attempts, sends, message from eval_tasks "
                                      "where program_id = :p", p=program)[0]
    assert attempts == 2 and "lost its worker" in message
    if victim == "pool process":
        assert sends == 1  # published once: the second delivery was the broker's
    else:
        assert sends >= 2  # the sweeper resent it
    assert q(url, "select status from programs where id = :p", p=program) == [("ok",)]
    assert q(url, "select max(attempts) from eval_tasks where program_id != :p", p=program) == [(1,)]
    programs = q(url, "select count(*) from programs")[0][0]
    status = run_cli("status", "wkill", "--runs-dir", str(tmp_path / "runs"), env=env())
    assert f"{programs} evaluations sent to workers, {programs + 1} executions" in status.stdout


def test_controller_killed_then_resumed(workers, redis_url, tmp_path):
    workers.start(redis_url, concurrency=1)
    workers.start(redis_url, concurrency=1)

    def reply(n: int, body: dict) -> Step:
        return Step(content=slow_rewrite(n, 1.0) if n % 3 == 0 else variant_rewrite(n))

    total = 14
    with StubLLM(responder=reply) as stub:
        args = run_args(stub, redis_url, "ckill", total, tmp_path, None)
        proc = controller(args, start_new_session=True)
        url = sqlite_url(tmp_path / "runs" / "ckill" / "archive.db")
        in_flight = "select count(*) from eval_tasks where state in ('queued', 'running')"
        wait_until(lambda: count(url, "select count(*) from iterations") >= 5
                   and count(url, in_flight) >= 1, proc, what="work in flight")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        assert q(url, "select status from runs") == [("running",)]  # killed, not stopped
        resumed = run_cli("resume", "ckill", "--iterations", str(total), "--runs-dir",
                          str(tmp_path / "runs"), env=env())
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert_exact(url, total)
    # the resumed controller re-sent what it found unfinished; workers ran each program once
    assert q(url, "select max(attempts) from eval_tasks") == [(1,)]


def test_poison_candidate_is_failed_after_three_worker_deaths(workers, redis_url, tmp_path):
    problems = str(FIXTURES / "problems")
    workers.start(redis_url, concurrency=1, extra_env={"EVOLVE_PROBLEMS": problems})
    killer = ("```python\ndef schedule(p, w, d):\n    # KILL-MY-WORKER\n"
              "    return sorted(range(len(p)), key=lambda j: -d[j])\n```\n")

    def reply(n: int, body: dict) -> Step:
        return Step(content=killer if n == 1 else variant_rewrite(n))

    with StubLLM(responder=reply) as stub:
        res = run_cli(*run_args(stub, redis_url, "poison", 6, tmp_path, None, problem="smtt_poison",
                                cfg="proposals_in_flight: 1\n"),
                      env=env(EVOLVE_PROBLEMS=problems))
    assert res.returncode == 0, res.stdout + res.stderr
    url = sqlite_url(tmp_path / "runs" / "poison" / "archive.db")
    assert_exact(url, 6)
    pid = q(url, "select id from programs where code like '%KILL-MY-WORKER%'")[0][0]
    assert q(url, "select status from programs where id = :p", p=pid) == [("failed",)]
    kind, error = q(url, "select error_kind, error from evaluations where program_id = :p", p=pid)[0]
    assert kind == "worker_lost" and "killed its worker 3 times" in error
    assert q(url, "select attempts from eval_tasks where program_id = :p", p=pid) == [(3,)]
    assert q(url, "select count(*) from programs where status = 'ok'")[0][0] >= 5  # the run went on


@pytest.fixture
def private_redis(tmp_path) -> Iterator[tuple[str, callable]]:
    """A Redis server of our own (port 6391, no persistence) that the test may kill."""
    server = shutil.which("redis-server")
    if server is None:
        _unavailable("redis-server is not installed", FileNotFoundError("redis-server"))
    port = 6391
    procs: list[subprocess.Popen] = []

    def start() -> None:
        proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", str(tmp_path)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        import redis

        client = redis.Redis(port=port)
        wait_until(lambda: _pings(client), None, 20, "redis to start")

    def kill() -> None:
        procs[-1].kill()
        procs[-1].wait(10)

    start()
    yield f"redis://127.0.0.1:{port}/0", (start, kill)
    for p in procs:
        p.kill()
        p.wait(10)


def _pings(client) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


@contextmanager
def paused(procs: list[subprocess.Popen]) -> Iterator[None]:
    """Workers stopped (SIGSTOP, whole process groups): none takes a message meanwhile."""
    for proc in procs:
        os.killpg(proc.pid, signal.SIGSTOP)
    for proc in procs:
        wait_until(lambda p=proc: _stopped(p.pid), None, 10, "a worker to stop")
    try:
        yield
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGCONT)


def test_broker_restart_during_a_run(workers, private_redis, tmp_path):
    """A broker that keeps nothing restarts mid-run: the messages waiting in it are lost, the
    controller's sweeper resends them, and the run finishes by itself (the 3 s outage is far
    below broker_outage_seconds); no stop, no resume."""
    import redis

    broker, (start, kill) = private_redis
    workers.start(broker, concurrency=2)

    def reply(n: int, body: dict) -> Step:
        return Step(content=slow_rewrite(n, 0.5) if n % 2 else variant_rewrite(n), delay=0.2)

    total = 16
    with StubLLM(responder=reply) as stub:
        args = run_args(stub, broker, "broker", total, tmp_path, None,
                        cfg="executor:\n  resend_after_seconds: 3\n  broker_outage_seconds: 60\n")
        proc = controller(args)
        url = sqlite_url(tmp_path / "runs" / "broker" / "archive.db")
        client = redis.Redis.from_url(broker)
        lost: list[str] = []
        while not lost:  # kill the broker while messages wait in it, none of them taken
            wait_until(lambda: count(url, "select count(*) from iterations") >= 4
                       and client.llen(QUEUE) > 0, proc, what="messages waiting in the broker")
            with paused(workers.procs):
                lost = [json.loads(m)["headers"]["id"] for m in client.lrange(QUEUE, 0, -1)]
                if lost:
                    client.close()
                    kill()  # queued and unacknowledged messages are gone with it
        time.sleep(3)
        start()
        out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, out + err  # recovered by itself
    # a publish that failed during the outage is followed by the note that the broker is back
    assert ("cannot publish" in out) == ("reachable again" in out), out + err
    assert_exact(url, total)
    sends = dict(q(url, "select task_id, sends from eval_tasks"))
    assert all(sends[task] >= 2 for task in lost), (lost, sends)  # every lost message was resent
    assert q(url, "select max(attempts) from eval_tasks")[0][0] <= 2
