"""Baseline for multicloud_broadcast: the shortest-path heuristic for the Steiner tree
(Takahashi and Matsuyama 1980).

Grow a tree from the source: repeatedly find the unreached destination whose cheapest path (in
egress $/GB) from any region already in the tree is cheapest, and add that path. Each
destination then receives the whole object along its tree path from the source, so every tree
edge is paid once. The tree costs at most 2 (1 - 1/K) times the cheapest Steiner tree on
undirected graphs; here prices are directed.
"""

import heapq


def plan_broadcast(regions: list, price: list, throughput: list, vm_price: list, source: int,
                   destinations: list, size_gb: float) -> list:
    n = len(regions)
    parent = {source: None}
    left = set(destinations) - {source}
    while left:
        # multi-source Dijkstra from every region of the tree
        dist = {u: 0.0 for u in parent}
        prev = {}
        heap = [(0.0, u) for u in sorted(parent)]
        done = set()
        while heap:
            cost, u = heapq.heappop(heap)
            if u in done:
                continue
            done.add(u)
            for v in range(n):
                if v != u and throughput[u][v] > 0 and v not in parent:
                    c = cost + price[u][v]
                    if v not in dist or c < dist[v]:
                        dist[v], prev[v] = c, u
                        heapq.heappush(heap, (c, v))
        target = min(left, key=lambda d: (dist[d], d))
        v = target
        while v not in parent:
            parent[v] = prev[v]
            v = prev[v]
        left -= set(parent)
    plan = []
    for d in destinations:
        path = [d]
        while path[-1] != source:
            path.append(parent[path[-1]])
        plan.append([[path[::-1], 1.0]])
    return plan
