"""txn_scheduling: cost model on hand-checked cases, lower bound, validation, reward hacks, baselines."""

from __future__ import annotations

import gc
import hashlib
import itertools
import json
import random

import pytest

from evaluators.jobs import run_job, verifier_for
from evaluators.txn_scheduling.model import lower_bound, makespan, prepare, prepare_all, start_times
from evaluators.txn_scheduling.smf import greedy_from, smf
from evaluators.txn_scheduling.workloads import Params, generate, load_source, parse_source
from evolve.llm.stub_server import Step

from .conftest import query, run_cli, write_config

W, R = "w", "r"


def txns(*workload):
    return prepare_all(workload)


def test_hand_checked_makespans():
    # T0 writes key 0 then reads key 1; T1 reads key 0; T2 writes keys 1, 2, 3
    ts = txns([(W, 0), (R, 1)], [(R, 0)], [(W, 1), (W, 2), (W, 3)])
    assert start_times(ts, [0, 1, 2]) == [0, 1, 2] and makespan(ts, [0, 1, 2]) == 5
    # T2 first: T0 reads key 1 at time 1, right after T2's write at [0, 1); T1 waits for T0's write
    assert start_times(ts, [2, 0, 1]) == [0, 1, 0] and makespan(ts, [2, 0, 1]) == 3
    assert lower_bound(ts) == 3
    # readers share a key; a writer waits for every earlier reader
    assert makespan(txns([(R, 0)], [(R, 0)], [(R, 0)]), [0, 1, 2]) == 1
    assert makespan(txns([(R, 0)], [(R, 0)], [(W, 0)]), [0, 1, 2]) == 2
    assert makespan(txns([(R, 0)], [(W, 0)], [(R, 0)]), [0, 1, 2]) == 3
    # the conflicting op sits at offset 2, so T1 can start at 0: its write lands at [2, 3)
    assert start_times(txns([(W, 0)], [(R, 9), (R, 8), (W, 0)]), [0, 1]) == [0, 0]
    # a key is held from the first to the last operation on it (write mode if any op writes)
    held = txns([(R, 5), (R, 1), (R, 2), (W, 5)], [(R, 5)])
    assert held[0].holds[0].first == 0 and held[0].holds[0].last == 3 and held[0].holds[0].write
    assert start_times(held, [0, 1]) == [0, 4] and makespan(held, [0, 1]) == 5
    # later-ordered transactions may start first when they do not conflict
    assert start_times(txns([(W, 0), (W, 0), (W, 1)], [(R, 1)], [(W, 7)]), [0, 1, 2]) == [0, 3, 0]
    assert makespan(txns(), []) == 0


def random_workload(rng: random.Random, n: int, keys: int) -> list[list[tuple[str, int]]]:
    return [[(rng.choice("rw"), rng.randrange(keys)) for _ in range(rng.randint(1, 4))]
            for _ in range(n)]


def feasible(ts, order: list[int], starts: list[int], t: int, st: int) -> bool:
    """Transaction t starting at st respects every conflict with earlier-ordered transactions."""
    for u in order[:order.index(t)]:
        for a in ts[t].holds:
            for b in ts[u].holds:
                if a.key == b.key and (a.write or b.write) and st + a.first < starts[u] + b.last + 1:
                    return False
    return st >= 0


def test_start_times_are_the_earliest_feasible():
    """Independent check of the definition: every conflict respected, and no start can move earlier."""
    rng = random.Random(5)
    for _ in range(200):
        ts = prepare_all(random_workload(rng, 6, 4))
        order = rng.sample(range(6), 6)
        s = start_times(ts, order)
        for t in order:
            assert feasible(ts, order, s, t, s[t]) and (s[t] == 0 or not feasible(ts, order, s, t, s[t] - 1))


def test_lower_bound_never_beaten_and_serial_never_exceeded():
    rng = random.Random(11)
    tight = 0
    for _ in range(40):
        wl = random_workload(rng, 6, 3)
        ts = prepare_all(wl)
        spans = [makespan(ts, p) for p in itertools.permutations(range(6))]
        assert lower_bound(ts) <= min(spans) and max(spans) <= sum(len(o) for o in wl)
        tight += lower_bound(ts) == min(spans)
    assert tight >= 20  # and it is often exact on small instances (23 of these 40)


