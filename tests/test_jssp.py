"""jssp: semi-active schedule builder, order validation, deadlocks, reward hacks, baseline figures."""

from __future__ import annotations

import itertools
import json
import random

import pytest

from evaluators.base import InvalidOutput
from evaluators.jobs import run_job, verifier_for
from evaluators.jssp.instances import Instance, expand, make_instance, select
from evaluators.jssp.schedule import check_orders, makespan, start_times
from evolve.llm.stub_server import Step

from .conftest import query, run_cli

# job 0: machine 0 for 3, then machine 1 for 2; job 1: machine 1 for 4, then machine 0 for 1
TINY = make_instance("tiny1", [[3, 2], [4, 1]], [[0, 1], [1, 0]], upper_bound=6, lower_bound=5)


def test_hand_checked_schedules():
    # machine 0 runs job 0 then 1; machine 1 runs job 1 then 0
    assert start_times(TINY, [[0, 1], [1, 0]]) == [0, 4, 0, 4] and makespan(TINY, [[0, 1], [1, 0]]) == 6
    # job 0 first everywhere: job 1 waits for machine 1 until 5, then machine 0 at 9
    assert start_times(TINY, [[0, 1], [0, 1]]) == [0, 3, 5, 9] and makespan(TINY, [[0, 1], [0, 1]]) == 10
    assert start_times(TINY, [[1, 0], [1, 0]]) == [5, 8, 0, 4] and makespan(TINY, [[1, 0], [1, 0]]) == 10
    # job 1 first on machine 0 needs its machine-1 operation done, which waits for job 0: a cycle
    with pytest.raises(InvalidOutput, match=r"deadlock: .* 4 of 4 operations can never start.*job 1 op 1"):
        makespan(TINY, [[1, 0], [0, 1]])
    zero = make_instance("zero1", [[0, 5], [2, 0]], [[0, 1], [0, 1]], upper_bound=7, lower_bound=5)
    # zero-length operations take no machine time: job 1's [5, 5) follows job 0's [0, 5) on machine 1
    assert start_times(zero, [[0, 1], [0, 1]]) == [0, 0, 0, 5] and makespan(zero, [[0, 1], [0, 1]]) == 5
    assert makespan(zero, [[1, 0], [1, 0]]) == 7


def simulate(inst: Instance, orders: list[list[int]]) -> int | None:
    """Independent check: start the head of each machine's queue once its job has reached it."""
    n, m = inst.n, inst.m
    pos, nxt, job_end, mach_end = [0] * m, [0] * n, [0] * n, [0] * m
    progress = True
    while progress:
        progress = False
        for i in range(m):
            while pos[i] < n:
                j = orders[i][pos[i]]
                k = nxt[j]
                if k == m or inst.machines[j][k] != i:
                    break
                job_end[j] = mach_end[i] = max(job_end[j], mach_end[i]) + inst.durations[j][k]
                nxt[j] += 1
                pos[i] += 1
                progress = True
    return max(job_end) if all(p == n for p in pos) else None


def test_random_orders_match_an_independent_simulation():
    rng = random.Random(3)
    outcomes = {"deadlock": 0, "ok": 0}
    for case in range(300):
        n, m = rng.randint(2, 4), rng.randint(2, 4)
        durs = [[rng.randint(0, 9) for _ in range(m)] for _ in range(n)]
        routes = [rng.sample(range(m), m) for _ in range(n)]
        inst = make_instance(f"r{case}", durs, routes, upper_bound=999, lower_bound=0)
        orders = [rng.sample(range(n), n) for _ in range(m)]
        expected = simulate(inst, orders)
        if expected is None:
            outcomes["deadlock"] += 1
            with pytest.raises(InvalidOutput, match="deadlock"):
                makespan(inst, orders)
        else:
            outcomes["ok"] += 1
            assert makespan(inst, orders) == expected
    assert min(outcomes.values()) > 50


