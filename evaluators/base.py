"""The verifier contract: code in, trusted metrics out.

A verifier runs the candidate only through ``sandbox.SandboxSession`` (never in its own process),
validates every value the candidate returns and computes all metrics itself. ``EvalOutcome`` is
the one record every evaluation produces, successful or not.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from evolve.problem import ProblemSpec
from sandbox.session import Limits


@dataclass(frozen=True)
class EvalOutcome:
    ok: bool
    metrics: dict[str, float] = field(default_factory=dict)
    combined_score: float | None = None
    feedback: str = ""
    error: str | None = None
    error_kind: str | None = None  # load | exception | timeout | crash | protocol | invalid | ...
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"ok": self.ok, "metrics": self.metrics, "combined_score": self.combined_score,
                "feedback": self.feedback, "error": self.error, "error_kind": self.error_kind,
                "seconds": self.seconds}

    @classmethod
    def from_dict(cls, data: dict) -> EvalOutcome:
        return cls(**data)


class InvalidOutput(Exception):
    """The candidate returned a value that breaks the problem's rules."""


class Verifier(ABC):
    """Base class: one instance per problem per worker process."""

    version: str = "1"

    def __init__(self, spec: ProblemSpec):
        self.spec = spec

    def limits(self) -> Limits:
        lim = self.spec.limits
        return Limits(call_seconds=lim.call_seconds, wall_seconds=lim.wall_seconds,
                      memory_mb=lim.memory_mb)

    def combined_score(self, metrics: dict[str, float]) -> float:
        value = metrics[self.spec.objective.metric]
        return -value if self.spec.objective.direction == "minimize" else value

    @abstractmethod
    def evaluate(self, code: str, set_name: str = "train") -> EvalOutcome:
        """Run ``code`` on an instance set in a sandbox and score it."""


def finite(metrics: dict[str, float]) -> dict[str, float]:
    """Reject NaN/inf in trusted metrics (a verifier bug, never the candidate's value)."""
    for key, value in metrics.items():
        if not math.isfinite(value):
            raise ValueError(f"metric {key} is not finite: {value}")
    return metrics
