"""The direct OpenAI-compatible path: prices read from litellm's map, HTTP errors named and classed."""

from __future__ import annotations

import asyncio
import http.server
import threading

import pytest

from evolve.config import LlmConfig, ModelEntry
from evolve.llm import openai_compat, prices
from evolve.llm.client import LlmClient, LlmFailed
from evolve.llm.stub_server import Step, StubLLM


def test_prices_come_from_litellms_bundled_map():
    per_call = prices.cost("openai/gpt-4o-mini", 1_000_000, 1_000_000)
    assert per_call == pytest.approx(0.15 + 0.60)  # $ per 1M input + 1M output tokens
    assert prices.cost("gpt-4o-mini", 1_000_000, 0, cached_tokens=1_000_000) == pytest.approx(0.075)
    assert prices.cost("openai/no-such-model", 10, 10) is None


def test_only_openai_names_with_an_api_base_go_direct():
    assert openai_compat.handles(ModelEntry(name="openai/x", api_base="http://h/v1"))
    assert not openai_compat.handles(ModelEntry(name="openai/gpt-4o-mini"))
    assert not openai_compat.handles(ModelEntry(name="ollama/llama3", api_base="http://h"))


def complete(url: str, retries: int = 0) -> tuple[str | Exception, list]:
    attempts: list = []
    client = LlmClient(LlmConfig(retries=retries, backoff_seconds=0.01, timeout_seconds=2))

    async def go():
        try:
            return await client.complete(ModelEntry(name="openai/stub", api_base=url),
                                         [{"role": "user", "content": "hi"}], attempts.append)
        except LlmFailed as exc:
            return exc
        finally:
            await client.aclose()

    return asyncio.run(go()), attempts


def test_replies_tokens_and_unknown_prices():
    with StubLLM([Step(content="hello", prompt_tokens=7, completion_tokens=3)]) as stub:
        text, attempts = complete(stub.url)
    assert text == "hello"
    a = attempts[0]
    assert (a.prompt_tokens, a.completion_tokens, a.cost, a.cost_known, a.error) == (7, 3, 0.0, False, None)
    assert stub.requests[0]["model"] == "stub" and stub.requests[0]["max_tokens"] == 4096


@pytest.mark.parametrize("status, name, fatal", [(401, "AuthenticationError", True),
                                                 (404, "NotFoundError", True),
                                                 (400, "BadRequestError", False),
                                                 (429, "RateLimitError", False),
                                                 (503, "InternalServerError", False)])
def test_http_errors_are_named_and_classed(status, name, fatal):
    with StubLLM([Step(status=status)], default=Step(content="late")) as stub:
        out, attempts = complete(stub.url, retries=1)
    retryable = status in (429, 503)
    if retryable:
        assert out == "late" and len(attempts) == 2  # retried once, then answered
    else:
        assert isinstance(out, LlmFailed) and out.fatal == fatal and len(attempts) == 1
    assert attempts[0].error.startswith(f"{name}: Error code: {status}")


def test_unreadable_completions_and_dead_servers_are_retried():
    class Garbage(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "9")
            self.end_headers()
            self.wfile.write(b"not json!")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out, attempts = complete(f"http://127.0.0.1:{server.server_port}/v1", retries=1)
    server.shutdown()
    server.server_close()
    assert isinstance(out, LlmFailed) and not out.fatal and len(attempts) == 2
    assert attempts[0].error.startswith("APIError: unreadable completion")
    out, attempts = complete(f"http://127.0.0.1:{server.server_port}/v1")  # nobody listens now
    assert isinstance(out, LlmFailed) and attempts[0].error.startswith("APIConnectionError")


