"""The verifier contract: code in, trusted metrics out, with a cheap gate first.

A verifier runs the candidate only through ``sandbox.SandboxSession`` (never in its own process),
sends it instance inputs (never references or expected answers), validates every value it
returns and computes all metrics itself. ``Verifier.evaluate`` is the shared cascade: a quick
gate on a few tiny instances (imports, signature, validity, a time check) whose failure costs
milliseconds and comes back as feedback, then the requested set in the same warm session.
CPU time is the kernel's accounting of the candidate's processes, measured outside them.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from evaluators.problem import ProblemSpec
from sandbox.session import CandidateError, Limits, SandboxSession


@dataclass(frozen=True)
class EvalOutcome:
    ok: bool
    metrics: dict[str, float] = field(default_factory=dict)
    combined_score: float | None = None
    feedback: str = ""
    error: str | None = None
    # load | exception | timeout | crash | protocol | invalid | slow | same ...
    error_kind: str | None = None
    seconds: float = 0.0
    fingerprint: str | None = None  # digest of the candidate's replies on the gate set
    evaluator_version: str = "unknown"  # of the verifier that scored it (set by evaluators.jobs)
    same_as: int | None = None  # error_kind "same": the program it behaved exactly like
    scores: list[float | None] | None = None  # a constant-tuning job: each setting's train score

    def to_dict(self) -> dict:
        """The outcome as it crosses a process or Celery boundary (JSON-safe)."""
        return {"ok": self.ok, "metrics": self.metrics, "combined_score": self.combined_score,
                "feedback": self.feedback, "error": self.error, "error_kind": self.error_kind,
                "seconds": self.seconds, "fingerprint": self.fingerprint,
                "evaluator_version": self.evaluator_version, "same_as": self.same_as,
                "scores": self.scores}

    @classmethod
    def of(cls, outcome: EvalOutcome | Mapping[str, Any]) -> EvalOutcome:
        """``outcome`` as a record: a dict from across a boundary (missing keys take defaults,
        unknown keys are dropped), or the record itself."""
        if isinstance(outcome, EvalOutcome):
            return outcome
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in outcome.items() if k in known}
        for name in ("metrics", "feedback", "seconds", "evaluator_version"):  # None: the default
            if data.get(name) is None:
                data.pop(name, None)
        return cls(**data)


SAME_BEHAVIOUR = ("quick check: the same outputs as its parent on every quick-check instance (the "
                  "change did not alter a single decision there); not evaluated further")


class InvalidOutput(Exception):
    """The candidate returned a value that breaks the problem's rules."""


class FailedOn(Exception):
    """The candidate failed (``CandidateError`` or ``InvalidOutput``) on the named instance."""

    def __init__(self, instance: str, cause: CandidateError | InvalidOutput):
        super().__init__(f"{instance}: {cause}")
        self.instance = instance
        self.cause = cause


