"""Which isolation level this machine gives, and the command that starts a sandbox template.

Levels, strongest first:
- ``bwrap``: bubblewrap namespaces (pid, net, ipc, uts, mount; cgroup where possible), read-only
  binds of the interpreter only, a size-capped private tmpfs in which only the template creates
  (mode 0711: a candidate writes its own folder, emptied when it ends, and cannot list or leave
  anything beside it), capabilities dropped to the few the template needs to start and reap
  candidates. Each candidate additionally gets a fresh uid,
  rlimits and seccomp.
- ``landlock``: no namespaces (bubblewrap missing or refused): each candidate gets a fresh uid,
  rlimits, seccomp (no sockets at all) and Landlock (reads of the interpreter only, writes to its
  own directory, no TCP, no signals outside its domain).
- ``rlimits``: neither root nor Landlock: rlimits and seccomp only (not safe for hostile code).

``EVOLVE_SANDBOX=bwrap|landlock`` forces a level (an unavailable forced level is an error).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sandbox import hardening

SANDBOX_DIR = Path(__file__).resolve().parent
TMPFS_MB = 128


class SandboxUnavailable(Exception):
    """The requested isolation level cannot be had on this machine."""


@dataclass(frozen=True)
class Level:
    name: str
    reason: str

    def describe(self) -> str:
        return f"{self.name} ({self.reason})"


def interpreter_paths() -> list[str]:
    """Folders the candidate's interpreter needs to read (and nothing else)."""
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    return sorted(paths)


SYSTEM_PATHS = ("/usr", "/lib", "/lib64", "/bin", "/etc/ld.so.cache", "/dev/null", "/dev/urandom",
                "/dev/zero")


def system_read_paths() -> list[str]:
    return [*interpreter_paths(), *SYSTEM_PATHS]


def bwrap_argv(tmpfs_mb: int = TMPFS_MB) -> list[str]:
    argv = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    for cap in ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_CHOWN"):
        argv += ["--cap-add", cap]  # the template's only powers: start and reap candidates
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):
            argv += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            argv += ["--ro-bind", top, top]
    # the tmpfs first: an interpreter that lives under /tmp is bound on top of it, not hidden
    argv += ["--size", str(tmpfs_mb << 20), "--perms", "0711", "--tmpfs", "/tmp"]
    argv += ["--ro-bind", "/usr", "/usr"]
    if os.path.exists("/etc/ld.so.cache"):
        argv += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    made: set[str] = set()
    for path in interpreter_paths():
        if path.startswith("/usr/"):
            continue
        for parent in reversed(Path(path).parents[:-1]):  # traversable by the candidate's uid
            if str(parent) not in made and str(parent) != "/tmp":
                made.add(str(parent))
                argv += ["--perms", "0755", "--dir", str(parent)]
        argv += ["--ro-bind", path, path]
    argv += ["--ro-bind", str(SANDBOX_DIR), "/sandbox", "--proc", "/proc", "--dev", "/dev",
             "--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "LANG", "C.UTF-8",
             "--setenv", "HOME", "/tmp", "--setenv", "OPENBLAS_NUM_THREADS", "1",
             "--setenv", "PYTHONHASHSEED", "0", "--chdir", "/tmp", "--"]
    return argv


@cache
def probe_bwrap() -> tuple[bool, str]:
    if shutil.which("bwrap") is None:
        return False, "bubblewrap is not installed (apt-get install bubblewrap)"
    try:
        res = subprocess.run([*bwrap_argv(), sys.executable, "-I", "-c", "import sys"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bubblewrap failed to start: {exc}"
    if res.returncode != 0:
        return False, f"bubblewrap was refused: {res.stderr.strip()[-200:]}"
    return True, "namespaces pid/net/ipc/uts/mount, read-only interpreter, private tmpfs"


@cache
def detect() -> Level:
    forced = os.environ.get("EVOLVE_SANDBOX", "auto")
    if forced not in ("auto", "bwrap", "landlock"):
        raise SandboxUnavailable(f"EVOLVE_SANDBOX={forced!r}: use auto, bwrap or landlock")
    ok, why = probe_bwrap() if forced in ("auto", "bwrap") else (False, "EVOLVE_SANDBOX=landlock")
    per_candidate = "per candidate: fresh uid, rlimits, seccomp"
    if ok:
        return Level("bwrap", f"{why}; {per_candidate}")
    if forced == "bwrap":
        raise SandboxUnavailable(f"EVOLVE_SANDBOX=bwrap but {why}")
    abi = hardening.landlock_abi()
    if abi and os.geteuid() == 0:
        return Level("landlock", f"{why}; Landlock ABI {abi}, {per_candidate}")
    if forced == "landlock":
        raise SandboxUnavailable("EVOLVE_SANDBOX=landlock needs root and a kernel with Landlock")
    missing = "not root" if os.geteuid() != 0 else "no Landlock in this kernel"
    return Level("rlimits", f"{why}; {missing}: rlimits and seccomp only, not safe for hostile code")


def launch_argv(level: Level) -> list[str]:
    if level.name == "bwrap":
        return [*bwrap_argv(), sys.executable, "-I", "/sandbox/harness.py"]
    return [sys.executable, "-I", str(SANDBOX_DIR / "harness.py")]
