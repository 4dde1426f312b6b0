"""Run every sandbox test on each isolation level this machine offers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox import session
from sandbox.levels import SandboxUnavailable, detect


def uid_processes(uid: int) -> list[int]:
    """Pids whose real uid is ``uid`` (anywhere on the machine, namespaces included)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("Uid:"):
                    if int(line.split()[1]) == uid:
                        found.append(int(entry.name))
                    break
        except (OSError, ValueError):
            continue
    return found


ORIGINAL = os.environ.get("EVOLVE_SANDBOX")


@pytest.fixture(params=["bwrap", "landlock"], scope="module")
def level(request):
    os.environ["EVOLVE_SANDBOX"] = request.param
    session.reset()
    try:
        detect()
    except SandboxUnavailable as exc:
        if os.environ.get("CI"):  # CI machines must offer both levels: never skip silently there
            pytest.fail(f"{request.param} not available in CI: {exc}")
        pytest.skip(f"{request.param} not available here: {exc}")
    yield request.param
    session.reset()
    if ORIGINAL is None:  # later tests (and the CLIs they start) see the machine's own choice
        os.environ.pop("EVOLVE_SANDBOX", None)
    else:
        os.environ["EVOLVE_SANDBOX"] = ORIGINAL
