"""LLM access through litellm: model pool, retries, timeouts, tokens, cost, budget."""
