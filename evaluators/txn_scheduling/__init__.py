"""Transaction scheduling domain: cost model, workload generator, SMF reference, verifier."""
