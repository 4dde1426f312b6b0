"""MAP-Elites cells: map a program's feature values to a grid cell key like ``"3,1"``.

Features are declared per problem (``[[features]]`` in problem.toml). ``code_length`` is measured
on the code; every other feature is read from the trusted metrics of the evaluation.
"""

from __future__ import annotations

import math

from evolve.problem import FeatureDim


def feature_values(code: str, metrics: dict[str, float], dims: list[FeatureDim]) -> dict[str, float]:
    out = {}
    for dim in dims:
        if dim.name == "code_length":
            out[dim.name] = float(len(code))
        else:
            out[dim.name] = float(metrics.get(dim.name, dim.min))
    return out


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
