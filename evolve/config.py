"""Run configuration: pydantic models, YAML loading with line-numbered errors, CLI overrides.

A config file is optional; every field has a default. Errors name the file, the line, the key
and what is wrong, on one line each (``ConfigError``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelEntry(_Strict):
    """One model of the pool."""

    name: str = Field(description="litellm model string, e.g. openai/gpt-4o-mini")
    weight: float = Field(1.0, gt=0, description="relative share of proposals drawn from this model")
    api_base: str | None = Field(None, description="OpenAI-compatible server URL (none: the provider's own)")
    temperature: float = Field(0.7, ge=0, le=2, description="sampling temperature (raised per repeat: "
                               "hygiene.reheat)")
    max_tokens: int = Field(4096, ge=16, description="reply length cap in tokens (a function "
                            "rewrite asks for less: twice the function's size plus a helper's)")
    prompt_format: Literal["chat", "chatml"] = Field(
        "chat", description="chat: the chat API; chatml: the model speaks ChatML (Qwen) and the "
        "server has a completions route, so a function rewrite's reply starts inside the asked "
        "function (no tokens spent restating its signature and docstring)")
    style: Literal["full", "compact"] = Field(
        "full", description="full: long prompt, SEARCH/REPLACE diffs or rewrites; compact: short "
        "prompt, rewrite of the evolved function only (small local models)")


class LlmConfig(_Strict):
    """Which models propose programs, and how requests are retried."""

    models: list[ModelEntry] = Field([], description="the model pool (empty: --model, OPENAI_API_KEY "
                                     "or the embedded model, in that order)")
    timeout_seconds: float = Field(120.0, gt=0, description="a request's time limit until the "
                                   "model's speed is measured (then 3x a full-length reply's "
                                   "time at the slowest recent speed, at least 30 s or this if "
                                   "lower); 600 when every model is embedded, unless set")
    choice: Literal["weights", "bandit"] = Field(
        "weights", description="how each call picks its model from the pool: weights (drawn by "
        "weight) or bandit (a UCB on the share of proposals that beat their parent per unit of "
        "cost: dollars where every model has a price, else seconds; counted from the archive, so "
        "it survives resume)")
    retries: int = Field(4, ge=0, le=20, description="retries of a failed or timed-out request")
    backoff_seconds: float = Field(1.0, ge=0, description="first wait before a retry (doubles, "
                                   "with jitter)")
    backoff_max_seconds: float = Field(30.0, ge=0, description="longest wait before a retry")


class SearchConfig(_Strict):
    """Islands, migration and how parents are chosen."""

    islands: int = Field(3, ge=1, le=64, description="independent populations (each starting "
                         "program gets its own)")
    migration_interval: int = Field(20, ge=1, description="iterations between ring migrations")
    fitness_ratio: float = Field(0.6, ge=0, description="share of fitness-weighted parent picks")
    elite_ratio: float = Field(0.2, ge=0, description="share of picks of the island's best")
    random_ratio: float = Field(0.2, ge=0, description="share of uniform picks over the grid")
    novelty_bonus: float = Field(1.0, ge=0, description="weight 1/(1 + bonus * children)")
    top_inspirations: int = Field(2, ge=0, le=10, description="best programs of the island shown "
                                  "in full prompts")
    diverse_inspirations: int = Field(2, ge=0, le=10, description="programs from other grid cells "
                                      "shown in full prompts")
    asks_per_parent: int = Field(1, ge=1, le=16, description="consecutive proposals from one "
                                 "chosen parent (same prompt but the direction, so a server that "
                                 "keeps the last prompt reuses it); embedded models default to 3")
    crossover_ratio: float = Field(0.0, ge=0, le=1, description="share of parent choices that "
                                   "also pick a second parent (from another island, else another "
                                   "cell) and ask for a program combining both")
    stagnation_iterations: int = Field(0, ge=0, description="an island whose best has not improved "
                                       "in this many of its proposals restarts from the run's best "
                                       "program (its grid emptied; 0: off)")
    pareto_ratio: float = Field(0.0, ge=0, le=1, description="share of parent choices drawn from "
                                "the island's Pareto front of the objective against the problem's "
                                "second objective (`[objective.second]` in problem.toml), weighted "
                                "by crowding distance; 0: off")

    @model_validator(mode="after")
    def _ratios(self) -> SearchConfig:
        if self.fitness_ratio + self.elite_ratio + self.random_ratio <= 0:
            raise ValueError("fitness_ratio + elite_ratio + random_ratio must be > 0")
        return self


class EditConfig(_Strict):
    """The form of the change asked of the model."""

    diff_ratio: float = Field(0.8, ge=0, le=1, description="share of prompts asking for a diff; "
                                                           "the rest ask for a full rewrite")
    max_code_chars: int = Field(40_000, ge=100, description="a longer child is rejected unevaluated")


class StopConfig(_Strict):
    """When the run ends (the first limit reached)."""

    iterations: int = Field(50, ge=0, description="LLM proposals (iterations) in the run")
    budget_usd: float | None = Field(None, ge=0, description="stop once LLM spending reaches this "
                                     "(litellm's price map; unknown models count $0 and say so)")
    target_score: float | None = Field(None, description="stop once a program's combined score "
                                       "reaches this")
    wall_seconds: float | None = Field(None, gt=0, description="stop after this long")
    plateau_iterations: int | None = Field(None, ge=1, description="stop once the run's best score "
                                           "has not improved in this many iterations")


class ExecutorConfig(_Strict):
    """Where evaluations run and how lost work is recovered."""

    kind: Literal["local", "celery"] = Field("local", description="where evaluations run")
    broker: str = Field("redis://127.0.0.1:6379/0", description="Celery broker URL (celery only)")
    max_attempts: int = Field(3, ge=1, le=20, description="worker deaths before an evaluation "
                                                           "is failed as poison")
    lease_seconds: float = Field(30.0, ge=5, description="a worker on another machine whose "
                                                         "heartbeat is this old is presumed dead")
    resend_after_seconds: float = Field(60.0, ge=1, description="resend a queued evaluation the "
                                                                "broker seems to have lost")
    broker_outage_seconds: float = Field(120.0, ge=1, description="stop the run (resumable) after "
                                                                  "the broker is unreachable this long")


REHEAT_WINDOW = 3  # proposals from a parent looked at for repeats
REHEAT_CAP = 1.0  # bench/local_llm.py probe: valid replies fall from 81% at 0.3 to 56% at 1.1


class HygieneConfig(_Strict):
    """Calls not wasted on repeats."""

    request_seed: bool = Field(True, description="a fresh sampling seed on every LLM request")
    dedupe: bool = Field(True, description="a child equal to any earlier program of the run up to "
                                           "comments, docstrings and layout is not evaluated")
    same_behaviour: bool = Field(True, description="a child whose outputs on the quick-check set "
                                                   "equal its parent's is stored as 'same' unevaluated")
    fresh_inspiration: bool = Field(True, description="compact prompts show no better-scoring "
                                    "program whose verbatim copy would repeat a program of the run")
    novelty_threshold: float = Field(0.0, ge=0, le=0.99, description="a child whose evolved block "
                                     "is this similar (MinHash estimate of the Jaccard similarity of "
                                     "its token 3-grams, numbers aside) to a program of its island is "
                                     "rejected unevaluated as a near-duplicate (0: off; e.g. 0.9)")
    reheat: float = Field(0.3, ge=0, le=1, description="temperature added to a proposal per repeat "
                          "(duplicate, unchanged or same-behaviour reply) among the parent's last "
                          f"{REHEAT_WINDOW} proposals, up to {REHEAT_CAP} (0: off)")


class RepairConfig(_Strict):
    """One repair call for a failing child."""

    enabled: bool = Field(True, description="a child failing with an exception or invalid output "
                          "gets one repair call (its code, the error, the values that triggered it) "
                          "before it counts as failed; one failing with ZeroDivisionError or a math "
                          "domain error is first guarded without a call (evolve/guards.py)")
    trials: int | None = Field(4, ge=1, description="repair calls made before further ones are "
                               "asked only while repairs give a valid program at least as often as "
                               "fresh proposals do in this run (none: always repair)")


class TuningConfig(_Strict):
    """CMA-ES tuning of the numeric constants of new island bests."""

    enabled: bool = Field(True, description="tune the numeric constants of new island bests")
    budget: int = Field(40, ge=1, le=10_000, description="settings scored per tuning")
    batch: int = Field(8, ge=1, le=256, description="settings scored in one sandbox session")
    max_params: int = Field(12, ge=1, le=100, description="constants tuned per program at most")


class PromptConfig(_Strict):
    """What prompts show beyond the program."""

    edge_cases: bool = Field(True, description="the brief's 'Inputs that break naive code' section")
    failing_values: bool = Field(True, description="the values that made a candidate fail, in "
                                                   "the feedback shown to the LLM")
    direction_choice: Literal["random", "bandit"] = Field(
        "random", description="the direction a compact prompt ends with ('combine two inputs', "
        "'one small change', ...): random, or bandit (a UCB on how often each direction's "
        "proposals beat their parent; full prompts then get one too)")
    direction_writing_interval: int = Field(0, ge=0, description="with the bandit: every this many "
                                            "iterations, one LLM call writes a new direction from "
                                            "the record of the others (it counts as an iteration; "
                                            "0: never)")
    advice_interval: int = Field(0, ge=0, description="every this many iterations, a summary of "
                                 "the latest ones (which changes raised the score, which failed and "
                                 "how, what was repeated) goes into later prompts (0: off)")


class RunConfig(_Strict):
    """A run: every section, the starting programs and the seed."""

    llm: LlmConfig = LlmConfig()
    search: SearchConfig = SearchConfig()
    edits: EditConfig = EditConfig()
    stop: StopConfig = StopConfig()
    executor: ExecutorConfig = ExecutorConfig()
    hygiene: HygieneConfig = HygieneConfig()
    repair: RepairConfig = RepairConfig()
    tuning: TuningConfig = TuningConfig()
    prompts: PromptConfig = PromptConfig()
    seeds: list[str] = Field(["initial"], min_length=1, description="starting programs: initial, "
                             "baselines (all of the problem's), or baseline names; each on its own island")
    proposals_in_flight: int = Field(2, ge=1, le=256, description="LLM requests at once (embedded "
                                     "model: one per llama.cpp server unless set)")
    evaluations_in_flight: int = Field(2, ge=1, le=256, description="evaluations at once (local "
                                       "worker processes)")
    seed: int = Field(0, description="seeds parent choice and the per-request sampling seeds")
    draw: Literal["random", "public"] | int = Field(
        "random", description="the instances of the problem's drawn sets (generated train/test "
        "sets a candidate must not be able to rebuild): random (a fresh draw when the run starts, "
        "kept in the archive), public (the fixed draw of the README tables) or a number at least "
        "2**40 that random drew (the same draw again, e.g. to compare configurations on identical "
        "instances; smaller ones a candidate could find by trying them all)")
    final_report: bool = Field(True, description="score the winner on the held-out set at the end")

    @model_validator(mode="after")
    def _draw_beyond_search(self) -> RunConfig:
        from evaluators.draws import chosen_draw_error

        if isinstance(self.draw, int) and (why := chosen_draw_error(self.draw)):
            raise ValueError(why)
        return self


class ConfigError(Exception):
    """A config file or override is invalid; the message is one line per problem."""


def _line_of(root: yaml.Node | None, loc: tuple) -> int | None:
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = [v for k, v in node.value if getattr(k, "value", None) == str(key)]
            if not match:
                return line
            key_nodes = [k for k, _ in node.value if getattr(k, "value", None) == str(key)]
            node, line = match[0], key_nodes[0].start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def section_model(field: FieldInfo) -> type[BaseModel] | None:
    """The config section a field holds (itself or as list items), or None for a plain value."""
    inner = field.annotation
    for candidate in (inner, *getattr(inner, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _keys_at(loc: tuple) -> list[str]:
    """The keys a config accepts at ``loc`` (list indices skipped)."""
    model: type[BaseModel] = RunConfig
    for key in loc:
        field = None if isinstance(key, int) else model.model_fields.get(str(key))
        model = (section_model(field) if field else None) or model
    return list(model.model_fields)


def load_config(path: Path | None) -> RunConfig:
    if path is None:
        return RunConfig()
    if not path.exists():
        raise ConfigError(f"{path}: config file not found (check the --config path)")
    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: the config must be a mapping of sections (llm, search, ...)")
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(x for x in err["loc"])
            line = _line_of(root, loc)
            key = ".".join(str(x) for x in loc) or "(top level)"
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                keys = ", ".join(_keys_at(loc[:-1]))
                msg = f"unknown key (known here: {keys}; see docs/configuration.md)"
            lines.append(f"{path}:{line}: {key}: {msg}")
        raise ConfigError("\n".join(lines)) from exc


def with_overrides(cfg: RunConfig, overrides: dict[str, tuple[str, object]]) -> RunConfig:
    """``cfg`` with command-line values set: ``{"stop.iterations": ("--iterations", 5), ...}``
    (a value of None leaves the key as it is). The result is validated as a config file is, and
    an invalid value is a ``ConfigError`` naming the option and the key. Keys the config left
    unset stay unset (a default that later steps may still choose)."""
    data = cfg.model_dump(exclude_unset=True)
    for key, (_, value) in overrides.items():
        if value is None:
            continue
        *sections, last = key.split(".")
        node = data
        for section in sections:
            node = node.setdefault(section, {})
            if hasattr(node, "model_dump"):
                node = node.model_dump(exclude_unset=True)
        node[last] = value
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = ".".join(str(x) for x in err["loc"])
            given = next(((f, v) for k, (f, v) in overrides.items()
                          if v is not None and (key == k or key.startswith(k + "."))), None)
            lines.append(f"{given[0]} {given[1]!r} ({key}): {err['msg']}" if given
                         else f"{key}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None
