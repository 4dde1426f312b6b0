"""cant_be_late: simulator on hand-checked jobs, the deadline guarantee, strict action parsing,
the omniscient optimum, the committed traces, the baseline figures, reward hacks, CLI and a run."""

from __future__ import annotations

import random
from functools import cache

import pytest

from evaluators.base import InvalidOutput
from evaluators.cant_be_late.actions import parse_action
from evaluators.cant_be_late.instances import Instance, parse_instance
from evaluators.cant_be_late.make_traces import render
from evaluators.cant_be_late.optimum import omniscient_cost
from evaluators.cant_be_late.simulator import DeadlineMissed, simulate
from evaluators.cant_be_late.traces import RECIPES
from evaluators.jobs import run_job, verifier_for
from evolve.llm.stub_server import Step

from .conftest import ROOT, query, run_cli, write_config

DATA = ROOT / "problems" / "cant_be_late" / "data"


def inst(spot: list[str], work: int = 100, deadline: int = 200, overhead: int = 20, tick: int = 20,
         name: str = "t") -> Instance:
    """A job in centihours; spot = one '0'/'1' string per region."""
    rows = tuple(zip(*[[c == "1" for c in s] for s in spot]))
    return Instance(name=name, group="single" if len(spot) == 1 else "multi",
                    profiles=("x",) * len(spot), work=work, deadline=deadline, overhead=overhead,
                    tick=tick, spot=rows)


def script(*actions):
    """A policy replaying ``actions`` and recording the states it was shown."""
    seen: list[dict] = []
    it = iter(actions)

    def decide(state):
        seen.append(state)
        return next(it)
    return decide, seen


def spot_or_none(state):
    return "SPOT" if state["spot"][state["region"]] else "NONE"


# --- simulator: hand-checked jobs -------------------------------------------------------------

def test_spot_job_pays_one_overhead_then_progresses():
    out = simulate(inst(["1" * 10]), spot_or_none)  # 1 h of work, 0.2 h overhead, 0.2 h ticks
    assert (out.spot_hours, out.on_demand_hours, out.finish) == (1.2, 0.0, 1.2)
    assert out.cost == pytest.approx(1.2 * 0.97) and out.launches == 1 and out.calls == 6
    assert out.forced_at is None and out.preemptions == 0


def test_preemption_relaunch_and_partial_last_tick():
    # overhead 0.1 h: tick 0 = 0.1 overhead + 0.1 work, tick 1 = 0.2, tick 2 preempted (idle),
    # tick 3 relaunch = 0.1 + 0.1, ticks 4-5 = 0.4 -> 0.8 done, tick 6 pays only 0.15 of 0.2
    out = simulate(inst(["1101111111"], work=95, overhead=10), spot_or_none)
    assert out.preemptions == 1 and out.launches == 2
    assert out.spot_hours == pytest.approx(0.2 + 0.2 + 0.2 + 0.4 + 0.15)
    assert out.finish == pytest.approx(1.35)


def test_overhead_longer_than_a_tick_and_the_state_shown():
    decide, seen = script("ON_DEMAND", "ON_DEMAND", "ON_DEMAND", "NONE", "NONE", "ON_DEMAND",
                          *["ON_DEMAND"] * 20)
    out = simulate(inst(["0110000000" * 3], work=60, deadline=600, overhead=40), decide)
    assert seen[0]["tick"] == 0 and seen[0]["current"] == "NONE" and seen[0]["spot"] == [False]
    assert seen[1]["overhead_left"] == 0.2 and seen[1]["done"] == 0.0 and seen[1]["spot"] == [True]
    assert seen[3]["done"] == 0.2 and seen[3]["current"] == "ON_DEMAND"
    assert seen[5]["current"] == "NONE" and seen[5]["overhead_left"] == 0.0
    assert seen[4]["slack"] == pytest.approx(6.0 - 0.8 - 0.4 - 0.4 - 0.2)
    assert set(seen[0]) == {"tick", "elapsed", "tick_hours", "work", "done", "remaining", "deadline",
                            "overhead", "overhead_left", "slack", "current", "region", "preempted",
                            "spot", "spot_price", "on_demand_price"}
    # 0.6 h billed before the pause (0.4 overhead + 0.2 work), then 0.4 + 0.4 after the relaunch
    assert out.on_demand_hours == pytest.approx(1.4) and out.launches == 2


def test_moving_regions_pays_the_overhead_continuing_does_not():
    decide, _ = script("SPOT", "SPOT", ["SPOT", 1], ["SPOT", 1], *[["SPOT", 1]] * 20)
    out = simulate(inst(["1111111111", "1111111111"], work=100, overhead=10), decide)
    assert out.launches == 2 and out.spot_hours == pytest.approx(1.2)


