"""Can't Be Late: deadline-aware spot scheduling (traces, simulator, optimum, verifier)."""
