"""A fixed interval of one hour of work (a common hand-set save interval; the seed)."""


def next_checkpoint(state: dict) -> float:
    return min(max(1.0, state["min_interval"]), state["work"])
