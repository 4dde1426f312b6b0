"""The constant tuner: batches of settings to try (ask) and their scores back (tell).

``ConstantTuner`` is CMA-ES from the ``cma`` package (population = batch of 8, box [-2, 2] in
log space, the original constants injected first), chosen by ``bench/tuning.py``: 40 settings
in batches of 8 through ``score_settings``, 3 seeds, on ATC's 6-value k grid, an smtt ATC/WMDD
hybrid with 3 constants, FunSearch's OR3 bin-packing rule (11) and SJF-with-aging (1). Mean share
of the largest training gain seen on each program, after 24 / 40 settings:

    cma 0.69 / 0.79   nevergrad OnePlusOne 0.60 / 0.70   optuna TPE 0.58 / 0.62
    optuna CMA-ES sampler 0.53 / 0.61   uniform random 0.54 / 0.57
    nevergrad NGOpt 0.61 / 0.72 on the two programs where it ran (its MetaModel raises a
    TypeError under numpy 2.4 in 6 of 12 runs, every run with 1 or 3 constants)

cma was first on the hybrid (gap 12.8% -> 10.8%, next best TPE 11.7%: a rule with a few
constants is what small models write) and the 1-constant rule was a tie (all within 0.0005 of
each other). On the others it was second (bin packing, excess 3.05% -> 1.93%, behind Optuna's
CMA-ES sampler at 1.79%) and third (ATC, 4.32% -> 3.97%, behind OnePlusOne 3.78% and NGOpt
3.87%). TPE and Optuna's CMA-ES sampler did little better than random on the two smtt programs.
``cma`` needs only numpy; nevergrad brings scipy, scikit-learn, pandas and a pinned
bayesian-optimization, and optuna a storage layer this use does not need. Held out, tuning
on train carried over for the hybrid, bin packing and SJF-with-aging with every optimiser, but
ATC's k grid got worse on wt100 after cma, TPE, Optuna CMA-ES and random tuning (gap 6.74% ->
7.00% with cma): its train and test sets differ in size (n = 40/50 vs 100) and the grid fitted
to one does not carry over. A training gain is only a training gain.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from evolve.tuning.literals import settle

SPREAD = 2.0  # x in [-SPREAD, SPREAD]: a nonzero constant v ranges over v * e^-2 .. v * e^2
SIGMA = 0.6  # initial step in x (a factor of about 1.8 on a constant)


@dataclass(frozen=True)
class Space:
    """The search space of one program's constants. For a constant v != 0 the parameter is
    ``v * exp(x)`` (sign kept, scale-free: 0.5 and 500 are searched alike, x = 0 is the original);
    an int stays an int of the same sign, at least 1 in magnitude. A 0.0 has no scale of its own:
    it is searched additively, ``x * zero_scale``, where ``zero_scale`` is the median magnitude of
    the program's other constants (1.0 without any), because a zero threshold or offset is
    compared with quantities of the program's own scale (x = 0 is still the original)."""

    start: tuple[float, ...]
    integer: tuple[bool, ...]
    zero_scale: float = 1.0

    @classmethod
    def of(cls, start: Sequence[float], integer: Sequence[bool] | None = None) -> Space:
        integer = tuple(integer) if integer is not None else tuple(type(v) is int for v in start)
        if len(integer) != len(start):
            raise ValueError(f"{len(integer)} integer flags for {len(start)} constants")
        sizes = [abs(v) for v in start if v != 0]
        return cls(tuple(start), integer, statistics.median(sizes) if sizes else 1.0)

    def values(self, x: Sequence[float]) -> list[float]:
        """The constants at point ``x``, as they will be written into the program."""
        out: list[float] = []
        for v, is_int, xi in zip(self.start, self.integer, x, strict=True):
            xi = min(SPREAD, max(-SPREAD, float(xi)))
            if xi == 0:
                raw = v
            elif v == 0:
                raw = xi * self.zero_scale
            else:
                raw = v * math.exp(xi)
                if is_int:
                    raw = math.copysign(max(1, round(abs(raw))), v)
            out.append(settle(raw, is_int, v))
        return out


