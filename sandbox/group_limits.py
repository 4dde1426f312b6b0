"""A candidate's limits summed over its process tree, inside the sandbox (issue 18, finding 3).

The template is handed a control group's files, already open (``sandbox/cgroups.py``, trusted
side): it writes each candidate's memory and process limits before the candidate starts, the
candidate joins the group first thing after its fork (``join``) and closes the descriptors, and
the template reads the group's CPU time (every process of the candidate, children included) and
its memory-limit kills. Without a group (``CandidateGroup.absent()``) every figure comes from the
candidate's main process and its per-process rlimits. Standard library only.
"""

from __future__ import annotations

import os

UNLIMITED = {"v1": b"-1", "v2": b"max"}


class GroupBusy(Exception):
    """The group still holds a process of an earlier candidate."""


class CandidateGroup:
    def __init__(self, spec: dict | None):
        self.version = spec["version"] if spec else None
        self._fds = spec or {}

    @property
    def active(self) -> bool:
        return self.version is not None

    def descriptors(self) -> list[int]:
        return [*self._fds.get("join", []),
                *(fd for role, fd in self._fds.items() if role not in ("join", "version"))]

    def prepare(self, memory_mb: int, processes: int) -> None:
        """Set the next candidate's limits (memory: processes, memfd and tmpfs pages together; no
        swap beyond it); refuse while a process of an earlier candidate is still in the group."""
        if not self.active:
            return
        held = self._read("pids_now")
        if held:
            raise GroupBusy(f"the candidate group still holds {held} process(es)")
        limit = str(int(memory_mb) << 20).encode()
        if "swap_max" in self._fds:  # v1: memory+swap must stay >= memory while both change
            self._write("swap_max", UNLIMITED[self.version])
        self._write("memory_max", limit)
        if "swap_max" in self._fds:
            self._write("swap_max", limit if self.version == "v1" else b"0")
        self._write("pids_max", str(int(processes)).encode())

    def join(self) -> None:
        """In the candidate's child, before any of its code: move into the group."""
        for fd in self._fds.get("join", []):
            os.write(fd, b"0")

    def cpu(self) -> float | None:
        """CPU seconds of every process the group has held (None without a group)."""
        if not self.active:
            return None
        if self.version == "v1":
            return self._read("cpu") / 1e9
        return self._field("cpu", b"usage_usec") / 1e6

    def memory_kills(self) -> int:
        """Processes the kernel has killed at the group's memory limit so far."""
        return self._field("oom", b"oom_kill") if self.active else 0

    def _read(self, role: str) -> int:
        return int(os.pread(self._fds[role], 64, 0).split()[0])

    def _field(self, role: str, name: bytes) -> int:
        for line in os.pread(self._fds[role], 4096, 0).splitlines():
            key, _, value = line.partition(b" ")
            if key == name:
                return int(value)
        return 0

    def _write(self, role: str, value: bytes) -> None:
        os.pwrite(self._fds[role], value, 0)