def test_smf_reference_is_the_greedy_definition():
    ts = txns([(W, 0), (W, 0), (W, 0)], [(W, 0)], [(R, 1)], [(W, 1), (R, 2)])
    # from T0 (makespan 3): T1 would add 1, T2 and T3 add 0 -> T2 (lower index), then T3, then T1
    assert greedy_from(ts, 0) == (4, [0, 2, 3, 1])
    span, order = smf(ts, 1)
    assert order[0] == random.Random(0).sample(range(4), 1)[0] and span == makespan(ts, order)
    assert smf(ts, 4)[0] == min(greedy_from(ts, s)[0] for s in range(4))


def test_generator_is_pinned_and_sets_are_disjoint():
    v = verifier_for("txn_scheduling")
    first = v.instances("train")[0]
    digest = hashlib.sha256(json.dumps(first.workload.as_json()).encode()).hexdigest()[:16]
    assert (first.name, digest) == ("mixed z0.6 r50 #1000", "df7f3f21be7bd3da")
    assert (first.lower_bound, first.smf, first.serial) == (25, 48, 873)
    sets = {s: v.instances(s) for s in ("train", "test", "gate")}
    assert [len(c) for c in sets.values()] == [24, 28, 3]
    seeds = {s: {c.workload.seed for c in cs} for s, cs in sets.items()}
    assert not (seeds["train"] & seeds["test"]) and not (seeds["gate"] & (seeds["train"] | seeds["test"]))
    rw = next(c for c in sets["test"] if c.workload.params.pattern == "rw")
    for ops in rw.workload.ops:  # reads before writes in every transaction
        assert [op for op, _ in ops] == sorted(op for op, _ in ops)
    assert generate(Params(txns=5), 9) == generate(Params(txns=5), 9)
    assert load_source("txns=3 keys=5 len=1 seed=4 count=2")[1].seed == 5
    for bad in ("zipf=1", "seed=1 colour=red", "seed=1 pattern=zigzag", "seed=1 len=5-2", "oops"):
        with pytest.raises(ValueError):
            parse_source(bad)
    assert prepare([]).length == 0


def job(code: str, set_name: str = "train") -> dict:
    return run_job({"problem": "txn_scheduling", "code": code, "set": set_name})


SEQUENTIAL = "def get_best_schedule(workload, num_seqs):\n    return list(range(len(workload)))\n"
HACKS = {
    "empty schedule": ("return []", "returned 0 entries, expected all 10"),
    "partial permutation": ("return list(range(len(workload)))[:-1]", "returned 9 entries"),
    "duplicates": ("return [0] * len(workload)", "transaction 0 appears more than once"),
    "out of range": ("return list(range(1, len(workload) + 1))", "entry 9 is 10, outside"),
    "bool indices": ("return [True] + list(range(1, len(workload)))", "entry 0 is bool"),
    "float indices": ("return [float(i) for i in range(len(workload))]", "entry 0 is float"),
    "(order, claimed makespan)": ("return list(range(len(workload))), 1", "returned 2 entries"),
    "(claimed makespan, order)": ("return 0, list(range(len(workload)))", "returned 2 entries"),
    "extra fields": ("return {'order': list(range(len(workload))), 'makespan': 1}", "got dict"),
    "claimed makespan only": ("return 1", "got int"),
}


@pytest.mark.parametrize("name", HACKS)
def test_reward_hacks_are_rejected(name):
    body, why = HACKS[name]
    out = job(f"def get_best_schedule(workload, num_seqs):\n    {body}\n")
    assert not out["ok"] and out["error_kind"] == "invalid", out
    assert "quick check" in out["error"] and why in out["error"], out["error"]