class Tuner:
    """Ask/tell around a derivative-free optimiser working on ``x`` in [-2, 2]^n (``Space``).

    The first batch holds the original constants (x = 0), so ``best()`` is never worse than the
    program it started from. Settings already scored (rounded ints and 4-digit floats make
    repeats likely) are answered from memory without spending budget. A failed setting (score
    None) counts as worse than every score seen. Higher scores are better; libraries minimise
    ``-score``. Subclasses implement ``_start``, ``_ask_x`` and ``_tell_x`` for one library."""

    def __init__(self, start: Sequence[float], integer: Sequence[bool] | None = None, *, budget: int = 40,
                 batch: int = 8, seed: int = 0):
        if budget < 1 or batch < 1:
            raise ValueError("budget and batch must be at least 1")
        self.space = Space.of(start, integer)
        self.dim = len(self.space.start)
        self.budget, self.batch, self.seed = budget, batch, seed
        self.spent = 0
        self._seen: dict[tuple, float | None] = {}
        self._pending: list[tuple[list[float], list[float]]] | None = None  # (x, values) of a generation
        self._best: tuple[list[float], float | None] = (list(self.space.values([0.0] * self.dim)), None)
        self._worst = -math.inf
        self._start()

    # -- public ---------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.spent >= self.budget or self.dim == 0

    @property
    def failed(self) -> int:
        """Settings scored so far that failed."""
        return sum(1 for score in self._seen.values() if score is None)

    def ask(self) -> list[list[float]]:
        """Up to ``batch`` new settings (constants in their own units) within what is left of the
        budget; [] once it is spent. Each ``ask`` must be answered by ``tell`` before the next."""
        if self._pending is not None:
            raise RuntimeError("tell() the scores of the last ask() first")
        for _ in range(50):  # generations answered wholly from memory do not spend budget
            if self.done:
                return []
            xs = self._ask_x(self.batch)
            self._pending = [(x, self.space.values(x)) for x in xs]
            fresh = self._fresh()
            if fresh:
                return fresh
            self._tell_pending({})
        return []

    def tell(self, values: Sequence[Sequence[float]], scores: Sequence[float | None]) -> None:
        """The scores (None: the setting failed) of the settings the last ``ask`` returned."""
        if self._pending is None:
            raise RuntimeError("tell() without ask()")
        asked = self._fresh()
        if [list(v) for v in values] != asked or len(scores) != len(asked):
            raise ValueError("tell() needs exactly the settings of the last ask(), in order")
        got = {}
        for vals, score in zip(asked, scores, strict=True):
            score = float(score) if score is not None and math.isfinite(score) else None
            got[tuple(vals)] = score
            self._seen[tuple(vals)] = score
            self.spent += 1
            if score is not None and (self._best[1] is None or score > self._best[1]):
                self._best = (list(vals), score)
        self._tell_pending(got)

    def best(self) -> tuple[list[float], float | None]:
        """The best setting scored so far and its score (None before any succeeded)."""
        return list(self._best[0]), self._best[1]

    # -- shared ---------------------------------------------------------------------------------
    def _fresh(self) -> list[list[float]]:
        """The pending generation's settings not scored before, first occurrence, within budget."""
        assert self._pending is not None
        out: list[list[float]] = []
        for _, vals in self._pending:
            if tuple(vals) not in self._seen and vals not in out and self.spent + len(out) < self.budget:
                out.append(vals)
        return out

    def _tell_pending(self, got: dict[tuple, float | None]) -> None:
        assert self._pending is not None
        pending, self._pending = self._pending, None
        scores = [got.get(tuple(v), self._seen.get(tuple(v))) for _, v in pending]
        finite = [s for s in scores if s is not None]
        if finite:
            self._worst = max(self._worst, max(-s for s in finite))
        failed = (self._worst + 1.0 + abs(self._worst)) if math.isfinite(self._worst) else 1e9
        self._tell_x([x for x, _ in pending], [-s if s is not None else failed for s in scores])

    # -- one library --------------------------------------------------------------------------
    def _start(self) -> None:
        raise NotImplementedError

    def _ask_x(self, n: int) -> list[list[float]]:
        """``n`` points in [-2, 2]^dim; the first call's first point is the origin."""
        raise NotImplementedError

    def _tell_x(self, xs: list[list[float]], losses: list[float]) -> None:
        raise NotImplementedError


class CmaTuner(Tuner):
    """CMA-ES (the ``cma`` package): population ``batch``, box constraints [-2, 2], start at the
    origin with step ``SIGMA``; the origin itself is injected into the first population."""

    def _start(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import cma
        opts = {"popsize": self.batch, "bounds": [-SPREAD, SPREAD], "seed": self.seed % (2**31 - 2) + 1,
                "verbose": -9}
        # cma 4.5 raises on one dimension once it rescales a step that outgrew the box ("not yet
        # initialized (dimension needed)"), so one constant is searched beside an idle coordinate
        width = max(2, self.dim)
        self._es = cma.CMAEvolutionStrategy([0.0] * width, SIGMA, opts)
        self._es.inject([[0.0] * width], force=True)
        self._asked: list = []

    def _ask_x(self, n: int) -> list[list[float]]:
        self._asked = self._es.ask()
        return [[float(v) for v in x[: self.dim]] for x in self._asked]

    def _tell_x(self, xs: list[list[float]], losses: list[float]) -> None:
        self._es.tell(self._asked, losses)


ConstantTuner = CmaTuner
