"""Seed policy for pod_packing: first fit by priority, no preemption.

Running pods stay on their nodes. Pending pods are taken highest priority first (ties: list
order) and each goes to the feasible node with the largest node_score(); the seed's score is
-node index, i.e. the first node with room. A pod that fits nowhere stays unplaced. Only the
EVOLVE-BLOCK is evolved.
"""

# EVOLVE-BLOCK-START
def node_score(node: int, cpu: int, mem: int, free_cpu: int, free_mem: int, cap_cpu: int,
               cap_mem: int) -> float:
    """Desirability of putting a pod requesting (cpu, mem) on `node`, which has (free_cpu,
    free_mem) left of its (cap_cpu, cap_mem) capacity and enough room for the pod (all ints).
    The largest score wins (ties: lowest index). First fit: prefer the lowest index."""
    return -node


def place(nodes: list, pods: list) -> list:
    """Return a node index (or None) per pod; running pods keep their node."""
    free = [[cpu, mem] for cpu, mem in nodes]
    where = [pod[3] for pod in pods]
    for (cpu, mem, _, node) in pods:
        if node is not None:
            free[node][0] -= cpu
            free[node][1] -= mem
    pending = sorted((i for i, pod in enumerate(pods) if pod[3] is None), key=lambda i: -pods[i][2])
    for i in pending:
        cpu, mem = pods[i][0], pods[i][1]
        best, best_score = None, None
        for n, (fc, fm) in enumerate(free):
            if cpu <= fc and mem <= fm:
                score = node_score(n, cpu, mem, fc, fm, nodes[n][0], nodes[n][1])
                if best_score is None or score > best_score:
                    best, best_score = n, score
        if best is not None:
            where[i] = best
            free[best][0] -= cpu
            free[best][1] -= mem
    return where
# EVOLVE-BLOCK-END
