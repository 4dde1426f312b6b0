"""pod_packing: placements, weighted share, generator and draws, CP-SAT cache, baselines, reward hacks."""

from __future__ import annotations

import gc
import importlib.util
import itertools
import json
import random
import re

import pytest

from evaluators.base import InvalidOutput
from evaluators.jobs import run_job, verifier_for
from evaluators.pod_packing.cluster import Cluster, Params, Pod, generate, load_source, parse_source
from evaluators.pod_packing.kube import balanced_allocation, fifo_schedule, least_allocated, most_allocated
from evaluators.pod_packing.model import Outcome, check_placement, outcome, weighted_placed
from evaluators.pod_packing.reference import FILE, load_cache, solve
from evolve.llm.stub_server import Step

from .conftest import query, run_cli

SPEC = verifier_for("pod_packing").spec
DATA = SPEC.root / "data"


def cluster(nodes, pods) -> Cluster:
    return Cluster("hand", Params(), 0, tuple(map(tuple, nodes)), tuple(Pod(*p) for p in pods))


# two nodes; a running p0 pod on node 0 blocks the p3 pod that only fits on node 0 when alone
HAND = cluster([(4000, 8192), (2000, 4096)],
               [(1500, 2048, 0, 0), (3000, 4096, 3, None), (1000, 1024, 1, None), (1500, 1024, 0, None)])


def test_outcome_and_weighted_share_by_hand():
    assert outcome(HAND, [0, None, None, None]) == Outcome((1, 0, 0, 0), 0)
    assert outcome(HAND, [1, 0, None, None]) == Outcome((1, 0, 0, 1), 1)  # moved = evicted
    assert outcome(HAND, [None, 0, 1, None]) == Outcome((0, 1, 0, 1), 1)
    # demand: 1 + 64 + 4 + 1 = 70 (priorities 0, 3, 1, 0); evicting costs a quarter of a p0 pod
    assert weighted_placed(HAND, Outcome((1, 0, 0, 0), 0)) == pytest.approx(1 / 70)
    assert weighted_placed(HAND, Outcome((1, 0, 0, 1), 1)) == pytest.approx((1 + 64 - 0.25) / 70)
    best = check_placement([1, 0, None, None], HAND)
    assert outcome(HAND, best).key() > outcome(HAND, [0, None, 1, 1]).key()  # the p3 pod first
    assert weighted_placed(HAND, outcome(HAND, best)) > weighted_placed(HAND, outcome(HAND, [0, None, 1, 1]))


def all_placements(c: Cluster):
    for plan in itertools.product([None, *range(len(c.nodes))], repeat=len(c.pods)):
        try:
            yield check_placement(list(plan), c)
        except InvalidOutput:
            pass


def test_cp_sat_finds_the_lexicographic_best_and_the_weighted_share_respects_dominance():
    rng = random.Random(3)
    for _ in range(12):
        c = cluster([(rng.choice([2000, 4000]), rng.choice([2048, 4096])) for _ in range(2)],
                    [(rng.choice([500, 1000, 2000]), rng.choice([512, 1024, 2048]), rng.randrange(4),
                      None) for _ in range(6)])
        c = Cluster("rand", Params(), 0, c.nodes, tuple(  # a feasible current placement, first fit
            Pod(p.cpu, p.mem, p.priority, n) for p, n in zip(c.pods, fifo_schedule(
                [(p.cpu, p.mem) for p in c.pods[:3]], c.nodes) + [None] * 3)))
        outs = [outcome(c, plan) for plan in all_placements(c)]
        by_key = sorted(outs, key=Outcome.key)
        # an outcome that places no fewer pods of any priority and evicts no more scores no lower
        for a, b in zip(outs, outs[1:] + outs[:1]):
            if all(x >= y for x, y in zip(a.placed, b.placed)) and a.evictions <= b.evictions:
                assert weighted_placed(c, a) >= weighted_placed(c, b)
        ref = solve(c, 5.0)
        assert ref.status == "OPTIMAL" and ref.outcome.key() == by_key[-1].key()


@pytest.mark.parametrize("bad, why", [
    ([0, 0, 0], "returned 3 entries for 4 pods"),
    ([0, None, None, None, 1], "returned 5 entries"),
    ([0, 2, None, None], "entry 1 is node 2, outside 0..1"),
    ([0, -1, None, None], "outside 0..1"),
    ([0, True, None, None], "entry 1 is bool"),
    ([0.0, None, None, None], "entry 0 is float"),
    ([0, "1", None, None], "entry 1 is str"),
    ([[0], None, None, None], "entry 0 is list"),
    ([0, 0, None, None], "node 0 is over capacity: cpu requests 4500 > capacity 4000 (pods [0, 1])"),
    ([None, 1, None, None], "node 1 is over capacity: cpu requests 3000 > capacity 2000"),
    ({"placement": [0, None, None, None], "score": 1}, "got dict"),
    (None, "got NoneType"),
    (7, "got int"),
])
def test_check_placement_rejects(bad, why):
    with pytest.raises(InvalidOutput, match=re.escape(why)):
        check_placement(bad, HAND)


