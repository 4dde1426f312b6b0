"""Problem specs: find ``problems/<name>/problem.toml`` and load it into a validated record.

A problem folder holds the spec, the LLM brief, the seed program and the human baselines. This
module is pure data: it knows nothing of evaluation or evolution. Every field of problem.toml is
described here (``Field(description=...)``); ``problems/_template/problem.toml`` shows them all
and ``docs/adding-a-problem.md`` walks through a new problem. Folders whose name starts with ``_``
or ``.`` (the template) are not listed as problems.
"""

from __future__ import annotations

import math
import os
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

# the sets the engine reads by name: every candidate is scored on train; the final report scores
# the winner on test (held out); where validation exists, the winner is the best finalist there;
# gate is the quick check run before every evaluation (evaluators/base.py)
SET_ROLES = ("train", "test", "validation", "gate")
REQUIRED_SETS = ("train",)


class FeatureDim(BaseModel):
    """One axis of the MAP-Elites grid (``[[features]]``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(description="code_length (characters of the program) or a metric the verifier "
                      "returns on train (cpu_seconds is always returned); a name it does not return "
                      "is an error (evolve/search/grid.py)")
    min: float = Field(description="value at the low edge of the first bin (lower values fall in it)")
    max: float = Field(description="value at the high edge of the last bin (higher values fall in it)")
    bins: int = Field(ge=1, le=100, description="number of bins along this axis")
    scale: Literal["linear", "log"] = Field("linear", description="bin on the value or on log(1 + value)")

    @model_validator(mode="after")
    def _range(self) -> FeatureDim:
        if not self.min < self.max:
            raise ValueError(f"feature {self.name}: min ({self.min}) must be below max ({self.max})")
        return self


class SecondObjective(BaseModel):
    """A metric of the training evaluation that trades off against the objective (e.g. a plan's
    quality against the time taken to compute it): a run may keep the Pareto front of the two."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    metric: str = Field(description="a metric the verifier returns on train")
    direction: Literal["minimize", "maximize"] = Field(description="which way is better")
    percent: bool = Field(False, description="the metric is a fraction, shown as a percentage")

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
    """What evolution optimises: one metric of the verifier, and which way is better."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    metric: str = Field(description="the metric the verifier returns that evolution optimises")
    direction: Literal["minimize", "maximize"] = Field(description="which way is better")
    combined_score: str | None = Field(
        None, description="documentation only (nothing reads it): the combined score is always the "
        "metric, negated when minimised (higher is better); if given it must say so, e.g. \"-gap\"")
    percent: bool = Field(True, description="the metric is a fraction, shown as a percentage in tables")
    second: SecondObjective | None = Field(None, description="[objective.second]: a metric traded "
                                           "off against this one (search.pareto_ratio keeps the front)")

    @model_validator(mode="after")
    def _formula(self) -> Objective:
        engine = f"-{self.metric}" if self.direction == "minimize" else self.metric
        if self.combined_score is not None and self.combined_score.replace(" ", "") != engine:
            raise ValueError(f"combined_score {self.combined_score!r} is not what the engine computes "
                             f"({engine!r}); remove the key, it is documentation only")
        return self

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
    """One instance set (``[sets.NAME]``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    about: str = Field(description="what the set holds, for people (shown by `evolve baseline`)")
    sources: list[str] = Field(description="the verifier's load_source names, in order; `name:count` "
                               "takes the first count instances, `name@i,j` instances i and j (from 1)")
    drawn: bool = Field(False, description="generated from the run's draw (a seed chosen when the run "
                        "starts, unknown to candidates; evaluators/draws.py); without a draw "
                        "(`evolve baseline`, `evolve verify`, README tables) the fixed public draw")
    extra: bool = Field(False, description="a set no run reads, scored only on request "
                        "(`evolve baseline NAME --sets SET`); any name but train, test, validation, gate")


class ProblemLimits(BaseModel):
    """Limits of one candidate's evaluation (``[limits]``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    call_seconds: float = Field(10.0, gt=0, description="wall seconds one call of the entry may take")
    wall_seconds: float = Field(120.0, gt=0, description="wall seconds evaluating a whole set may take")
    memory_mb: int = Field(1024, gt=0, description="memory of the candidate's processes together")


class ProblemSpec(BaseModel):
    """A problem: ``problems/<name>/problem.toml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(description="the folder's name (`evolve run NAME`)")
    summary: str = Field(description="one line for `evolve problems`")
    verifier: str = Field(pattern=r"^[\w.]+:\w+$", description="the verifier class, "
                           "`module:Class` (a subclass of evaluators.base.Verifier)")
    entry: str = Field(description="the function of the candidate the verifier calls")
    signature: str = Field(description="the entry's signature as the prompt shows it")
    focus: str | None = Field(None, description="the one function compact (small-model) prompts ask "
                              "to rewrite: a helper of initial.py's EVOLVE-BLOCK (none: any of them)")
    report: list[str] = Field([], description="further metrics shown beside the objective in "
                              "baseline/report tables")
    objective: Objective = Field(description="[objective]")
    features: list[FeatureDim] = Field([], description="[[features]]: the MAP-Elites axes")
    sets: dict[str, InstanceSet] = Field(description="[sets.NAME]: train (required), test, validation, "
                                         "gate, and further sets marked extra")
    limits: ProblemLimits = Field(ProblemLimits(), description="[limits]")
    imports: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]] = Field(
        [], description="packages beyond the standard library candidates may import; nothing else "
        "is readable in their sandbox (sandbox/importable.py); the brief must name them")
    root: Path = Field(Path("."), description="the problem's folder (set by the loader)")

    @field_validator("sets")
    @classmethod
    def _set_names(cls, sets: dict[str, InstanceSet]) -> dict[str, InstanceSet]:
        allowed = ", ".join(SET_ROLES)
        for name, spec in sets.items():
            if name not in SET_ROLES and not spec.extra:
                raise ValueError(f"unknown instance set {name!r}: allowed names are {allowed}; a further "
                                 f"set scored only on request needs `extra = true` in [sets.{name}]")
            if name in SET_ROLES and spec.extra:
                raise ValueError(f"[sets.{name}] is read by runs: remove `extra = true`")
        missing = [name for name in REQUIRED_SETS if name not in sets]
        if missing:
            raise ValueError(f"no [sets.{missing[0]}]: every candidate is scored on it (allowed names "
                             f"are {allowed})")
        return sets

    def missing_metrics(self, metrics: dict[str, float]) -> list[str]:
        """The metrics every evaluation must return (the objective, the second objective, the
        features but code_length) that ``metrics``, a verifier's output, lacks. ``report`` metrics
        may be missing (a table shows "-": e.g. a reference that exists only on the public draw)."""
        second = [self.objective.second.metric] if self.objective.second else []
        named = [self.objective.metric, *second, *(f.name for f in self.features if f.name != "code_length")]
        return [m for m in dict.fromkeys(named) if m not in metrics]

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


