"""The embedded default model (the only LLM on a machine without keys): which GGUF weights are
installed (``local_model``), the llama.cpp server started or reused for a run (``local_server``)
and the check that the llama.cpp build computes on this CPU (``llama_check``). The LLM client
(``evolve/llm/client.py``) talks to it like to any OpenAI-compatible server."""
