"""The default kube-scheduler (v1.2x default profile), written from its documented behaviour.

- Queue (PrioritySort): pending pods by priority, highest first, then FIFO (list order).
  Running pods stay where they are unless preempted.
- Filter (NodeResourcesFit): nodes whose free CPU and free memory both cover the pod's requests.
- Score: NodeResourcesFit with the LeastAllocated strategy, mean over CPU and memory of
  (capacity - requested) * 100 // capacity, plus NodeResourcesBalancedAllocation,
  int((1 - std of the two requested fractions) * 100); equal weights (1 and 1) as in the default
  profile; "requested" includes the pod being scored. Highest total wins; ties go to the lowest
  node index (the real scheduler picks a random one among ties).
- DefaultPreemption, when no node passes the filter: on each node remove every pod of lower
  priority; if the pod then fits, add the removed pods back, most important first (higher
  priority, then longer running = lower index), keeping each that still leaves room: the rest
  are the node's victims. Pick the node whose highest victim priority is lowest, then the lowest
  sum of (victim priority + 2^31) (so in effect the fewest victims, then the lowest priorities),
  then the fewest victims, then the lowest index. Evict the victims and bind the pod there.
- Evicted pods are recreated by their controllers as new pending pods: they re-enter the queue
  behind the pods of their priority already waiting (they may land on another node, which still
  counts as an eviction, or stay unplaced). A pod that neither fits nor can preempt stays pending;
  later events cannot help it (the queue only goes down in priority), so no retry is needed.
"""

import heapq

MAX_SCORE = 100
MOST_ALLOCATED = False  # True: the bin-packing (MostAllocated) scoring strategy


def fit_score(used, cap):
    if MOST_ALLOCATED:
        return sum(min(u, c) * MAX_SCORE // c for u, c in zip(used, cap)) // len(cap)
    return sum((c - u) * MAX_SCORE // c for u, c in zip(used, cap)) // len(cap)


def balanced_score(used, cap):
    fractions = [min(u / c, 1.0) for u, c in zip(used, cap)]
    mean = sum(fractions) / len(fractions)
    std = (sum((f - mean) ** 2 for f in fractions) / len(fractions)) ** 0.5
    return int((1 - std) * MAX_SCORE)


def fits(used, req, cap):
    return all(u + r <= c for u, r, c in zip(used, req, cap))


def place(nodes, pods):
    n_nodes = len(nodes)
    where = [pod[3] for pod in pods]
    used = [[0, 0] for _ in range(n_nodes)]
    on_node = [set() for _ in range(n_nodes)]
    for i, node in enumerate(where):
        if node is not None:
            used[node][0] += pods[i][0]
            used[node][1] += pods[i][1]
            on_node[node].add(i)
    queue = [(-pod[2], i, i) for i, pod in enumerate(pods) if pod[3] is None]
    heapq.heapify(queue)
    seq = len(pods)

    def bind(i, node):
        where[i] = node
        used[node][0] += pods[i][0]
        used[node][1] += pods[i][1]
        on_node[node].add(i)

    def unbind(i):
        node = where[i]
        used[node][0] -= pods[i][0]
        used[node][1] -= pods[i][1]
        on_node[node].discard(i)
        where[i] = None

    while queue:
        _, _, i = heapq.heappop(queue)
        req = pods[i][:2]
        best, best_score = None, -1
        for node in range(n_nodes):
            if fits(used[node], req, nodes[node]):
                after = [u + r for u, r in zip(used[node], req)]
                score = fit_score(after, nodes[node]) + balanced_score(after, nodes[node])
                if score > best_score:
                    best, best_score = node, score
        if best is not None:
            bind(i, best)
            continue
        chosen, chosen_key, chosen_victims = None, None, None
        for node in range(n_nodes):
            lower = [j for j in on_node[node] if pods[j][2] < pods[i][2]]
            free = [u - sum(pods[j][r] for j in lower) for r, u in enumerate(used[node])]
            if not fits(free, req, nodes[node]):
                continue
            victims = []
            for j in sorted(lower, key=lambda j: (-pods[j][2], j)):  # most important first
                back = [free[0] + pods[j][0], free[1] + pods[j][1]]
                if fits(back, req, nodes[node]):
                    free = back
                else:
                    victims.append(j)
            key = (max(pods[j][2] for j in victims) if victims else -1,
                   sum(pods[j][2] + 2 ** 31 for j in victims), len(victims), node)
            if chosen_key is None or key < chosen_key:
                chosen, chosen_key, chosen_victims = node, key, victims
        if chosen is None:
            continue  # stays pending
        for j in chosen_victims:
            unbind(j)
            heapq.heappush(queue, (-pods[j][2], seq, j))
            seq += 1
        bind(i, chosen)
    return where
