"""multicloud_broadcast: the cost arithmetic on a hand-made graph (a shared transfer paid once, the
time from the bottleneck edge), the Steiner reference against brute force, the README's baseline
figures, the reward hacks of the reply (a destination missing, a wrong start, a non-edge, bad
shares, a claimed cost, wrong index types), tampering with the inputs, and a scripted run."""

from __future__ import annotations

import itertools
import re

import pytest

from evaluators.base import InvalidOutput
from evaluators.jobs import run_job
from evaluators.multicloud_broadcast.instances import cheapest_prices, load_source, steiner_price
from evaluators.multicloud_broadcast.model import Graph, check_overlay, full_graph, overlay_cost
from evaluators.problem import load_problem
from evolve.llm.stub_server import Step

from .conftest import query, run_cli

PROBLEM = "multicloud_broadcast"
SPEC = load_problem(PROBLEM)


def hand_made() -> Graph:
    """0 = source; 1 a cheap relay; 2 and 3 destinations. Direct 0->2, 0->3 cost 0.10 $/GB;
    0->1 costs 0.05 and 1->2, 1->3 cost 0.02 (a tree through 1: 0.09 for both)."""
    inf = 0.0
    price = ((inf, 0.05, 0.10, 0.10), (0.05, inf, 0.02, 0.02), (0.1, 0.1, inf, 0.1), (0.1, 0.1, 0.1, inf))
    gbps = ((0, 8.0, 4.0, 4.0), (8.0, 0, 2.0, 16.0), (4.0, 4.0, 0, 4.0), (4.0, 4.0, 4.0, 0))
    return Graph(("a", "b", "c", "d"), (3.6, 7.2, 3.6, 3.6), price, gbps)


# --- the cost model -----------------------------------------------------------------------------

def test_cost_by_hand():
    g = hand_made()
    direct = overlay_cost(g, 100.0, [[((0, 2), 1.0)], [((0, 3), 1.0)]])
    assert direct.egress == pytest.approx(100 * 0.10 * 2)
    assert direct.seconds == pytest.approx(8 * 100 / 4.0)  # both edges at 4 Gbps
    # VMs in regions 0, 2, 3 at 3.6 $/h each for 200 s
    assert direct.instance == pytest.approx(3 * 3.6 * 200 / 3600)
    tree = overlay_cost(g, 100.0, [[((0, 1, 2), 1.0)], [((0, 1, 3), 1.0)]])
    assert dict(tree.volumes)[(0, 1)] == pytest.approx(100)  # the shared edge is paid once
    assert tree.egress == pytest.approx(100 * (0.05 + 0.02 + 0.02))
    assert tree.seconds == pytest.approx(8 * 100 / 2.0)  # the bottleneck: 1 -> 2 at 2 Gbps
    assert tree.instance == pytest.approx((3 * 3.6 + 7.2) * 400 / 3600)
    assert tree.total == pytest.approx(tree.egress + tree.instance)
    # split the object for destination 2: half by 0->2, half via 1; destination 3 takes the tree
    split = overlay_cost(g, 100.0, [[((0, 2), 0.5), ((0, 1, 2), 0.5)], [((0, 1, 3), 1.0)]])
    vol = dict(split.volumes)
    assert vol[(0, 2)] == pytest.approx(50) and vol[(1, 2)] == pytest.approx(50)
    # 0->1 carries [0.5, 1) for destination 2 and [0, 1) for destination 3: their union, 100 GB
    assert vol[(0, 1)] == pytest.approx(100)
    assert split.seconds == pytest.approx(max(8 * 50 / 4, 8 * 100 / 8, 8 * 50 / 2, 8 * 100 / 16))
    # the same halves in different orders do not overlap on 0->1: [0, .5) and [.5, 1) -> 100 GB; but
    # two destinations listing [0, .5) via 1 share it: 50 GB
    both = overlay_cost(g, 100.0, [[((0, 1, 2), 0.5), ((0, 2), 0.5)], [((0, 1, 3), 0.5), ((0, 3), 0.5)]])
    assert dict(both.volumes)[(0, 1)] == pytest.approx(50)
    assert overlay_cost(g, 100.0, [[((0, 2), 1.0), ((0, 1, 2), 0.0)]]).volumes == (((0, 2), 100.0),)


