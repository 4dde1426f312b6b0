"""Problem specs: find ``problems/<name>/problem.toml`` and load it into a validated record.

A problem folder holds the spec, the LLM brief, the seed program and the human baselines. This
module is pure data: it knows nothing of evaluation or evolution.
"""

from __future__ import annotations

import math
import os
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError


class FeatureDim(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    min: float
    max: float
    bins: int = Field(ge=1, le=100)
    scale: Literal["linear", "log"] = "linear"


class SecondObjective(BaseModel):
    """A metric of the training evaluation that trades off against the objective (e.g. a plan's
    quality against the time taken to compute it): a run may keep the Pareto front of the two."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    metric: str
    direction: Literal["minimize", "maximize"]
    percent: bool = False

    def score(self, metrics: dict[str, float]) -> float | None:
        """The metric in ``metrics`` as a higher-is-better number (None when missing or not finite)."""
        raw = metrics.get(self.metric)
        if not isinstance(raw, int | float) or isinstance(raw, bool) or not math.isfinite(raw):
            return None
        return -float(raw) if self.direction == "minimize" else float(raw)

    def shown(self, score: float) -> float:
        value = -score if self.direction == "minimize" else score
        return value * (100 if self.percent else 1)

    def label(self) -> str:
        return _label(self.metric, self.percent, self.direction)


class Objective(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    metric: str
    direction: Literal["minimize", "maximize"]
    combined_score: str
    percent: bool = True  # the metric is a fraction, shown as a percentage in tables
    second: SecondObjective | None = None

    def value(self, combined_score: float) -> float:
        """The metric of a program whose combined score (higher is better) is ``combined_score``."""
        return -combined_score if self.direction == "minimize" else combined_score

    def shown(self, combined_score: float) -> float:
        """The metric in the unit people read: percent where ``percent``."""
        return self.value(combined_score) * (100 if self.percent else 1)

    def label(self) -> str:
        """The metric's name, unit and direction, e.g. ``gap (%, lower is better)``."""
        return _label(self.metric, self.percent, self.direction)


def _label(metric: str, percent: bool, direction: str) -> str:
    better = "lower" if direction == "minimize" else "higher"
    return f"{metric} ({'%, ' if percent else ''}{better} is better)"


class InstanceSet(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    about: str
    sources: list[str]
    # generated from the run's draw (a seed chosen when the run starts, unknown to candidates);
    # without a draw (`evolve baseline`, `evolve verify`, README tables) the fixed public draw
    drawn: bool = False


class ProblemLimits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    call_seconds: float = 10.0
    wall_seconds: float = 120.0
    memory_mb: int = 1024


class ProblemSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    summary: str
    evaluator: str
    entry: str
    signature: str
    focus: str | None = None  # the one function compact (small-model) prompts ask to rewrite
    report: list[str] = []  # further metrics shown beside the objective in baseline/report tables
    objective: Objective
    features: list[FeatureDim] = []
    sets: dict[str, InstanceSet]
    limits: ProblemLimits = ProblemLimits()
    # packages beyond the standard library candidates may import; nothing else is readable in
    # their sandbox (sandbox/importable.py); the brief must name them
    imports: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]] = []
    root: Path = Path(".")

    @property
    def brief(self) -> str:
        return (self.root / "brief.md").read_text(encoding="utf-8")

    def prompt_brief(self, edge_cases: bool = True) -> str:
        """The brief for a prompt, without trailing whitespace. ``edge_cases=False`` drops its last
        section, ``## Inputs that break naive code`` (the inputs of the instance sets that crash
        naive policies), which runs from its heading to the end of the file."""
        text = self.brief
        if not edge_cases:
            heading = "## Inputs that break naive code"
            lines = text.splitlines(keepends=True)
            at = next((k for k, line in enumerate(lines) if line.rstrip() == heading), None)
            if at is not None:
                text = "".join(lines[:at])
        return text.rstrip()

    @property
    def initial_code(self) -> str:
        return (self.root / "initial.py").read_text(encoding="utf-8")

    def baselines(self) -> dict[str, str]:
        folder = self.root / "baselines"
        return {p.stem: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.py"))}


class ProblemError(Exception):
    """A problem is unknown or its folder is malformed."""


def problems_dir() -> Path:
    """``$EVOLVE_PROBLEMS`` if set, else the ``problems/`` folder next to the package."""
    env = os.environ.get("EVOLVE_PROBLEMS")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "problems"


def list_problems() -> list[ProblemSpec]:
    root = problems_dir()
    return [load_problem(p.parent.name) for p in sorted(root.glob("*/problem.toml"))]


def load_problem(name: str) -> ProblemSpec:
    root = problems_dir()
    path = root / name / "problem.toml"
    if not path.exists():
        known = ", ".join(sorted(p.parent.name for p in root.glob("*/problem.toml"))) or "none"
        raise ProblemError(f"unknown problem {name!r}: known problems are {known} "
                           f"(folder {root}; run `evolve problems` to list them)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return ProblemSpec(**data, root=path.parent)
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        first = str(exc).splitlines()
        raise ProblemError(f"{path}: invalid problem spec: {' '.join(first[:3])}") from exc
