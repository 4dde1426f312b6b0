"""The trusted keep-alive simulator: one policy call per idle period, every cost counted here.

Time is whole minutes, the resolution of the Azure Functions trace. A function's invocations form
busy stretches (consecutive minutes with invocations); its instance is loaded and busy through
each stretch. When a stretch ending in minute b is over (time e = b + 1) the policy is asked for
``[prewarm, keepalive]`` (or one number: keepalive, no prewarm): the instance is unloaded at e
if ``prewarm > 0`` and loaded again over [e + prewarm, e + prewarm + keepalive]; with
``prewarm == 0`` it stays loaded over [e, e + keepalive]. The next stretch starts at minute n;
its idle time is ``it = n - e`` (>= 1). Then, exactly:

- ``it < prewarm``: a cold start (the instance is not loaded yet); nothing wasted.
- ``prewarm <= it <= prewarm + keepalive``: warm; ``it - prewarm`` loaded idle minutes wasted.
- ``it > prewarm + keepalive``: a cold start; ``keepalive`` minutes wasted.
- After the last stretch the window is cut at the horizon (wasted, no cold start).

The first invocation of every function is a cold start; the other invocations of a stretch are
warm (one instance, concurrency not modelled). Cost in GB-minutes: ``wasted minutes * memory GB +
cold starts * COLD_START_GB_MINUTES``. Calls are made in time order across all functions of a
workload (ties by function index), so the policy never sees anything that happens later.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from evaluators.base import InvalidOutput
from evaluators.serverless_keepalive.workloads import MINUTES_PER_DAY, Function, Workload

COLD_START_GB_MINUTES = 5.0   # one cold start costs as much as 5 GB kept idle for a minute
MAX_MINUTES = 10080.0         # a week: longer windows are cut to it (beyond any horizon)
HISTORY = 100                 # idle times sent per call (the most recent ones)


@dataclass(frozen=True)
class FunctionOutcome:
    """One function over the horizon, measured by the simulator (never reported by the policy)."""

    trigger: str
    memory_mb: int
    invocations: int
    cold_starts: int
    wasted_minutes: float     # minutes loaded while idle
    decisions: int
    prewarms: int             # decisions with prewarm > 0

    @property
    def wasted_gb_minutes(self) -> float:
        return self.wasted_minutes * self.memory_mb / 1024

    @property
    def cost(self) -> float:
        return self.wasted_gb_minutes + COLD_START_GB_MINUTES * self.cold_starts

    @property
    def cold_percent(self) -> float:
        return 100.0 * self.cold_starts / self.invocations


@dataclass(frozen=True)
class Outcome:
    functions: tuple[FunctionOutcome, ...]
    calls: int

    @property
    def cost(self) -> float:
        return sum(f.cost for f in self.functions)

    @property
    def wasted_gb_minutes(self) -> float:
        return sum(f.wasted_gb_minutes for f in self.functions)

    @property
    def wasted_minutes(self) -> float:
        return sum(f.wasted_minutes for f in self.functions)


def clip(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _minutes(value: object, what: str, reply: object, where: str) -> float:
    if type(value) not in (int, float):  # bool, str, None, list, dict ... are refused
        raise InvalidOutput(f"{where}: {what} in {clip(reply)} must be a number (int or float), "
                            f"got {type(value).__name__}")
    if type(value) is int:
        value = min(value, int(MAX_MINUTES))
    if not math.isfinite(value):
        raise InvalidOutput(f"{where}: {what} is {value}; it must be finite")
    if value < 0:
        raise InvalidOutput(f"{where}: {what} is {value}; it must be >= 0 minutes")
    return min(float(value), MAX_MINUTES)


def parse_reply(reply: object, where: str) -> tuple[float, float]:
    """(prewarm, keepalive) in minutes from a reply: a number (keepalive) or [prewarm, keepalive].
    Values above MAX_MINUTES are cut to it; anything else raises ``InvalidOutput``."""
    if type(reply) is list:
        if len(reply) != 2:
            raise InvalidOutput(f"{where}: a list reply must be [prewarm, keepalive], got "
                                f"{len(reply)} item(s): {clip(reply)}")
        return (_minutes(reply[0], "prewarm", reply, where),
                _minutes(reply[1], "keepalive", reply, where))
    if type(reply) not in (int, float):
        raise InvalidOutput(f"{where}: keepalive() must return a number of minutes or "
                            f"[prewarm, keepalive]; got {type(reply).__name__} {clip(reply)}")
    return 0.0, _minutes(reply, "keepalive", reply, where)


def idle_outcome(idle: float, prewarm: float, keepalive: float) -> tuple[bool, float]:
    """(cold start at the end of the idle period, loaded idle minutes) for one idle period."""
    if idle < prewarm:
        return True, 0.0
    if idle <= prewarm + keepalive:
        return False, idle - prewarm
    return True, keepalive


def trailing_waste(left: float, prewarm: float, keepalive: float) -> float:
    """Loaded idle minutes of the window after the last stretch, cut at the horizon."""
    return max(0.0, min(left, prewarm + keepalive) - prewarm)


def idle_times(f: Function) -> list[int]:
    """The idle time (minutes) before each stretch but the first."""
    return [b[0] - (a[1] + 1) for a, b in zip(f.stretches, f.stretches[1:])]


def make_state(w: Workload, j: int, f: Function, k: int, its: list[int], invocations: int,
               cold: int) -> dict:
    """The policy's view after stretch k of function j: plain JSON values, the past only."""
    first, last, _ = f.stretches[k]
    now = last + 1
    return {
        "function": f"{w.name}/f{j}", "trigger": f.trigger, "memory_mb": f.memory_mb,
        "break_even": COLD_START_GB_MINUTES * 1024 / f.memory_mb,
        "time": now, "day": now // MINUTES_PER_DAY, "hour": (now % MINUTES_PER_DAY) / 60,
        "busy_minutes": last - first + 1, "invocations": invocations, "cold_starts": cold,
        "idle_count": k, "idle_times": its[max(0, k - HISTORY):k],
    }