@pytest.mark.parametrize("reply, why", [
    ([[[[0, 2], 1.0]]], "returned 1 entries for 2 destinations"),
    ([[[[0, 2], 1.0]], []], "destination 1 (region 3): expected a non-empty list"),
    ([[[[1, 2], 1.0]], [[[0, 3], 1.0]]], "starts at 1, not at the source 0"),
    ([[[[0, 3], 1.0]], [[[0, 3], 1.0]]], "ends at 3, not at its destination 2"),
    ([[[[0, 0, 2], 1.0]], [[[0, 3], 1.0]]], "visits a region twice"),
    ([[[[0, 1, 0, 2], 1.0]], [[[0, 3], 1.0]]], "visits a region twice"),
    ([[[[0, 2], 0.6]], [[[0, 3], 1.0]]], "shares sum to 0.6, not 1"),
    ([[[[0, 2], 0.5], [[0, 1, 2], 0.5 + 2e-9]], [[[0, 3], 1.0]]], "not 1"),
    ([[[[0, 2], 1.5], [[0, 1, 2], -0.5]], [[[0, 3], 1.0]]], "must be a finite, non-negative"),
    ([[[[0, 2], float("nan")]], [[[0, 3], 1.0]]], "must be a finite, non-negative"),
    ([[[[0, 2], True]], [[[0, 3], 1.0]]], "must be a finite, non-negative int or float"),
    ([[[[0, 2.0], 1.0]], [[[0, 3], 1.0]]], "region index 2.0 is float"),
    ([[[[False, 2], 1.0]], [[[0, 3], 1.0]]], "is bool"),
    ([[[[0, 7], 1.0]], [[[0, 3], 1.0]]], "outside 0..3"),
    ([[[[0, 2], 1.0, 5.0]], [[[0, 3], 1.0]]], "expected a [path, share] pair"),
    ({"routes": [], "cost": 0.0}, "got dict"), (0.0, "got float"),
])
def test_check_overlay_rejects(reply, why):
    with pytest.raises(InvalidOutput, match=re.escape(why)):
        check_overlay(reply, hand_made(), 0, (2, 3))


def test_a_missing_link_is_not_an_edge():
    g = hand_made()
    cut = Graph(g.regions, g.vm_price, g.price, ((0, 8.0, 0.0, 4.0), *g.throughput[1:]))
    with pytest.raises(InvalidOutput, match="hop 0 -> 2 is not an edge"):
        check_overlay([[[[0, 2], 1.0]]], cut, 0, (2,))
    assert check_overlay([[[[0, 1, 2], 1]]], cut, 0, (2,)) == [[((0, 1, 2), 1.0)]]


# --- the data and the reference -----------------------------------------------------------------

def test_the_graph_is_the_documented_data():
    g = full_graph()
    assert g.n == 31 and sum(r.startswith("aws:") for r in g.regions) == 10
    assert all(g.is_edge(i, j) == (i != j) for i in range(g.n) for j in range(g.n))
    k = g.regions.index
    assert g.price[k("aws:us-east-1")][k("aws:us-west-2")] == 0.02  # skyplane's aws_transfer_costs.csv
    assert g.price[k("aws:us-east-1")][k("gcp:us-central1")] == 0.09  # AWS to the internet
    assert g.price[k("gcp:us-central1")][k("gcp:us-east1")] == 0.01
    assert g.price[k("azure:eastus")][k("azure:westeurope")] == 0.05
    assert set(g.vm_price) == {0.54}


