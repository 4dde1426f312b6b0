"""Round robin: models in the given order, each to the next GPU in turn (0, 1, ..., G-1, 0, ...),
skipping GPUs where it would leave the remaining models unpackable (first fit decreasing into the
memory left) or that have no room; ignores rates and SLOs."""


def packable(sizes: list[float], free: list[float]) -> bool:
    """Whether first fit decreasing puts every size into the free memory (strictly less)."""
    free = list(free)
    for s in sorted(sizes, reverse=True):
        g = next((g for g, f in enumerate(free) if s < f), None)
        if g is None:
            return False
        free[g] -= s
    return True


def place_models(gpu_num: int, gpu_mem: float, models: list[list[float]]) -> list[int]:
    used = [0.0] * gpu_num
    where = [0] * len(models)
    cursor = 0
    for i, (size, _, _) in enumerate(models):
        rest = [m[0] for m in models[i + 1:]]
        turn = [(cursor + k) % gpu_num for k in range(gpu_num)]
        ok = [g for g in turn if used[g] + size < gpu_mem]
        safe = [g for g in ok if packable(rest, [gpu_mem - u - (size if h == g else 0.0)
                                                 for h, u in enumerate(used)])]
        g = (safe or ok or turn)[0]  # none with room: invalid, reported
        where[i] = g
        used[g] += size
        cursor = (g + 1) % gpu_num
    return where
