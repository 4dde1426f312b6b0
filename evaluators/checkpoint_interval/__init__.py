"""checkpoint_interval: when to checkpoint a long training job under failures (trusted verifier)."""
