"""gpu_model_placement: the verifier's arithmetic on a hand-made instance, the references (lower
bound <= CP-SAT optimum <= greedy; the optimum against brute force), the README's baseline figures,
the reward hacks of the reply (a dropped model, a duplicate, an over-capacity GPU, a claimed
score, wrong types), tampering with the inputs, and a scripted run."""

from __future__ import annotations

import itertools
import re

import pytest

from evaluators.base import InvalidOutput
from evaluators.gpu_model_placement.instances import EXACT_GPUS, generate, load_source
from evaluators.gpu_model_placement.model import Instance, Model, check_placement, lower_bound, max_pressure
from evaluators.gpu_model_placement.reference import TOLERANCE, greedy_by_pressure, optimum
from evaluators.gpu_model_placement.verifier import score
from evaluators.jobs import run_job, verifier_for
from evaluators.problem import load_problem
from evolve.llm.stub_server import Step

from .conftest import query, run_cli

PROBLEM = "gpu_model_placement"
SPEC = load_problem(PROBLEM)


def hand_made() -> Instance:
    models = (Model(30.0, 4.0, 1.0), Model(20.0, 2.0, 0.5), Model(10.0, 1.0, 2.0))
    return Instance("hand", 2, 80.0, models, lower_bound(2, 80.0, models), None)


# --- the model and the verifier's arithmetic ----------------------------------------------------

def test_pressure_and_score_by_hand():
    inst = hand_made()
    # demands 4, 4 and 0.5; fluid bound 8.5 / (160 - 60) = 0.085 beats the single-model 4 / 50
    assert inst.lower_bound == pytest.approx(0.085)
    # GPU 0: 4 / (80 - 30) = 0.08; GPU 1: 4.5 / (80 - 30) = 0.09
    assert max_pressure(2, 80.0, inst.models, [0, 1, 1]) == pytest.approx(0.09)
    # all on GPU 0: 8.5 / (80 - 60); GPU 1 empty has pressure 0
    assert max_pressure(2, 80.0, inst.models, [0, 0, 0]) == pytest.approx(8.5 / 20)
    metrics, feedback = score([inst, inst], [0.09, 0.085])
    assert metrics["gap"] == pytest.approx((0.09 / 0.085 + 1) / 2 - 1)
    assert metrics["worst_gap"] == pytest.approx(0.09 / 0.085 - 1) and metrics["at_bound"] == 0.5
    assert "opt_gap" not in metrics and "hand: max pressure 0.09 vs lower bound 0.085" in feedback
    single = (Model(50.0, 30.0, 0.5), Model(5.0, 1.0, 1.0))  # one heavy model: 60 / 30 = 2
    assert lower_bound(2, 80.0, single) == pytest.approx(2.0)


@pytest.mark.parametrize("reply, why", [
    ([0, 1], "returned 2 entries for 3 models"),  # a dropped model
    ([0, 1, 1, 1], "returned 4 entries for 3 models"),  # a model placed twice
    ([0, 0, 1.0], "entry 2 (model 2) is float"), ([0, True, 1], "entry 1 (model 1) is bool"),
    ([0, 1, 2], "is GPU 2, outside 0..1"), ([-1, 1, 1], "is GPU -1, outside"),
    ([0, "1", 1], "is str"), ({"placement": [0, 1, 1], "gap": 0.0}, "got dict"), (0.0, "got float"),
])
def test_check_placement_rejects(reply, why):
    with pytest.raises(InvalidOutput, match=re.escape(why)):
        check_placement(reply, hand_made())


def test_a_gpu_must_keep_memory_for_the_kv_cache():
    models = (Model(40.0, 1.0, 1.0), Model(40.0, 1.0, 1.0), Model(10.0, 1.0, 1.0))
    inst = Instance("full", 2, 80.0, models, lower_bound(2, 80.0, models), None)
    with pytest.raises(InvalidOutput, match=r"GPU 0 holds models \[0, 1\] of 80 GB"):
        check_placement([0, 0, 1], inst)  # exactly full: 0 GB left
    assert check_placement([0, 1, 1], inst) == [0, 1, 1]


# --- the references -----------------------------------------------------------------------------

