"""Trusted side of the sandbox: a warm template per worker process, one session per candidate.

``SandboxSession(code, limits)`` asks the worker's template (started on first use, restarted if
it ever dies) to fork a hardened child for the candidate, then relays calls to it. Every call
has a deadline enforced by the template (which kills all of the session's processes) and a
guard deadline here (past it the whole sandbox is killed and restarted). Replies are strict
JSON of bounded size; the CPU seconds of each call come from the kernel's accounting, measured
outside the candidate.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from sandbox import cgroups, protocol
from sandbox.hardening import kill_uid
from sandbox.levels import SYSTEM_PATHS, Level, detect, launch_argv, system_read_paths

GUARD_SECONDS = 5.0
PRELOAD = ["math", "heapq", "itertools", "collections", "bisect", "random", "functools"]
# imported by the template before forking the first candidate whose source names it (numpy takes
# about 0.1 s of each worker's start-up, and problems whose candidates never use it skip that)
ON_DEMAND = ["numpy"]


@dataclass(frozen=True)
class Limits:
    """Resource limits for one candidate."""

    wall_seconds: float = 60.0  # the whole session
    call_seconds: float = 10.0  # one call
    load_seconds: float = 10.0
    cpu_seconds: int = 120
    memory_mb: int = 1024
    processes: int = 32
    open_files: int = 128
    file_size_mb: int = 16
    max_reply_bytes: int = 8 * 1024 * 1024  # one call's reply
    # one session's replies in one batch (``call_many``) or call: the template and the worker
    # decode them, and decoded JSON takes up to ~20x its size (``[[],[],...]``)
    max_batch_bytes: int = 16 * 1024 * 1024
    max_batch_values: int = 1_000_000
    # packages beyond the standard library the candidate may import (problem.toml ``imports``):
    # it can read no other package's files (sandbox/importable.py)
    imports: tuple[str, ...] = ("numpy",)


KINDS = frozenset({"load", "exception", "timeout", "crash", "oversize", "protocol", "eof"})


class CandidateError(Exception):
    """The candidate failed: load, exception, timeout, crash, oversize or protocol.

    ``index`` is the position of the failing call in a ``call_many`` batch. A kind outside
    ``KINDS`` (a reply the template should never have passed on) counts as protocol."""

    def __init__(self, kind: str, message: str, index: int | None = None):
        kind = kind if isinstance(kind, str) and kind in KINDS else "protocol"
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.index = index


class SandboxDown(Exception):
    """The template itself stopped answering (it is killed and replaced)."""


class Template:
    """One warm sandbox process (bubblewrap namespaces or the fallback), speaking frames."""

    def __init__(self, level: Level):
        self.level = level
        self.info: dict = {}
        self._root: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._group: cgroups.Group | None = None
        self.uid: int | None = None

    def start(self) -> None:
        cwd = None
        root = "/tmp"
        if self.level.name != "bwrap":
            self._root = tempfile.mkdtemp(prefix="evolve-sbx-")
            os.chmod(self._root, 0o711)  # candidates may enter their own subfolder, not list
            cwd = root = self._root
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1"}
        aggregate = self._make_group()
        self._proc = subprocess.Popen(launch_argv(self.level), stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=cwd,
                                      env=env, start_new_session=True,
                                      pass_fds=self._group.passed() if self._group else ())
        read_paths = system_read_paths()
        # what the imports layer leaves readable besides Python (sandbox/importable.py); /proc
        # inside bubblewrap's pid namespace shows the sandbox's own processes only
        system = [*SYSTEM_PATHS, *(["/proc"] if self.level.name == "bwrap" else [])]
        self._send({"root": root, "preload": PRELOAD, "on_demand": ON_DEMAND, "read_paths": read_paths,
                    "landlock": self.level.name == "landlock", "system_paths": system,
                    "group": self._group.for_template() if self._group else None})
        self.info = {**self._receive(30.0), "aggregate": aggregate}

    def _make_group(self) -> str:
        """This template's candidate control group, if the machine allows one; what is in force."""
        support = cgroups.probe()
        if support.version == "none":
            return support.describe()
        try:
            self._group = cgroups.Group.make(support, "t")
        except OSError as exc:
            return f"none (cannot make this sandbox's group: {exc.strerror or exc})"
        return support.describe()

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _send(self, msg: dict) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        try:
            protocol.write_all(self._proc.stdin.fileno(), protocol.encode(msg))
        except OSError as exc:
            self.kill()
            raise SandboxDown(f"sandbox template is gone: {exc}") from exc

    def _receive(self, timeout: float, max_bytes: int = 64 << 20) -> dict:
        assert self._proc is not None and self._proc.stdout is not None
        try:
            return protocol.read_frame(self._proc.stdout.fileno(), time.monotonic() + timeout, max_bytes)
        except protocol.FrameError as exc:
            self.kill()
            raise SandboxDown(f"sandbox template stopped answering ({exc.kind}: {exc})") from exc

    def request(self, msg: dict, timeout: float, max_bytes: int = 64 << 20) -> dict:
        self._send(msg)
        return self._receive(timeout + GUARD_SECONDS, max_bytes)

    def kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # in a pid namespace this ends every process
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()
        if self.uid is not None and os.geteuid() == 0:
            kill_uid(self.uid)  # the fallback level has no pid namespace to take them down
        group, self._group = self._group, None
        if group is not None:
            group.close()
        if self._root:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None


