"""Seed policy for llm_serving: first come, first served (vLLM's default). Only the EVOLVE-BLOCK is evolved.

schedule() lists every waiting request by priority(); the server admits them in that order while
they fit in the KV cache (it stops at the first that does not).
"""


# EVOLVE-BLOCK-START
def priority(request: list, now: float) -> float:
    """Lower is admitted first. request = [id, arrival, prompt_tokens, predicted_output,
    generated, preemptions]; now is the current time in seconds. FCFS: the arrival time."""
    rid, arrival, prompt, predicted, generated, preemptions = request  # noqa: RUF059
    return arrival


def schedule(state: dict) -> list[int]:
    """Ids of waiting requests to admit, in order (a list is the short form of {'admit': [...]})."""
    now = state["now"]
    order = sorted(state["waiting"], key=lambda r: (priority(r, now), r[0]))
    return [r[0] for r in order]
# EVOLVE-BLOCK-END