def simulate(w: Workload, decide: Callable[[dict], object]) -> Outcome:
    """Run every function of ``w``; ``decide(state)`` returns the policy's raw reply."""
    events = sorted((s[1] + 1, j, k) for j, f in enumerate(w.functions)
                    for k, s in enumerate(f.stretches)
                    if k + 1 < len(f.stretches) or s[1] + 1 < w.minutes)
    its = [idle_times(f) for f in w.functions]
    n = len(w.functions)
    invocations = [f.stretches[0][2] for f in w.functions]
    cold, wasted = [1] * n, [0.0] * n
    decisions, prewarms = [0] * n, [0] * n
    for now, j, k in events:
        f = w.functions[j]
        state = make_state(w, j, f, k, its[j], invocations[j], cold[j])
        where = f"{state['function']} at minute {now} (day {state['day']} {state['hour']:.2f} h)"
        prewarm, keepalive = parse_reply(decide(state), where)
        decisions[j] += 1
        prewarms[j] += prewarm > 0
        if k + 1 < len(f.stretches):
            was_cold, waste = idle_outcome(its[j][k], prewarm, keepalive)
            cold[j] += was_cold
            invocations[j] += f.stretches[k + 1][2]
        else:
            waste = trailing_waste(w.minutes - now, prewarm, keepalive)
        wasted[j] += waste
    outs = tuple(FunctionOutcome(trigger=f.trigger, memory_mb=f.memory_mb,
                                 invocations=invocations[j], cold_starts=cold[j],
                                 wasted_minutes=wasted[j], decisions=decisions[j],
                                 prewarms=prewarms[j])
                 for j, f in enumerate(w.functions))
    return Outcome(functions=outs, calls=len(events))


def fixed(minutes: float) -> Callable[[dict], object]:
    """The fixed keep-alive policy (trusted, in-process): the normalisation of the cost."""
    return lambda state: minutes
