"""First come, first served: vLLM's default scheduler (Kwon et al., SOSP'23).

Every waiting request in arrival order (the state lists them so; preempted requests keep their
original arrival and so come back first). The server admits them while they fit in the KV cache
and stops at the first that does not (head-of-line blocking, as vLLM does).
"""


def schedule(state: dict) -> list[int]:
    return [r[0] for r in state["waiting"]]
