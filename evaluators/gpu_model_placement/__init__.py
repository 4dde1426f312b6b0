"""GPU model placement (the ADRS "Prism" problem): generator, placement model, CP-SAT reference, verifier."""
