"""Priority-aware Kubernetes pod packing: cluster generator, default scheduler, CP-SAT reference, verifier."""