class Verifier(ABC):
    """Base class: one instance per problem per worker process."""

    version: str = "1"
    gate_set: str | None = "gate"
    gate_cpu_seconds: float = 1.0  # per gate call; slower candidates would time out on the full set
    # a fresh candidate process per instance (``solve`` path): for sets whose instances repeat
    # one another (llm_serving replays each trace at five rates), module state must not carry
    # what one instance revealed (true lengths) into the next
    process_per_instance: bool = False
    # load_source generates its instances from a draw (sets marked ``drawn`` need it)
    draws: bool = False

    def __init__(self, spec: ProblemSpec, draw: int | None = None):
        drawn = [name for name, s in spec.sets.items() if s.drawn]
        if drawn and not self.draws:
            raise ValueError(f"{spec.root / 'problem.toml'} marks set(s) {', '.join(drawn)} drawn, "
                             f"but {type(self).__name__} cannot generate a set from a draw: "
                             "remove `drawn = true` or make its load_source use the draw")
        self.spec = spec
        # the run's draw for the sets marked ``drawn`` (evaluators/draws.py); None: public draw
        self.draw = draw

    def limits(self) -> Limits:
        lim = self.spec.limits
        return Limits(call_seconds=lim.call_seconds, wall_seconds=lim.wall_seconds,
                      memory_mb=lim.memory_mb, cpu_seconds=int(lim.wall_seconds) + 5,
                      imports=tuple(self.spec.imports))

    def combined_score(self, metrics: dict[str, float]) -> float:
        value = metrics[self.spec.objective.metric]
        return -value if self.spec.objective.direction == "minimize" else value

    def instances(self, set_name: str) -> list[Any]:
        """The instances of a set (inputs and references; only inputs go to the candidate): the
        set's sources in order, each ``name``, ``name:count`` (its first ``count`` instances) or
        ``name@i,j`` (its instances number i and j, counting from 1). A set marked ``drawn`` is
        generated from the verifier's draw."""
        if set_name not in self.spec.sets:
            raise ValueError(f"unknown instance set {set_name!r} for {self.spec.name} "
                             f"(known: {', '.join(self.spec.sets)})")
        spec = self.spec.sets[set_name]
        draw = self.draw if spec.drawn else None
        out: list[Any] = []
        for source in spec.sources:
            if "@" in source:
                name, _, picks = source.partition("@")
                items = self.load_source(name, draw)
                out.extend(items[int(i) - 1] for i in picks.split(","))
                continue
            name, _, count = source.partition(":")
            out.extend(self.load_source(name, draw)[: int(count) if count else None])
        return out

    def load_source(self, name: str, draw: int | None = None) -> Sequence[Any]:
        """The instances of one named source (a file under data/, a generator recipe, ...):
        ``draw`` None is the fixed public draw; a verifier whose problem marks a set ``drawn``
        generates that set's sources from ``evaluators.draws.entropy(draw, fixed seed)``."""
        raise NotImplementedError(f"{type(self).__name__} reads no instance source {name!r}")

    def arguments(self, instance: Any) -> tuple | None:
        """For problems whose instances are independent and solved by one call each: the
        arguments of that call (inputs only). Verifiers that define it (with ``accept``) have all
        instances of a set sent in one batch, each call still timed and limited on its own.
        None (the default): ``solve`` drives the candidate, one instance at a time."""
        return None

    def accept(self, instance: Any, value: Any) -> Any:
        """Validate the candidate's reply for ``instance``; return the trusted result."""
        raise NotImplementedError(f"{type(self).__name__} defines arguments() without accept()")

    def solve(self, box: SandboxSession, instance: Any) -> Any:
        """Ask the candidate for one instance's decisions, validate them, return the trusted result."""
        args = self.arguments(instance)
        if args is None:
            raise NotImplementedError(f"{type(self).__name__} defines neither solve() nor arguments()")
        return self.accept(instance, box.call(self.spec.entry, *args))

    def policy(self, box: SandboxSession) -> Callable[[Any], Any]:
        """The candidate as the policy of a trusted simulator: each decision one call of the entry
        with the simulator's state (the raw reply, for the simulator to validate)."""
        return lambda state: box.call(self.spec.entry, state)

    def _batched(self) -> bool:
        return type(self).arguments is not Verifier.arguments

    def _solve_all(self, box: SandboxSession, instances: list[Any]) -> tuple[list[Any], list[float]]:
        """Results and candidate CPU seconds per instance; a failure is raised as ``FailedOn``."""
        if self._batched():
            try:
                values = box.call_many(self.spec.entry, [self.arguments(i) for i in instances])
            except CandidateError as exc:
                if exc.index is None:
                    raise
                raise FailedOn(_name(instances[exc.index], exc.index), exc) from exc
            results = []
            for index, (inst, value) in enumerate(zip(instances, values, strict=True)):
                try:
                    results.append(self.accept(inst, value))
                except InvalidOutput as exc:
                    raise FailedOn(_name(inst, index), exc) from exc
            return results, list(box.batch_cpu)
        results, cpus = [], []
        for index, inst in enumerate(instances):
            if self.process_per_instance and box.used:
                box.restart()  # nothing learnt on one instance is kept for the next
            before = box.calls_cpu
            try:
                results.append(self.solve(box, inst))
            except (CandidateError, InvalidOutput) as exc:
                raise FailedOn(_name(inst, index), exc) from exc
            cpus.append(box.calls_cpu - before)  # every call solve() made for this instance
        return results, cpus

    @abstractmethod
    def score(self, instances: list[Any], results: list[Any]) -> tuple[dict[str, float], str]:
        """Trusted metrics and feedback text from validated results."""

    def evaluate(self, code: str, set_name: str = "train", same_as: str | None = None) -> EvalOutcome:
        """Gate, then ``set_name``, in one warm session. ``same_as``: the gate fingerprint of the
        program this one was derived from; identical replies on the gate stop the evaluation
        there with ``error_kind`` "same" (the program behaves like that one)."""
        instances = self.instances(set_name)
        gate = self.instances(self.gate_set) if self.gate_set in self.spec.sets and \
            set_name != self.gate_set else []
        started = time.monotonic()
        stage, cpu, loaded = "gate", 0.0, False
        fingerprint: str | None = None
        results: list[Any] = []
        try:
            with SandboxSession(code, self.limits()) as box:
                loaded = True
                box.start_digest()
                _, gate_cpu = self._solve_all(box, gate)
                fingerprint = box.stop_digest() if gate else None
                for inst, spent in zip(gate, gate_cpu, strict=True):
                    if spent > self.gate_cpu_seconds:
                        name = getattr(inst, "name", "a gate instance")
                        return self._fail("slow", f"quick check: {name} took {spent:.2f} CPU-s, "
                                          f"over the gate's {self.gate_cpu_seconds:.2g}s; the full set "
                                          "has larger instances and would time out", started)
                if same_as is not None and fingerprint == same_as:
                    return EvalOutcome(ok=False, error=SAME_BEHAVIOUR, error_kind="same",
                                       feedback=SAME_BEHAVIOUR, fingerprint=fingerprint,
                                       seconds=time.monotonic() - started)
                stage = "full"
                results, cpus = self._solve_all(box, instances)
                cpu = sum(cpus)
        except FailedOn as failed:
            where = "quick check" if stage == "gate" else "evaluation"
            if isinstance(failed.cause, InvalidOutput):
                return self._fail("invalid", f"{where}: invalid output on {failed.instance}: "
                                  f"{failed.cause}", started)
            return self._fail(failed.cause.kind, f"{where} on {failed.instance}: {failed.cause.message}",
                              started)
        except CandidateError as exc:
            # while loading, or no one instance's doing (the sandbox died, a forgery seen at the end)
            where = "quick check" if stage == "gate" else "evaluation"
            return self._fail(exc.kind, f"{where} on {'the session' if loaded else 'loading'}: "
                              f"{exc.message}", started)
        metrics, feedback = self.score(instances, results)
        metrics = finite({**metrics, "cpu_seconds": cpu})
        return EvalOutcome(ok=True, metrics=metrics, combined_score=self.combined_score(metrics),
                           feedback=feedback, seconds=time.monotonic() - started,
                           fingerprint=fingerprint)

    @staticmethod
    def _fail(kind: str, message: str, started: float) -> EvalOutcome:
        return EvalOutcome(ok=False, error=message, error_kind=kind, feedback=message,
                           seconds=time.monotonic() - started)


def _name(instance: Any, index: int) -> str:
    return getattr(instance, "name", f"instance {index + 1}")


def worst_indices(badness: Sequence[float], count: int = 3) -> list[int]:
    """The indices of the ``count`` largest values of ``badness``, largest first, ties in their
    order: the instances a verifier's feedback names."""
    return sorted(range(len(badness)), key=lambda k: -badness[k])[:count]


def finite(metrics: dict[str, float]) -> dict[str, float]:
    """Reject NaN/inf in trusted metrics (a verifier bug, never the candidate's value)."""
    for key, value in metrics.items():
        if not math.isfinite(value):
            raise ValueError(f"metric {key} is not finite: {value}")
    return metrics
