"""A running controller's heartbeat, and how a run whose controller died is recognised.

While it runs, the controller writes ``runs.updated_at`` every ``HEARTBEAT_SECONDS`` (from any
host: the archive is the only shared state). A run still marked ``running`` whose heartbeat is
older than ``STALL_SECONDS`` lost its controller (killed, host down) and is shown as stalled, with
the command that continues it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from evolve.archive.store import Archive

HEARTBEAT_SECONDS = 20.0
STALL_SECONDS = 120.0  # six missed heartbeats


async def beat(archive: Archive, run_id: int, every: float = HEARTBEAT_SECONDS) -> None:
    """Write the heartbeat until cancelled (in the event loop's thread: a write of a few ms that a
    cancellation cannot leave running after the run's final status is written)."""
    while True:
        archive.touch_run(run_id)
        await asyncio.sleep(every)


def as_utc(when: datetime) -> datetime:
    """SQLite returns naive timestamps; the archive writes UTC."""
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def stalled(status: str, heartbeat: datetime | None, now: datetime | None = None) -> bool:
    if status != "running" or heartbeat is None:
        return False
    now = now or datetime.now(UTC)
    return (now - as_utc(heartbeat)).total_seconds() > STALL_SECONDS


def shown_status(status: str, heartbeat: datetime | None, now: datetime | None = None) -> str:
    """``status``, or ``stalled`` for a running run whose controller stopped beating."""
    return "stalled" if stalled(status, heartbeat, now) else status


def resume_hint(name: str) -> str:
    return (f"no heartbeat from its controller for over {STALL_SECONDS:.0f} s (killed, or its host "
            f"is down): continue it with `evolve resume {name}`")
