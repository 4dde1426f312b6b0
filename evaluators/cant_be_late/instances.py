"""Cant-be-late instances: the job, its deadline, the restart overhead and the spot traces.

Times inside the verifier are integers in centihours (1 unit = 0.01 h = 36 s), so the simulator
and the deadline guarantee are exact (no float drift over hundreds of ticks); the policy sees
hours. Instances are read from ``problems/cant_be_late/data/<set>.json`` (written by
``python -m evaluators.cant_be_late.make_traces``) and checked on load: whole ticks, one trace
per region long enough for the deadline, and a deadline that on-demand alone can meet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

UNITS_PER_HOUR = 100
SPOT_PRICE = 0.97        # $/h (AWS p3.2xlarge spot, as in the ADRS case study)
ON_DEMAND_PRICE = 3.06   # $/h (AWS p3.2xlarge on-demand)


def to_units(hours: float) -> int:
    units = round(hours * UNITS_PER_HOUR)
    if abs(units - hours * UNITS_PER_HOUR) > 1e-6:
        raise ValueError(f"{hours} h is not a whole number of centihours")
    return units


def to_hours(units: int) -> float:
    return units / UNITS_PER_HOUR


@dataclass(frozen=True)
class Instance:
    name: str
    group: str                           # "single" (one region) or "multi"
    profiles: tuple[str, ...]            # the spot market profile of each region
    work: int                            # centihours of compute the job needs
    deadline: int                        # centihours after submission
    overhead: int                        # centihours of restart overhead per launch
    tick: int                            # centihours per decision
    spot: tuple[tuple[bool, ...], ...]   # spot[k][r]: spot available in region r during tick k
    opt_cost: float | None = None        # omniscient optimum in $ (knows the whole trace)

    @property
    def regions(self) -> int:
        return len(self.spot[0])

    @property
    def ticks(self) -> int:
        return len(self.spot)

    @property
    def on_demand_cost(self) -> float:
        """Dollars of running on-demand from tick 0: one launch, then the work."""
        return ON_DEMAND_PRICE * to_hours(self.overhead + self.work)

    def availability(self) -> list[float]:
        return [sum(row[r] for row in self.spot) / self.ticks for r in range(self.regions)]


def parse_instance(row: dict, tick_hours: float) -> Instance:
    traces = row["spot"]
    tick, deadline = to_units(tick_hours), to_units(row["deadline"])
    work, overhead = to_units(row["work"]), to_units(row["overhead"])
    name = row["name"]
    if not traces or len({len(t) for t in traces}) != 1:
        raise ValueError(f"{name}: needs one trace per region, all of the same length")
    if deadline % tick or len(traces[0]) * tick < deadline:
        raise ValueError(f"{name}: the deadline must be whole ticks covered by the trace")
    if deadline < work + overhead:
        raise ValueError(f"{name}: infeasible, on-demand alone needs {to_hours(work + overhead)} h "
                         f"but the deadline is {to_hours(deadline)} h")
    if any(set(t) - {"0", "1"} for t in traces):
        raise ValueError(f"{name}: traces are strings of 0 and 1")
    spot = tuple(zip(*[[c == "1" for c in t] for t in traces]))
    return Instance(name=name, group=row["group"], profiles=tuple(row["profiles"]), work=work,
                    deadline=deadline, overhead=overhead, tick=tick, spot=spot,
                    opt_cost=row.get("opt_cost"))


def load_set(path: Path) -> list[Instance]:
    data = json.loads(path.read_text())
    return [parse_instance(row, data["tick_hours"]) for row in data["instances"]]
