"""Online bin packing: the trusted loop, reply validation, data, published figures, reward hacks."""

from __future__ import annotations

import importlib.util
import json
import re

import pytest

from evaluators.base import InvalidOutput
from evaluators.bin_packing import make_generated
from evaluators.bin_packing.instances import Instance
from evaluators.bin_packing.packing import Packing, choose, pack
from evaluators.bin_packing.verifier import score
from evaluators.jobs import run_job, verifier_for
from evolve.llm.stub_server import Step

from .conftest import query, run_cli, write_config

BEST_FIT = "def priority(item, bins):\n    return [-(b - item) for b in bins]\n"
FIRST_FIT = "def priority(item, bins):\n    return [-float(k) for k in range(len(bins))]\n"


def job(code: str, set_name: str = "train") -> dict:
    return run_job({"problem": "bin_packing", "code": code, "set": set_name})


def module(code: str):
    """A trusted baseline as a module in this process (only to compute expected values)."""
    mod = importlib.util.module_from_spec(importlib.util.spec_from_loader("baseline", loader=None))
    exec(code, mod.__dict__)
    return mod


def test_published_and_generated_data():
    verifier = verifier_for("bin_packing")
    or3, test = verifier.instances("or3"), verifier.instances("test")
    assert len(or3) == 20 and {(i.n, i.capacity) for i in or3} == {(500, 150)}
    assert len(test) == 5 and {(i.n, i.capacity) for i in test} == {(5000, 100)}
    assert [i.lower_bound for i in test] == [-(-sum(i.items) // 100) for i in test]
    train, gate = verifier.instances("train"), verifier.instances("gate")
    assert [i.n for i in train] == [2000] * 5 and [i.n for i in gate] == [50] * 3
    assert all(1 <= min(i.items) and max(i.items) <= 100 for i in train + gate)
    stored = json.loads(make_generated.output_path().read_text())
    assert stored == json.loads(json.dumps(make_generated.build()))  # the script still makes the file


def test_l1_bound_is_exact():
    assert Instance("a", 10, (5, 5)).lower_bound == 1
    assert Instance("b", 10, (5, 5, 1)).lower_bound == 2
    assert Instance("c", 150, (100,) * 3).lower_bound == 2


def test_pack_hand_checked():
    seen = []

    def best_fit(item, bins):
        seen.append((item, list(bins)))
        return [-(b - item) for b in bins]

    # 5 -> bin0; 7 -> no fit, bin1 (no call); 3 fits both: best fit picks bin1 (3 left -> 0); 5 -> bin0
    assert pack([5, 7, 3, 5], 10, best_fit) == Packing(bins=2, calls=2, opened_by_choice=0, remaining=(0, 0))
    assert seen == [(3.0, [5.0, 3.0, 10.0]), (5.0, [5.0, 10.0])]  # fitting bins, then the new bin
    # first fit puts 3 into bin0 (2 left); then 5 fits nowhere: a third bin
    first = pack([5, 7, 3, 5], 10, lambda item, bins: [0.0] * len(bins))  # ties -> earliest
    assert first == Packing(bins=3, calls=1, opened_by_choice=0, remaining=(2, 3, 5))
    # always choosing the last entry opens a bin per item, counted as a choice when one fitted
    fresh = pack([5, 7, 3, 5], 10, lambda item, bins: [0] * (len(bins) - 1) + [1])
    assert fresh == Packing(bins=4, calls=2, opened_by_choice=2, remaining=(5, 3, 7, 5))


@pytest.mark.parametrize("bad, why", [
    ([1.0], "returned 1 priorities for 3 entries"),
    ([1.0] * 4, "returned 4 priorities"),
    ({"0": 1.0}, "must return a list of 3 numbers"),
    (None, "got NoneType"),
    (3.0, "got float"),
    ([1.0, True, 0.0], "entry 1 is bool"),
    ([1.0, "2", 0.0], "entry 1 is str"),
    ([1.0, [2.0], 0.0], "entry 1 is list"),
    ([1.0, None, 0.0], "entry 1 is NoneType"),
    ([float("nan"), 1.0, 0.0], "entry 0 is nan"),
    ([1.0, float("inf"), 0.0], "entry 1 is inf"),
    ([1.0, float("-inf"), 0.0], "entry 1 is -inf"),
    ([10 ** 400, 1, 0], "too large for a 64-bit float"),
])
def test_choose_rejects(bad, why):
    with pytest.raises(InvalidOutput, match=re.escape(why)):
        choose(bad, 3)


def test_choose_highest_then_earliest():
    assert choose([1, 3.5, 2], 3) == 1
    assert choose([2, 2.0, 2], 3) == 0
    assert choose([-1e308, -1e308, 0], 3) == 2


def test_score_hand_checked():
    insts = [Instance("x", 10, (5, 5, 5, 5)), Instance("y", 10, (6, 6, 6, 6))]
    packings = [Packing(3, 2, 1, (5, 0, 5)), Packing(4, 0, 0, (4, 4, 4, 4))]
    metrics, feedback = score(insts, packings)
    assert metrics["excess"] == pytest.approx((3 / 2 - 1 + 4 / 3 - 1) / 2)
    assert metrics["aggregate_gap_l1"] == pytest.approx(7 / 5 - 1)
    assert metrics["bins"] == 3.5 and metrics["excess_bins"] == 1.0 and metrics["new_bin_share"] == 0.5
    assert "x (4 items, capacity 10): 3 bins vs bound 2 (+50.00%)" in feedback
    assert "bins left more than 10% empty: 6 of 7" in feedback


def test_sandboxed_packing_equals_in_process_reference():
    verifier = verifier_for("bin_packing")
    code = verifier.spec.baselines()["funsearch_or3"]
    policy = module(code).priority
    instances = verifier.instances("or3")
    expected, _ = score(instances, [pack(i.items, i.capacity, policy) for i in instances])
    out = job(code, "or3")
    assert out["ok"], out["error"]
    for key, value in expected.items():
        if key != "cpu_seconds":
            assert out["metrics"][key] == value, key


# published: excess over L1 averaged over instances (FunSearch's notebook: mean bins / mean bound)
@pytest.mark.parametrize("name, excess, bins", [
    ("first_fit", 4.23, 2071.8), ("best_fit", 3.98, 2067.0),
    ("funsearch_weibull", 0.71, 2002.0),  # published 0.68%: FunSearch offers every empty bin, see README
])
def test_weibull5k_figures(name, excess, bins):
    out = job(verifier_for("bin_packing").spec.baselines()[name], "test")
    assert out["ok"], out["error"]
    assert round(100 * out["metrics"]["excess"], 2) == excess and out["metrics"]["bins"] == bins


def test_cli_baseline_table_reproduces_or3():
    res = run_cli("baseline", "bin_packing", "--sets", "or3")
    assert res.returncode == 0, res.stderr
    rows = {line.split()[1]: line for line in res.stdout.splitlines() if line.startswith("│")}
    for name, published in [("first_fit", "5.74%"), ("best_fit", "5.37%"), ("funsearch_weibull", "12.77%")]:
        assert published in rows[name], rows[name]
    assert "3.11%" in rows["funsearch_or3"]  # aggregate column: FunSearch's own definition
    assert "or3 excess" in res.stdout and "or3 bins" in res.stdout


# --- reward hacks: each fails with a clear reason or gains nothing -------------------------------

NON_FINITE = "priority() returned nan or inf; return finite numbers"


@pytest.mark.parametrize("body, kind, why", [
    ("[0.0] * (len(bins) - 1)", "invalid", "returned 1 priorities for 2 entries"),
    ("[0.0] * (len(bins) + 1)", "invalid", "returned 3 priorities for 2 entries"),
    ("{k: -b for k, b in enumerate(bins)}", "invalid", "must return a list"),
    ("None", "invalid", "got NoneType"),
    ("[b == min(bins) for b in bins]", "invalid", "is bool"),
    ("[str(b) for b in bins]", "invalid", "is str"),
    ("[10 ** 400] * len(bins)", "invalid", "too large"),
    ("[float('nan')] * len(bins)", "exception", NON_FINITE),
    ("[float('inf')] + [0.0] * (len(bins) - 1)", "exception", NON_FINITE),
    ("__import__('numpy').array([1.0, float('nan')])", "exception", NON_FINITE),
    ("{1, 2}", "exception", "not plain data (TypeError: Object of type set is not JSON serializable)"),
    ("[0.0] * 100_000", "invalid", "returned 100000 priorities"),
    ("[0.0] * 1_000_000", "oversize", "values exceeds the limit of 1000000"),  # before decoding
    ("[0.5] * 3_000_000", "oversize", "exceeds the limit"),
])
def test_malformed_priorities_fail_at_the_gate(body, kind, why):
    out = job(f"def priority(item, bins):\n    return {body}\n")
    assert not out["ok"] and out["error_kind"] == kind and why in out["error"], out["error"]
    assert "quick check" in out["error"] and out["combined_score"] is None


def test_numpy_priorities_arrive_as_lists():
    """FunSearch's heuristics return numpy arrays: they cross the boundary as plain lists."""
    as_numpy = job("import numpy as np\ndef priority(item, bins):\n    return -np.array(bins)\n")
    as_list = job("def priority(item, bins):\n    return [-b for b in bins]\n")
    assert as_numpy["ok"] and as_list["ok"], as_numpy["error"]
    drop = {"cpu_seconds"}
    assert {k: v for k, v in as_numpy["metrics"].items() if k not in drop} == \
        {k: v for k, v in as_list["metrics"].items() if k not in drop}


def test_constant_priority_is_exactly_first_fit():
    const, first = job("def priority(item, bins):\n    return [7.0] * len(bins)\n"), job(FIRST_FIT)
    assert const["ok"] and first["ok"]
    drop = {"cpu_seconds"}
    assert {k: v for k, v in const["metrics"].items() if k not in drop} == \
        {k: v for k, v in first["metrics"].items() if k not in drop}


def test_reading_the_data_finds_nothing():
    data = verifier_for("bin_packing").spec.root / "data"
    spy = f'''
import glob
LEAK = []
for path in [{str(data / "datasets.json")!r}, {str(data / "generated.json")!r},
             "problems/bin_packing/data/generated.json", "../problems/bin_packing/data/datasets.json"]:
    try:
        with open(path) as fh:
            LEAK.append((path, len(fh.read())))
    except OSError:
        pass
LEAK += glob.glob({str(data)!r} + "/*.json") + glob.glob({str(data.parent)!r} + "/*")
try:
    import evaluators.bin_packing.verifier
    LEAK.append("imported the verifier")
except ImportError:
    pass

def priority(item, bins):
    if LEAK:
        raise RuntimeError(f"LEAKED {{LEAK[:3]}}")
    return [-(b - item) for b in bins]
'''
    here: dict = {}
    exec(spy, here)  # in the verifier's own process the same code finds the data at once ...
    assert len(here["LEAK"]) > 5
    spied, honest = job(spy), job(BEST_FIT)  # ... in the sandbox it finds nothing
    assert spied["ok"], spied["error"]  # nothing was readable, so it packed as plain best fit
    assert spied["metrics"]["excess"] == honest["metrics"]["excess"]


def test_forged_reply_cannot_smuggle_infinity():
    forge = '''
import struct, sys
proto = sys.modules.get("protocol")
if proto is not None:
    real = proto.encode
    def encode(obj):
        if isinstance(obj.get("ok"), list):  # 1e400 parses as inf on the other side
            data = ('{"ok":[' + ",".join(["1e400"] * len(obj["ok"])) + "]}").encode()
            return struct.pack(">I", len(data)) + data
        return real(obj)
    proto.encode = encode
def priority(item, bins):
    return [0.0] * len(bins)
'''
    out = job(forge)
    assert not out["ok"] and out["combined_score"] is None, out
    assert out["error_kind"] in ("crash", "protocol", "invalid")


def test_slow_and_stuck_policies_stop():
    # fast for 20 calls, then 0.2 CPU-s per call: the gate's first instance (29 calls) ends slow
    slow = job("import time\nCALLS = []\ndef priority(item, bins):\n    CALLS.append(1)\n"
               "    t = time.process_time()\n    while len(CALLS) > 20 and time.process_time() - t < 0.2:\n"
               "        pass\n    return [0.0] * len(bins)\n")
    assert not slow["ok"] and slow["error_kind"] == "slow" and "quick check" in slow["error"], slow["error"]
    stuck = job("import time\ndef priority(item, bins):\n    time.sleep(5)\n    return [0.0] * len(bins)\n")
    assert not stuck["ok"] and stuck["error_kind"] == "timeout" and "2.0s" in stuck["error"]


@pytest.mark.slow
def test_evolve_run_scores_a_child(stub, tmp_path):
    stub.push(Step(content="Avoid leaving small gaps.\n<<<<<<< SEARCH\n"
                           "    return [-(b - item) for b in bins]\n=======\n"
                           "    return [-(b - item) - (20 if 0 < b - item < 10 else 0) for b in bins]\n"
                           ">>>>>>> REPLACE\n"))
    runs = tmp_path / "runs"
    config = write_config(tmp_path / "run.yaml", "draw: public\n")  # the README's instances
    res = run_cli("run", "bin_packing", "--api-base", stub.url, "--iterations", "2", "--no-report",
                  "--runs-dir", str(runs), "--run-name", "bp", "--config", str(config))
    assert res.returncode == 0, res.stderr + res.stdout
    db = runs / "bp" / "archive.db"
    rows = query(db, "select id, parent_id, status, combined_score from programs order by id")
    assert rows[0][2] == "ok" and rows[0][3] == pytest.approx(-0.041405438385616875)  # the seed: best fit
    child = rows[1]
    assert child[1] == 1 and child[2] == "ok" and child[3] is not None and child[3] != rows[0][3]
    assert "Instances with the largest excess" in json.dumps(stub.requests[0]["messages"])
