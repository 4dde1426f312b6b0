"""The records the quality bench passes between its parts (and writes as JSON): what a run is,
what one LLM call cost, what a program scored, what a run produced.

Frozen dataclasses only; ``to_json`` / ``*_from_json`` are the one place they become plain data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Endpoint:
    """The upstream OpenAI-compatible server both systems reach through the counting proxy."""

    api_base: str  # e.g. http://127.0.0.1:8766/v1
    model: str  # the id the server answers /v1/models with (what requests name)
    embedded: bool  # one of evolve's embedded llama.cpp models


@dataclass(frozen=True)
class CallRecord:
    """One chat completion forwarded by the proxy."""

    index: int  # 1-based, per run, in order of arrival
    started: float  # epoch seconds at arrival
    latency: float  # seconds until the upstream's answer was read
    status: int  # the upstream's HTTP status (502: upstream unreachable)
    prompt_tokens: int
    completion_tokens: int
    seed: int | None  # the sampling seed the upstream saw
    injected: bool  # the proxy added that seed (the request had none)


@dataclass(frozen=True)
class RunKey:
    """One (system, problem, seed, variant) run; ``variant`` is ``full`` or an ablation name."""

    system: str  # evolve | openevolve
    problem: str
    seed: int
    variant: str = "full"

    @property
    def name(self) -> str:
        return f"{self.system}-{self.problem}-s{self.seed}-{self.variant}"


@dataclass(frozen=True)
class Score:
    """A program's trusted outcome on one instance set (our verifier, our sandbox)."""

    ok: bool
    combined_score: float | None  # higher is better
    metric: float | None  # the problem's own objective metric (objective.metric)
    error: str | None = None


@dataclass(frozen=True)
class Step:
    """The best-so-far train score improved after ``calls`` LLM calls."""

    calls: int
    combined_score: float
    metric: float | None


@dataclass(frozen=True)
class CallStats:
    """The proxy's view of a run's LLM traffic."""

    calls: int
    busy_seconds: float  # union of the intervals during which a call was in flight
    mean_latency: float
    prompt_tokens: int
    completion_tokens: int
    errors: int  # calls the upstream answered with a non-200 status
    injected_seeds: int

    @property
    def seconds_per_call(self) -> float:
        return self.busy_seconds / self.calls if self.calls else 0.0


@dataclass(frozen=True)
class RunTrace:
    """What a system's run left behind, read from its own records (evolve's archive, OpenEvolve's
    output folder and our evaluator log) before our verifier re-scores the winner."""

    key: RunKey
    budget: int
    curve: tuple[Step, ...]
    winner_code: str
    iterations: int
    children: int
    valid_children: int
    duplicates: int
    same_behaviour: int | None
    repairs: int | None
    repairs_ok: int | None
    wall_seconds: float
    start: str
    notes: tuple[str, ...] = field(default_factory=tuple)
    improving_children: int | None = None  # valid children that beat their parent on train


@dataclass(frozen=True)
class RunResult:
    key: RunKey
    budget: int  # LLM calls asked for (evolve --iterations, OpenEvolve max_iterations)
    llm: CallStats
    curve: tuple[Step, ...]  # improvements of the best train score, by LLM calls so far
    winner_train: Score  # re-scored by our verifier, never the system's own number
    winner_test: Score
    iterations: int
    children: int  # iterations that produced a program that was evaluated
    valid_children: int  # ... and it did not fail
    duplicates: int  # iterations whose child was (normalised) code of an earlier program
    same_behaviour: int | None  # evolve: children stopped as behaving exactly like a program
    repairs: int | None  # evolve: iterations with edit_kind 'repair'
    repairs_ok: int | None  # ... whose child evaluated ok
    wall_seconds: float
    start: str  # what the run started from (initial, baselines, or a baseline's name)
    notes: tuple[str, ...] = field(default_factory=tuple)
    improving_children: int | None = None  # valid children scoring above their parent on train

    def best_at(self, calls: int) -> Step | None:
        best = None
        for step in self.curve:
            if step.calls <= calls:
                best = step
        return best


@dataclass(frozen=True)
class BaselineScore:
    name: str
    train: Score
    test: Score


def to_json(obj: object) -> dict:
    return asdict(obj)  # type: ignore[call-overload]


def _score(d: dict) -> Score:
    return Score(**d)


def run_from_json(d: dict) -> RunResult:
    return RunResult(key=RunKey(**d["key"]), budget=d["budget"], llm=CallStats(**d["llm"]),
                     curve=tuple(Step(**s) for s in d["curve"]), winner_train=_score(d["winner_train"]),
                     winner_test=_score(d["winner_test"]), iterations=d["iterations"],
                     children=d["children"], valid_children=d["valid_children"],
                     duplicates=d["duplicates"], same_behaviour=d["same_behaviour"],
                     repairs=d["repairs"], repairs_ok=d["repairs_ok"], wall_seconds=d["wall_seconds"],
                     start=d["start"], notes=tuple(d.get("notes", ())),
                     improving_children=d.get("improving_children"))


def baseline_from_json(d: dict) -> BaselineScore:
    return BaselineScore(name=d["name"], train=_score(d["train"]), test=_score(d["test"]))


def curve_of(points: list[tuple[int, float, float | None]]) -> tuple[Step, ...]:
    """The improvements of the best score among (calls so far, score, metric) points."""
    steps: list[Step] = []
    for calls, score, metric in sorted(points, key=lambda p: (p[0], -p[1])):
        if not steps or score > steps[-1].combined_score:
            steps.append(Step(calls, score, metric))
    return tuple(steps)