_lock = threading.Lock()
_template: Template | None = None


def template() -> Template:
    """The warm template of this process (started, or restarted after a death)."""
    global _template
    with _lock:
        if _template is None or not _template.alive():
            if _template is not None:
                _template.kill()
            _template = Template(detect())
            _template.start()
        return _template


def reset() -> None:
    """Stop this process's template and forget the detected level (tests, level changes)."""
    global _template
    with _lock:
        if _template is not None:
            _template.kill()
        _template = None
    detect.cache_clear()


def isolation_report() -> dict:
    tpl = template()
    return {"level": tpl.level.name, "reason": tpl.level.reason, **tpl.info}


class SandboxSession:
    """One candidate, loaded and callable. Use as a context manager."""

    def __init__(self, code: str, limits: Limits | None = None):
        self.limits = limits or Limits()
        self._code = code
        self._tpl: Template | None = None
        self.uid: int | None = None
        self._started = 0.0
        self.hardening: dict = {}
        self.last_cpu = 0.0
        self.calls_cpu = 0.0  # CPU seconds of every call of this session
        self.batch_cpu: list[float] = []  # per call of the last call_many
        self.cpu_total = 0.0
        self.stderr = ""
        self.used = False  # a call has been made since the candidate was (re)started
        self.load_cpu = 0.0  # CPU seconds the candidate spent loading (module-level code)
        self._digest: hashlib._Hash | None = None

    def start_digest(self) -> None:
        """From now on, fold every reply into a digest (``stop_digest`` returns it)."""
        self._digest = hashlib.sha256()

    def stop_digest(self) -> str:
        """The digest of every reply since ``start_digest``: equal digests, equal replies."""
        digest, self._digest = self._digest, None
        return digest.hexdigest() if digest is not None else ""

    def _fold(self, value: Any) -> None:
        if self._digest is not None:
            self._digest.update(json.dumps(value, sort_keys=True, separators=(",", ":")).encode())
            self._digest.update(b"\n")

    def __enter__(self) -> SandboxSession:
        self.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        violation = self.close()
        if violation and exc_type is None:
            raise CandidateError("protocol", violation)

    def start(self) -> None:
        self._tpl = template()
        uid = random.randrange(1_000_000, 2_000_000_000)
        self._tpl.uid = self.uid = uid
        self._started = time.monotonic()
        self.used = False
        lim = asdict(self.limits)
        reply = self._request({"op": "spawn", "code": self._code, "uid": uid, "limits": lim,
                               "timeout": min(self.limits.load_seconds, self.limits.wall_seconds)},
                              self.limits.load_seconds)
        if "ready" not in reply:
            self.close()
            raise CandidateError("load", str(reply.get("error"))[-3000:])
        self.hardening = reply.get("hardening", {})
        self.load_cpu = float(reply.get("load_cpu", 0.0))

    def restart(self) -> None:
        """The same code in a fresh process (nothing kept in module state), within the same wall
        limit, CPU count and reply digest."""
        started = self._started
        violation = self.close()
        if violation:
            raise CandidateError("protocol", violation)
        self.start()
        self._started = started  # the session's wall limit runs on

    def _request(self, msg: dict, timeout: float, max_bytes: int = 64 << 20) -> dict:
        assert self._tpl is not None
        try:
            return self._tpl.request(msg, timeout, max_bytes)
        except SandboxDown as exc:
            self._tpl = None
            raise CandidateError("crash", str(exc)) from exc

    def call(self, name: str, *args: Any) -> Any:
        """Call the candidate's ``name(*args)`` and return its JSON reply."""
        if self._tpl is None:
            raise CandidateError("crash", "the candidate's sandbox is gone")
        wall_left = self.limits.wall_seconds - (time.monotonic() - self._started)
        timeout = max(0.0, min(self.limits.call_seconds, wall_left))
        which = "session wall" if wall_left < self.limits.call_seconds else "per-call"
        self.used = True
        reply = self._request({"op": "call", "name": name, "args": list(args), "timeout": timeout},
                              timeout)
        if "ok" in reply:
            self.last_cpu = float(reply.get("cpu", 0.0))
            self.calls_cpu += self.last_cpu
            self._fold(reply["ok"])
            return reply["ok"]
        kind = reply.get("kind", "exception")
        message = str(reply.get("error"))
        if kind == "timeout" and reply.get("limit") != "cpu":  # else the template's own words
            message = f"call {name}: exceeded the {which} time limit ({timeout:.1f}s); " \
                      "every process of the candidate was killed"
        raise CandidateError(kind, message[-3000:])

    def call_many(self, name: str, arg_lists: list[tuple | list]) -> list[Any]:
        """``[name(*args) for args in arg_lists]`` in one round trip to the template, which still
        gives each call its own time limit and CPU measurement (``batch_cpu``). The first failing
        call ends the batch: its ``CandidateError`` carries the call's ``index``."""
        if not arg_lists:
            return []
        if self._tpl is None:
            raise CandidateError("crash", "the candidate's sandbox is gone")
        wall_left = max(0.0, self.limits.wall_seconds - (time.monotonic() - self._started))
        self.used = True
        reply = self._request({"op": "map", "name": name, "args_list": [list(a) for a in arg_lists],
                               "timeout": self.limits.call_seconds, "wall": wall_left},
                              wall_left, max_bytes=self.limits.max_batch_bytes
                              + 64 * len(arg_lists) + 4096)  # the replies, their CPU figures
        if "ok" in reply:
            self.batch_cpu = [float(c) for c in reply.get("cpu", [])]
            self.last_cpu = self.batch_cpu[-1] if self.batch_cpu else 0.0
            self.calls_cpu += sum(self.batch_cpu)
            for value in reply["ok"]:
                self._fold(value)
            return reply["ok"]
        kind, message, index = reply.get("kind", "exception"), str(reply.get("error")), reply.get("index")
        if kind == "timeout" and reply.get("limit") != "cpu":
            message = f"call {name}: exceeded the per-call time limit ({self.limits.call_seconds:.1f}s) " \
                      "or the session's wall time; every process of the candidate was killed"
        raise CandidateError(kind, message[-3000:], index if isinstance(index, int) else None)

    def timed_call(self, name: str, *args: Any, repeats: int = 3) -> tuple[Any, float]:
        """Call ``repeats`` times; return the first value and the median CPU seconds per call."""
        value = self.call(name, *args)
        cpus = [self.last_cpu]
        for _ in range(repeats - 1):
            self.call(name, *args)
            cpus.append(self.last_cpu)
        return value, statistics.median(cpus)

    def close(self) -> str | None:
        """End the session (all its processes killed); return a protocol violation, if any."""
        tpl, self._tpl = self._tpl, None
        if tpl is None or not tpl.alive():
            return None
        try:
            reply = tpl.request({"op": "end"}, 10.0)
        except SandboxDown:
            return None
        self.cpu_total = float(reply.get("cpu", 0.0))
        self.stderr = str(reply.get("stderr", ""))
        return reply.get("violation")

    def stderr_tail(self) -> str:
        return self.stderr
