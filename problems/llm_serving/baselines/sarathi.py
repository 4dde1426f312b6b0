"""Sarathi-Serve style chunked prefill (Agrawal et al., OSDI'24) on top of FCFS admission.

Caps the prefill tokens of every iteration at 512, so a long prompt is prefilled in chunks that
piggyback on decode iterations instead of stalling every decoding request for one long
iteration (better TPOT, at some cost in TTFT). Admission order is FCFS.
"""

CHUNK = 512


def schedule(state: dict) -> dict:
    return {"admit": [r[0] for r in state["waiting"]], "prefill_budget": CHUNK}
