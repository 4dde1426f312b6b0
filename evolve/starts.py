"""A run's starting programs: the problem's initial program and/or the baselines people wrote.

``seeds`` in the run config names them: ``initial``, ``baselines`` (every file in the problem's
``baselines/``) or single baseline names. Each start is evaluated first and placed as the starting
elite of its own island (the run gets at least one island per start); with one start every
island begins from it, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

from evaluators.problem import ProblemSpec
from evolve.config import ConfigError, RunConfig


class StartError(ConfigError):
    """The config names a starting program the problem does not have."""


@dataclass(frozen=True)
class Start:
    kind: str  # "seed" (initial.py) or "baseline"
    label: str | None  # the baseline's name (its file stem)
    code: str

    @property
    def name(self) -> str:
        return self.label or "initial"


def resolve_starts(spec: ProblemSpec, names: list[str]) -> list[Start]:
    """The starting programs ``names`` asks for, in order, each once."""
    baselines = spec.baselines()
    out: dict[str, Start] = {}
    for name in names:
        if name == "initial":
            out.setdefault("initial", Start("seed", None, spec.initial_code))
        elif name == "baselines":
            if not baselines:
                raise StartError(f"seeds: problem {spec.name} has no baselines in "
                                 f"{spec.root / 'baselines'}; use initial")
            for label, code in baselines.items():
                out.setdefault(label, Start("baseline", label, code))
        elif name in baselines:
            out.setdefault(name, Start("baseline", name, baselines[name]))
        else:
            known = ", ".join(["initial", "baselines", *baselines])
            raise StartError(f"seeds: {spec.name} has no starting program {name!r}: use one of {known}")
    return list(out.values())


def with_start_islands(cfg: RunConfig, spec: ProblemSpec) -> RunConfig:
    """``cfg`` with at least one island per starting program (checks the names, too)."""
    starts = resolve_starts(spec, cfg.seeds)
    if len(starts) <= cfg.search.islands:
        return cfg
    search = cfg.search.model_copy(update={"islands": len(starts)})
    return cfg.model_copy(update={"search": search})


def islands_of(index: int, starts: int, islands: int) -> tuple[int, ...]:
    """The islands start number ``index`` begins: its own, and every island that has no start of
    its own (island j begins from start j mod ``starts``)."""
    return tuple(j for j in range(islands) if j % starts == index)
