"""LLM serving: request scheduling on one continuously batched inference server."""
