"""The embedded default model: part assembly with a pinned sha256, the llama.cpp server, and a
run with no model configured (no key, no network)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from evolve.llm.embedded import local_model, local_server

from .conftest import ROOT, clean_env, evolve_cmd, query, run_cli


def _fake_parts(tmp_path, monkeypatch, chunks: list[bytes]) -> local_model.LocalModel:
    for i, chunk in enumerate(chunks, 1):
        pkg = tmp_path / "site" / f"fakemodelpart{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(chunk)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("EVOLVE_CACHE", str(tmp_path / "cache"))
    whole = b"".join(chunks)
    return local_model.LocalModel("fake-model", "fakemodelpart", len(chunks), len(whole),
                                  hashlib.sha256(whole).hexdigest(), "local")


def test_parts_assemble_once_and_a_wrong_checksum_is_refused(tmp_path, monkeypatch):
    model = _fake_parts(tmp_path, monkeypatch, [b"GGUF" + b"a" * 1000, b"b" * 777])
    monkeypatch.setitem(local_model.MODELS, model.name, model)
    path = local_model.model_file(model.name)
    assert path.read_bytes() == b"GGUF" + b"a" * 1000 + b"b" * 777
    mtime = path.stat().st_mtime_ns
    assert local_model.model_file(model.name).stat().st_mtime_ns == mtime  # verified once, reused
    bad = local_model.LocalModel("bad-model", model.package, model.parts, model.size, "0" * 64, "local")
    monkeypatch.setitem(local_model.MODELS, bad.name, bad)
    with pytest.raises(local_model.LocalModelError, match="refusing it"):
        local_model.model_file(bad.name)
    assert not (tmp_path / "cache" / "models" / "bad-model.gguf").exists()
    missing = local_model.LocalModel("gone", "nosuchpart", 2, 1, "0" * 64, "local")
    monkeypatch.setitem(local_model.MODELS, missing.name, missing)
    with pytest.raises(local_model.LocalModelError, match=r"pip install -e \.\[local\]"):
        local_model.model_file(missing.name)


def require_local_model() -> None:
    if local_model.llama_installed() and local_model.available():
        return
    why = "the embedded model is not installed (pip install -e .[local])"
    if os.environ.get("CI"):
        pytest.fail(f"{why}; scripts/setup.sh installs it in CI")
    pytest.skip(why)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_serve_answers_a_chat_request_and_stops(tmp_path):
    require_local_model()
    port = free_port()
    log = tmp_path / "serve.log"
    proc = subprocess.Popen(evolve_cmd("llm", "serve", "--port", str(port)), cwd=ROOT, env=clean_env(),
                            stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while local_server.served_model(port) != local_model.DEFAULT_MODEL:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.5)
        body = json.dumps({"model": local_model.DEFAULT_MODEL, "max_tokens": 24, "temperature": 0,
                           "messages": [{"role": "user", "content": "Write a Python function "
                                         "add(a, b) that returns a + b."}]}).encode()
        req = urllib.request.Request(f"{local_server.api_base(port)}/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as resp:
            reply = json.loads(resp.read())["choices"][0]["message"]["content"]
        assert "def add" in reply or "return" in reply, reply
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    assert local_server.served_model(port) is None


@pytest.mark.slow
def test_run_with_no_model_configured_uses_the_embedded_model(tmp_path):
    """The README's main command path: no key, no --model; the run starts the server itself."""
    require_local_model()
    port = free_port()  # its own port: a user's server on 8765 is never touched (issue 17)
    env = clean_env(EVOLVE_LLM_PORT=str(port))
    try:
        res = run_cli("run", "smtt", "--iterations", "2", "--no-report", "--runs-dir",
                      str(tmp_path / "runs"), "--run-name", "local", env=env, timeout=600)
    finally:
        stopped = local_server.stop_server(port)
    assert res.returncode == 0, res.stdout + res.stderr
    assert stopped and "(llama.cpp, started in" in res.stdout  # this test's server, and only it
    assert f"local model {local_model.DEFAULT_MODEL} on 127.0.0.1:{port}" in res.stdout
    db = tmp_path / "runs" / "local" / "archive.db"
    calls = query(db, "select model, error from llm_calls")
    assert len(calls) >= 2 and all(e is None for _, e in calls)
    assert all(m == f"openai/{local_model.DEFAULT_MODEL}" for m, _ in calls)
    assert query(db, "select count(*) from iterations") == [(2,)]
    prompts = [m for (m,) in query(db, "select messages from llm_calls")]
    assert all("new `priority` function" in m for m in prompts)  # compact style, focus function
    assert all(len(m) < 4000 for m in prompts)  # short enough for a CPU prefill


