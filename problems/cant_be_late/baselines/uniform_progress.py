"""Uniform Progress (Wu et al., "Can't Be Late", NSDI'24), without the spot-lifetime oracle.

With C0 the work, R0 the deadline, d the restart overhead, cp(t) the work done by time t and
ep(t) = t * C0 / R0 the uniform progress line:
  - Safety net: once the time left is under the work left + 2d, on-demand to the end
    (the harness's own net, time left < work left + d + one tick, may fire first).
  - Hysteresis: while on on-demand, stay on it until cp(t) >= ep(t + 2d).
  - Taking risks / exploitation: whenever spot is available take it (stay on it until
    preempted), even when behind the line.
  - Uniform progress: idle and behind the line (cp(t) < ep(t)): on-demand to catch up;
    otherwise wait for spot.
Multi-region: spot in the current region first, then the lowest index with spot; on-demand in
the current region.
"""


def decide(state: dict) -> str | list:
    t, done, d = state["elapsed"], state["done"], state["overhead"]
    rate = state["work"] / state["deadline"]
    if state["deadline"] - t < state["remaining"] + 2 * d:
        return "ON_DEMAND"
    if state["current"] == "ON_DEMAND" and done < (t + 2 * d) * rate:
        return "ON_DEMAND"
    spot = state["spot"]
    if spot[state["region"]]:
        return "SPOT"
    for region, available in enumerate(spot):
        if available:
            return ["SPOT", region]
    if done < t * rate:
        return "ON_DEMAND"
    return "NONE"
