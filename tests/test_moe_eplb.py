"""MoE EPLB: instances, placement checks, per-GPU balance, baseline figures, and the reward hacks."""

from __future__ import annotations

import importlib.util
import itertools
import json
import re
import types
from dataclasses import replace

import numpy as np
import pytest

from evaluators.base import InvalidOutput
from evaluators.jobs import run_job, verifier_for
from evaluators.moe_eplb.instances import FAMILIES, Config, family_cases, generate_loads
from evaluators.moe_eplb.placement import balancedness, check_phy2log, gpu_loads, replica_counts, slot_loads
from evolve.llm.stub_server import Step
from sandbox import cgroups
from sandbox.session import SandboxSession

from .conftest import query, run_cli

SPEC = verifier_for("moe_eplb").spec
DEEPSEEK = SPEC.baselines()["deepseek_eplb"]


def job(code: str, set_name: str = "train") -> dict:
    return run_job({"problem": "moe_eplb", "code": code, "set": set_name})


def load_baseline(name: str) -> types.ModuleType:
    """A baseline imported standalone from its file (the trusted test process, not a verifier)."""
    spec = importlib.util.spec_from_file_location(name, SPEC.root / "baselines" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---- instances -------------------------------------------------------------------------------

def test_instances_are_deterministic_and_each_plan_is_scored_on_the_next_window():
    for name in SPEC.sets["train"].sources:
        cases = family_cases(name)
        fam = FAMILIES[name]
        assert len(cases) == fam.windows - 1
        assert np.array_equal(generate_loads(fam)[0], cases[0].weight)  # regenerated: identical
        for a, b in itertools.pairwise(cases):
            assert np.array_equal(a.future, b.weight)
        assert (cases[0].weight.sum(axis=1) == fam.tokens).all()
    sets = {s: set(SPEC.sets[s].sources) for s in ("train", "test", "gate")}
    assert not sets["train"] & sets["test"] and not sets["gate"] & (sets["train"] | sets["test"])
    assert len({FAMILIES[f].seed for f in FAMILIES}) == len(FAMILIES)
    with pytest.raises(ValueError, match="inconsistent"):
        Config(layers=2, experts=10, groups=4, nodes=2, gpus=4, replicas=20)


class SpyBox:
    """Stands in for the sandbox: records what the verifier sends, answers a valid placement."""

    last_cpu = 0.001
    load_cpu = 0.0

    def __init__(self) -> None:
        self.sent: list[np.ndarray] = []

    def call(self, name: str, weight: list, replicas: int, *_: int) -> list:
        self.sent.append(np.array(weight))
        experts = len(weight[0])
        return [list(range(experts)) + list(range(replicas - experts)) for _ in weight]


def test_the_candidate_never_sees_the_window_it_is_scored_on():
    verifier, box = verifier_for("moe_eplb"), SpyBox()
    cases = verifier.instances("train")
    for case in cases:
        verifier.solve(box, case)
        assert np.array_equal(box.sent[-1], case.weight)
        assert not any(np.array_equal(case.future, w) for w in box.sent)  # not before its reply
    for name in SPEC.sets["train"].sources:  # the last window of a family is never sent at all
        assert not any(np.array_equal(family_cases(name)[-1].future, w) for w in box.sent)
    assert verifier.limits().processes == 1


# ---- placement checks and the per-GPU metric ---------------------------------------------------

TINY = Config(layers=1, experts=4, groups=2, nodes=1, gpus=2, replicas=6)
LOAD = np.array([[6.0, 3.0, 1.0, 2.0]])


def test_balance_is_per_gpu_hand_checked():
    spread = check_phy2log([[0, 0, 0, 1, 2, 3]], TINY)  # GPU loads 2+2+2 | 3+1+2 = 6 | 6
    clumped = check_phy2log([[0, 0, 1, 0, 2, 3]], TINY)  # 2+2+3 | 2+1+2 = 7 | 5
    assert replica_counts(spread, 4).tolist() == [[3, 1, 1, 1]]
    assert slot_loads(spread, LOAD).tolist() == [[2, 2, 2, 3, 1, 2]]
    assert gpu_loads(spread, LOAD, 2).tolist() == [[6, 6]] and balancedness(gpu_loads(spread, LOAD, 2)) == 1
    assert gpu_loads(clumped, LOAD, 2).tolist() == [[7, 5]]
    assert balancedness(gpu_loads(clumped, LOAD, 2)) == pytest.approx(6 / 7)
    # the public evaluator's per-slot unit cannot tell the two apart: 2 / 3 for both
    assert balancedness(slot_loads(spread, LOAD)) == balancedness(slot_loads(clumped, LOAD)) == \
        pytest.approx(2 / 3)
    assert balancedness(np.zeros((1, 2))) == 1.0


@pytest.mark.parametrize("bad, why", [
    ({"phy2log": [[0, 1, 2, 3, 0, 0]]}, "must return phy2log"),
    ([[[0, 1, 2, 3, 0, 0]], [[0, 1, 2, 3]], [[3, 1, 1, 1]]], "return phy2log alone"),
    ([[0, 1, 2, 3, 0, 0], [0, 1, 2, 3, 0, 0]], "returned 2 rows"),
    ([], "returned 0 rows"),
    ([None], "got NoneType"),
    ([[0, 1, 2, 3, 0]], "got 5 slots; expected 6"),
    ([[0, 1, 2, 3, 0, 0.0]], "slot 5: 0.0 \\(float\\) is not an int"),
    ([[0, 1, 2, 3, True, 0]], "slot 4: True \\(bool\\) is not an int"),
    ([[0, 1, 2, 3, "0", 0]], "is not an int"),
    ([[0, 1, 2, 3, -1, 0]], "expert id -1 is out of range"),
    ([[0, 1, 2, 3, 4, 0]], "expert id 4 is out of range"),
    ([[0, 1, 2, 3, 10**30, 0]], "out of range"),
    ([[0, 0, 1, 1, 2, 2]], "experts \\[3\\] \\(1 in all\\) have no replica"),
])
def test_check_phy2log_rejects(bad, why):
    with pytest.raises(InvalidOutput, match=why):
        check_phy2log(bad, TINY)


def reference_deepseek(w: np.ndarray, replicas: int, groups: int, nodes: int, gpus: int) -> list[list[int]]:
    """DeepSeek EPLB's three steps as plain loops (a slow, independent check of the baseline)."""
    if groups % nodes:
        groups = nodes = 1
    experts = w.shape[1]
    size = experts // groups

    def pack(loads: list[float], packs: int) -> list[list[int]]:
        bins: list[list[int]] = [[] for _ in range(packs)]
        total = [0.0] * packs
        for i in sorted(range(len(loads)), key=lambda i: -loads[i]):
            p = min((p for p in range(packs) if len(bins[p]) < len(loads) // packs), key=total.__getitem__)
            bins[p].append(i)
            total[p] += loads[i]
        return bins

    out = []
    for row in w.tolist():
        group_bins = pack([sum(row[g * size:(g + 1) * size]) for g in range(groups)], nodes)
        phy: list[int] = []
        for node_groups in group_bins:
            ids = [g * size + m for g in node_groups for m in range(size)]
            cnt = [1] * len(ids)
            slots = list(range(len(ids)))
            while len(slots) < replicas // nodes:
                hot = max(range(len(ids)), key=lambda j: row[ids[j]] / cnt[j])
                slots.append(hot)
                cnt[hot] += 1
            for gpu in pack([row[ids[j]] / cnt[j] for j in slots], gpus // nodes):
                phy += [ids[slots[k]] for k in gpu]
        assert len(phy) == replicas
        out.append(phy)
    return out


def test_deepseek_baseline_matches_the_plain_loop_reference():
    rebalance = load_baseline("deepseek_eplb").rebalance_experts
    for name in ("gate-16e-2n4g", "gate-12e-3n6g", "mid-128e-2n16g", "global-96e-3n12g"):
        case = family_cases(name)[0]
        got = rebalance(case.payload(), *case.config.args())
        assert got == reference_deepseek(case.weight, *case.config.args()), name


# ---- whole evaluations: figures and reward hacks ----------------------------------------------

def test_baselines_reproduce_the_reference_figures():
    """Balancedness is deterministic: exact to 4 decimals; CPU time only within a wide band."""
    expected = {"deepseek_eplb": (0.8570, 0.7147), "round_robin": (0.7460, 0.6376),
                "initial": (0.4790, 0.3546)}
    codes = {**SPEC.baselines(), "initial": SPEC.initial_code}
    for name, figures in expected.items():
        outs = [job(codes[name], s) for s in ("train", "test")]
        assert all(o["ok"] for o in outs), name
        assert tuple(round(o["metrics"]["balancedness"], 4) for o in outs) == figures, name
        assert all(0 < o["metrics"]["rebalance_ms"] < 100 for o in outs)
        assert outs[0]["combined_score"] == outs[0]["metrics"]["balancedness"]
        assert outs[0]["metrics"]["instances"] == 48 and outs[1]["metrics"]["instances"] == 32


WRAP = "\n_inner = rebalance_experts\nimport time as _time\n\ndef _busy(seconds):\n" \
       "    end = _time.process_time() + seconds\n    while _time.process_time() < end:\n        pass\n"
DROP_EXPERT = DEEPSEEK + WRAP + """
def rebalance_experts(weight, *args):
    return [[e if e != 0 else 1 for e in row] for row in _inner(weight, *args)]
"""
CLUMPED = DEEPSEEK + WRAP + """
def rebalance_experts(weight, *args):
    out = []
    for w, row in zip(weight, _inner(weight, *args)):
        cnt = {e: row.count(e) for e in row}
        out.append(sorted(row, key=lambda e: -w[e] / cnt[e]))  # same replicas, heaviest slots together
    return out
"""
SELF_TIMED = DEEPSEEK + WRAP + "\ndef rebalance_experts(*args):\n    return _inner(*args), 0.001\n"
SELF_TIMED_DICT = DEEPSEEK + WRAP + \
    "\ndef rebalance_experts(*args):\n    return {'phy2log': _inner(*args), 'rebalance_ms': 0.0}\n"
BUSY = DEEPSEEK + WRAP + "\ndef rebalance_experts(*args):\n    _busy(0.02)\n    return _inner(*args)\n"
SLEEPY = DEEPSEEK + WRAP + "\ndef rebalance_experts(*args):\n    _time.sleep(0.02)\n" \
    "    return _inner(*args)\n"
CACHING = DEEPSEEK + WRAP + """
_seen = {}
def rebalance_experts(*args):
    key = hash(repr(args))
    if key not in _seen:
        _busy(0.02)
        _seen[key] = _inner(*args)
    return _seen[key]
"""
OFFLOAD = DEEPSEEK + WRAP + """
import os, json
def rebalance_experts(*args):
    r, w = os.pipe()
    if os.fork() == 0:  # a helper does the (busy) work; its CPU is not the candidate's clock
        _busy(0.02)
        os.write(w, json.dumps(_inner(*args)).encode()); os._exit(0)
    os.close(w)
    return json.loads(os.fdopen(r).read())
"""
THREADED = DEEPSEEK + WRAP + """
import threading
def rebalance_experts(*args):
    out = []
    t = threading.Thread(target=lambda: out.append(_inner(*args)))
    t.start(); t.join()
    return out[0]
"""


def rows(expr: str) -> str:
    """The DeepSeek baseline with its reply rewritten by ``expr`` (over ``phy2log`` rows ``r``)."""
    return DEEPSEEK + WRAP + f"\ndef rebalance_experts(w, *a):\n    return {expr}\n"


@pytest.mark.parametrize("code, why", [
    (DROP_EXPERT, "experts \\[0\\] \\(1 in all\\) have no replica"),
    (rows("[r[:-1] for r in _inner(w, *a)]"), "got 19 slots; expected 20"),
    (rows("_inner(w, *a)[:1]"), "returned 1 rows"),
    (rows("[[float(e) for e in r] for r in _inner(w, *a)]"), "\\(float\\) is not an int"),
    (rows("[[e == 1 for e in r] for r in _inner(w, *a)]"), "\\(bool\\) is not an int"),
    (rows("[[-1] + r[1:] for r in _inner(w, *a)]"), "expert id -1 is out of range"),
    (rows("[[len(w[0])] + r[1:] for r in _inner(w, *a)]"), "expert id 16 is out of range"),
    (SELF_TIMED, "return phy2log alone"),
    (SELF_TIMED_DICT, "must return phy2log.*got dict"),
])
def test_malformed_placements_fail_with_a_reason(code, why):
    out = job(code)
    assert not out["ok"] and out["error_kind"] == "invalid", out
    assert "quick check: invalid output on gate-" in out["error"]
    assert re.search(why, out["error"]), out["error"]


def test_per_slot_balanced_but_gpu_unbalanced_placement_scores_worse():
    honest, clumped = job(DEEPSEEK), job(CLUMPED)
    assert honest["ok"] and clumped["ok"], clumped["error"]
    # the same replica counts: the public per-slot metric cannot tell them apart ...
    assert clumped["metrics"]["slot_balancedness"] == pytest.approx(honest["metrics"]["slot_balancedness"])
    # ... the per-GPU fitness can
    assert clumped["metrics"]["balancedness"] < honest["metrics"]["balancedness"] - 0.3


PRECOMPUTED = DEEPSEEK + WRAP + "\n_busy(0.96)  # a plan worked out at import, before any call\n"


def test_work_done_at_import_is_rebalancing_time():
    """Precomputing at module load reported 0.70 ms against DeepSeek's 2.54 ms (issue 19,
    finding 4): the load's CPU is now shared over the set's calls (48 on train)."""
    honest, early = job(DEEPSEEK), job(PRECOMPUTED)
    assert honest["ok"] and early["ok"]
    assert early["metrics"]["load_ms"] >= 900
    assert early["metrics"]["rebalance_ms"] >= honest["metrics"]["rebalance_ms"] + 15  # 960/48 = 20


def test_runtime_is_the_candidates_cpu_and_cannot_be_faked():
    honest, busy, sleepy, caching = (job(c) for c in (DEEPSEEK, BUSY, SLEEPY, CACHING))
    assert all(o["ok"] for o in (honest, busy, sleepy, caching))
    base = honest["metrics"]["rebalance_ms"]
    assert busy["metrics"]["rebalance_ms"] >= base + 15  # 20 ms of busy work per call counts
    assert sleepy["metrics"]["rebalance_ms"] < base + 5  # sleeping is wall time, not CPU: no effect
    # every timed input is new, so a cache keyed on the input never hits: no faster than BUSY
    assert caching["metrics"]["rebalance_ms"] >= base + 15
    # (repeating one call, as a median of 3 repeats would, lets the cache fake a fast median)
    case = verifier_for("moe_eplb").instances("gate")[0]
    with SandboxSession(CACHING, verifier_for("moe_eplb").limits()) as box:
        box.call("rebalance_experts", case.payload(), *case.config.args())
        first = box.last_cpu
        _, median = box.timed_call("rebalance_experts", case.payload(), *case.config.args())
    assert first >= 0.015 and median < 0.005
    # a helper process's work is the candidate's too where a control group sums its processes
    # (sandbox/cgroups.py); with rlimits alone it would be hidden from the CPU clock ...
    with SandboxSession(OFFLOAD, replace(verifier_for("moe_eplb").limits(), processes=8)) as box:
        box.call("rebalance_experts", case.payload(), *case.config.args())
        if cgroups.probe().version != "none":
            assert box.last_cpu >= 0.015
        else:
            assert box.last_cpu < 0.01
    # ... so the candidate is also one process: no helper process or thread may run
    for code, why in ((OFFLOAD, "Resource temporarily unavailable"), (THREADED, "can't start new thread")):
        out = job(code)
        assert not out["ok"] and out["error_kind"] == "exception" and why in out["error"], out


# ---- CLI ---------------------------------------------------------------------------------------

def test_cli_baseline_prints_balance_and_runtime_side_by_side():
    res = run_cli("baseline", "moe_eplb")
    assert res.returncode == 0, res.stderr
    for needle in ("deepseek_eplb", "round_robin", "85.70%", "71.47%", "74.60%", "63.76%",
                   "rebalance_ms", "slot_balancedness"):
        assert needle in res.stdout, needle


SPREAD_DIFF = """Deal the slots over the GPUs instead of filling them in order.
<<<<<<< SEARCH
        out.append(list(range(experts)) + extra)
=======
        row = list(range(experts)) + extra
        k = num_replicas // num_gpus
        out.append([row[(s % k) * num_gpus + s // k] for s in range(num_replicas)])
>>>>>>> REPLACE
"""


@pytest.mark.slow
def test_evolve_run_scores_a_child(stub, tmp_path):
    stub.push(Step(content=SPREAD_DIFF))
    runs = str(tmp_path / "runs")
    res = run_cli("run", "moe_eplb", "--api-base", stub.url, "--iterations", "2", "--runs-dir", runs,
                  "--run-name", "eplb")
    assert res.returncode == 0, res.stderr + res.stdout
    db = tmp_path / "runs" / "eplb" / "archive.db"
    rows = dict(query(db, "select id, combined_score from programs where status = 'ok'"))
    assert rows[2] > rows[1] > 0  # the dealt child beats the in-order seed
    prompt = json.dumps(stub.requests[0]["messages"])
    assert "rebalance_experts" in prompt and "Balancedness per family" in prompt  # brief + feedback
    assert "winner vs starting points and baselines" in res.stdout

