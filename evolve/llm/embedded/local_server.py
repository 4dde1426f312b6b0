"""llama.cpp's OpenAI-compatible server on a loopback port, for the embedded default model.

``evolve llm serve`` runs it in the foreground. ``ensure_server`` (used by ``evolve run`` when no
model is configured) reuses a server already answering on the port with the same model, or starts
one in the background that outlives the run (so the next run skips the load); ``evolve llm stop``
ends it. litellm then reaches it like any OpenAI-compatible endpoint.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from evolve.llm.embedded.llama_check import REBUILD
from evolve.llm.embedded.local_model import LocalModelError, cache_dir, llama_installed, model_file

DEFAULT_PORT = 8765
CONTEXT_TOKENS = 4096
READY_SECONDS = 180.0
BUSY_SECONDS = 300.0  # a server busy with another run's request answers when that one is done


def base_port() -> int:
    """The first embedded model's port: ``$EVOLVE_LLM_PORT`` or 8765."""
    raw = os.environ.get("EVOLVE_LLM_PORT", "").strip()
    if not raw:
        return DEFAULT_PORT
    if not raw.isdigit() or not 1024 <= int(raw) <= 65000:
        raise LocalModelError(f"EVOLVE_LLM_PORT={raw!r} is not a port: set a number from 1024 to "
                              "65000 or unset it (default 8765)")
    return int(raw)


def api_base(port: int) -> str:
    return f"http://127.0.0.1:{port}/v1"


def served_model(port: int, timeout: float = 2.0) -> str | None:
    """The model id a server on ``port`` answers with, or None if nothing answers there."""
    try:
        with urllib.request.urlopen(f"{api_base(port)}/models", timeout=timeout) as resp:
            data = json.loads(resp.read())
        return data["data"][0]["id"]
    except (urllib.error.URLError, OSError, ValueError, KeyError, IndexError):
        return None


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def answering_model(port: int, patience: float = BUSY_SECONDS) -> str | None:
    """The model a server on ``port`` serves; a server busy generating for another run may take
    a while to answer, so wait for it as long as something listens there."""
    deadline = time.monotonic() + patience
    while True:
        name = served_model(port, timeout=10.0)
        if name is not None or not port_open(port) or time.monotonic() > deadline:
            return name
        time.sleep(1.0)


def serve_command(name: str, port: int, threads: int, extra: tuple[str, ...] = ()) -> list[str]:
    """The llama.cpp server's command line; ``extra`` are further ``llama_cpp.server`` flags."""
    if not llama_installed():
        raise LocalModelError("llama-cpp-python is not installed: run `pip install -e .[local]` "
                              "(a source build, about 12 minutes on 2 cores)")
    return [sys.executable, "-m", "llama_cpp.server", "--model", str(model_file(name)),
            "--model_alias", name, "--host", "127.0.0.1", "--port", str(port),
            "--n_threads", str(threads), "--n_ctx", str(CONTEXT_TOKENS), *extra]


def default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def _pid_file(port: int) -> Path:
    return cache_dir() / f"llama-server-{port}.pid"


def first_token(port: int, name: str, proc: subprocess.Popen, log: Path | None) -> None:
    """Ask the new server for one token: a llama.cpp that cannot compute on this CPU loads the
    model, answers /models, and dies only here (SIGILL)."""
    body = json.dumps({"model": name, "max_tokens": 1, "temperature": 0,
                       "messages": [{"role": "user", "content": "hi"}]}).encode()
    req = urllib.request.Request(f"{api_base(port)}/chat/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=READY_SECONDS) as resp:
            resp.read()
        return
    except (urllib.error.URLError, OSError) as exc:
        error = exc
    try:
        code = proc.wait(timeout=5.0)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise LocalModelError(f"the llama.cpp server failed its first completion ({error}); see {log}") \
            from None
    if code == -signal.SIGILL:
        raise LocalModelError("the llama.cpp server died on its first token (SIGILL): llama.cpp was "
                              f"built for instructions this CPU cannot run; rebuild it: {REBUILD}")
    raise LocalModelError(f"the llama.cpp server exited with code {code} on its first completion; "
                          f"see {log}")


def wait_ready(port: int, name: str, proc: subprocess.Popen, log: Path | None) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if served_model(port) == name:
            first_token(port, name, proc, log)
            return
        if proc.poll() is not None:
            tail = log.read_text()[-400:].strip().splitlines()[-1:] if log and log.exists() else []
            raise LocalModelError(f"the llama.cpp server exited with code {proc.returncode} "
                                  f"({' '.join(tail) or 'no output'}); see {log}")
        time.sleep(0.25)
    proc.kill()
    raise LocalModelError(f"the llama.cpp server did not answer on port {port} within "
                          f"{READY_SECONDS:.0f}s; see {log}")


def ensure_server(name: str, port: int,
                  threads: int | None = None) -> tuple[str, bool]:
    """(api_base, started): reuse the server on ``port`` or start one in the background."""
    current = answering_model(port)
    if current == name:
        return api_base(port), False
    if current is not None:
        raise LocalModelError(f"port {port} already serves model {current!r}, not {name!r}: stop "
                              f"it (`evolve llm stop --port {port}`) or choose another port")
    if port_open(port):
        raise LocalModelError(f"port {port} is in use but does not answer as a model server within "
                              f"{BUSY_SECONDS:.0f}s: free it or stop that server (`evolve llm stop`)")
    cmd = serve_command(name, port, threads or default_threads())
    log = cache_dir() / f"llama-server-{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    wait_ready(port, name, proc, log)
    _pid_file(port).write_text(str(proc.pid))  # only a server that came up is ours to stop
    return api_base(port), True


def stop_server(port: int) -> bool:
    """Stop a background server started by ``ensure_server``; False if none was recorded."""
    pid_file = _pid_file(port)
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text())
    pid_file.unlink()
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    os.killpg(pid, signal.SIGKILL)
    return True
