"""Trusted schedule building: validate per-machine job orders, then time them semi-actively.

The candidate returns, for every machine, the order in which the jobs pass it. This module checks
that the reply is exactly that (a list of m lists, each a permutation of the n job ids, plain
ints), then starts every operation as early as its job predecessor and its machine predecessor
allow (the semi-active schedule of those orders) and returns the makespan. Orders that contradict
the job routes form a cycle, so some operations could never start: that is rejected as a deadlock.
Because this module computes every start time, machine overlap and precedence violations cannot
occur in a scored schedule.
"""

from __future__ import annotations

from functools import cache

from evaluators.base import InvalidOutput
from evaluators.jssp.instances import Instance


def check_orders(orders: object, n: int, m: int) -> list[list[int]]:
    """The reply as m job permutations, or InvalidOutput naming the first thing wrong."""
    if not isinstance(orders, list):
        raise InvalidOutput(f"schedule() must return a list of {m} machine sequences (lists of job ids), "
                            f"got {type(orders).__name__}")
    if len(orders) != m:
        raise InvalidOutput(f"schedule() returned {len(orders)} machine sequences, expected {m} "
                            f"(one per machine 0..{m - 1})")
    for i, seq in enumerate(orders):
        if not isinstance(seq, list):
            raise InvalidOutput(f"machine {i}: expected a list of job ids, got {type(seq).__name__}")
        if len(seq) != n:
            raise InvalidOutput(f"machine {i} lists {len(seq)} jobs, expected all {n} "
                                f"(every job has exactly one operation on every machine)")
        seen = [False] * n
        for pos, j in enumerate(seq):
            if type(j) is not int:
                raise InvalidOutput(f"machine {i}, position {pos}: job id is {type(j).__name__}, "
                                    f"expected an int in 0..{n - 1}")
            if not 0 <= j < n:
                raise InvalidOutput(f"machine {i}, position {pos}: job {j} is outside 0..{n - 1}")
            if seen[j]:
                raise InvalidOutput(f"machine {i}: job {j} appears more than once "
                                    f"(every job has exactly one operation on every machine)")
            seen[j] = True
    return orders


@cache
def routes(inst: Instance) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Flat durations (node j*m + k) and op_on[j*m + i] = the index k of job j's operation on machine i."""
    m = inst.m
    op_on = [0] * (inst.n * m)
    for j, row in enumerate(inst.machines):
        for k, i in enumerate(row):
            op_on[j * m + i] = k
    return tuple(p for row in inst.durations for p in row), tuple(op_on)


def start_times(inst: Instance, orders: list[list[int]]) -> list[int]:
    """Semi-active start time of every operation (index j*m + k) for validated machine orders."""
    n, m = inst.n, inst.m
    dur, op_on = routes(inst)
    size = n * m
    msucc = [-1] * size
    mpred = [-1] * size
    indeg = [0] * size
    for i, seq in enumerate(orders):
        prev = -1
        for j in seq:
            node = j * m + op_on[j * m + i]
            if prev >= 0:
                msucc[prev] = node
                mpred[node] = prev
                indeg[node] += 1
            prev = node
    for node in range(size):
        if node % m:
            indeg[node] += 1
    start = [0] * size
    ready = [node for node in range(0, size, m) if indeg[node] == 0]
    done = 0
    while ready:
        node = ready.pop()
        done += 1
        end = start[node] + dur[node]
        for succ in (node + 1 if (node + 1) % m else -1, msucc[node]):
            if succ >= 0:
                if end > start[succ]:
                    start[succ] = end
                indeg[succ] -= 1
                if indeg[succ] == 0:
                    ready.append(succ)
    if done < size:
        raise InvalidOutput(deadlock_message(inst, indeg, mpred, size - done))
    return start


def deadlock_message(inst: Instance, indeg: list[int], mpred: list[int], stuck: int) -> str:
    """Name one cycle among the operations that never became ready."""
    m = inst.m
    node = next(v for v in range(len(indeg)) if indeg[v] > 0)
    path: list[int] = []
    while node not in path:
        path.append(node)
        job_pred = node - 1 if node % m else -1
        node = job_pred if job_pred >= 0 and indeg[job_pred] > 0 else mpred[node]
    cycle = path[path.index(node):][::-1]
    steps = [f"job {v // m} op {v % m} (machine {inst.machines[v // m][v % m]})" for v in cycle[:6]]
    more = " -> ..." if len(cycle) > 6 else ""
    return (f"deadlock: the machine orders contradict the job routes, so {stuck} of {inst.n * m} "
            f"operations can never start; a cycle (each waits for the one before it, the first for "
            f"the last): {' -> '.join(steps)}{more}")


def makespan(inst: Instance, orders: object) -> int:
    """Validate ``orders`` and return the makespan of their semi-active schedule."""
    checked = check_orders(orders, inst.n, inst.m)
    start = start_times(inst, checked)
    dur, _ = routes(inst)
    return max(s + p for s, p in zip(start, dur))
