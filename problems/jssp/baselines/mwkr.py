"""Most work remaining (MWKR) as a non-delay dispatching rule:
the operation whose job has the most unscheduled processing time runs next.

At each decision time t (the earliest time any unscheduled operation can start) the operations that
can start at t compete; the smallest priority() wins, ties go to the lowest job id. This is the
schedule generator and tie-breaking of job-shop-lib's DispatchingRuleSolver (default filters).
"""


def priority(duration, job_work_left, job_ops_left, machine_work_left, t):
    return -job_work_left


def schedule(durations: list[list[int]], machines: list[list[int]]) -> list[list[int]]:
    """Non-delay dispatching: repeatedly take the time t at which the earliest operation can start,
    and among the operations that can start at t schedule the one with the smallest priority()
    (ties: lowest job id). Returns, for every machine, its jobs in processing order."""
    n, m = len(durations), len(durations[0])
    next_op = [0] * n                       # index of each job's next unscheduled operation
    job_ready = [0] * n                     # when each job's previous operation ends
    machine_ready = [0] * m                 # when each machine's last operation ends
    job_work = [sum(row) for row in durations]
    machine_work = [0] * m
    for j in range(n):
        for k in range(m):
            machine_work[machines[j][k]] += durations[j][k]
    orders: list[list[int]] = [[] for _ in range(m)]
    for _ in range(n * m):
        t, candidates = None, []
        for j in range(n):
            k = next_op[j]
            if k == m:
                continue
            start = max(job_ready[j], machine_ready[machines[j][k]])
            if t is None or start < t:
                t, candidates = start, [j]
            elif start == t:
                candidates.append(j)
        best = min(candidates, key=lambda j: (priority(durations[j][next_op[j]], job_work[j], m - next_op[j],
                                                       machine_work[machines[j][next_op[j]]], t), j))
        k = next_op[best]
        i, p = machines[best][k], durations[best][k]
        job_ready[best] = machine_ready[i] = t + p
        next_op[best] += 1
        job_work[best] -= p
        machine_work[i] -= p
        orders[i].append(best)
    return orders
