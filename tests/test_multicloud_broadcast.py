"""multicloud_broadcast: the cost arithmetic on a hand-made graph (a shared transfer paid once, the
time from the bottleneck edge), the Steiner reference against brute force, the README's baseline
figures, the reward hacks of the reply (a destination missing, a wrong start, a non-edge, bad
shares, a claimed cost, wrong index types), tampering with the inputs, the red team's cheats
(reading the graph files or the verifier, state kept between evaluations, rewriting replies
already returned, an oracle rebuilt from the public seeds against a run's draw), and a scripted
run."""

from __future__ import annotations

import hashlib
import itertools
import json
import re

import pytest

from evaluators.base import InvalidOutput
from evaluators.draws import new_draw
from evaluators.jobs import run_job, verifier_for
from evaluators.multicloud_broadcast.instances import cheapest_prices, generate, load_source, steiner_price
from evaluators.multicloud_broadcast.model import Graph, check_overlay, full_graph, overlay_cost
from evaluators.problem import load_problem
from evolve.llm.stub_server import Step

from .conftest import ROOT, query, run_cli
from .red_team import STATE_PROBE, spy_code

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


# --- red team: the data files, state, module memory and the draws -------------------------------

DATA = ROOT / "problems" / PROBLEM / "data"
EVALUATORS = ROOT / "evaluators" / PROBLEM
BASELINES = SPEC.baselines()


def figures(m: dict) -> tuple:
    """The README's rounding: gap, vs_direct, worst_gap (percent)."""
    return (round(100 * m["gap"], 2), round(100 * m["vs_direct"], 2), round(100 * m["worst_gap"], 1))


def renamed(code: str, name: str) -> str:
    """A seed or baseline whose entry is called ``name`` (a cheat wraps it)."""
    return code.replace("def plan_broadcast(", f"def {name}(")


def policy(code: str):
    ns: dict = {}
    exec(code, ns)  # trusted baselines, in the test process only
    return ns["plan_broadcast"]


def same_metrics(a: dict, b: dict) -> bool:
    """Equal metrics but for the candidate's CPU time."""
    return {**a, "cpu_seconds": 0} == {**b, "cpu_seconds": 0}


def test_reading_the_graph_files_or_the_verifier_is_impossible():
    """The candidate tries every data file (the whole 31-region graph) and every verifier file, by
    absolute and relative path, an import of the generator (whose Steiner reference is the lower
    bound), /proc of its parent, and the verifier's instances in its own memory; it plays the
    Steiner baseline only if all of that came back empty."""
    files = sorted(DATA.glob("*")) + sorted(EVALUATORS.glob("*.py"))
    paths = [str(f) for f in files] + [str(f.relative_to(ROOT)) for f in files]
    modules = (f"evaluators.{PROBLEM}.instances", f"evaluators.{PROBLEM}.model")
    spy = spy_code(paths, [str(DATA), str(EVALUATORS)], modules, ("Instance", "Graph", "Cost"), str(ROOT))
    here: dict = {}
    verifier_for(PROBLEM).instances("test")  # the verifier's instances are in this process
    exec(spy, here)  # in the verifier's own process the same code reads every file at once ...
    assert {str(f) for f in files} <= set(here["LEAK"]) and len(files) >= 3 + 4
    assert f"evaluators.{PROBLEM}.instances" in here["LEAK"] and here["verifier_objects"]()
    cheat = spy + renamed(BASELINES["steiner_sph"], "_honest") + '''

def plan_broadcast(*args):
    if LEAK or verifier_objects():
        raise RuntimeError(f"LEAKED {LEAK[:3]} {verifier_objects()[:3]}")
    return _honest(*args)
'''
    out = job(cheat, "test")  # ... in the sandbox it finds nothing and plays the Steiner baseline
    assert out["ok"], out["error"]
    assert figures(out["metrics"]) == README["steiner_sph"]["test"]



def test_state_does_not_survive_between_evaluations():
    v = verifier_for(PROBLEM)
    most = len(v.instances("gate")) + max(len(v.instances("train")), len(v.instances("test")))
    assert most == 3 + 22  # one evaluation's calls at most: a count beyond it is an earlier one's
    code = STATE_PROBE + renamed(BASELINES["steiner_sph"], "_honest") + f'''

def plan_broadcast(*args):
    CALLS[0] += 1
    if CALLS[0] > {most}:
        raise RuntimeError(f"call {{CALLS[0]}}: the module state of an earlier evaluation")
    return _honest(*args)
'''
    first, second = job(code, "train"), job(code, "test")
    assert first["ok"] and second["ok"], (first["error"], second["error"])
    assert figures(first["metrics"]) == README["steiner_sph"]["train"]
    assert figures(second["metrics"]) == README["steiner_sph"]["test"]


