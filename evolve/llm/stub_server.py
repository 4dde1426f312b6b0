"""A scripted OpenAI-compatible chat server, for tests and benchmarks (real HTTP, no model).

``StubLLM`` serves ``POST /v1/chat/completions`` (and ``/v1/completions``, for prompts rendered
by the client) on 127.0.0.1. Each request takes the next step
of its script: a reply text, an HTTP error status (429, 500, ...), or a delay (to provoke client
timeouts). Like a real server it ends a reply before the first of the request's ``stop`` strings.
Requests are kept for assertions.
When the script runs out, ``responder(n, body)`` (if given) or ``default`` answers.
Run standalone with ``python -m evolve.llm.stub_server --port P --reply-file F``.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the default listen backlog of 5 resets bursts of connections

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client dropping a kept-alive
            super().handle_error(request, client_address)      # connection is not an error


@dataclass(frozen=True)
class Step:
    content: str = ""
    status: int = 200
    delay: float = 0.0
    prompt_tokens: int = 100
    completion_tokens: int = 50


def cut_at_stop(text: str, stop: object) -> tuple[str, str]:
    """(text up to the earliest stop string, finish reason), as OpenAI-compatible servers do."""
    stops = [stop] if isinstance(stop, str) else [s for s in stop or [] if isinstance(s, str) and s]
    cuts = [i for i in (text.find(s) for s in stops) if i >= 0]
    return (text[:min(cuts)], "stop") if cuts else (text, "stop")


class StubLLM:
    def __init__(self, script: list[Step] | None = None, default: Step | None = None,
                 port: int = 0, responder: Callable[[int, dict], Step] | None = None):
        self.script: deque[Step] = deque(script or [])
        self.default = default or Step(content="no change proposed")
        self.responder = responder  # called with (request number, body) once the script is empty
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> StubLLM:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> StubLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def push(self, *steps: Step) -> None:
        with self._lock:
            self.script.extend(steps)

    def _next(self, body: dict) -> Step:
        with self._lock:
            self.requests.append(body)
            if self.script:
                return self.script.popleft()
            if self.responder is not None:
                return self.responder(len(self.requests), body)
            return self.default

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                route = self.path.rstrip("/")
                if not route.endswith("/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                chat = route.endswith("/chat/completions")
                step = stub._next(body)
                if step.delay:
                    time.sleep(step.delay)
                if step.status != 200:
                    kind = "rate_limit_error" if step.status == 429 else "server_error"
                    self._send(step.status, {"error": {"message": f"scripted {step.status}",
                                                       "type": kind, "code": str(step.status)}})
                    return
                content, finish = cut_at_stop(step.content, body.get("stop"))
                choice = {"index": 0, "finish_reason": finish}
                choice.update({"message": {"role": "assistant", "content": content}} if chat
                              else {"text": content})
                self._send(200, {
                    "id": f"chatcmpl-stub-{len(stub.requests)}",
                    "object": "chat.completion" if chat else "text_completion",
                    "created": int(time.time()), "model": body.get("model", "stub"),
                    "choices": [choice],
                    "usage": {"prompt_tokens": step.prompt_tokens,
                              "completion_tokens": step.completion_tokens,
                              "total_tokens": step.prompt_tokens + step.completion_tokens}})

        return Handler


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--reply-file", type=Path, help="text replied to every request")
    args = ap.parse_args()
    reply = args.reply_file.read_text() if args.reply_file else "no change proposed"
    stub = StubLLM(default=Step(content=reply), port=args.port)
    print(f"stub LLM on {stub.url}", flush=True)
    stub._server.serve_forever()


if __name__ == "__main__":
    main()