def brute_force(inst: Instance) -> float:
    best = float("inf")
    for placement in itertools.product(range(inst.gpus), repeat=len(inst.models)):
        used = [0.0] * inst.gpus
        for m, g in zip(inst.models, placement):
            used[g] += m.size
        if max(used) < inst.capacity:
            best = min(best, max_pressure(inst.gpus, inst.capacity, inst.models, placement))
    return best


def test_the_optimum_matches_brute_force_on_tiny_instances():
    tiny = [*verifier_for(PROBLEM).instances("gate"), *(generate(3, 7, 77, i, None) for i in range(3))]
    for inst in tiny:
        exact = brute_force(inst)
        assert inst.optimum is not None and exact <= inst.optimum <= exact * (1 + TOLERANCE), inst.name


def test_lower_bound_le_optimum_le_greedy_on_small_instances():
    v, drawn = verifier_for(PROBLEM), verifier_for(PROBLEM, 2 ** 50 + 7)
    small = [i for s in ("gate", "train", "test") for i in v.instances(s) if i.gpus <= EXACT_GPUS]
    small += [i for i in drawn.instances("train") if i.gpus <= EXACT_GPUS][:3]
    assert len(small) == 3 + 8 + 8 + 3
    for inst in small:
        found = optimum(inst.gpus, inst.capacity, inst.models)
        assert found.value == inst.optimum  # deterministic, and the cached value
        check_placement(list(found.placement), inst)
        assert max_pressure(inst.gpus, inst.capacity, inst.models, found.placement) == found.value
        assert inst.lower_bound * (1 - 2 * TOLERANCE) <= found.proven_below < found.value
        greedy = greedy_by_pressure(inst.gpus, inst.capacity, inst.models)
        if greedy is not None:
            assert found.value <= max_pressure(inst.gpus, inst.capacity, inst.models, greedy) * (1 + 1e-12)
    # the optimum is usually strictly above the bound: the bound is not a target one can always reach
    assert sum(i.optimum > i.lower_bound * (1 + 1e-6) for i in small) >= len(small) // 2


def test_instances_are_feasible_tight_and_drawn():
    for inst in load_source("gpus=10 seed=1100 count=8"):
        assert len(inst.models) == 20 and inst.optimum is None
        assert all(5 <= m.size <= 60 and 2 * m.size == int(2 * m.size) for m in inst.models)
        assert 0.3 < sum(m.size for m in inst.models) / 800 <= 0.75
        assert all(m.slo in (0.5, 1.0, 2.0) and 0.1 <= m.rate <= 100 for m in inst.models)
    public, drawn = load_source("gpus=2 seed=3000 count=3"), load_source("gpus=2 seed=3000 count=3", 2 ** 45)
    assert [i.models for i in public] != [i.models for i in drawn]


# --- the baselines: the README's figures --------------------------------------------------------

def job(code: str, set_name: str = "gate", draw: int | None = None) -> dict:
    return run_job({"problem": PROBLEM, "code": code, "set": set_name, "draw": draw})


README = {  # gap, opt_gap, worst_gap (percent), at_bound per set: problems/gpu_model_placement/README.md
    "initial": {"train": (7138.15, 2953.58, 17145.8, 0.0), "test": (8295.21, 4142.28, 18824.7, 0.0),
                "gate": (661.84, 597.48, 1749.3, 0.0)},
    "greedy_pressure": {"train": (354.08, 74.49, 5011.0, 0.25), "test": (466.21, 109.00, 6425.0, 0.182),
                        "gate": (48.82, 43.26, 118.3, 0.0)},
    "round_robin": {"train": (455.14, 166.75, 1876.4, 0.0), "test": (714.11, 224.84, 4907.2, 0.0),
                    "gate": (25.32, 18.33, 58.7, 0.0)},
}


@pytest.mark.parametrize("name", README)
def test_seed_and_baselines_reproduce_the_readme(name):
    code = SPEC.initial_code if name == "initial" else SPEC.baselines()[name]
    for set_name, (gap, opt_gap, worst, at_bound) in README[name].items():
        out = job(code, set_name)
        assert out["ok"], out["error"]
        m = out["metrics"]
        got = (round(100 * m["gap"], 2), round(100 * m["opt_gap"], 2), round(100 * m["worst_gap"], 1),
               round(m["at_bound"], 3))
        assert got == (gap, opt_gap, worst, at_bound), (name, set_name, got)


