"""Baseline for multicloud_broadcast: cheapest path per destination.

Each destination receives the whole object along its cheapest path in egress $/GB from the
source (Dijkstra; ties: fewer hops, then lower indices). Paths to different destinations that
share a prefix reuse its transfers (the cost model pays each edge once per byte), but nothing
steers them to share.
"""

import heapq


def plan_broadcast(regions: list, price: list, throughput: list, vm_price: list, source: int,
                   destinations: list, size_gb: float) -> list:
    n = len(regions)
    best = {source: (0.0, 0)}
    parent = {source: None}
    heap = [(0.0, 0, source)]
    done = set()
    while heap:
        cost, hops, u = heapq.heappop(heap)
        if u in done:
            continue
        done.add(u)
        for v in range(n):
            if v != u and throughput[u][v] > 0 and v not in done:
                key = (cost + price[u][v], hops + 1)
                if v not in best or key < best[v]:
                    best[v], parent[v] = key, u
                    heapq.heappush(heap, (key[0], key[1], v))
    plan = []
    for d in destinations:
        path = [d]
        while path[-1] != source:
            path.append(parent[path[-1]])
        plan.append([[path[::-1], 1.0]])
    return plan
