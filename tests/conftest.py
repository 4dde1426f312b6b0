"""Shared fixtures: a real OpenAI-compatible stub server, CLI runner, archive access."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from evolve.llm.stub_server import Step, StubLLM

pytest_plugins = ("celery.contrib.pytest",)

ROOT = Path(__file__).resolve().parent.parent
SECRET_VARS = ("OPENAI_API_KEY", "EVOLVE_MODEL", "EVOLVE_API_BASE", "ANTHROPIC_API_KEY")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VARS}
    env["PYTHONUNBUFFERED"] = "1"
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


def evolve_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "evolve.cli", *args]


def run_cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(evolve_cmd(*args), cwd=ROOT, env=env or clean_env(), capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def stub() -> Iterator[StubLLM]:
    with StubLLM(default=Step(content="Nothing to change.")) as server:
        yield server


def query(db: Path, sql: str, *params: object) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


SEED_RULE = "    return d_j\n"  # the seed's priority: earliest due date

WMDD_DIFF = """Use the weighted modified due date rule.
<<<<<<< SEARCH
    return d_j
=======
    return max(p_j, d_j - t) / w_j
>>>>>>> REPLACE
"""


def variant_rewrite(n: int) -> str:
    """A distinct, valid full rewrite (EDD with a different tie-break) for request number n."""
    return (f"Variant {n}.\n```python\n# EVOLVE-BLOCK-START\n"
            f"def schedule(p, w, d):\n    # variant {n}\n"
            f"    return sorted(range(len(p)), key=lambda j: (d[j], ({n} * j) % 7))\n"
            f"# EVOLVE-BLOCK-END\n```\n")


PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379"


def _unavailable(what: str, exc: Exception) -> None:
    """Skip on a developer machine without the service; fail in CI, which must provide it."""
    message = f"{what} ({type(exc).__name__}: {exc})"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; scripts/services.sh should have started it")
    pytest.skip(message)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"evolve_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        _unavailable("PostgreSQL not reachable at 127.0.0.1:5432", exc)
    yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """An empty Redis database (one of 1-15) as Celery broker and backend; under pytest-xdist
    each worker draws from its own share of them, so that two tests never share one."""
    import redis

    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:])
    assert workers <= 15, "at most 15 pytest-xdist workers: Redis has 15 spare databases"
    mine = [n for n in range(1, 16) if (n - 1) % workers == worker]
    number = mine[uuid.uuid4().int % len(mine)]
    url = f"{REDIS}/{number}"
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    except Exception as exc:
        _unavailable("Redis not reachable at 127.0.0.1:6379", exc)
    yield url
    client.flushdb()
    client.close()
