"""Per-candidate resource groups (issue 18, finding 3), trusted side: what the machine allows, and
one kernel control group per sandbox template, whose files the template is handed open.

Rlimits are per process: three processes each held 612 MB against a 1 GB ``memory_mb``, memfd
pages are not in the address-space limit, and CPU spent in a forked child was not in the call's
CPU figure. A control group sums a candidate's whole process tree: memory (anonymous, memfd and
the files it writes in its tmpfs folder), processes and CPU. This module finds which hierarchy
the machine gives (cgroup v2 with the memory, pids and cpu controllers, or v1's memory, pids and
cpuacct hierarchies), makes a group under the worker's own cgroup and opens its files. The
template (``sandbox/group_limits.py``) sets each candidate's limits through them and reads its
CPU and memory-limit kills; each candidate joins the group before any of its code runs, by
writing to ``cgroup.procs`` through a descriptor opened here (the kernel checks the opener's
rights), then closes every descriptor it inherited. One candidate at a time uses a group: the
template's sessions are sequential, and it refuses to start a candidate while the group still
holds a process.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("memory", "pids", "cpuacct")
V2_CONTROLLERS = ("memory", "pids", "cpu")
PREFIX = "evolve-"


@dataclass(frozen=True)
class Support:
    """What this machine allows: ``version`` "v1", "v2" or "none", and why."""

    version: str
    reason: str
    parents: tuple[Path, ...] = ()  # where groups are made: one per v1 hierarchy, one for v2

    def describe(self) -> str:
        if self.version == "none":
            return f"none ({self.reason})"
        return f"cgroup {self.version} per candidate ({self.reason})"


# role -> (v1 hierarchy, v1 file, v2 file, open flags); every role but join is one descriptor
FILES = {
    "memory_max": ("memory", "memory.limit_in_bytes", "memory.max", os.O_WRONLY),
    "swap_max": ("memory", "memory.memsw.limit_in_bytes", "memory.swap.max", os.O_WRONLY),
    "oom": ("memory", "memory.oom_control", "memory.events", os.O_RDONLY),
    "pids_max": ("pids", "pids.max", "pids.max", os.O_WRONLY),
    "pids_now": ("pids", "pids.current", "pids.current", os.O_RDONLY),
    "cpu": ("cpuacct", "cpuacct.usage", "cpu.stat", os.O_RDONLY),
}
OPTIONAL = frozenset({"swap_max"})  # swap accounting may be off
_leftover: list[Path] = []  # groups whose last processes were still exiting when closed


def _own_path(controller: str, text: str) -> str | None:
    """This process's cgroup path in ``controller``'s hierarchy ("" for v2), from /proc/self/cgroup."""
    for line in text.splitlines():
        _, names, path = line.split(":", 2)
        if (controller == "" and names == "") or controller in names.split(","):
            return path
    return None


def _parents(version: str) -> tuple[Path, ...]:
    text = Path("/proc/self/cgroup").read_text()
    if version == "v2":
        own = _own_path("", text)
        return (CGROUP_ROOT / (own or "/").lstrip("/"),)
    out = []
    for name in V1_CONTROLLERS:
        own = _own_path(name, text)
        if own is None:
            raise OSError(f"this process is in no {name} cgroup")
        out.append(CGROUP_ROOT / name / own.lstrip("/"))
    return tuple(out)


def _version() -> tuple[str, str]:
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        have = set((CGROUP_ROOT / "cgroup.controllers").read_text().split())
        missing = [c for c in V2_CONTROLLERS if c not in have]
        return ("v2", "") if not missing else ("none", f"cgroup v2 lacks {', '.join(missing)}")
    missing = [c for c in V1_CONTROLLERS if not (CGROUP_ROOT / c / "cgroup.procs").exists()]
    if missing:
        return "none", f"no cgroup v1 hierarchy for {', '.join(missing)}"
    return "v1", ""


@cache
def probe() -> Support:
    """Make a throwaway group, move a short-lived process into it and read it back: the mode that
    worked, or none with the reason (not root, read-only cgroupfs, controllers missing)."""
    if os.environ.get("EVOLVE_CGROUPS", "") == "off":
        return Support("none", "turned off by EVOLVE_CGROUPS=off")
    if os.geteuid() != 0:
        return Support("none", "not running as root")
    try:
        version, why = _version()
        if version == "none":
            return Support("none", why)
        parents = _parents(version)
        group = Group.make(Support(version, "", parents), "probe")
    except OSError as exc:
        return Support("none", f"cannot make a group: {exc.strerror or exc}")
    try:
        proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                                stdin=subprocess.PIPE)
        try:
            for fd in group.fds["join"]:
                os.write(fd, str(proc.pid).encode())
            held = group.read_int("pids_now")
        finally:
            proc.communicate(b"")
        if held != 1:
            return Support("none", f"a process moved into a test group was not counted ({held})")
    except OSError as exc:
        return Support("none", f"cannot move a process into a group: {exc.strerror or exc}")
    finally:
        group.close()
    what = "memory incl. memfd and tmpfs files, processes and CPU summed over each candidate's tree"
    return Support(version, what, parents)


@dataclass
class Group:
    """One group (a directory per hierarchy) and its open files; ``fds`` is what the template
    gets: role -> descriptor, ``join`` -> descriptors of every ``cgroup.procs``."""

    version: str
    dirs: tuple[Path, ...]
    fds: dict

    @classmethod
    def make(cls, support: Support, tag: str) -> Group:
        remove_leftovers()
        _remove_stale(support)
        name = f"{PREFIX}{os.getpid()}-{tag}-{time.monotonic_ns()}"
        dirs = tuple(parent / name for parent in support.parents)
        group = cls(support.version, (), {"join": []})
        try:
            for d in dirs:
                if support.version == "v2":
                    _enable_controllers(d.parent)
                d.mkdir()
                group.dirs += (d,)
                group.fds["join"].append(os.open(d / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC))
            for role, (hierarchy, v1_file, v2_file, flags) in FILES.items():
                path = (dirs[V1_CONTROLLERS.index(hierarchy)] / v1_file if support.version == "v1"
                        else dirs[0] / v2_file)
                if role in OPTIONAL and not path.exists():
                    continue
                group.fds[role] = os.open(path, flags | os.O_CLOEXEC)
        except OSError:
            group.close()
            raise
        return group

    def passed(self) -> list[int]:
        """Every descriptor, for ``Popen(pass_fds=...)``."""
        return [*self.fds["join"], *(fd for role, fd in self.fds.items() if role != "join")]

    def for_template(self) -> dict:
        return {"version": self.version, **self.fds}

    def read_int(self, role: str) -> int:
        return int(os.pread(self.fds[role], 64, 0).split()[0])

    def close(self) -> None:
        """Close the files and remove the group's directories (once its processes are gone)."""
        for fd in self.passed():
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = {"join": []}
        for d in self.dirs:
            if not _rmdir(d):
                _leftover.append(d)  # removed at the next make() or at exit, not waited for here
        self.dirs = ()