def _names(root: Path) -> list[str]:
    """The problems in ``root``: folders with a problem.toml, except ``_template`` and the like."""
    return sorted(p.parent.name for p in root.glob("*/problem.toml") if p.parent.name[0] not in "_.")


def list_problems() -> list[ProblemSpec]:
    return [load_problem(name) for name in _names(problems_dir())]


def load_problem(name: str) -> ProblemSpec:
    root = problems_dir()
    path = root / name / "problem.toml"
    if not path.exists():
        known = ", ".join(_names(root)) or "none"
        raise ProblemError(f"unknown problem {name!r}: known problems are {known} "
                           f"(folder {root}; run `evolve problems` to list them)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        spec = ProblemSpec.model_validate({**data, "root": path.parent})
    except tomllib.TOMLDecodeError as exc:
        raise ProblemError(f"{path}: not valid TOML ({exc})") from exc
    except ValidationError as exc:
        raise ProblemError("\n".join(f"{path}: {line}" for line in _errors(exc))) from exc
    if spec.name != name:
        raise ProblemError(f"{path}: name = {spec.name!r} but the folder is {name!r}: set name = {name!r}")
    return spec


def _errors(exc: ValidationError) -> list[str]:
    """One line per error: the key, then what is wrong (an unknown key lists the keys known there)."""
    lines = []
    for err in exc.errors():
        loc = tuple(x for x in err["loc"] if not isinstance(x, int))
        key = ".".join(str(x) for x in loc) or "(top level)"
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = f"unknown key (known here: {', '.join(_keys_at(loc[:-1]))}; see problems/_template)"
        lines.append(f"{key}: {msg}")
    return lines


def _keys_at(loc: tuple) -> list[str]:
    """The keys problem.toml accepts at ``loc``."""
    model: type[BaseModel] = ProblemSpec
    for key in loc:
        if model is ProblemSpec and key == "sets":
            model = InstanceSet
            continue
        field = model.model_fields.get(str(key))
        inner = field.annotation if field else None
        found = [t for t in (inner, *getattr(inner, "__args__", ())) if isinstance(t, type)
                 and issubclass(t, BaseModel)]
        if not found:
            break
        model = found[0]
    return [k for k in model.model_fields if k != "root"]
