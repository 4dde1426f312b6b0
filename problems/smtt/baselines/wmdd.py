"""Weighted modified due date (Kanet & Li 2004; MDD of Baker & Bertrand 1982 with weights).

Dispatching: at time t, start the unscheduled job with the smallest max(p_j, d_j - t) / w_j.
"""


def schedule(p: list[int], w: list[int], d: list[int]) -> list[int]:
    left = set(range(len(p)))
    t = 0
    order = []
    while left:
        j = min(left, key=lambda j: (max(p[j], d[j] - t) / w[j], d[j], j))
        order.append(j)
        left.remove(j)
        t += p[j]
    return order
