"""Seed policy for serverless_keepalive: the fixed 10-minute keep-alive of the state of practice,
written as a dispatcher over windows(). Only the EVOLVE-BLOCK is evolved.
"""

# EVOLVE-BLOCK-START
def windows(idle_times: list[int], memory_mb: int, break_even: float, trigger: str,
            hour: float) -> tuple[float, float]:
    """(prewarm, keepalive) in minutes for ONE function after a busy stretch, from its past idle
    times (whole minutes, oldest first, possibly empty). prewarm 0 keeps the instance loaded from
    now for keepalive minutes; prewarm > 0 unloads it now and loads it again from prewarm to
    prewarm + keepalive minutes from now. Seed: no prewarm, keep 10 minutes."""
    return 0.0, 10.0


def keepalive(state: dict) -> list:
    """Called after every busy stretch of every function; returns [prewarm, keepalive]."""
    prewarm, keep = windows(state["idle_times"], state["memory_mb"], state["break_even"],
                            state["trigger"], state["hour"])
    return [prewarm, keep]
# EVOLVE-BLOCK-END
