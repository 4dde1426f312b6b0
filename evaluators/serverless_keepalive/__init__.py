"""serverless_keepalive: per-function keep-alive and pre-warm windows (Shahrad et al., ATC'20):
synthetic Azure-Functions-like workloads, a trusted minute-resolution simulator, the verifier."""
