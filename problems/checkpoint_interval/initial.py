"""Seed policy for checkpoint_interval: checkpoint after every hour of work, whatever happens.

Only the EVOLVE-BLOCK is evolved.
"""


# EVOLVE-BLOCK-START
def interval(state: dict) -> float:
    """Hours of work to compute between checkpoints, given what can be observed now (the state
    dict: elapsed, done, remaining, checkpoint_cost, mtbf, since_failure, failure_times, ...).
    Seed: a fixed hour."""
    return 1.0


def next_checkpoint(state: dict) -> float:
    """Hours of unsaved work at which to write the next checkpoint (a value at or below
    state["unsaved"] checkpoints now; at least min_interval, at most work)."""
    return min(max(interval(state), state["min_interval"]), state["work"])
# EVOLVE-BLOCK-END
