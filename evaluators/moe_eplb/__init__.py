"""Expert-parallel load balancing for MoE inference (EPLB): trusted verifier and instance generator."""