def test_every_attempt_carries_a_fresh_sampling_seed():
    """llama.cpp's server returns the same sample for the same prompt at any temperature unless
    the request carries a seed: each request, retries included, gets its own."""
    drawn = iter([11, 22, 33])
    with StubLLM([Step(status=500), Step(content="a"), Step(content="b")]) as stub:
        client = LlmClient(LlmConfig(retries=2, backoff_seconds=0.01, timeout_seconds=2))
        attempts: list = []

        async def go():
            model = ModelEntry(name="openai/stub", api_base=stub.url)
            try:
                first = await client.complete(model, [{"role": "user", "content": "hi"}],
                                              attempts.append, lambda: next(drawn))
                second = await client.complete(model, [{"role": "user", "content": "hi"}],
                                               attempts.append, lambda: next(drawn))
                return first, second
            finally:
                await client.aclose()

        assert asyncio.run(go()) == ("a", "b")
    assert [r["seed"] for r in stub.requests] == [11, 22, 33]
    assert [a.seed for a in attempts] == [11, 22, 33]
    with StubLLM([Step(content="c")]) as stub:  # no seed source: no seed field (hosted APIs vary)
        complete(stub.url)
    assert "seed" not in stub.requests[0]


def test_time_limits_follow_the_models_measured_speed():
    """Until three calls are measured the configured limit holds; then a request gets 3x what a
    full-length reply should take at the measured speed: a slow model is not cut at a fixed limit,
    and the message names the limit used."""
    slow = Step(content="ok", delay=0.2, prompt_tokens=10, completion_tokens=10)
    script = [Step(content="late", delay=1.0), slow, slow, slow, Step(content="long", delay=1.0)]
    with StubLLM(script) as stub:
        client = LlmClient(LlmConfig(retries=0, timeout_seconds=0.5))
        model = ModelEntry(name="openai/stub", api_base=stub.url, max_tokens=100)

        async def go():
            out = []
            try:
                for _ in script:
                    try:
                        out.append(await client.complete(model, [{"role": "user", "content": "hi"}],
                                                         lambda a: None))
                    except LlmFailed as exc:
                        out.append(str(exc))
            finally:
                await client.aclose()
            return out

        first, *measured, last = asyncio.run(go())
    assert "no reply within 0.5s" in first  # the configured limit
    # 0.2 s per 40 work units measured; 100 reply tokens (+ the prompt) in 3x that time: ~9 s
    assert measured == ["ok", "ok", "ok"] and last == "long"


def test_a_pace_prices_requests_by_prompt_and_reply_cap():
    from evolve.llm.pace import Pace

    pace = Pace(configured=120)
    msgs = [{"role": "user", "content": "x" * 3200}]  # about 1000 prompt tokens
    assert pace.limit(msgs, 600) == 120
    for _ in range(3):
        pace.observe(prompt=1000, reply=200, seconds=32.0)  # 0.02 s per unit
    assert pace.limit(msgs, 600) == pytest.approx(3 * 0.02 * (1000 + 8 + 3 * 600), rel=0.01)
    assert pace.limit(msgs, 100) < pace.limit(msgs, 600)
    for _ in range(20):
        pace.observe(prompt=1000, reply=200, seconds=0.1)  # a fast API: the floor
    assert pace.limit(msgs, 600) == 30.0


def test_a_pace_allows_for_the_slow_calls_between_cached_ones():
    """A server reusing the previous prompt answers most calls fast and reports every prompt's
    full size: the limit follows the slowest recent call, not the typical one."""
    from evolve.llm.pace import Pace

    pace = Pace(configured=120)
    msgs = [{"role": "user", "content": "x" * 3520}]  # about 1100 prompt tokens
    for seconds in (2.0, 2.5, 2.1, 20.0, 2.2, 1.9):  # one call processed its whole prompt
        pace.observe(prompt=1100, reply=20, seconds=seconds)
    full = 20.0 / (1100 + 3 * 20) * (1100 + 8 + 3 * 355)  # that call's speed, a full-length reply
    assert pace.limit(msgs, 355) == pytest.approx(3 * full, rel=0.01)
    assert pace.limit(msgs, 355) > 37  # what such a call took in a 100-call run (cut at 33.5 s)