def brute_steiner(g: Graph, source: int, terminals: tuple[int, ...]) -> float:
    """Cheapest arborescence by enumeration: every set of Steiner nodes, then a minimum
    arborescence over the metric closure by trying every parent choice (tiny graphs only)."""
    dist = cheapest_prices(g)
    others = [v for v in range(g.n) if v != source and v not in terminals]
    best = float("inf")
    for r in range(len(others) + 1):
        for extra in itertools.combinations(others, r):
            nodes = [*terminals, *extra]
            for parents in itertools.product([source, *nodes], repeat=len(nodes)):
                par = dict(zip(nodes, parents))
                ok = True
                for v in nodes:  # every node reaches the source
                    seen, u = set(), v
                    while u != source and ok:
                        if u in seen or par[u] == u:
                            ok = False
                        seen.add(u)
                        u = par.get(u, source)
                if ok:
                    best = min(best, sum(dist[par[v], v] for v in nodes))
    return best


def test_the_steiner_reference_matches_brute_force():
    assert steiner_price(hand_made(), 0, (2, 3)) == pytest.approx(0.09)
    small = [*load_source("regions=6 dests=2 seed=3000 count=3"),
             *load_source("regions=5 dests=3 seed=7 count=3")]
    for inst in small:
        assert inst.steiner_per_gb == pytest.approx(brute_steiner(inst.graph, inst.source, inst.destinations))
        assert inst.lower_bound < inst.direct


def test_instances_are_drawn():
    public = load_source("regions=6 dests=2 seed=3000 count=3")
    drawn = load_source("regions=6 dests=2 seed=3000 count=3", 2 ** 45)
    assert [(i.graph.regions, i.source, i.size_gb) for i in public] != \
        [(i.graph.regions, i.source, i.size_gb) for i in drawn]
    for inst in load_source("regions=16 dests=3 seed=1000 count=8"):
        assert inst.graph.n == 16 and len(set(inst.destinations)) == 3
        assert inst.source not in inst.destinations
        assert 10 <= inst.size_gb <= 1000


# --- the baselines: the README's figures --------------------------------------------------------

def job(code: str, set_name: str = "gate", draw: int | None = None) -> dict:
    return run_job({"problem": PROBLEM, "code": code, "set": set_name, "draw": draw})


README = {  # gap, vs_direct, worst_gap (percent) per set: problems/multicloud_broadcast/README.md
    "initial": {"train": (52.57, 0.0, 175.0), "test": (52.38, 0.0, 136.3), "gate": (42.08, 0.0, 73.6)},
    "shortest_path": {"train": (52.57, 0.0, 175.0), "test": (52.38, 0.0, 136.3), "gate": (42.08, 0.0, 73.6)},
    "steiner_sph": {"train": (3.26, -27.9, 25.5), "test": (7.21, -25.21, 46.1), "gate": (1.22, -26.76, 1.5)},
}


@pytest.mark.parametrize("name", README)
def test_seed_and_baselines_reproduce_the_readme(name):
    code = SPEC.initial_code if name == "initial" else SPEC.baselines()[name]
    for set_name, want in README[name].items():
        out = job(code, set_name)
        assert out["ok"], out["error"]
        m = out["metrics"]
        got = (round(100 * m["gap"], 2), round(100 * m["vs_direct"], 2), round(100 * m["worst_gap"], 1))
        assert got == want, (name, set_name, got)


# --- reward hacks through the sandbox -----------------------------------------------------------

VALID = '''
def plan_broadcast(regions, price, throughput, vm_price, source, destinations, size_gb):
    plan = [[[[source, d], 1.0]] for d in destinations]
    {body}
'''

HACKS = {
    "a destination missing": ("return plan[:-1]", "returned 1 entries for 2 destinations"),
    "a path not starting at the source": ("return [[[[d, d], 1.0]] for d in destinations]",
                                          "not at the source 3"),
    "a non-edge hop (a self-loop)": ("return [[[[source, source, d], 1.0]] for d in destinations]",
                                     "visits a region twice"),
    "shares not summing to 1": ("return [[[[source, d], 0.5]] for d in destinations]", "shares sum to 0.5"),
    "a negative share": ("return [[[[source, d], -1.0], [[source, d], 2.0]] for d in destinations]",
                         "non-negative"),
    "a claimed cost in a dict": ("return {'plan': plan, 'cost': 0.0}", "got dict"),
    "(plan, claimed cost)": ("return plan, 0.0", "expected a [path, share] pair"),
    "a claimed cost in a route": ("return [[[[source, d], 1.0, 0.0]] for d in destinations]",
                                  "expected a [path, share] pair"),
    "float indices": ("return [[[[float(source), d], 1.0]] for d in destinations]", "is float"),
    "bool indices": ("return [[[[source, d == 1], 1.0]] for d in destinations]", "is bool"),
}


