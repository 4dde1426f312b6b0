"""Dollar cost of a reply from litellm's bundled price map, read as data (litellm is not imported).

Used for models reached directly over the OpenAI chat API (``evolve.llm.openai_compat``); models
that go through litellm are priced by ``litellm.completion_cost``. The map is the JSON file that
ships inside the installed litellm package, so both paths price from the same table.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.util import find_spec
from pathlib import Path

PRICE_FILE = "model_prices_and_context_window_backup.json"


@cache
def price_map() -> dict[str, dict]:
    spec = find_spec("litellm")  # locates the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / PRICE_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def cost(model: str, prompt_tokens: int, completion_tokens: int,
         cached_tokens: int = 0) -> float | None:
    """Dollars for one reply of ``model`` (``openai/gpt-4o-mini`` or ``gpt-4o-mini``), or None
    when the map has no per-token price for it. Cached prompt tokens use the cache-read price."""
    prices = price_map()
    entry = prices.get(model) or prices.get(model.split("/", 1)[-1])
    if not entry or "input_cost_per_token" not in entry or "output_cost_per_token" not in entry:
        return None
    cached = min(cached_tokens, prompt_tokens)
    cached_price = entry.get("cache_read_input_token_cost", entry["input_cost_per_token"])
    return ((prompt_tokens - cached) * entry["input_cost_per_token"] + cached * cached_price
            + completion_tokens * entry["output_cost_per_token"])
