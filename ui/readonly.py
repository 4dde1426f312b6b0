"""Read-only access to archives for the dashboard: which archives to show, and engines that cannot write.

SQLite connections run with ``PRAGMA query_only`` and plain deferred transactions (never the
engine's ``BEGIN IMMEDIATE``, which would take the write lock from a running controller);
PostgreSQL sessions start with ``default_transaction_read_only``. The dashboard never migrates:
an archive at another schema revision gets a one-line message naming the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError

from evolve.archive.db import current_revision, head_revision, shown_url, sqlite_url


class ArchiveUnavailable(Exception):
    """An archive cannot be shown; the message names it and the fix."""


@dataclass(frozen=True)
class Source:
    """One archive the dashboard reads: a database URL and a label for people."""

    url: str
    label: str


def sources(db: str | None, runs_dir: Path) -> list[Source]:
    """The archive at ``db``, or every run archive under ``runs_dir`` (newest first)."""
    if db:
        url = db if "://" in db else sqlite_url(Path(db))  # a path to an archive.db is accepted
        return [Source(url, shown_url(url))]
    files = sorted(Path(runs_dir).glob("*/archive.db"), key=lambda p: p.stat().st_mtime, reverse=True)
    return [Source(sqlite_url(f), str(f)) for f in files]


def _sqlite_file_exists(url: str) -> None:
    """Refuse a SQLite URL whose file does not exist (opening it would create an empty one)."""
    from sqlalchemy.engine import make_url

    try:
        path = make_url(url).database
    except Exception:
        return  # left to create_engine to report
    if path and path != ":memory:" and not path.startswith("file:") and not Path(path).exists():
        raise ArchiveUnavailable(f"no archive at {path}: pass the archive.db of a run (a path or a "
                                 "sqlite:/// URL), or --runs-dir to show every run in a folder")


@cache
def readonly_engine(url: str) -> Engine:
    """An engine on ``url`` whose sessions cannot write; checked once for its schema revision."""
    if url.startswith("sqlite"):
        _sqlite_file_exists(url)
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

            @event.listens_for(engine, "connect")
            def _on_connect(dbapi_conn, _record):
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA busy_timeout=30000")
                cur.execute("PRAGMA query_only=ON")
                cur.close()
        else:
            engine = create_engine(url, pool_pre_ping=True,
                                   connect_args={"options": "-c default_transaction_read_only=on"})
        revision = current_revision(engine)
    except SQLAlchemyError as exc:
        raise ArchiveUnavailable(f"cannot read the archive at {shown_url(url)} ({type(exc).__name__}): "
                                 "check the URL and that the database is up") from None
    if revision is None:
        raise ArchiveUnavailable(f"{shown_url(url)} is not an evolve archive: pass the --db of a run")
    if revision != head_revision():
        raise ArchiveUnavailable(f"the archive at {shown_url(url)} is at schema revision {revision}, this "
                                 f"evolve reads {head_revision()}: run `evolve status RUN --db URL` "
                                 "once to upgrade it (or use the evolve that wrote it)")
    return engine
