"""Greedy by pressure (the ADRS "Prism" baseline): models by rate / slo descending, each to the GPU
whose pressure after adding it is lowest. Here only among GPUs that keep the remaining models
packable (first fit decreasing into the memory left), since on these tight instances the plain
greedy often leaves a large model with no GPU (README)."""


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
    used, demand = [0.0] * gpu_num, [0.0] * gpu_num
    where = [0] * len(models)
    order = sorted(range(len(models)), key=lambda i: (-models[i][1] / models[i][2], i))
    for k, i in enumerate(order):
        size, w = models[i][0], models[i][1] / models[i][2]
        rest = [models[j][0] for j in order[k + 1:]]
        best, best_p = None, None
        for guarded in (True, False):  # unguarded only if no GPU keeps the rest packable
            for g in range(gpu_num):
                if used[g] + size >= gpu_mem:
                    continue
                if guarded and not packable(rest, [gpu_mem - u - (size if h == g else 0.0)
                                                   for h, u in enumerate(used)]):
                    continue
                p = (demand[g] + w) / (gpu_mem - used[g] - size)
                if best_p is None or p < best_p:
                    best, best_p = g, p
            if best is not None:
                break
        if best is None:
            best = min(range(gpu_num), key=lambda g: used[g])  # fits nowhere: invalid, reported
        where[i] = best
        used[best] += size
        demand[best] += w
    return where
