"""Seed policy for gpu_model_placement: first fit decreasing by size.

Models are taken largest first (ties: index) and each goes to the GPU with room (its models'
sizes must stay below the GPU's memory) and the largest gpu_score(); the seed's score is
-GPU index, i.e. the first GPU with room. It ignores rates and SLOs, so it packs memory well
and balances KV-cache pressure badly. Only the EVOLVE-BLOCK is evolved.
"""

# EVOLVE-BLOCK-START
def gpu_score(gpu: int, size: float, demand: float, used: float, load: float, gpu_mem: float) -> float:
    """Desirability of putting a model of `size` GB and demand rate / slo = `demand` on `gpu`,
    whose models already use `used` GB and sum to `load` of demand (out of `gpu_mem` GB; the
    model fits: used + size < gpu_mem). The largest score wins (ties: lowest index). First fit:
    prefer the lowest index."""
    return -gpu


def place_models(gpu_num: int, gpu_mem: float, models: list) -> list:
    """Return the GPU index of every model (models[i] = [size_gb, req_rate, slo_s])."""
    used = [0.0] * gpu_num
    load = [0.0] * gpu_num
    where = [0] * len(models)
    for i in sorted(range(len(models)), key=lambda i: -models[i][0]):
        size, rate, slo = models[i]
        demand = rate / slo
        best, best_score = 0, None
        for g in range(gpu_num):
            if used[g] + size < gpu_mem:
                score = gpu_score(g, size, demand, used[g], load[g], gpu_mem)
                if best_score is None or score > best_score:
                    best, best_score = g, score
        where[i] = best
        used[best] += size
        load[best] += demand
    return where
# EVOLVE-BLOCK-END
