"""The constant tuner: improves a smooth toy within 40 settings, survives failures, is seeded."""

from __future__ import annotations

import math

import pytest

from evolve.tuning.optimiser import ConstantTuner, Space

START = [0.5, 1.0, 3]  # two floats and an int
OPTIMUM = (2.0, 0.3, 9)


def toy(values: list[float]) -> float:
    """Smooth in the log of each constant, best at OPTIMUM (far from START)."""
    a, b, c = values
    return -(math.log(a / OPTIMUM[0]) ** 2 + math.log(b / OPTIMUM[1]) ** 2 + math.log(c / OPTIMUM[2]) ** 2)


def run(tuner: ConstantTuner, score) -> list[list[list[float]]]:
    asked = []
    while batch := tuner.ask():
        asked.append(batch)
        tuner.tell(batch, [score(v) for v in batch])
    return asked


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_improves_a_smooth_toy_within_40_settings(seed):
    tuner = ConstantTuner(START, budget=40, batch=8, seed=seed)
    asked = run(tuner, toy)
    assert asked[0][0] == START  # the original constants are scored first
    assert sum(len(b) for b in asked) == tuner.spent == 40
    values, best = tuner.best()
    assert best > 0.2 * toy(START)  # closed most of the log-distance to the optimum
    assert type(values[2]) is int and all(type(v) is float for v in values[:2])
    assert tuner.ask() == [] and tuner.done


def test_failed_settings_count_as_worst_and_do_not_crash():
    def fragile(values):
        return None if values[0] > 1.0 or values[1] < 0.6 else toy(values)

    tuner = ConstantTuner(START, budget=40, batch=8, seed=3)
    run(tuner, fragile)
    values, best = tuner.best()
    assert tuner.spent == 40 and best is not None
    assert values[0] <= 1.0 and values[1] >= 0.6 and best >= toy(START)

    always = ConstantTuner(START, budget=16, batch=8, seed=0)
    run(always, lambda v: None)
    assert always.best() == (START, None)


def test_same_seed_same_asks():
    first = run(ConstantTuner(START, budget=24, batch=8, seed=5), toy)
    again = run(ConstantTuner(START, budget=24, batch=8, seed=5), toy)
    other = run(ConstantTuner(START, budget=24, batch=8, seed=6), toy)
    assert first == again
    assert first != other


def test_budget_batches_and_protocol():
    tuner = ConstantTuner([2.0], budget=10, batch=4, seed=0)  # one constant works too
    sizes = []
    while batch := tuner.ask():
        sizes.append(len(batch))
        with pytest.raises(RuntimeError):
            tuner.ask()
        with pytest.raises(ValueError):
            tuner.tell(batch[:-1], [0.0] * (len(batch) - 1))
        tuner.tell(batch, [-abs(v[0] - 5.0) for v in batch])
    assert sum(sizes) == 10 and max(sizes) <= 4
    assert ConstantTuner([], budget=10).ask() == []


def test_repeated_settings_cost_nothing():
    tuner = ConstantTuner([2, 3], budget=40, batch=8, seed=0)  # ints: few distinct settings nearby
    seen = []
    while batch := tuner.ask():
        seen += [tuple(v) for v in batch]
        tuner.tell(batch, [-abs(v[0] - 4) - abs(v[1] - 4) for v in batch])
    assert len(seen) == len(set(seen))
    assert tuner.best() == ([4, 4], 0)


def test_space():
    space = Space.of([0.5, -2.0, 0.0, 4], [False, False, False, True])
    assert space.zero_scale == 2.0  # median of |0.5|, |-2.0|, |4|
    assert space.values([0.0] * 4) == [0.5, -2.0, 0.0, 4]
    low, high = space.values([-2.0] * 4), space.values([5.0] * 4)  # clipped to [-2, 2]
    assert low == [0.06767, -0.2707, -4.0, 1] and high == [3.695, -14.78, 4.0, 30]


@pytest.mark.parametrize("seed", range(4))
def test_one_constant_on_a_plateau(seed):
    """cma alone fails on one dimension once its step meets the bound; the tuner pads it."""
    tuner = ConstantTuner([50.0], budget=40, batch=8, seed=seed)
    run(tuner, lambda v: 0.93 + 0.01 * (v[0] > 70) + 0.0005 * (round(v[0]) % 3))
    assert tuner.spent == 40 and tuner.best()[0][0] > 70
