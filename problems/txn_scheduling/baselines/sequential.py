"""Sequential: run the transactions in the order they arrive (the input order, 0..n-1).

Workloads are generated in random order, so this is the schedule a first-come-first-served
system produces; the seed program (initial.py) reproduces it exactly.
"""


def get_best_schedule(workload: list, num_seqs: int) -> list[int]:
    return list(range(len(workload)))
