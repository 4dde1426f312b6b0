"""MAP-Elites cells: map a program's feature values to a grid cell key like ``"3,1"``.

Features are declared per problem (``[[features]]`` in problem.toml). ``code_length`` is measured
on the code; every other feature is read from the trusted metrics of the evaluation.
"""

from __future__ import annotations

import math

from evaluators.base import EvalOutcome
from evaluators.problem import FeatureDim


class MissingFeature(ValueError):
    """A declared feature is neither ``code_length`` nor a metric the verifier returned."""


def missing_features(metrics: dict[str, float], dims: list[FeatureDim]) -> list[str]:
    """The declared features that are neither ``code_length`` nor in ``metrics``."""
    return [d.name for d in dims if d.name != "code_length" and d.name not in metrics]


def feature_values(code: str, metrics: dict[str, float], dims: list[FeatureDim]) -> dict[str, float]:
    """Each feature's value for a program with trusted ``metrics``; a feature the verifier did not
    return raises ``MissingFeature`` (it would otherwise put every program in bin 0)."""
    if missing := missing_features(metrics, dims):
        raise MissingFeature(f"feature {missing[0]!r} of problem.toml is not a metric the verifier "
                             f"returns (it returns {', '.join(sorted(metrics)) or 'none'}): rename the "
                             "[[features]] entry or return the metric from the verifier's score()")
    return {d.name: float(len(code)) if d.name == "code_length" else float(metrics[d.name]) for d in dims}


def bin_index(value: float, dim: FeatureDim) -> int:
    lo, hi = dim.min, dim.max
    if dim.scale == "log":
        value, lo, hi = math.log1p(max(value, 0.0)), math.log1p(max(lo, 0.0)), math.log1p(max(hi, 0.0))
    if not math.isfinite(value) or hi <= lo:
        return 0
    frac = (value - lo) / (hi - lo)
    return min(dim.bins - 1, max(0, int(frac * dim.bins)))


def cell_key(features: dict[str, float], dims: list[FeatureDim]) -> str:
    if not dims:
        return "0"
    return ",".join(str(bin_index(features[d.name], d)) for d in dims)


def placement(code: str, outcome: EvalOutcome, dims: list[FeatureDim]) -> tuple[dict | None, str | None]:
    """A training outcome's features and grid cell (None, None for a failed program): the one
    place both the controller and a Celery worker compute them."""
    if not outcome.ok:
        return None, None
    features = feature_values(code, outcome.metrics, dims)
    return features, cell_key(features, dims)
