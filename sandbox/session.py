"""Trusted side of the sandbox: start a candidate child, call its functions, kill it for sure.

A ``SandboxSession`` writes the candidate code into a private temp dir, starts
``python -I harness.py`` in a new session (its own process group) with a scrubbed environment
and resource limits, and exchanges line-delimited JSON with it. Every call has a deadline; on
timeout, oversize output or any protocol breach the whole process group is SIGKILLed.
Replies are parsed strictly (no NaN/inf) and bounded in size. The caller (a verifier) only ever
sees plain JSON values and validates them itself.

Isolation level here: separate process, scrubbed env, rlimits, process-group kill. Namespaces,
Landlock and seccomp are layered on by the isolation module (see issue 3).
"""

from __future__ import annotations

import json
import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HARNESS = Path(__file__).with_name("harness.py")


@dataclass(frozen=True)
class Limits:
    """Resource limits for one candidate child."""

    wall_seconds: float = 60.0  # whole session, from start to close
    call_seconds: float = 10.0  # one call
    cpu_seconds: int = 120
    memory_mb: int = 1024
    max_reply_bytes: int = 8 * 1024 * 1024
    max_stderr_bytes: int = 64 * 1024
    file_size_mb: int = 16


class CandidateError(Exception):
    """The candidate failed: crashed, timed out, broke the protocol or returned junk."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name}")


def _preexec(limits: Limits):
    def apply() -> None:
        cpu = limits.cpu_seconds
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        mem = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        fsize = limits.file_size_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


class SandboxSession:
    """One running candidate process. Use as a context manager."""

    def __init__(self, code: str, limits: Limits | None = None):
        self.limits = limits or Limits()
        self._code = code
        self._dir: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._buf = b""
        self._started = 0.0
        self._stderr_path: str | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> SandboxSession:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="evolve-sbx-")
        code_path = os.path.join(self._dir, "candidate.py")
        with open(code_path, "w", encoding="utf-8") as fh:
            fh.write(self._code)
        self._stderr_path = os.path.join(self._dir, "stderr.txt")
        stderr = open(self._stderr_path, "wb")
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0",
               "HOME": self._dir, "TMPDIR": self._dir}
        self._started = time.monotonic()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", str(HARNESS), code_path],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                cwd=self._dir, env=env, start_new_session=True, close_fds=True,
                preexec_fn=_preexec(self.limits),
            )
        finally:
            stderr.close()
        os.set_blocking(self._proc.stdout.fileno(), False)
        first = self._read_line(self.limits.call_seconds, "loading the candidate")
        if "ready" not in first:
            raise CandidateError("load", str(first.get("error", first))[-2000:])

    def close(self) -> None:
        self._kill()
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _kill(self) -> None:
        proc = self._proc
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not fail
            pass
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass

    # -- calls -----------------------------------------------------------------------------
    def call(self, name: str, *args: Any) -> Any:
        """Call the candidate's function ``name`` with JSON-able args; return its JSON reply."""
        assert self._proc is not None and self._proc.stdin is not None
        line = json.dumps({"call": name, "args": list(args)}, allow_nan=False) + "\n"
        try:
            self._proc.stdin.write(line.encode())
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise CandidateError("crash", f"candidate process is gone ({exc}); "
                                 + self.stderr_tail()) from exc
        reply = self._read_line(self.limits.call_seconds, f"call {name}")
        if "ok" in reply:
            return reply["ok"]
        raise CandidateError("exception", str(reply.get("error", reply))[-2000:])

    def stderr_tail(self, limit: int = 1500) -> str:
        if not self._stderr_path or not os.path.exists(self._stderr_path):
            return ""
        with open(self._stderr_path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            return fh.read().decode("utf-8", "replace")

    def _read_line(self, call_seconds: float, what: str) -> dict:
        assert self._proc is not None and self._proc.stdout is not None
        wall_left = self.limits.wall_seconds - (time.monotonic() - self._started)
        budget = min(call_seconds, wall_left)
        deadline = time.monotonic() + max(budget, 0.0)
        fd = self._proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._kill()
                    which = "session wall" if wall_left <= call_seconds else "per-call"
                    raise CandidateError("timeout", f"{what}: exceeded the {which} time limit "
                                                    f"({budget:.1f}s); process group killed")
                if not sel.select(left):
                    continue
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    self._kill()
                    code = self._proc.returncode
                    raise CandidateError("crash", f"{what}: candidate exited (code {code}). "
                                                  + self.stderr_tail())
                self._buf += chunk
                if len(self._buf) > self.limits.max_reply_bytes:
                    self._kill()
                    raise CandidateError("oversize", f"{what}: reply larger than "
                                                     f"{self.limits.max_reply_bytes} bytes")
        raw, _, self._buf = self._buf.partition(b"\n")
        try:
            obj = json.loads(raw, parse_constant=_reject_constant)
        except ValueError as exc:
            self._kill()
            raise CandidateError("protocol", f"{what}: reply is not strict JSON ({exc})") from exc
        if not isinstance(obj, dict):
            self._kill()
            raise CandidateError("protocol", f"{what}: reply is not a JSON object")
        return obj