def test_memory_capacity_is_checked_too():
    c = cluster([(8000, 1024)], [(100, 600, 0, None), (100, 600, 0, None)])
    with pytest.raises(InvalidOutput, match="memory requests 1200 > capacity 1024"):
        check_placement([0, 0], c)


def test_kube_scores_by_hand():
    assert least_allocated([1000, 2048], [4000, 8192]) == 75  # (75 + 75) // 2
    assert most_allocated([1000, 4096], [4000, 8192]) == 37  # (25 + 50) // 2
    assert balanced_allocation([1000, 4096], [4000, 8192]) == 87  # 1 - |0.25 - 0.5| / 2
    # FIFO default scheduler spreads: the emptier node wins, ties go to the lowest index
    two = [(4000, 8192), (4000, 8192)]
    assert fifo_schedule([(1000, 1024), (1000, 1024), (4000, 1024)], two) == [0, 1, None]


def test_generator_is_pinned_and_sets_are_disjoint():
    v = verifier_for("pod_packing")
    first = v.instances("train")[0].cluster
    assert (first.name, first.fingerprint(), first.running) == ("8n/40p #1000", FINGERPRINT, 23)
    sets = {s: v.instances(s) for s in ("train", "test", "gate")}
    assert [len(c) for c in sets.values()] == [18, 18, 3]
    seeds = {s: {c.cluster.seed for c in cs} for s, cs in sets.items()}
    assert not (seeds["train"] & seeds["test"]) and not (seeds["gate"] & (seeds["train"] | seeds["test"]))
    for c in first, sets["test"][-1].cluster:  # the current placement is feasible, pods fit some node
        check_placement([p.node for p in c.pods], c)
        assert 0 < c.running < len(c.pods)
    assert generate(Params(nodes=3, pods=9), 5) == generate(Params(nodes=3, pods=9), 5)
    assert load_source("nodes=2 pods=5 seed=4 count=2")[1].seed == 5
    for bad in ("nodes=2", "seed=1 colour=red", "seed=1 load=0", "seed=1 old=2", "oops"):
        with pytest.raises(ValueError):
            parse_source(bad)


FINGERPRINT = "b113082ae4f70fe3"