def test_built_schedule_is_feasible_and_tight():
    spec = verifier_for("jssp").spec
    inst = select(spec.root / "data", ["ta01"])[0]
    here: dict = {}
    exec(spec.baselines()["mwkr"], here)  # test-side only: the verifier never runs candidate code
    orders = here["schedule"]([list(r) for r in inst.durations], [list(r) for r in inst.machines])
    start = start_times(inst, orders)
    m = inst.m
    end = [s + inst.durations[v // m][v % m] for v, s in enumerate(start)]
    for j in range(inst.n):  # precedence, and no idle time a predecessor does not explain
        for k in range(1, m):
            assert start[j * m + k] >= end[j * m + k - 1]
    for i, seq in enumerate(orders):
        nodes = [j * m + inst.machines[j].index(i) for j in seq]
        for a, b in itertools.pairwise(nodes):
            assert start[b] >= end[a]  # no overlap on a machine
        for pos, v in enumerate(nodes):
            preds = ([end[v - 1]] if v % m else []) + ([end[nodes[pos - 1]]] if pos else [])
            assert start[v] == max(preds, default=0)


@pytest.mark.parametrize("bad, why", [
    ([[0, 1]], "returned 1 machine sequences, expected 2"),
    ([[0, 1], [1, 0], [0, 1]], "returned 3 machine sequences"),
    ([[0, 1], [1]], "machine 1 lists 1 jobs, expected all 2"),
    ([[0, 1], [1, 1]], "machine 1: job 1 appears more than once"),
    ([[0, 2], [1, 0]], "machine 0, position 1: job 2 is outside 0..1"),
    ([[0, -1], [1, 0]], "job -1 is outside"),
    ([[0, 1.0], [1, 0]], "job id is float"),
    ([[True, 0], [1, 0]], "job id is bool"),
    ([[0, "1"], [1, 0]], "job id is str"),
    ([[[0, 0], [1, 1]], [1, 0]], "job id is list"),
    ([[0, 1], None], "machine 1: expected a list of job ids, got NoneType"),
    ([0, 3, 0, 4], "returned 4 machine sequences"),
    ({"orders": [[0, 1], [1, 0]], "makespan": 1}, "got dict"),
    (6, "got int"),
])
def test_check_orders_rejects(bad, why):
    with pytest.raises(InvalidOutput, match=why):
        check_orders(bad, 2, 2)


def test_sets_and_data():
    v = verifier_for("jssp")
    sets = {s: v.instances(s) for s in ("train", "test", "gate")}
    assert [len(x) for x in sets.values()] == [80, 40, 3]
    assert [i.name for i in sets["test"]] == [f"ta{k}" for k in range(41, 81)]
    assert {i.family for i in sets["train"]} == {"ta", "la"}
    names = [{i.name for i in x} for x in sets.values()]
    assert not (names[0] & names[1]) and not (names[2] & (names[0] | names[1]))
    ta01 = sets["train"][0]
    got = (ta01.name, ta01.size, ta01.upper_bound, ta01.machines[0][:3], ta01.durations[0][:3])
    assert got == ("ta01", "15x15", 1231, (6, 12, 4), (94, 66, 10))  # Taillard's file: "6 94 12 66 4 10"
    assert {i.size for i in sets["test"]} == {"30x20", "50x15", "50x20", "100x20"}
    assert expand("ta01-ta03") == ["ta01", "ta02", "ta03"] == expand("ta01-03") and expand("ft06") == ["ft06"]
    with pytest.raises(ValueError, match="unknown JSSP instances"):
        select(v.spec.root / "data", ["ta81"])
    with pytest.raises(ValueError, match="exactly once"):
        make_instance("bad1", [[1, 2], [3, 4]], [[0, 0], [0, 1]], 5, 1)


def job(code: str, set_name: str = "train") -> dict:
    return run_job({"problem": "jssp", "code": code, "set": set_name})


# a valid schedule for any instance: one job order (0, 1, ..., n-1) on every machine
VALID = "    orders = [list(range(len(durations))) for _ in range(len(durations[0]))]\n"
CROSS = '''    n, m = len(durations), len(durations[0])
    orders = [list(range(n)) for _ in range(m)]
    for b in range(1, n):  # job 0 visits x before y, job b visits y before x: put b first on x
        for x, y in itertools.permutations(range(m), 2):
            if machines[0].index(x) < machines[0].index(y) and machines[b].index(y) < machines[b].index(x):
                orders[x].remove(b)
                orders[x].insert(0, b)
                return orders
'''
HACKS = {
    "missing operations": ("orders[0].pop()", "machine 0 lists 5 jobs, expected all 6"),
    "duplicated operations": ("orders[1][0] = 1", "machine 1: job 1 appears more than once"),
    "empty schedule": ("orders = []", "returned 0 machine sequences, expected 6"),
    "one machine only": ("orders = orders[:1]", "returned 1 machine sequences"),
    "out-of-range job": ("orders[2][5] = 6", "job 6 is outside 0..5"),
    "bool job ids": ("orders[0][1] = True", "job id is bool"),
    "float job ids": ("orders[0] = [float(j) for j in orders[0]]", "job id is float"),
    "string job ids": ("orders[0][0] = '0'", "job id is str"),
    "(job, op) pairs instead of job ids": ("orders[0] = [[j, 0] for j in orders[0]]", "job id is list"),
    "start times instead of orders": ("orders = [0] * (len(durations) * len(durations[0]))",
                                      "returned 36 machine sequences"),
    "machine orders plus a claimed makespan": ("orders = [orders, 1]", "returned 2 machine sequences"),
    "claimed makespan in a dict": ("orders = {'orders': orders, 'makespan': 55}", "got dict"),
    "claimed makespan only": ("orders = 55", "got int"),
    "numpy float array": ("import numpy as np\n    orders = np.array(orders, dtype=float)",
                          "job id is float"),
    "numpy bool array": ("import numpy as np\n    orders = np.array(orders) > 0", "job id is bool"),
}


@pytest.mark.parametrize("name", HACKS)
def test_reward_hacks_are_rejected(name):
    body, why = HACKS[name]
    out = job(f"def schedule(durations, machines):\n{VALID}    {body}\n    return orders\n")
    assert not out["ok"] and out["error_kind"] in ("invalid", "exception"), out
    assert "quick check" in out["error"] and "ft06" in out["error"] and why in out["error"], out["error"]


def test_deadlocked_orders_are_rejected():
    out = job("import itertools\ndef schedule(durations, machines):\n" + CROSS)
    assert not out["ok"] and out["error_kind"] == "invalid"
    assert "quick check: invalid output on ft06: deadlock" in out["error"] and "cycle" in out["error"]


def test_quick_check_stops_a_candidate_too_slow_for_the_set():
    spin = ("import time\ndef schedule(durations, machines):\n    end = time.process_time() + 2.7\n"
            "    while time.process_time() < end:\n        pass\n" + VALID + "    return orders\n")
    out = job(spin)
    assert not out["ok"] and out["error_kind"] == "slow" and "ft06" in out["error"], out


def test_data_bounds_and_verifier_state_are_out_of_reach():
    data = verifier_for("jssp").spec.root / "data"
    spy = f'''
import gc, glob
LEAK = []
for path in [{str(data / "benchmark_instances.json")!r}, "problems/jssp/data/benchmark_instances.json"]:
    try:
        with open(path) as fh:
            LEAK.append((path, len(fh.read())))
    except OSError:
        pass
LEAK += glob.glob({str(data)!r} + "/*")
try:
    import evaluators.jssp.instances
    LEAK.append("imported the loader")
except ImportError:
    pass

def schedule(durations, machines):
    found = [type(o).__name__ for o in gc.get_objects()
             if type(o).__name__ in ("Inst" + "ance", "JsspVer" + "ifier", "Res" + "ult", "Problem" + "Spec")]
    if LEAK or found:
        raise RuntimeError(f"LEAKED {{LEAK[:3]}} {{found[:3]}}")
{VALID}    durations.clear()  # the candidate's copy only
    machines[0].reverse()
    return orders
'''
    here: dict = {}
    exec(spy, here)  # in the verifier's own process the same code finds the data at once ...
    assert len(here["LEAK"]) >= 3
    select(data, ["ft06"])
    with pytest.raises(RuntimeError, match="LEAKED"):  # ... and the instances with their bounds
        here["schedule"]([[1]], [[0]])
    honest = job(f"def schedule(durations, machines):\n{VALID}    return orders\n")
    out = job(spy)  # ... inside the sandbox it finds nothing, and tampering with inputs changes nothing
    assert out["ok"], out["error"]
    assert out["metrics"]["gap"] == honest["metrics"]["gap"] > 0


FIGURES = {  # policy: (ta01-40 gap, ta41-80 gap, la01-40 gap, train gap); deterministic
    "spt": (0.3043307700370249, 0.2461573613376921, 0.19956961420304775, 0.2519501921200361),
    "mwkr": (0.22057546744258705, 0.17063065872450991, 0.12602662364190764, 0.17330104554224737),
    "mor": (0.22155744846508024, 0.1727814149734552, 0.13860174517297263, 0.1800795968190264),
}
EARLIER = {"spt": (27.5, 20.0), "mwkr": (19.6, 12.6), "mor": (19.7, 13.9)}  # all 80 ta, la01-40 (%):
# the project's own earlier measurement with job-shop-lib (NOTES.md), not a published figure


def test_baselines_reproduce_the_reference_figures():
    spec = verifier_for("jssp").spec
    codes = spec.baselines()
    for name, expected in FIGURES.items():
        train, test = job(codes[name], "train"), job(codes[name], "test")
        assert train["ok"] and test["ok"], (train["error"], test["error"])
        got = (train["metrics"]["gap_ta"], test["metrics"]["gap_ta"], train["metrics"]["gap_la"],
               train["metrics"]["gap"])
        assert got == pytest.approx(expected, rel=1e-12), name
        all_ta = 100 * (got[0] + got[1]) / 2
        assert (round(all_ta, 1), round(100 * got[2], 1)) == EARLIER[name], name
        assert train["combined_score"] == -train["metrics"]["gap"]
    seed = job(spec.initial_code, "train")  # the seed is SPT
    assert seed["metrics"]["gap"] == pytest.approx(FIGURES["spt"][3], rel=1e-12)
    assert "Instances furthest from their best known makespan" in seed["feedback"]


def test_baseline_cli_prints_the_table():
    res = run_cli("baseline", "jssp", "--sets", "gate")
    assert res.returncode == 0, res.stderr
    for needle in ("jssp baselines (minimize gap)", "gate gap", "spt", "26.11%", "mwkr", "16.90%",
                   "mor", "17.65%", "ft20 (20x5)"):
        assert needle in res.stdout, (needle, res.stdout)


MWKR_DIFF = """Prefer the job with the most work remaining (MWKR).
<<<<<<< SEARCH
    return duration
=======
    return -job_work_left
>>>>>>> REPLACE
"""


@pytest.mark.slow
def test_run_evolves_a_scored_child(stub, tmp_path):
    stub.push(Step(content=MWKR_DIFF))
    runs = str(tmp_path / "runs")
    res = run_cli("run", "jssp", "--api-base", stub.url, "--iterations", "2", "--no-report",
                  "--runs-dir", runs, "--run-name", "jssp")
    assert res.returncode == 0, res.stderr + res.stdout
    db = tmp_path / "runs" / "jssp" / "archive.db"
    progs = {r[0]: r[1:] for r in query(db, "select id, parent_id, status, combined_score from programs")}
    assert progs[1][2] == pytest.approx(-FIGURES["spt"][3])
    assert progs[2][:2] == (1, "ok") and progs[2][2] == pytest.approx(-FIGURES["mwkr"][3])
    metrics, feedback = query(db, "select metrics, feedback from evaluations where program_id = 2 "
                                  "and set_name = 'train'")[0]
    assert "gap_la" in json.loads(metrics) and "Instances furthest" in feedback
    prompt = json.dumps(stub.requests[0]["messages"])  # the LLM saw the brief and the seed's feedback
    assert "Job-shop scheduling: minimise the makespan" in prompt and "best known makespan" in prompt