MEMORY = '''
SHOWN = []  # every broadcast shown so far (its arguments) and the reply object returned for it


def plan_broadcast(*args):
    args = list(args)
    for earlier, reply in SHOWN:
        reply[:] = _better(*earlier)  # a better overlay written into a reply already returned
        if earlier == args:
            return reply  # the same broadcast again: replay the better overlay
    reply = _seed(*args)
    SHOWN.append((args, reply))
    return reply
'''


def test_module_memory_across_calls_changes_no_reply_already_scored():
    """One evaluation is a batch of calls in one warm process (the gate, then the set). The
    candidate keeps every broadcast and reply, rewrites its earlier replies with the Steiner
    baseline's overlays once it has moved on, and would replay them on a repeated broadcast. Each
    reply is encoded when returned and priced on the verifier's own copy of its graph: the score
    is exactly the seed's (the same replies read after the rewrites score 6.38%, not 52.57%). No
    broadcast repeats within an evaluation, so a replay table has nothing to hit. Every call is
    sent the prices and throughputs of its regions, so what the calls reveal across an evaluation
    (more of the public graph) is nothing hidden, and no score comes back during an evaluation."""
    v = verifier_for(PROBLEM)
    for set_name in ("train", "test"):
        shown = [json.dumps(v.arguments(i)) for i in v.instances("gate") + v.instances(set_name)]
        assert len(set(shown)) == len(shown), set_name
    code = renamed(SPEC.initial_code, "_seed") + renamed(BASELINES["steiner_sph"], "_better") + MEMORY
    out = job(code, "train")
    assert out["ok"], out["error"]
    assert figures(out["metrics"]) == README["initial"]["train"] != README["steiner_sph"]["train"]


def digest(verifier, set_name: str) -> list[str]:
    """What the candidate is shown of each broadcast: its call's arguments."""
    return [json.dumps(verifier.arguments(i)) for i in verifier.instances(set_name)]


def test_train_and_test_differ_per_draw_and_the_gate_does_not():
    public, one, other = (verifier_for(PROBLEM, d) for d in (None, 2 ** 41 + 5, 2 ** 41 + 6))
    for set_name in ("train", "test"):
        base, a, b = (digest(v, set_name) for v in (public, one, other))
        assert len(a) == len(b) == len(base) and not set(a) & set(base) and not set(b) & (set(a) | set(base))
    for v in (public, one, other):
        assert not set(digest(v, "train")) & set(digest(v, "test"))
    assert digest(one, "gate") == digest(other, "gate") == digest(public, "gate")
    again = generate(31, 12, 2300, 1, 2 ** 41 + 5)  # a draw is reproducible: the last test broadcast
    assert json.dumps(again.as_json()) == digest(one, "test")[-1]
    assert again.lower_bound == one.instances("test")[-1].lower_bound


def answer_key(args) -> str:
    return hashlib.sha256(json.dumps(list(args)).encode()).hexdigest()


def oracle() -> str:
    """A cheat that rebuilt the public test set (the generator, its seeds and the graph are
    public) and answers from a table of overlays made offline (the Steiner baseline's); any other
    broadcast gets the seed's direct transfer."""
    sph = policy(BASELINES["steiner_sph"])
    table = {answer_key(i.as_json()): sph(*i.as_json()) for i in verifier_for(PROBLEM).instances("test")}
    assert len(table) == 22
    return renamed(SPEC.initial_code, "_seed") + f'''
import hashlib, json
ANSWERS = {table!r}


def plan_broadcast(*args):
    answer = ANSWERS.get(hashlib.sha256(json.dumps(list(args)).encode()).hexdigest())
    return _seed(*args) if answer is None else answer
'''


def test_an_oracle_rebuilt_from_the_public_seed_fails_on_a_run_draw():
    cheat = oracle()
    public = job(cheat, "test")
    assert public["ok"], public["error"]
    assert figures(public["metrics"]) == README["steiner_sph"]["test"]  # on the README's draw ...
    draw = new_draw()
    drawn, honest = job(cheat, "test", draw), job(SPEC.initial_code, "test", draw)
    assert drawn["ok"] and honest["ok"], (drawn["error"], honest["error"])
    # ... on a run's draw no broadcast is in its table: it is the seed, to the last digit
    assert same_metrics(drawn["metrics"], honest["metrics"])
    assert drawn["metrics"]["gap"] > 3 * public["metrics"]["gap"]


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
