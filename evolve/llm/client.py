"""One chat completion with retries, timeouts and per-attempt accounting.

Models with an ``api_base`` and an ``openai/`` name go straight to that OpenAI-compatible server
through the openai SDK (``openai_compat``); every other model goes through litellm.

Every attempt (successful or not) is reported to ``record`` with model, tokens, cost, latency and
error, so the archive holds every call that may have cost money. 429, 5xx, connection errors and
timeouts are retried with exponential backoff and jitter; authentication and bad-request errors
fail at once with a one-line message. Prices come from litellm's bundled price map; a model it
does not know costs 0 and is flagged ``cost_known=False`` (and said once on the console); the
embedded local models cost 0. API keys are read from the environment only.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from evaluators.storable import clean_text
from evolve.config import LlmConfig, ModelEntry
from evolve.llm import openai_compat, prices
from evolve.llm.embedded.local_model import MODELS as EMBEDDED
from evolve.llm.openai_compat import Shape
from evolve.llm.pace import Pace

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
REPLY_CHARS = 1_000_000  # far beyond any reply a max_tokens allows


@cache
def litellm_module() -> Any:
    """Import litellm once per process (it takes seconds)."""
    import litellm

    litellm.suppress_debug_info = True
    litellm.drop_params = True
    return litellm


@dataclass(frozen=True)
class Attempt:
    model: str
    attempt: int
    reply: str | None
    prompt_tokens: int
    completion_tokens: int
    cost: float
    cost_known: bool
    latency: float
    error: str | None
    seed: int | None = None  # the sampling seed the request carried


class LlmFailed(Exception):
    """No usable reply after the allowed attempts (the reason is one line).

    ``fatal`` marks errors that retrying cannot fix (bad key, unknown model, bad request).
    """

    def __init__(self, message: str, fatal: bool = False):
        super().__init__(message)
        self.fatal = fatal


RETRYABLE = {"RateLimitError", "InternalServerError", "ServiceUnavailableError", "BadGatewayError",
             "APIConnectionError", "Timeout", "APITimeoutError"}
FATAL = {"AuthenticationError", "PermissionDeniedError", "NotFoundError"}


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError, ConnectionError)):
        return True
    if type(exc).__name__ in RETRYABLE:
        return True
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status in (408, 409, 429) or status >= 500
    return type(exc).__name__ == "APIError"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


class LlmClient:
    def __init__(self, cfg: LlmConfig, warn: Callable[[str], None] = lambda msg: None):
        self.cfg = cfg
        self.warn = warn
        self._unpriced: set[str] = set()
        self._import: asyncio.Future | None = None
        self._http: Any = None
        self._paces: dict[str, Pace] = {}  # per model: time limits from measured speed

    async def aclose(self) -> None:
        """Close the connection pool (it belongs to the event loop that made it)."""
        http, self._http = self._http, None
        if http is not None:
            await http.close()

    def warm(self) -> None:
        """Start importing litellm (about 5 s) in a thread if a configured model needs it, so
        that the import overlaps other start-up work and never blocks the event loop; call from
        a running loop."""
        if self._import is None:
            self._import = asyncio.ensure_future(asyncio.to_thread(self._import_clients))

    def _import_clients(self) -> None:
        if not all(openai_compat.handles(m) for m in self.cfg.models):
            litellm_module()

    def _unknown_price(self, model: str) -> tuple[float, bool]:
        if model not in self._unpriced:
            self._unpriced.add(model)
            self.warn(f"model {model!r} is not in litellm's price map: its calls are "
                      "recorded with cost 0 (cost_known=false)")
        return 0.0, False

    async def _via_sdk(self, model: ModelEntry, messages: list[dict[str, str]], seed: int | None,
                       shape: Shape, timeout: float) -> tuple[openai_compat.Reply, tuple[float, bool]]:
        if self._http is None:
            self._http = openai_compat.session()
        reply = await openai_compat.chat(self._http, model, messages, timeout, seed, shape)
        if model.name.removeprefix("openai/") in EMBEDDED:
            return reply, (0.0, True)
        price = prices.cost(model.name, reply.prompt_tokens, reply.completion_tokens,
                            reply.cached_tokens)
        return reply, ((price, True) if price is not None else self._unknown_price(model.name))

    async def _via_litellm(self, model: ModelEntry, messages: list[dict[str, str]], seed: int | None,
                           shape: Shape, timeout: float) -> tuple[openai_compat.Reply, tuple[float, bool]]:
        litellm = litellm_module()
        kwargs: dict[str, Any] = {"model": model.name, "messages": messages,
                                  "temperature": model.temperature,
                                  "max_tokens": shape.max_tokens or model.max_tokens,
                                  "timeout": timeout, "num_retries": 0}
        if shape.stop:
            kwargs["stop"] = list(shape.stop)
        if seed is not None:
            kwargs["seed"] = seed  # providers without one drop it (litellm.drop_params)
        if model.api_base:
            kwargs["api_base"] = model.api_base
        response = await litellm.acompletion(**kwargs)
        usage = getattr(response, "usage", None)
        reply = openai_compat.Reply(text=response.choices[0].message.content or "",
                                    prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                                    completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
                                    cached_tokens=0)
        try:
            price = float(litellm.completion_cost(completion_response=response)), True
        except Exception:
            price = self._unknown_price(model.name)
        return reply, price

    async def complete(self, model: ModelEntry, messages: list[dict[str, str]],
                       record: Callable[[Attempt], None],
                       seeds: Callable[[], int] | None = None, shape: Shape = Shape()) -> str:
        """Return the reply text or raise ``LlmFailed``; every attempt goes to ``record``.
        ``seeds`` draws a fresh sampling seed for every attempt (retries included); ``shape``
        tightens the reply cap and adds stop strings for this request."""
        self.warm()
        await asyncio.shield(self._import)
        call = self._via_sdk if openai_compat.handles(model) else self._via_litellm
        pace = self._paces.setdefault(model.name, Pace(self.cfg.timeout_seconds))
        last = "no attempt made"
        for attempt in range(1, self.cfg.retries + 2):
            started = time.monotonic()
            seed = seeds() if seeds is not None else None
            limit = pace.limit(messages, shape.max_tokens or model.max_tokens)
            try:
                reply, (cost, known) = await asyncio.wait_for(call(model, messages, seed, shape, limit),
                                                              timeout=limit + 5)
            except Exception as exc:
                latency = time.monotonic() - started
                last = _one_line(exc) if not isinstance(exc, asyncio.TimeoutError) else (
                    f"Timeout: no reply within {limit:.3g}s")
                record(Attempt(model.name, attempt, None, 0, 0, 0.0, True, latency, last, seed))
                if not _retryable(exc):
                    raise LlmFailed(f"{model.name}: {last}", fatal=type(exc).__name__ in FATAL) from exc
                if attempt > self.cfg.retries:
                    raise LlmFailed(f"{model.name}: {last} (after {attempt} attempts)") from exc
                delay = min(self.cfg.backoff_max_seconds, self.cfg.backoff_seconds * 2 ** (attempt - 1))
                await asyncio.sleep(delay * (0.5 + random.random() / 2))
                continue
            latency = time.monotonic() - started
            pace.observe(reply.prompt_tokens, reply.completion_tokens, latency)
            # a server may send NUL or a lone surrogate escape; never cut a reply's middle
            text = clean_text(reply.text, cap=REPLY_CHARS)
            record(Attempt(model.name, attempt, text, reply.prompt_tokens,
                           reply.completion_tokens, cost, known, latency, None, seed))
            return text
        raise LlmFailed(f"{model.name}: {last}")
