"""Shortest job first on the *predicted* output length (as in S3 / learning-to-rank schedulers).

Waiting requests in order of predicted remaining output tokens (predicted - generated, at least
1), ties by arrival. Favours short answers: most requests meet the TTFT bound, long ones starve.
"""


def schedule(state: dict) -> list[int]:
    def key(r: list) -> tuple:  # r = [id, arrival, prompt, predicted, generated, preemptions]
        return (max(r[3] - r[4], 1), r[1], r[0])
    return [r[0] for r in sorted(state["waiting"], key=key)]