def load_baseline(name: str):
    spec = importlib.util.spec_from_file_location(f"pp_{name}", SPEC.root / "baselines" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_kube_scheduler_preempts_the_fewest_lowest_victims():
    kube = load_baseline("kube_scheduler")
    c = cluster([(4000, 8192), (4000, 8192)],
                [(2000, 1024, 0, 0), (2000, 1024, 0, 0), (1000, 1024, 1, 1), (2500, 1024, 2, 1),
                 (3000, 1024, 3, None)])
    # the p3 pod fits nowhere. Node 0: both p0 pods must go (one left + 3000m > 4000m); node 1: the
    # p1 pod is reprieved, the p2 pod goes. Lowest highest-victim priority wins: node 0 (p0 < p2).
    # The two evicted p0 pods re-enter the queue and fit nowhere (1000m and 500m free): unplaced.
    assert kube.place(*c.as_json()) == [None, None, 1, 1, 0]
    assert outcome(c, [None, None, 1, 1, 0]) == Outcome((0, 1, 1, 1), 2)


def test_cached_references_are_valid_and_a_gate_cluster_resolves_the_same():
    entries = load_cache(DATA)
    v = verifier_for("pod_packing")
    kube = load_baseline("kube_scheduler")
    for set_name in ("train", "test", "gate"):
        for case in v.instances(set_name):
            plan = check_placement(list(case.ref.assignment), case.cluster)
            assert outcome(case.cluster, plan) == case.ref.outcome
            assert case.ref.outcome.key() >= outcome(case.cluster, kube.place(*case.cluster.as_json())).key()
    gate = v.instances("gate")[0]
    fresh = solve(gate.cluster, 2.0)
    assert fresh.status == "OPTIMAL" and fresh.outcome == gate.ref.outcome
    assert set(entries) == {c.name for s in ("train", "test", "gate") for c in v.instances(s)}
    assert json.loads((DATA / FILE).read_text())["entries"][gate.name]["status"] == "OPTIMAL"


def job(code: str, set_name: str = "train") -> dict:
    return run_job({"problem": "pod_packing", "code": code, "set": set_name})


KEEP = "def place(nodes, pods):\n    return [pod[3] for pod in pods]\n"
HACKS = {
    "everything on node 0 (over capacity)": ("return [0] * len(pods)", "is over capacity"),
    "out-of-range node": ("return [len(nodes)] * len(pods)", "outside 0..3"),
    "negative node": ("return [-1] + [p[3] for p in pods[1:]]", "entry 0 is node -1, outside"),
    "bool indices": ("return [True if p[3] == 1 else p[3] for p in pods]", "is bool True"),
    "float indices": ("return [None if p[3] is None else float(p[3]) for p in pods]", "is float"),
    "string indices": ("return [None if p[3] is None else str(p[3]) for p in pods]", "is str"),
    "short list": ("return [p[3] for p in pods][:-1]", "returned 11 entries for 12 pods"),
    "long list": ("return [p[3] for p in pods] + [None]", "returned 13 entries for 12 pods"),
    "pod placed twice as a pair": ("return [[p[3], p[3]] for p in pods]", "is list"),
    "(placement, claimed score)": ("return [p[3] for p in pods], 1e9", "returned 2 entries for 12 pods"),
    "dict with a claimed score": ("return {'placement': [p[3] for p in pods], 'lex_ratio': 2.0}",
                                  "got dict"),
    "claimed score only": ("return 1.0", "got float"),
    "nothing": ("return None", "got NoneType"),
}


@pytest.mark.parametrize("name", HACKS)
def test_reward_hacks_are_rejected(name):
    body, why = HACKS[name]
    out = job(f"def place(nodes, pods):\n    {body}\n")
    assert not out["ok"] and out["error_kind"] == "invalid", out
    assert "quick check" in out["error"] and why in out["error"], out["error"]


def test_numpy_values_cross_as_plain_numbers_and_tampering_gains_nothing():
    # the wire turns numpy scalars into JSON numbers: int64 indices are plain ints, float64 stay floats
    np_ints = job("import numpy as np\ndef place(nodes, pods):\n"
                  "    return [None if p[3] is None else np.int64(p[3]) for p in pods]\n")
    np_floats = job("import numpy as np\ndef place(nodes, pods):\n"
                    "    return [None if p[3] is None else np.float64(p[3]) for p in pods]\n")
    assert np_ints["ok"] and np_ints["metrics"]["weighted_placed"] == job(KEEP)["metrics"]["weighted_placed"]
    assert not np_floats["ok"] and "is float" in np_floats["error"]
    # shrinking the requests and growing the capacities it was given changes nothing on this side
    tamper = ("import gc\ndef place(nodes, pods):\n"
              "    leaks = [o for o in gc.get_objects() if type(o).__name__ in ('Case', 'Reference')]\n"
              "    assert not leaks, leaks[:3]\n"
              "    for n in nodes:\n        n[0] = n[1] = 10 ** 9\n"
              "    for p in pods:\n        p[0] = p[1] = 0\n"
              "    return [p[3] for p in pods]\n")
    honest, tampered = job(KEEP), job(tamper)
    assert any(type(o).__name__ == "Case" for o in gc.get_objects())  # here they would be found
    assert tampered["ok"], tampered["error"]
    assert tampered["metrics"] == {**honest["metrics"], "cpu_seconds": tampered["metrics"]["cpu_seconds"]}


def test_reading_the_reference_cache_finds_nothing():
    spy = f'''
import glob
LEAK = []
for path in [{str(DATA / FILE)!r}, "problems/pod_packing/data/{FILE}", "../problems/pod_packing/data/{FILE}"]:
    try:
        with open(path) as fh:
            LEAK.append((path, len(fh.read())))
    except OSError:
        pass
LEAK += glob.glob({str(DATA)!r} + "/*") + glob.glob({str(DATA.parent)!r} + "/*")
try:
    import evaluators.pod_packing.reference
    LEAK.append("imported the reference module")
except ImportError:
    pass

def place(nodes, pods):
    if LEAK:
        raise RuntimeError(f"LEAKED {{LEAK[:3]}}")
    return [pod[3] for pod in pods]
'''
    here: dict = {}
    exec(spy, here)  # in the verifier's own process the same code finds the cache at once ...
    assert len(here["LEAK"]) >= 3
    spied, honest = job(spy), job(KEEP)  # ... in the sandbox it finds nothing
    assert spied["ok"], spied["error"]
    assert spied["metrics"]["weighted_placed"] == honest["metrics"]["weighted_placed"]


FIGURES = {  # (set, policy): (weighted_placed, placed_p3, p2, p1, p0, evictions), public draw
    ("train", "kube_scheduler"): (0.9825034995143871, 1.0, 0.9975369458128078, 0.959731543624161,
                                  0.7386804657179818, 5.611111111111111),
    ("train", "most_allocated"): (0.9813903066779717, 1.0, 0.9950738916256158, 0.9530201342281879,
                                  0.7917205692108668, 4.555555555555555),
    ("train", "initial"): (0.9348739549010818, 0.9467455621301775, 0.9433497536945813, 0.9261744966442953,
                           0.8771021992238034, 0.0),
    ("test", "kube_scheduler"): (0.9832710363052137, 1.0, 1.0, 0.9727272727272728, 0.7200811359026369, 7.0),
    ("test", "most_allocated"): (0.9839340015921986, 1.0, 0.9979381443298969, 0.9753246753246754,
                                 0.7352941176470589, 5.277777777777778),
    ("test", "initial"): (0.9189945719794331, 0.947565543071161, 0.9567010309278351, 0.925974025974026,
                          0.8539553752535497, 0.0),
}
REPORT = ("weighted_placed", "placed_p3", "placed_p2", "placed_p1", "placed_p0", "evictions")


def test_baselines_and_seed_reproduce_the_figures():
    codes = {**SPEC.baselines(), "initial": SPEC.initial_code}
    for (set_name, name), expected in FIGURES.items():
        out = job(codes[name], set_name)
        assert out["ok"], out["error"]
        got = tuple(out["metrics"][k] for k in REPORT)
        assert got == pytest.approx(expected, rel=1e-12), (set_name, name)
        assert out["combined_score"] == out["metrics"]["weighted_placed"]
        if name == "kube_scheduler":  # CP-SAT beats the default scheduler on every public cluster
            assert out["metrics"]["at_ref"] == 0.0
    assert "Clusters with the lowest weighted share" in out["feedback"]
    assert "At or above the CP-SAT reference's lexicographic outcome on 0/18" in out["feedback"]


def test_a_drawn_set_scores_without_a_reference():
    on_draw = run_job({"problem": "pod_packing", "code": SPEC.baselines()["kube_scheduler"],
                       "set": "train", "draw": 7})
    assert on_draw["ok"], on_draw["error"]
    assert "at_ref" not in on_draw["metrics"] and "CP-SAT" not in on_draw["feedback"]
    assert 0.9 < on_draw["metrics"]["weighted_placed"] < 1.0
    assert on_draw["metrics"]["weighted_placed"] != FIGURES[("train", "kube_scheduler")][0]


def test_baseline_cli_prints_the_table():
    res = run_cli("baseline", "pod_packing", "--sets", "gate")
    assert res.returncode == 0, res.stderr
    for needle in ("pod_packing baselines (maximize weighted_placed)", "gate weighted_placed",
                   "gate placed_p3", "gate evictions", "gate at_ref", "kube_scheduler", "most_allocated",
                   "4 nodes / 12 pods"):
        assert needle in res.stdout, (needle, res.stdout)


BEST_FIT_DIFF = """Prefer the node the pod fills most tightly (best fit on both resources).
<<<<<<< SEARCH
    return -node
=======
    return -((free_cpu - cpu) / cap_cpu + (free_mem - mem) / cap_mem)
>>>>>>> REPLACE
"""


@pytest.mark.slow
def test_run_evolves_a_scored_child(stub, tmp_path):
    stub.push(Step(content=BEST_FIT_DIFF))
    runs = str(tmp_path / "runs")
    res = run_cli("run", "pod_packing", "--api-base", stub.url, "--iterations", "2", "--no-report",
                  "--runs-dir", runs, "--run-name", "pods")
    assert res.returncode == 0, res.stderr + res.stdout
    db = tmp_path / "runs" / "pods" / "archive.db"
    progs = {r[0]: r[1:] for r in query(db, "select id, parent_id, status, combined_score from programs")}
    (draw,), = query(db, "select draw from runs")  # the run's own clusters: no public figure
    on_draw = run_job({"problem": "pod_packing", "code": SPEC.initial_code, "set": "train", "draw": draw})
    assert progs[1][2] == pytest.approx(on_draw["combined_score"], rel=1e-12)
    assert progs[1][2] != pytest.approx(FIGURES[("train", "initial")][0], rel=1e-12)
    assert progs[2][:2] == (1, "ok") and progs[2][2] is not None and progs[2][2] != progs[1][2]
    metrics, feedback = query(db, "select metrics, feedback from evaluations where program_id = 2 "
                                  "and set_name = 'train'")[0]
    assert "placed_p0" in metrics and "Clusters with the lowest weighted share" in feedback
    prompt = json.dumps(stub.requests[0]["messages"])  # the LLM saw the brief and the seed's feedback
    assert "Priority-aware Kubernetes pod packing" in prompt and "unplaced per priority" in prompt
