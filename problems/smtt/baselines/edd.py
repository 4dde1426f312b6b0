"""EDD (earliest due date; Jackson 1955): sequence jobs by non-decreasing due date."""


def schedule(p: list[int], w: list[int], d: list[int]) -> list[int]:
    return sorted(range(len(p)), key=lambda j: d[j])  # ties by job index (stable)
