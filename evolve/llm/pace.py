"""Request time limits from each model's measured speed, instead of one fixed number (issue 17).

A CPU model on a busy machine may need more than the configured limit for a long reply, and a
remote API that answers in seconds should not hold a hung request for two minutes. ``Pace``
keeps the latest successful calls of one model and prices a request in work units (prompt
tokens plus ``GEN_WEIGHT`` per reply token: decoding a token costs about three prompt tokens on
llama.cpp, 10-14 against 35-46 tokens/s measured on 2 cores). The limit for a request is
``MARGIN`` times what its worst case (a full-length reply) should take at the slowest seconds per
unit of the last ``WINDOW`` calls, at least ``FLOOR_SECONDS`` (or the configured limit if that is
lower); until ``WARMUP`` calls have been measured it is the configured ``timeout_seconds``.

The slowest, not the median: a server that reuses the previous prompt (llama.cpp, with one
parent asked three times in a row) answers most calls with a few dozen new prompt tokens and some
with hundreds, but reports every prompt's full size; priced at the median, a 100-call smtt run
cut two such calls at 33.5 s, and the retry of a cut call only queues behind the generation the
server is still finishing for it.
"""

from __future__ import annotations

from collections import deque

GEN_WEIGHT = 3.0
MARGIN = 3.0
FLOOR_SECONDS = 30.0
WARMUP = 3
WINDOW = 20
CHARS_PER_TOKEN = 3.2  # an estimate for Python under the Qwen2.5 tokenizer (not measured)


def units(prompt_tokens: float, reply_tokens: float) -> float:
    return prompt_tokens + GEN_WEIGHT * reply_tokens


def prompt_tokens(messages: list[dict[str, str]]) -> float:
    """A prompt's size in tokens, estimated from its characters (before the server counts it)."""
    return sum(len(m.get("content") or "") for m in messages) / CHARS_PER_TOKEN + 8 * len(messages)


class Pace:
    """Measured speed of one model's calls, and the time limit it implies for the next one."""

    def __init__(self, configured: float):
        self.configured = configured
        self._per_unit: deque[float] = deque(maxlen=WINDOW)

    def observe(self, prompt: int, reply: int, seconds: float) -> None:
        """A successful call: its token counts (as the server reported them) and latency."""
        work = units(prompt, reply)
        if work > 0 and seconds > 0:
            self._per_unit.append(seconds / work)

    def limit(self, messages: list[dict[str, str]], max_tokens: int) -> float:
        """Seconds to allow a request with ``messages`` and a reply cap of ``max_tokens``."""
        if len(self._per_unit) < WARMUP:
            return self.configured
        expected = max(self._per_unit) * units(prompt_tokens(messages), max_tokens)
        return max(min(FLOOR_SECONDS, self.configured), MARGIN * expected)
