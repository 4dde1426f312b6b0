"""Chat calls to OpenAI-compatible servers named by ``api_base``, over aiohttp.

A model entry ``openai/<name>`` with an ``api_base`` (vLLM, llama.cpp, Ollama's /v1, a proxy, the
embedded model, the test stub) speaks the plain OpenAI chat API: one JSON POST to
``{api_base}/chat/completions``, which is all litellm would send it too. A model whose prompt
format is ChatML (the embedded Qwen models) may instead get the rendered prompt on
``{api_base}/completions`` with its reply already begun (``Shape.prefill``). Going there directly
saves litellm's import (about 5 s of CPU at every run's start) and most of the per-call CPU:
measured on this machine with a 6 KB prompt, litellm about 6 ms, the openai SDK 3.3-5.9 ms,
httpx 3.1-5.8 ms, aiohttp 0.6-0.8 ms per call (32-200 calls in flight). Other providers keep
going through litellm (``evolve.llm.client``).

HTTP failures raise exceptions named like the openai SDK's (RateLimitError, InternalServerError,
APITimeoutError, AuthenticationError, ...), the names litellm raises too, so the retry and
fatal rules in ``evolve.llm.client`` apply to both paths unchanged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from evolve.config import ModelEntry


@dataclass(frozen=True)
class Shape:
    """What one request asks beyond the model's settings: a tighter reply cap (None: the model's
    ``max_tokens``) and stop strings (the server ends the reply where one appears). ``prefill``
    begins the reply for a model whose prompt format lets a request do so (ChatML), which then
    stops at ``prefill_stop`` instead of ``stop``."""

    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    prefill: str = ""
    prefill_stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reply:
    text: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int


class APIError(Exception):
    """The server answered, but not with a usable completion (retried)."""

    status_code: int | None = None

    def __init__(self, message: str, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class APIConnectionError(APIError):
    pass


class APITimeoutError(APIError):
    pass


class BadRequestError(APIError):
    pass


class AuthenticationError(APIError):
    pass


class PermissionDeniedError(APIError):
    pass


class NotFoundError(APIError):
    pass


class RateLimitError(APIError):
    pass


class InternalServerError(APIError):
    pass


BY_STATUS: dict[int, type[APIError]] = {400: BadRequestError, 401: AuthenticationError,
                                        403: PermissionDeniedError, 404: NotFoundError,
                                        422: BadRequestError, 429: RateLimitError}


def handles(model: ModelEntry) -> bool:
    """True when this model is reached directly: an ``openai/`` name with an ``api_base``."""
    return bool(model.api_base) and model.name.startswith("openai/")


def session() -> aiohttp.ClientSession:
    """One connection pool for every proposal in flight; it belongs to the running event loop
    (close it with ``await session.close()``)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


def _error_message(status: int, body: bytes) -> str:
    try:
        err = json.loads(body).get("error")
        text = err.get("message") if isinstance(err, dict) else err
    except (ValueError, AttributeError):
        text = None
    return f"Error code: {status} - {text or body[:300].decode('utf-8', 'replace')}"


def chatml(messages: list[dict[str, str]]) -> str:
    """``messages`` as a ChatML prompt (Qwen's template, as llama.cpp renders it for the chat API),
    open at the assistant's turn: a completion request can then start the reply itself."""
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages) \
        + "<|im_start|>assistant\n"


async def _post(http: aiohttp.ClientSession, model: ModelEntry, route: str, request: dict,
                timeout: float) -> dict:
    assert model.api_base is not None
    key = os.environ.get("OPENAI_API_KEY") or "no-key"  # a local server needs none
    try:
        async with http.post(f"{model.api_base.rstrip('/')}/{route}", data=json.dumps(request),
                             headers={"Content-Type": "application/json",
                                      "Authorization": f"Bearer {key}"},
                             timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            raw = await resp.read()
            status = resp.status
    except TimeoutError:
        raise APITimeoutError(f"Request timed out (no reply within {timeout:g}s)") from None
    except aiohttp.ClientError as exc:
        raise APIConnectionError(f"Connection error: {exc}") from exc
    if status != 200:
        cls = BY_STATUS.get(status, InternalServerError if status >= 500 else APIError)
        raise cls(_error_message(status, raw), status)
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise TypeError("not an object")
        return data
    except (ValueError, TypeError) as exc:
        raise APIError(f"unreadable completion ({type(exc).__name__}): {raw[:200]!r}") from None


def _reply(data: dict, text_of: Callable[[dict], str | None], prefix: str = "") -> Reply:
    try:
        choices = data.get("choices") or [{}]
        text = text_of(choices[0]) or ""
        usage = data.get("usage") or {}
        details = usage.get("prompt_tokens_details") or {}
        return Reply(text=prefix + text, prompt_tokens=int(usage.get("prompt_tokens") or 0),
                     completion_tokens=int(usage.get("completion_tokens") or 0),
                     cached_tokens=int(details.get("cached_tokens") or 0))
    except (ValueError, AttributeError, TypeError) as exc:
        raise APIError(f"unreadable completion ({type(exc).__name__}): "
                       f"{json.dumps(data)[:200]!r}") from None


def _sampling(model: ModelEntry, shape: Shape, seed: int | None, stop: tuple[str, ...]) -> dict:
    request: dict = {"model": model.name.removeprefix("openai/"), "temperature": model.temperature,
                     "max_tokens": shape.max_tokens or model.max_tokens}
    if stop:
        request["stop"] = list(stop)
    if seed is not None:
        request["seed"] = seed
    return request


async def chat(http: aiohttp.ClientSession, model: ModelEntry, messages: list[dict[str, str]],
               timeout: float, seed: int | None = None, shape: Shape = Shape()) -> Reply:
    """One chat completion, or one of the errors above. ``seed``: the request's sampling seed
    (llama.cpp's server returns the same sample for the same prompt at any temperature without
    one). A ChatML model with a ``shape.prefill`` is asked through the completions route with
    the reply already begun (the returned text starts with the prefill)."""
    if shape.prefill and model.prompt_format == "chatml":
        request = _sampling(model, shape, seed, shape.prefill_stop) | {
            "prompt": chatml(messages) + shape.prefill}
        data = await _post(http, model, "completions", request, timeout)
        return _reply(data, lambda c: c.get("text"), shape.prefill)
    request = _sampling(model, shape, seed, shape.stop) | {"messages": messages}
    data = await _post(http, model, "chat/completions", request, timeout)
    return _reply(data, lambda c: (c.get("message") or {}).get("content"))