def test_safety_net_forces_on_demand_and_meets_the_deadline_exactly():
    decide, seen = script(*["NONE"] * 50)
    out = simulate(inst(["1" * 10]), decide)  # slack at tick k: 2 - 0.2k - 1 - 0.2 - 0.2
    assert len(seen) == 4 and out.forced_at == 0.8 and out.calls == 4
    assert (out.on_demand_hours, out.finish) == (1.2, 2.0)
    assert out.cost == pytest.approx(1.2 * 3.06)


def test_a_running_spot_instance_is_replaced_when_the_net_fires():
    # slack is exactly 0 at tick 0 (spot launched), -0.2 at tick 1: on-demand from there, on time
    out = simulate(inst(["1" * 7], work=100, deadline=140), spot_or_none)
    assert out.forced_at == 0.2 and out.calls == 1 and out.launches == 2
    assert (out.spot_hours, out.on_demand_hours, out.finish) == (0.2, 1.2, 1.4)


@cache
def random_jobs() -> list[Instance]:
    rng = random.Random(5)
    jobs = []
    for n in range(250):
        tick, work, overhead = 20, rng.randrange(1, 200), rng.choice([0, 2, 10, 20, 35, 40, 60])
        deadline = -(-(work + overhead) // tick) * tick + tick * rng.randrange(0, 6)
        regions = rng.randrange(1, 4)
        spot = ["".join(rng.choice("0111") for _ in range(deadline // tick)) for _ in range(regions)]
        jobs.append(inst(spot, work=work, deadline=deadline, overhead=overhead, name=f"r{n}"))
    return jobs


def test_no_policy_can_make_the_harness_miss_the_deadline():
    rng = random.Random(11)

    def chaos(state):
        options = ["NONE", "ON_DEMAND", ["ON_DEMAND", rng.randrange(len(state["spot"]))]]
        options += [["SPOT", r] for r, up in enumerate(state["spot"]) if up]
        return rng.choice(options)

    for job in random_jobs():
        out = simulate(job, chaos)  # raises DeadlineMissed if the guarantee ever failed
        assert out.finish <= job.deadline / 100


def test_an_infeasible_job_is_a_missed_deadline_not_a_score():
    with pytest.raises(DeadlineMissed, match=r"left at the deadline 1\.0 h"):
        simulate(inst(["1" * 5], work=100, deadline=100), spot_or_none)
    row = {"name": "bad", "group": "single", "profiles": ["x"], "work": 1.0, "deadline": 1.0,
           "overhead": 0.2, "spot": ["11111"]}
    with pytest.raises(ValueError, match="infeasible"):
        parse_instance(row, 0.2)


# --- strict validation of the policy's reply --------------------------------------------------

@pytest.mark.parametrize("reply, why", [
    ("spot", "unknown action"), ("WAIT", "unknown action"), ("", "unknown action"),
    (1, "must return"), (True, "must return"), (None, "must return"), (0.5, "must return"),
    ({"action": "SPOT", "done": 48, "cost": 0}, "only an action is accepted"),
    (["SPOT"], "must return"), (["SPOT", 0, {"progress": 48}], "must return"),
    (["SPOT", True], "must be an int"), (["SPOT", 0.0], "must be an int"), (["SPOT", "0"], "must be an int"),
    (["SPOT", -1], "does not exist"), (["ON_DEMAND", 2], "does not exist"),
    ([1, 0], "unknown action"), ("SPOT", "unavailable"), (["SPOT", 0], "unavailable"),
])
def test_parse_action_rejects(reply, why):
    with pytest.raises(InvalidOutput, match=why):
        parse_action(reply, [False, True], 0, "tick 3")


def test_parse_action_accepts_both_forms():
    assert parse_action("NONE", [False, True], 1, "") == ("NONE", 1)
    assert parse_action(["SPOT", 1], [False, True], 0, "") == ("SPOT", 1)
    assert parse_action(["ON_DEMAND", 0], [False, True], 1, "") == ("ON_DEMAND", 0)


# --- the omniscient optimum -------------------------------------------------------------------

def brute_force(job: Instance) -> float:
    """The cheapest finish by exhaustive recursion on the model (no safety net)."""
    price = {"SPOT": 0.97 / 100, "ON_DEMAND": 3.06 / 100}

    @cache
    def best(k: int, done: int, cur: str, region: int, owed: int) -> float:
        if done == job.work:
            return 0.0
        if k == job.ticks:
            return float("inf")
        if cur == "SPOT" and not job.spot[k][region]:
            cur, owed = "NONE", 0
        options = [best(k + 1, done, "NONE", 0, 0)]
        for kind in ("SPOT", "ON_DEMAND"):
            for r in range(job.regions):
                if kind == "SPOT" and not job.spot[k][r]:
                    continue
                o = owed if (kind, r) == (cur, region) else job.overhead
                paid = min(o, job.tick)
                step = min(job.tick - paid, job.work - done)
                options.append(price[kind] * (paid + step) + best(k + 1, done + step, kind, r, o - paid))
        return min(options)

    return best(0, 0, "NONE", 0, 0)


def test_dp_matches_exhaustive_recursion_on_small_jobs():
    rng = random.Random(3)
    for _ in range(40):
        overhead = rng.choice([2, 10, 20, 30, 50])
        work = rng.randrange(20, 120)
        deadline = -(-(work + overhead) // 20) * 20 + 20 * rng.randrange(0, 5)
        spot = ["".join(rng.choice("01") for _ in range(deadline // 20)) for _ in range(rng.randrange(1, 3))]
        job = inst(spot, work=work, deadline=deadline, overhead=overhead)
        assert omniscient_cost(job) == pytest.approx(brute_force(job), abs=1e-9)


def test_optimum_bounds_every_baseline_from_below():
    verifier = verifier_for("cant_be_late")
    policies = {}
    for name, code in verifier.spec.baselines().items():
        ns: dict = {}
        exec(code, ns)  # trusted baselines, in the test process only
        policies[name] = ns["decide"]
    for job in verifier.instances("train")[::5]:
        for decide in policies.values():
            assert job.opt_cost <= simulate(job, decide).cost + 1e-6


def test_committed_instance_files_are_the_recipe_output():
    for name in RECIPES:
        assert (DATA / f"{name}.json").read_text() == render(name), name
    sets = {s: verifier_for("cant_be_late").instances(s) for s in ("gate", "train", "test")}
    assert [len(v) for v in sets.values()] == [4, 54, 54]
    traces = {i.spot for i in sets["train"]}
    assert len(traces) == 54 and not traces & {i.spot for i in sets["test"]}
    assert {i.regions for i in sets["test"]} == {1, 3, 4}
    assert {"steady", "scarce", "choppy"} <= {p for i in sets["test"] for p in i.profiles}
    assert not {"steady", "scarce", "choppy"} & {p for i in sets["train"] for p in i.profiles}


# --- through the sandbox ------------------------------------------------------------------------

def job(code: str, set_name: str = "train") -> dict:
    return run_job({"problem": "cant_be_late", "code": code, "set": set_name})


REFERENCE = {  # cost_ratio as measured here (deterministic): gate, train, test
    "greedy": (0.812403, 0.626872, 0.680799),
    "uniform_progress": (0.855081, 0.604333, 0.687438),
    "on_demand": (1.0, 1.0, 1.0),
}


def test_baselines_reproduce_the_reference_figures():
    """Uniform Progress here; greedy's train and test figures are checked by the hack tests below
    (greedy with a guard) and the scripted run (the seed is greedy)."""
    base = verifier_for("cant_be_late").spec.baselines()
    for k, set_name in ((1, "train"), (2, "test")):
        out = job(base["uniform_progress"], set_name)
        assert out["ok"], out["error"]
        assert round(out["metrics"]["cost_ratio"], 6) == REFERENCE["uniform_progress"][k], set_name
        assert out["combined_score"] == -out["metrics"]["cost_ratio"]
    out = job(base["on_demand"], "gate")
    assert out["ok"] and out["metrics"]["cost_ratio"] == 1.0 and out["metrics"]["std_cost"] == 0.0


def test_always_none_is_forced_onto_on_demand_and_pays_for_it():
    code = ("def decide(state):\n    state['done'] = state['work']  # edits a copy: no effect\n"
            "    state['remaining'] = 0.0\n    return 'NONE'\n")
    out = job(code)
    assert out["ok"], out["error"]
    assert out["metrics"]["cost_ratio"] == 1.0 and out["metrics"]["forced_share"] == 1.0


@pytest.mark.parametrize("body, kind, needle", [
    ("return 'SPOT'", "invalid", "spot is unavailable"),
    ("return 'spot'", "invalid", "unknown action 'spot'"),
    ("return {'action': 'SPOT', 'done': 48.0, 'cost': 0.0}", "invalid", "only an action is accepted"),
    ("return ['NONE', 0, {'cost': 0}]", "invalid", "must return"),
    ("return float('nan')", "exception", "decide() returned nan or inf"),
    ("import time; time.sleep(5)", "timeout", "time limit"),
])
def test_cheats_and_bad_replies_fail_with_reasons(body, kind, needle):
    out = job(f"def decide(state):\n    {body}\n")
    assert not out["ok"] and out["error_kind"] == kind and needle in out["error"], out["error"]
    assert "quick check" in out["error"]


GREEDY_BODY = '''
def decide(state):
    spot = state["spot"]
    if spot[state["region"]]:
        return "SPOT"
    for region, available in enumerate(spot):
        if available:
            return ["SPOT", region]
    return "NONE"
'''


def test_reading_the_trace_files_is_impossible():
    paths = [str(DATA / "train.json"), str(DATA / "test.json"), "problems/cant_be_late/data/test.json"]
    code = (f"PATHS = {paths!r}\nREAD = []\nfor p in PATHS:\n    try:\n"
            "        READ.append(open(p).read(9))\n    except OSError:\n        pass\n")
    guard = "    if READ:\n        raise RuntimeError('read the traces')\n"
    code += GREEDY_BODY.replace("    spot = state", guard + "    spot = state")
    out = job(code, "test")
    assert out["ok"], out["error"]
    assert round(out["metrics"]["cost_ratio"], 6) == REFERENCE["greedy"][2]


def test_state_does_not_survive_between_evaluations():
    code = '''
import os, tempfile
MARK = os.path.join(tempfile.gettempdir(), "cbl-seen")
if os.path.exists(MARK):
    raise RuntimeError("state survived from an earlier evaluation")
open(MARK, "w").write("seen")
JOBS = [0]
''' + GREEDY_BODY.replace("    spot = state", "    JOBS[0] += state['tick'] == 0\n"
                          "    if JOBS[0] > 4 + 54:\n        raise RuntimeError('jobs of another set')\n"
                          "    spot = state")
    first, second = job(code, "train"), job(code, "test")
    assert first["ok"] and second["ok"], (first["error"], second["error"])
    assert round(first["metrics"]["cost_ratio"], 6) == REFERENCE["greedy"][1]
    assert round(second["metrics"]["cost_ratio"], 6) == REFERENCE["greedy"][2]


# --- CLI and a scripted run ---------------------------------------------------------------------

def test_evolve_baseline_prints_the_table():
    res = run_cli("baseline", "cant_be_late", "--sets", "gate")
    assert res.returncode == 0, res.stderr
    for name, (gate, _, _) in REFERENCE.items():
        line = next(row for row in res.stdout.splitlines() if name[:9] in row)
        assert f"{100 * gate:.2f}%" in line, line
    assert "mean_cost" in res.stdout and "4 short jobs" in res.stdout


SLACK_DIFF = """Wait for spot only while there is plenty of slack.
<<<<<<< SEARCH
    return "NONE"
=======
    if state["slack"] < 1.0:
        return "ON_DEMAND"
    return "NONE"
>>>>>>> REPLACE
"""


@pytest.mark.slow
def test_evolve_run_scores_a_child(stub, tmp_path):
    stub.push(Step(content=SLACK_DIFF))
    runs = str(tmp_path / "runs")
    # tuning the child's one constant scores 40 settings on the 54 training jobs (3.5 min on 2
    # idle cores); this test is about the child, tuning has its own tests
    config = write_config(tmp_path / "run.yaml", "tuning:\n  enabled: false\n")
    res = run_cli("run", "cant_be_late", "--api-base", stub.url, "--iterations", "2", "--config",
                  str(config), "--runs-dir", runs, "--run-name", "cbl", "--no-report")
    assert res.returncode == 0, res.stderr + res.stdout
    db = tmp_path / "runs" / "cbl" / "archive.db"
    rows = query(db, "select id, parent_id, status, combined_score from programs order by id")
    # the training jobs are the run's own draw (stored with it), not the README's public ones
    (draw,), = query(db, "select draw from runs")
    assert draw is not None and rows[0][2] == "ok"
    assert rows[0][3] != pytest.approx(-REFERENCE["greedy"][1])
    seed_code = verifier_for("cant_be_late").spec.initial_code
    on_draw = run_job({"problem": "cant_be_late", "code": seed_code, "set": "train", "draw": draw})
    assert rows[0][3] == pytest.approx(on_draw["combined_score"], rel=1e-12)
    child = rows[1]
    assert child[1] == 1 and child[2] == "ok" and child[3] is not None
    prompt = str(stub.requests[0]["messages"])
    assert "Most expensive jobs" in prompt and "def decide" in prompt