# --- reward hacks through the sandbox -----------------------------------------------------------

VALID = '''
def ffd(gpu_num, gpu_mem, models):
    used, where = [0.0] * gpu_num, [0] * len(models)
    for i in sorted(range(len(models)), key=lambda i: -models[i][0]):
        g = next(g for g in range(gpu_num) if used[g] + models[i][0] < gpu_mem)
        where[i] = g
        used[g] += models[i][0]
    return where


def place_models(gpu_num, gpu_mem, models):
    where = ffd(gpu_num, gpu_mem, models)
    {body}
'''

HACKS = {
    "a dropped model": ("return where[:-1]", "returned 3 entries for 4 models"),
    "a model placed twice": ("return where + [where[0]]", "returned 5 entries for 4 models"),
    "every model on GPU 0 (over capacity)": ("return [0] * len(models)", "leaving no KV-cache memory"),
    "lists of models per GPU": ("return [[i for i, g in enumerate(where) if g == h] for h in range(gpu_num)]",
                                "returned 2 entries for 4 models"),
    "(placement, claimed score)": ("return where, 0.0", "returned 2 entries for 4 models"),
    "a claimed score in a dict": ("return {'placement': where, 'gap': 0.0, 'max_pressure': 0.0}", "got dict"),
    "a claimed score only": ("return 0.0", "got float"),
    "float indices": ("return [float(g) for g in where]", "is float"),
    "bool indices": ("return [g == 1 for g in where]", "is bool"),
    "out-of-range index": ("return [g + gpu_num for g in where]", "outside 0..1"),
    "negative index": ("return [-1] + where[1:]", "is GPU -1, outside"),
}


@pytest.mark.parametrize("name", HACKS)
def test_reward_hacks_are_rejected(name):
    body, why = HACKS[name]
    out = job(VALID.format(body=body))
    assert not out["ok"] and out["error_kind"] == "invalid", out
    assert out["error"].startswith("evaluation: invalid output on G2 M4 #3000: ") and why in out["error"], \
        out["error"]
    assert out["combined_score"] is None and out["metrics"] == {}


def test_numpy_indices_cross_and_tampering_with_the_inputs_gains_nothing():
    honest = job(VALID.format(body="return where"))
    assert honest["ok"] and honest["metrics"]["gap"] == pytest.approx(6.6184, abs=1e-4)  # the seed's
    np_ints = job("import numpy as np\n" + VALID.format(body="return list(np.array(where, dtype=np.int64))"))
    assert np_ints["ok"] and np_ints["metrics"]["gap"] == honest["metrics"]["gap"]
    tamper = VALID.format(body="for m in models:\n        m[0], m[1], m[2] = 0.0, 0.0, 1e9\n"
                               "    gpu_mem = 10 ** 9\n    return where")
    out = job(tamper)
    assert out["ok"] and out["metrics"]["gap"] == honest["metrics"]["gap"]


# --- a scripted run -----------------------------------------------------------------------------

PRESSURE_DIFF = """Choose the GPU whose pressure after adding the model is lowest.
<<<<<<< SEARCH
    return -gpu
=======
    return -(load + demand) / (gpu_mem - used - size)
>>>>>>> REPLACE
"""


@pytest.mark.slow
def test_evolve_run_scores_a_child(stub, tmp_path):
    stub.push(Step(content=PRESSURE_DIFF))
    runs = tmp_path / "runs"
    config = tmp_path / "run.yaml"
    config.write_text("tuning:\n  enabled: false\n")
    res = run_cli("run", PROBLEM, "--api-base", stub.url, "--iterations", "2", "--no-report",
                  "--runs-dir", str(runs), "--run-name", "gmp", "--config", str(config))
    assert res.returncode == 0, res.stderr + res.stdout
    db = runs / "gmp" / "archive.db"
    rows = query(db, "select id, parent_id, status, combined_score from programs order by id")
    (draw,), = query(db, "select draw from runs")
    assert draw is not None and rows[0][2] == "ok" and rows[0][3] < -10  # the seed: gap above 1000%
    child = rows[1]
    assert child[1] == 1 and child[2] == "ok" and child[3] > rows[0][3]  # pressure-aware beats the seed
    prompt = str(stub.requests[0]["messages"])
    assert "Instances furthest from the lower bound" in prompt and "def place_models" in prompt