def test_numpy_orders_are_plain_and_input_tampering_gains_nothing():
    out = job("import numpy as np\ndef get_best_schedule(workload, num_seqs):\n"
              "    return np.arange(len(workload))\n")  # numpy ints arrive as plain ints
    assert out["ok"] and out["combined_score"] == job(SEQUENTIAL)["combined_score"], out["error"]
    # the candidate's copy of the workload is its own: emptying it changes nothing on this side
    tamper = ("import gc\ndef get_best_schedule(workload, num_seqs):\n    n = len(workload)\n"
              "    for txn in workload:\n        txn.clear()\n"
              "    leaks = [o for o in gc.get_objects() if type(o).__name__ in ('Case', 'Txn')]\n"
              "    assert not leaks, leaks[:3]\n    workload.clear()\n    return list(range(n))\n")
    honest, tampered = job(SEQUENTIAL), job(tamper)
    assert any(type(o).__name__ == "Case" for o in gc.get_objects())  # here they would be found
    assert tampered["ok"], tampered["error"]
    assert tampered["metrics"] == {**honest["metrics"], "cpu_seconds": tampered["metrics"]["cpu_seconds"]}


FIGURES = {  # (set, policy): (geometric-mean ratio, mean makespan, vs_smf), deterministic
    ("train", "sequential"): (2.518289841922063, 211.375, 0.5547042598835428),
    ("train", "smf_greedy"): (1.5291777992490334, 135.95833333333334, 0.0),
    ("train", "smf_local_search"): (1.4006678042185026, 126.79166666666667, -0.06742261722341403),
    ("test", "sequential"): (2.46841051083576, 263.10714285714283, 0.5236814891416752),
    ("test", "smf_greedy"): (1.5338042470987585, 172.67857142857142, 0.0),
    ("test", "smf_local_search"): (1.34849687977242, 159.46428571428572, -0.0765253360910031),
}


def test_baselines_and_seed_reproduce_the_figures():
    spec = verifier_for("txn_scheduling").spec
    codes = {**spec.baselines(), "initial": spec.initial_code}
    seed_row = (("train", "initial"), FIGURES[("train", "sequential")])  # the seed is input order
    for (set_name, name), expected in [*FIGURES.items(), seed_row]:
        out = job(codes[name], set_name)
        assert out["ok"], out["error"]
        got = tuple(out["metrics"][k] for k in ("ratio", "makespan", "vs_smf"))
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-12), (set_name, name)
        assert out["combined_score"] == -out["metrics"]["ratio"]
    assert "Workloads furthest from their lower bound" in out["feedback"]


def test_baseline_cli_prints_the_table():
    res = run_cli("baseline", "txn_scheduling", "--sets", "gate")
    assert res.returncode == 0, res.stderr
    for needle in ("txn_scheduling baselines (minimize ratio)", "gate ratio", "gate makespan",
                   "gate vs_smf", "sequential", "1.334", "smf_greedy", "1.119", "smf_local_search",
                   "1.046", "3 generated workloads"):
        assert needle in res.stdout, (needle, res.stdout)


SMF_RULE_DIFF = """Append the transaction that raises the makespan least (SMF).
<<<<<<< SEARCH
    return i
=======
    return max(0, start + length - makespan)
>>>>>>> REPLACE
"""


@pytest.mark.slow
def test_run_evolves_a_scored_child(stub, tmp_path):
    stub.push(Step(content=SMF_RULE_DIFF))
    runs = str(tmp_path / "runs")
    # --no-report: the held-out report would re-score every baseline (about 20 s, shared code);
    # draw: public (the README's instances) so the seed's score is the published figure
    config = write_config(tmp_path / "run.yaml", "draw: public\n")
    res = run_cli("run", "txn_scheduling", "--api-base", stub.url, "--iterations", "2", "--no-report",
                  "--runs-dir", runs, "--run-name", "txn", "--config", str(config))
    assert res.returncode == 0, res.stderr + res.stdout
    db = tmp_path / "runs" / "txn" / "archive.db"
    progs = {r[0]: r[1:] for r in query(db, "select id, parent_id, status, combined_score from programs")}
    assert progs[2][:2] == (1, "ok") and progs[2][2] > progs[1][2]  # the SMF rule beats input order
    assert progs[1][2] == pytest.approx(-FIGURES[("train", "sequential")][0])
    assert -progs[2][2] < 2.0
    metrics, feedback = query(db, "select metrics, feedback from evaluations where program_id = 2 "
                                  "and set_name = 'train'")[0]
    assert "vs_smf" in metrics and "Workloads furthest from their lower bound" in feedback
    prompt = json.dumps(stub.requests[0]["messages"])  # the LLM saw the brief and the seed's feedback
    assert "Conflict-aware transaction scheduling" in prompt and "vs SMF greedy" in prompt
