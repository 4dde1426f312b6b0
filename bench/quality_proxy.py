"""The counting proxy between the systems under test and the one model server.

An aiohttp server on 127.0.0.1 (its own event loop in a daemon thread) that forwards
``POST /v1/chat/completions``, ``POST /v1/completions`` (the embedded model's begun function
rewrites: ``prompt_format: chatml``) and ``GET /v1/models`` to the upstream OpenAI-compatible server,
and per run (``begin_run``):

- counts the calls, in order of arrival (``GET /stats`` returns ``{"run", "calls"}``: the
  OpenEvolve evaluator bridge reads it to know after how many calls each evaluation happened);
- logs each call (arrival time, latency, HTTP status, prompt / completion tokens, seed) to a
  JSONL file and keeps it as a ``CallRecord``;
- injects a fresh ``seed`` into every request that carries none: llama.cpp's server returns the
  same sample for the same prompt at any temperature unless the request has a seed. The seeds
  come from an RNG seeded by the run's label and bench seed, so a rerun sends the same ones.
  A request that has a seed keeps it. A run can turn injection off (``begin_run(inject=False)``):
  the bench does so for evolve's ablation without its own request seeds.

``/v1/models`` answers with the upstream's model id (or, for an upstream without that route,
such as the test stub, the id given at start), so ``evolve``'s ``ensure_local_servers`` sees
the embedded model already "running" at the proxy's port and reuses it.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from pathlib import Path

import aiohttp
from aiohttp import web
from quality_types import CallRecord, CallStats

UPSTREAM_SECONDS = 1800.0  # the clients have their own (shorter) timeouts


class CountingProxy:
    def __init__(self, upstream: str, model: str | None = None, port: int = 0):
        self.upstream = upstream.rstrip("/")
        self._model = model
        self._port = port
        self._lock = threading.Lock()
        self._run = ""
        self._count = 0
        self._records: list[CallRecord] = []
        self._rng = random.Random(0)
        self._inject = True
        self._log: Path | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """The OpenAI-compatible base URL clients use (ends in /v1)."""
        return f"http://127.0.0.1:{self._port}/v1"

    @property
    def stats_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/stats"

    @property
    def model(self) -> str:
        return self._model or "unknown"

    def start(self) -> CountingProxy:
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._start())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=serve, name="quality-proxy", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    def __enter__(self) -> CountingProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=UPSTREAM_SECONDS),
                                           connector=aiohttp.TCPConnector(limit=0))
        if self._model is None:
            self._model = await self._upstream_model()
        app = web.Application(client_max_size=64 << 20)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._completion)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/stats", self._stats)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    # -- runs ----------------------------------------------------------------------------------
    def begin_run(self, label: str, seed: int, log: Path | None = None, inject: bool = True) -> None:
        """Start counting a new run: zero calls, seeds from an RNG seeded by (label, seed);
        ``inject=False`` forwards requests without a seed as they are (an ablation of evolve's
        own request seeds must not have the proxy put them back)."""
        with self._lock:
            self._run = label
            self._inject = inject
            self._count = 0
            self._records = []
            self._rng = random.Random(f"{label}:{seed}")
            self._log = log
            if log is not None:
                log.parent.mkdir(parents=True, exist_ok=True)
                log.write_text("")

    @property
    def count(self) -> int:
        with self._lock:
            return self._count

    def records(self) -> list[CallRecord]:
        with self._lock:
            return sorted(self._records, key=lambda r: r.index)

    def stats(self) -> CallStats:
        return call_stats(self.records())

    # -- handlers ------------------------------------------------------------------------------
    async def _upstream_model(self) -> str | None:
        assert self._http is not None
        try:
            async with self._http.get(f"{self.upstream}/models",
                                      timeout=aiohttp.ClientTimeout(total=30)) as resp:
                data = await resp.json(content_type=None)
            return data["data"][0]["id"]
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, IndexError, TypeError):
            return None

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [
            {"id": self.model, "object": "model", "owned_by": "quality-proxy"}]})

    async def _stats(self, request: web.Request) -> web.Response:
        with self._lock:
            return web.json_response({"run": self._run, "calls": self._count})

    async def _chat(self, request: web.Request) -> web.Response:
        return await self._forward(request, "chat/completions")

    async def _completion(self, request: web.Request) -> web.Response:
        return await self._forward(request, "completions")

    async def _forward(self, request: web.Request, route: str) -> web.Response:
        """One counted call, relayed to the upstream's ``route``."""
        assert self._http is not None
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": {"message": "body is not JSON"}}, status=400)
        with self._lock:
            self._count += 1
            index = self._count
            injected = self._inject and body.get("seed") is None
            if injected:
                body["seed"] = self._rng.randrange(1, 2**31 - 1)
        started, t0 = time.time(), time.monotonic()
        headers = {"Content-Type": "application/json"}
        if "Authorization" in request.headers:
            headers["Authorization"] = request.headers["Authorization"]
        try:
            async with self._http.post(f"{self.upstream}/{route}", data=json.dumps(body),
                                       headers=headers) as resp:
                raw, status = await resp.read(), resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raw = json.dumps({"error": {"message": f"proxy: upstream unreachable: {exc}",
                                        "type": "server_error"}}).encode()
            status = 502
        usage = _usage(raw) if status == 200 else {}
        self._record(CallRecord(index=index, started=started, latency=time.monotonic() - t0,
                                status=status, prompt_tokens=int(usage.get("prompt_tokens") or 0),
                                completion_tokens=int(usage.get("completion_tokens") or 0),
                                seed=body.get("seed"), injected=injected))
        return web.Response(body=raw, status=status, content_type="application/json")

    def _record(self, rec: CallRecord) -> None:
        with self._lock:
            self._records.append(rec)
            if self._log is not None:
                with self._log.open("a") as f:
                    f.write(json.dumps(rec.__dict__) + "\n")


def _usage(raw: bytes) -> dict:
    try:
        return json.loads(raw).get("usage") or {}
    except (ValueError, AttributeError):
        return {}


def call_stats(records: list[CallRecord]) -> CallStats:
    """Totals of a run's calls; busy time is the union of in-flight intervals, so calls queued
    behind each other at a single-slot server are not counted twice."""
    spans = sorted((r.started, r.started + r.latency) for r in records)
    busy, end = 0.0, float("-inf")
    for a, b in spans:
        if b <= end:
            continue
        busy += b - max(a, end)
        end = b
    n = len(records)
    return CallStats(calls=n, busy_seconds=busy,
                     mean_latency=sum(r.latency for r in records) / n if n else 0.0,
                     prompt_tokens=sum(r.prompt_tokens for r in records),
                     completion_tokens=sum(r.completion_tokens for r in records),
                     errors=sum(1 for r in records if r.status != 200),
                     injected_seeds=sum(1 for r in records if r.injected))


def read_log(path: Path) -> list[CallRecord]:
    if not path.exists():
        return []
    return [CallRecord(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]
