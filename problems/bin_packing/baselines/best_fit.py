"""Best fit (Johnson 1974): put the item into the fullest bin that fits it, i.e. minimise b - item.

The new-bin entry (the full capacity) always has the most room left, so a new bin is opened only
when no open bin fits. Ties go to the earliest bin.
"""


def priority(item: float, bins: list[float]) -> list[float]:
    return [-(b - item) for b in bins]
