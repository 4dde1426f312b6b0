"""Template verifier: copy to evaluators/<name>/ (``evolve new-problem NAME`` does it)."""