@pytest.mark.parametrize("name", HACKS)
def test_reward_hacks_are_rejected(name):
    body, why = HACKS[name]
    out = job(VALID.format(body=body))
    assert not out["ok"] and out["error_kind"] == "invalid", out
    assert out["error"].startswith("evaluation: invalid output on R6 K2 #3000: ") and why in out["error"], \
        out["error"]
    assert out["combined_score"] is None and out["metrics"] == {}


def test_a_nan_share_fails_before_the_verifier_reads_it():
    out = job(VALID.format(body="return [[[[source, d], float('nan')]] for d in destinations]"))
    assert not out["ok"] and out["combined_score"] is None and out["metrics"] == {}
    assert "returned nan or inf" in out["feedback"], out  # the sandbox's transport refuses it


def test_numpy_indices_cross_and_tampering_with_the_inputs_gains_nothing():
    honest = job(VALID.format(body="return plan"))
    assert honest["ok"] and round(100 * honest["metrics"]["gap"], 2) == 42.08  # the seed's
    np_ints = job("import numpy as np\n" + VALID.format(
        body="return [[[[int(source), np.int64(d)], 1.0]] for d in destinations]"))
    assert np_ints["ok"] and np_ints["metrics"]["gap"] == honest["metrics"]["gap"]  # sent as ints
    tamper = VALID.format(body="for row in price:\n        row[:] = [0.0] * len(row)\n"
                               "    vm_price[:] = [0.0] * len(vm_price)\n    size_gb = 0.0\n    return plan")
    out = job(tamper)
    assert out["ok"] and out["metrics"]["gap"] == honest["metrics"]["gap"]


# --- a scripted run -----------------------------------------------------------------------------

TREE_DIFF = """Send through the cheapest relay shared by all destinations.
<<<<<<< SEARCH
    return [[[[source, d], 1.0]] for d in destinations]
=======
    def cost(r):
        return price[source][r] + sum(price[r][d] for d in destinations if d != r)
    relay = min((r for r in range(len(regions)) if r != source), key=lambda r: (cost(r), r))
    if cost(relay) >= sum(price[source][d] for d in destinations):
        return [[[[source, d], 1.0]] for d in destinations]
    return [[[[source, d] if d == relay else [source, relay, d], 1.0]] for d in destinations]
>>>>>>> REPLACE
"""


@pytest.mark.slow
def test_evolve_run_scores_a_child(stub, tmp_path):
    stub.push(Step(content=TREE_DIFF))
    runs = tmp_path / "runs"
    config = tmp_path / "run.yaml"
    config.write_text("tuning:\n  enabled: false\n")
    res = run_cli("run", PROBLEM, "--api-base", stub.url, "--iterations", "2", "--no-report",
                  "--runs-dir", str(runs), "--run-name", "mcb", "--config", str(config))
    assert res.returncode == 0, res.stderr + res.stdout
    db = runs / "mcb" / "archive.db"
    rows = query(db, "select id, parent_id, status, combined_score from programs order by id")
    (draw,), = query(db, "select draw from runs")
    assert draw is not None and rows[0][2] == "ok" and rows[0][3] < -0.2  # the seed: gap above 20%
    child = rows[1]
    assert child[1] == 1 and child[2] == "ok" and child[3] > rows[0][3]  # a shared relay beats direct
    prompt = str(stub.requests[0]["messages"])
    assert "Instances furthest from the lower bound" in prompt and "def plan_broadcast" in prompt
