"""First fit (Johnson 1974): put the item into the earliest opened bin that fits it.

Priorities fall with the position in ``bins`` (open bins in opening order, the new bin last).
"""


def priority(item: float, bins: list[float]) -> list[float]:
    return [-float(k) for k in range(len(bins))]
