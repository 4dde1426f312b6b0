"""The heuristic FunSearch evolved on OR instances (Romera-Paredes et al., Nature 2023).

Published: 3.11% excess on OR3. A step function of the room left after placing the item:
near-perfect fits score highest; bins with more than 21 left score 0.99 (just above the
0.9-0.98 of middling fits), so the new empty bin competes with them.
"""


def score(room: float) -> float:
    for limit, value in ((2, 4.0), (3, 3.0), (5, 2.0), (7, 1.0), (9, 0.9), (12, 0.95), (15, 0.97),
                         (18, 0.98), (20, 0.98), (21, 0.98)):
        if room <= limit:
            return value
    return 0.99


def priority(item: float, bins: list[float]) -> list[float]:
    return [score(b - item) for b in bins]