def _enable_controllers(parent: Path) -> None:
    """v2: a group's controllers must be enabled in its parent's subtree_control."""
    have = set((parent / "cgroup.subtree_control").read_text().split())
    wanted = [c for c in V2_CONTROLLERS if c not in have]
    if wanted:
        (parent / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in wanted))


def _rmdir(d: Path, seconds: float = 0.0) -> bool:
    """Remove a group's directory (gone already counts); False while processes are still in it."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            d.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:  # processes still dying
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)


def remove_leftovers(seconds: float = 0.0) -> None:
    """Remove the groups closed while their last processes were still exiting."""
    for d in list(_leftover):
        if _rmdir(d, seconds):
            _leftover.remove(d)


atexit.register(remove_leftovers, 2.0)


def _remove_stale(support: Support) -> None:
    """Groups left by workers that died without removing theirs (empty ones only)."""
    for parent in support.parents:
        try:
            entries = list(parent.iterdir())
        except OSError:
            continue
        for d in entries:
            if not d.name.startswith(PREFIX) or not d.is_dir():
                continue
            try:
                pid = int(d.name[len(PREFIX):].split("-", 1)[0])
            except ValueError:
                continue
            if pid != os.getpid() and not Path(f"/proc/{pid}").exists():
                _rmdir(d)
