"""Prefix-reuse ordering (the ADRS "LLM-SQL" problem): tables, the prompt-cache model, the verifier."""
