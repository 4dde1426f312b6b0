"""DeepSeek EPLB (github.com/deepseek-ai/EPLB), hierarchical load balancing, written from its description.

1. Pack expert groups onto nodes: groups sorted by load, each to the least-loaded node that still
   has room (every node gets num_groups / num_nodes groups).
2. Within each node, replicate: the node's share of slots is filled by repeatedly giving one
   more replica to the expert with the largest load / replica count.
3. Pack the node's replicas onto its GPUs with the same balanced packing (each GPU gets
   num_replicas / num_gpus slots).
When the groups do not divide over the nodes, the global policy: one node, one group (replicate
over all slots, then pack onto all GPUs).
"""

import numpy as np


def balanced_packing(weights: np.ndarray, num_packs: int) -> tuple[np.ndarray, np.ndarray]:
    """Items [rows, n] -> (pack, rank in pack) [rows, n]; each pack takes n / num_packs items,
    heaviest item first, each to the lightest pack with room."""
    rows, n = weights.shape
    cap = n // num_packs
    pack = np.empty((rows, n), dtype=np.int64)
    rank = np.empty((rows, n), dtype=np.int64)
    order = np.argsort(-weights, axis=1, kind="stable")
    for r in range(rows):
        loads = [0.0] * num_packs
        counts = [0] * num_packs
        w = weights[r]
        for i in order[r].tolist():
            best = -1
            for p in range(num_packs):
                if counts[p] < cap and (best < 0 or loads[p] < loads[best]):
                    best = p
            pack[r, i] = best
            rank[r, i] = counts[best]
            counts[best] += 1
            loads[best] += float(w[i])
    return pack, rank


def replicate(weights: np.ndarray, num_slots: int) -> tuple[np.ndarray, np.ndarray]:
    """Experts [rows, m] -> (slot -> expert [rows, num_slots], replica counts [rows, m]): one slot
    each, then every further slot to the expert with the largest load per replica."""
    rows, m = weights.shape
    slot_expert = np.empty((rows, num_slots), dtype=np.int64)
    slot_expert[:, :m] = np.arange(m)
    counts = np.ones((rows, m), dtype=np.int64)
    every = np.arange(rows)
    for s in range(m, num_slots):
        hot = np.argmax(weights / counts, axis=1)
        slot_expert[:, s] = hot
        counts[every, hot] += 1
    return slot_expert, counts


def hierarchical(weight: np.ndarray, num_replicas: int, num_groups: int, num_nodes: int,
                 num_gpus: int) -> np.ndarray:
    layers, experts = weight.shape
    group_size = experts // num_groups
    per_node = experts // num_nodes  # logical experts per node
    slots_node = num_replicas // num_nodes
    gpus_node = num_gpus // num_nodes
    per_gpu = num_replicas // num_gpus
    # 1. groups -> nodes; the node's experts, in the order (node, rank of group in node, member)
    node, rank = balanced_packing(weight.reshape(layers, num_groups, group_size).sum(axis=2), num_nodes)
    groups_node = num_groups // num_nodes
    position = (node * groups_node + rank)[:, :, None] * group_size + np.arange(group_size)
    node_experts = np.argsort(position.reshape(layers, experts), axis=1)  # [L, E]: slot -> logical
    # 2. replicate within each node (rows = (layer, node))
    local = np.take_along_axis(weight, node_experts, axis=1).reshape(layers * num_nodes, per_node)
    slot_local, counts = replicate(local, slots_node)
    # 3. pack each node's replicas onto its GPUs
    replica_load = np.take_along_axis(local / counts, slot_local, axis=1)
    gpu, gpu_rank = balanced_packing(replica_load, gpus_node)
    target = gpu * per_gpu + gpu_rank  # position of each replica inside its node
    placed = np.empty_like(slot_local)
    np.put_along_axis(placed, target, slot_local, axis=1)
    # back to logical ids: node k's local expert j is node_experts[l, k * per_node + j]
    placed = placed.reshape(layers, num_nodes, slots_node) + (np.arange(num_nodes) * per_node)[:, None]
    return np.take_along_axis(node_experts, placed.reshape(layers, num_replicas), axis=1)


def rebalance_experts(weight: list[list[float]], num_replicas: int, num_groups: int, num_nodes: int,
                      num_gpus: int) -> list[list[int]]:
    w = np.asarray(weight, dtype=np.float64)
    if num_groups % num_nodes == 0:
        phy2log = hierarchical(w, num_replicas, num_groups, num_nodes, num_gpus)
    else:
        phy2log = hierarchical(w, num_replicas, 1, 1, num_gpus)
    return phy2log.tolist()
