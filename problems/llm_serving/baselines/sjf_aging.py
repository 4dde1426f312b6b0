"""SJF with aging (anti-starvation): predicted remaining tokens minus a credit for time waited.

priority = max(predicted - generated, 1) - AGING * waited_seconds; the lowest goes first. A
request's priority improves by AGING tokens per second of waiting, so a long request waits at most
about (its length - the shortest's) / AGING seconds behind short ones.
"""

AGING = 50.0  # predicted tokens of credit per second waited


def schedule(state: dict) -> list[int]:
    now = state["now"]

    def key(r: list) -> tuple:  # r = [id, arrival, prompt, predicted, generated, preemptions]
        return (max(r[3] - r[4], 1) - AGING * (now - r[1]), r[1], r[0])
    return [r[0] for r in sorted(state["waiting"], key=key)]
