"""Round robin: replicate the hottest experts, then deal the replicas over the GPUs in expert order.

Replica counts are the greedy ones (one slot per expert, then each further slot to the expert
with the largest load per replica); placement ignores load: the replicas, sorted by expert id,
are dealt to GPU 0, 1, ..., num_gpus - 1, 0, 1, ... (a naive but common placement).
"""

import numpy as np


def rebalance_experts(weight: list[list[float]], num_replicas: int, num_groups: int, num_nodes: int,
                      num_gpus: int) -> list[list[int]]:
    w = np.asarray(weight, dtype=np.float64)
    layers, experts = w.shape
    per_gpu = num_replicas // num_gpus
    counts = np.ones((layers, experts), dtype=np.int64)
    every = np.arange(layers)
    for _ in range(num_replicas - experts):
        counts[every, np.argmax(w / counts, axis=1)] += 1
    deal = np.arange(num_replicas)
    slot = (deal % num_gpus) * per_gpu + deal // num_gpus  # k-th replica -> its slot
    out = []
    for layer in range(layers):
        replicas = np.repeat(np.arange(experts), counts[layer])  # sorted by expert id
        row = np.empty(num_replicas, dtype=np.int64)
        row[slot] = replicas
        out.append(row.tolist())
    return out
