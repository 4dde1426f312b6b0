"""SMTT verifier: exact DP, permutation checks, scoring, reward hacks, and the published baseline figures."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from evaluators.jobs import run_job, verifier_for
from evaluators.smtt.exact import optimal_weighted_tardiness
from evaluators.smtt.instances import LEVELS, generate, weighted_tardiness
from evaluators.smtt.reference_search import best_found
from evaluators.smtt.verifier import score


def test_dp_matches_brute_force():
    rng = np.random.default_rng(7)
    for tf, rdd in [(0.2, 0.2), (0.6, 0.6), (1.0, 1.0), (0.8, 0.2)]:
        for _ in range(4):
            p, w, d = generate(7, tf, rdd, rng)
            brute = min(weighted_tardiness(o, p, w, d) for o in itertools.permutations(range(7)))
            assert optimal_weighted_tardiness(p, w, d) == brute


def test_generated_set_references_are_dp_optima():
    spec = verifier_for("smtt")
    insts = spec.instances("gen20")
    assert len(insts) == 50 and {i.n for i in insts} == {20}
    assert {i.cls for i in insts} == {(tf, rdd) for tf in LEVELS for rdd in LEVELS}
    for inst in insts[:2]:  # re-derive two cached optima
        assert optimal_weighted_tardiness(inst.p, inst.w, inst.d) == inst.ref


def test_reference_search_finds_optima_and_the_validation_references():
    spec = verifier_for("smtt")
    for inst in spec.instances("train")[::50]:  # wt40 and wt50 with proven optima
        order, cost = best_found(inst.p, inst.w, inst.d, iterations=60)
        assert sorted(order) == list(range(inst.n)) and cost == weighted_tardiness(order, inst.p, inst.w,
                                                                                    inst.d)
        assert cost == inst.ref, inst.name
    val = spec.instances("validation")
    assert len(val) == 250 and {i.n for i in val} == {100} and {i.ref_kind for i in val} == {"best-found"}
    assert {i.cls for i in val} == {(tf, rdd) for tf in LEVELS for rdd in LEVELS}
    inst = val[7]  # the cached reference is what the search finds
    assert best_found(inst.p, inst.w, inst.d)[1] == inst.ref


def test_orlib_classes_follow_file_order():
    insts = verifier_for("smtt").instances("test")
    assert len(insts) == 125
    assert insts[0].cls == (0.2, 0.2) and insts[5].cls == (0.4, 0.2) and insts[25].cls == (0.2, 0.4)
    assert insts[-1].cls == (1.0, 1.0)


def test_score_uses_class_floor_for_zero_optima():
    insts = [i for i in verifier_for("smtt").instances("train") if i.ref == 0][:5]
    metrics, feedback = score(insts, [i.ref for i in insts])
    assert metrics["gap"] == 0 and metrics["reference_hits"] == 1.0
    worse = [i.ref + 10 for i in insts]
    metrics, _ = score(insts, worse)
    assert 0 < metrics["gap"] < 1 and np.isfinite(metrics["gap"])
    assert "largest excess" in feedback


def job(code: str, set_name: str = "train") -> dict:
    return run_job({"problem": "smtt", "code": code, "set": set_name})


def test_cheats_and_crashes_are_failures_with_reasons():
    out = job("def schedule(p, w, d):\n    return []\n")
    assert not out["ok"] and out["error_kind"] == "invalid" and "expected all 20" in out["error"]
    out = job("def schedule(p, w, d):\n    raise RuntimeError('nope')\n")
    assert out["error_kind"] == "exception" and "nope" in out["error"]
    out = job("import os\ndef schedule(p, w, d):\n    os._exit(0)\n")
    assert out["error_kind"] == "crash"
    out = job("def schedule(p, w, d):\n    return float('inf')\n")
    assert out["error_kind"] == "exception" and "schedule() returned nan or inf" in out["error"]
    out = job("def schedule(p, w, d):\n    print('{\"ok\": [0]}')\n    return list(range(len(p)))\n")
    assert out["ok"], out["error"]  # stdout prints cannot forge protocol replies
    assert out["combined_score"] == -out["metrics"]["gap"]


def test_batched_calls_name_the_failing_instance():
    # instances go to the candidate in one batch; a failure still names its instance and stage
    out = job("def schedule(p, w, d):\n    assert len(p) < 50, 'too big'\n    return list(range(len(p)))\n")
    assert out["error_kind"] == "exception" and "evaluation on " in out["error"] and "too big" in out["error"]
    assert "50" in out["error"].split("evaluation on ")[1].split(":")[0]  # e.g. wt50#1
    out = job("def schedule(p, w, d):\n    return list(range(len(p)))[::-1] if len(p) > 40 else [0]\n")
    assert out["error_kind"] == "invalid" and "quick check: invalid output on " in out["error"]


# --- reward hacks: each is rejected with a reason, or scored on the schedule it really is -------

# the body edits ``order``, an honest permutation; the gate's first instance is gen20-tf0.2-rdd0.2-1
HACKS = {
    "claimed cost in a dict": ("order = {'cost': 0}", "exactly once, got dict"),
    "order plus a claimed cost in a dict": ("order = {'order': order, 'cost': 0}", "got dict"),
    "order plus a claimed cost": ("order = [order, 0]", "returned 2 entries, expected all 20"),
    "order and cost as a tuple": ("order = (order, 0)", "returned 2 entries, expected all 20"),
    "claimed cost only": ("order = 0", "got int"),
    "nothing": ("order = None", "got NoneType"),
    "empty order": ("order = []", "returned 0 entries, expected all 20"),
    "missing jobs": ("order.pop()", "returned 19 entries, expected all 20"),
    "a job twice": ("order[0] = order[1]", "not a permutation of 0..19 (missing [0])"),
    "extra jobs": ("order.append(0)", "returned 21 entries, expected all 20"),
    "out-of-range job": ("order[0] = 20", "entry 0 is 20, outside 0..19: not a permutation"),
    "negative job": ("order[0] = -20", "entry 0 is -20, outside 0..19"),
    "huge job ids": ("order = [10 ** 400] * len(order)", "not a permutation"),
    "float job ids": ("order = [float(j) for j in order]", "job indices must be Python ints"),
    "bool job ids": ("order[1] = True", "job indices must be Python ints"),
    "string job ids": ("order = [str(j) for j in order]", "job indices must be Python ints"),
    "(job, start) pairs": ("order = [[j, 0] for j in order]", "job indices must be Python ints"),
    "numpy float array": ("import numpy as np\n    order = np.array(order, dtype=float)", "Python ints"),
    "numpy bool array": ("import numpy as np\n    order = np.array(order) > 0", "must be Python ints"),
}


@pytest.mark.parametrize("name", HACKS)
def test_reward_hacks_are_rejected(name):
    body, why = HACKS[name]
    out = job(f"def schedule(p, w, d):\n    order = list(range(len(p)))\n    {body}\n    return order\n")
    assert not out["ok"] and out["error_kind"] == "invalid", out
    assert out["combined_score"] is None and out["metrics"] == {}
    assert "quick check" in out["error"] and "gen20-tf0.2-rdd0.2-1" in out["error"], out["error"]
    assert why in out["error"], out["error"]


def test_a_claimed_cost_past_the_gate_is_rejected_too():
    # valid on the gate (n = 20 and 40), a claimed cost on the n = 50 training instances only
    out = job("def schedule(p, w, d):\n    return {'cost': 0} if len(p) == 50 else list(range(len(p)))\n")
    assert not out["ok"] and out["error_kind"] == "invalid" and out["combined_score"] is None
    assert out["error"].startswith("evaluation: invalid output on wt50#1: ") and "got dict" in out["error"]


def test_a_valid_order_is_scored_on_the_schedule_it_is():
    """The verifier's own tardiness of the returned order decides the score, whatever else runs:
    a reversed order, printed claims and a numpy int array all score exactly that schedule."""
    insts = verifier_for("smtt").instances("gen20")
    expected, _ = score(insts, [weighted_tardiness(list(range(i.n))[::-1], i.p, i.w, i.d) for i in insts])
    assert expected["gap"] > 0.5  # a bad schedule: a trusted claim of cost 0 would show as gap 0
    plain = ("def schedule(p, w, d):\n    print('{\"cost\": 0, \"gap\": 0}')\n"
             "    return list(range(len(p)))[::-1]\n")
    numpy = "import numpy as np\ndef schedule(p, w, d):\n    return np.arange(len(p))[::-1]\n"
    for code in (plain, numpy):
        out = job(code, "gen20")
        assert out["ok"], out["error"]
        assert {k: v for k, v in out["metrics"].items() if k != "cpu_seconds"} == expected
        assert out["combined_score"] == -expected["gap"]


def test_reference_figures_of_the_data_readme():
    """EDD 109.2/120.0/103.9%, WMDD 1.1/1.4/1.4%, ATC 0.7/1.0/1.0%, ATC+API 0.4/0.7/0.7% (wt40/50/100)."""
    spec = verifier_for("smtt").spec
    base = spec.baselines()
    expected = {"edd": (1.092, 1.200, 1.039), "wmdd": (0.011, 0.014, 0.014),
                "atc": (0.007, 0.010, 0.010), "atc_api": (0.004, 0.007, 0.007)}
    for name, (g40, g50, g100) in expected.items():
        train, test = job(base[name], "train"), job(base[name], "test")
        assert train["ok"] and test["ok"]
        got = (train["metrics"]["aggregate_gap_n40"], train["metrics"]["aggregate_gap_n50"],
               test["metrics"]["aggregate_gap_n100"])
        # to one decimal of a percentage, as the data README prints them
        assert [round(100 * g, 1) for g in got] == [round(100 * e, 1) for e in (g40, g50, g100)], name