def test_default_model_resolution_prefers_keys_then_the_embedded_model(monkeypatch):
    from evolve.config import RunConfig
    from evolve.runs import RunSetupError, resolve_models

    for var in ("OPENAI_API_KEY", "EVOLVE_MODEL", "EVOLVE_API_BASE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(local_model, "llama_installed", lambda: True)
    monkeypatch.setattr(local_model, "available", lambda name=local_model.DEFAULT_MODEL: True)
    entry = resolve_models(RunConfig(), [], None).llm.models[0]
    assert entry.name == f"openai/{local_model.DEFAULT_MODEL}" and entry.style == "compact"
    assert entry.api_base == local_server.api_base(local_server.DEFAULT_PORT)
    monkeypatch.setenv("EVOLVE_LLM_PORT", "9100")  # tests and second users move the ports
    assert resolve_models(RunConfig(), [], None).llm.models[0].api_base == local_server.api_base(9100)
    monkeypatch.setenv("EVOLVE_LLM_PORT", "http://x")
    with pytest.raises(RunSetupError, match="EVOLVE_LLM_PORT='http://x' is not a port"):
        resolve_models(RunConfig(), [], None)
    monkeypatch.delenv("EVOLVE_LLM_PORT")
    # one request at a time per embedded server, unless the config says otherwise; also after
    # the CLI's overrides (which once marked every field as set: 2 requests queued on 1 slot)
    assert resolve_models(RunConfig(), [], None).proposals_in_flight == 1
    from evolve.config import load_config, with_overrides

    overridden = with_overrides(load_config(None), {"stop.iterations": ("--iterations", 30),
                                                    "final_report": ("--report", True)})
    assert overridden.stop.iterations == 30
    assert resolve_models(overridden, [], None).proposals_in_flight == 1
    assert resolve_models(RunConfig(proposals_in_flight=3), [], None).proposals_in_flight == 3
    # a cold local server's first calls get minutes, not the remote default of 120 s
    from evolve.config import LlmConfig
    from evolve.runs import LOCAL_FIRST_TIMEOUT

    assert resolve_models(RunConfig(), [], None).llm.timeout_seconds == LOCAL_FIRST_TIMEOUT
    assert resolve_models(RunConfig(llm=LlmConfig(timeout_seconds=50)), [], None).llm.timeout_seconds == 50
    assert resolve_models(RunConfig(), [local_model.DEFAULT_MODEL, "openai/gpt-4o-mini"],
                          None).llm.timeout_seconds == 120  # a remote model in the pool
    both = [local_model.DEFAULT_MODEL, "qwen2.5-coder-0.5b-instruct-q4_k_m"]
    assert resolve_models(RunConfig(), both, None).proposals_in_flight == 2
    assert resolve_models(RunConfig(), [local_model.DEFAULT_MODEL, "openai/gpt-4o-mini"],
                          None).proposals_in_flight == 2  # the config default
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    resolved = resolve_models(RunConfig(), [], None)
    assert resolved.llm.models[0].name == "gpt-4o-mini" and resolved.proposals_in_flight == 2
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setattr(local_model, "available", lambda name=local_model.DEFAULT_MODEL: False)
    with pytest.raises(RunSetupError, match=r"pip install -e \.\[local\]"):
        resolve_models(RunConfig(), [], None)



# answers /models like llama.cpp's server, then dies as a llama.cpp built for a missing instruction does
SIGILL_SERVER = """
import http.server, json, os, resource, signal, sys
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"data": [{"id": sys.argv[2]}]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        os.kill(os.getpid(), signal.SIGILL)

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def test_a_server_that_dies_on_its_first_token_names_the_rebuild(tmp_path, monkeypatch):
    script = tmp_path / "server.py"
    script.write_text(SIGILL_SERVER)
    monkeypatch.setenv("EVOLVE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(local_server, "serve_command",
                        lambda name, port, threads: [sys.executable, str(script), str(port), name])
    port = free_port()
    with pytest.raises(local_model.LocalModelError, match=r"SIGILL.*bash scripts/rebuild-llama\.sh"):
        local_server.ensure_server("fake-model", port)
    assert not (tmp_path / "cache" / f"llama-server-{port}.pid").exists()  # not recorded as ours
