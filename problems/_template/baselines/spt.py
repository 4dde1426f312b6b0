"""SPT (shortest processing time first): optimal when all weights are equal; ignores the weights."""


def schedule(p: list[int], w: list[int]) -> list[int]:
    return sorted(range(len(p)), key=lambda j: (p[j], j))
