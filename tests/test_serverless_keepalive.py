"""serverless_keepalive: the simulator's accounting on hand-checked functions, strict reply
parsing, the baseline figures of the README (the hybrid histogram policy beats the fixed 10-minute
keep-alive on train), reward hacks through the sandbox, drawn sets, the brief's edge cases and a
scripted run."""

from __future__ import annotations

import re
from functools import cache

import numpy as np
import pytest

from evaluators.base import InvalidOutput
from evaluators.draws import new_draw
from evaluators.jobs import run_job, verifier_for
from evaluators.problem import load_problem
from evaluators.serverless_keepalive import simulator as sim
from evaluators.serverless_keepalive.workloads import Function, Workload, build_source, stretches
from evolve.llm.stub_server import Step

from .conftest import ROOT, query, run_cli

PROBLEM = "serverless_keepalive"
EVALUATORS = ROOT / "evaluators" / PROBLEM


def fn(*spans: tuple[int, int, int], memory: int = 512, trigger: str = "http") -> Function:
    return Function(trigger=trigger, memory_mb=memory, daily_rate=0.0, stretches=spans)


def wl(minutes: int, *functions: Function) -> Workload:
    return Workload(name="t", minutes=minutes, functions=functions)


def recorder(reply):
    """A policy that returns ``reply(state)`` and records every state it was shown."""
    seen: list[dict] = []

    def decide(state):
        seen.append(state)
        return reply(state)
    return decide, seen


# --- the simulator on hand-checked functions ----------------------------------------------------

def test_stretches_are_runs_of_consecutive_busy_minutes():
    counts = np.array([2, 1, 0, 0, 3, 0, 1, 1, 1, 0])
    assert stretches(counts) == ((0, 1, 3), (4, 4, 3), (6, 8, 3))
    assert stretches(np.zeros(5, dtype=np.int64)) == ()


# busy minutes 0, 10, 25-26 and 100 of a 130-minute horizon: idle times 9, 14 and 73 minutes,
# then 29 minutes to the end of the horizon
ONE = fn((0, 0, 1), (10, 10, 2), (25, 26, 5), (100, 100, 1))


def test_fixed_keepalive_exact_cold_starts_and_wasted_minutes():
    out = sim.simulate(wl(130, ONE), sim.fixed(10.0))
    f = out.functions[0]
    # idle 9 <= 10: warm, 9 wasted; 14 and 73 > 10: cold, 10 wasted each; the tail: 10 wasted
    assert (f.invocations, f.cold_starts, f.wasted_minutes, out.calls) == (9, 3, 39.0, 4)
    assert f.wasted_gb_minutes == 19.5 and f.cost == 19.5 + 3 * 5.0 == out.cost
    assert f.cold_percent == pytest.approx(100 * 3 / 9)
    out = sim.simulate(wl(130, ONE), sim.fixed(14.0))  # an idle time equal to the window is warm
    assert (out.functions[0].cold_starts, out.functions[0].wasted_minutes) == (2, 9 + 14 + 14 + 14)
    out = sim.simulate(wl(130, ONE), sim.fixed(0.0))  # no keep-alive: every stretch starts cold
    assert (out.functions[0].cold_starts, out.functions[0].wasted_minutes) == (4, 0.0)


def test_prewarm_windows_exact():
    # [prewarm 8, keepalive 5] = loaded from 8 to 13 minutes after each stretch
    f = sim.simulate(wl(130, ONE), lambda s: [8, 5]).functions[0]
    # idle 9: warm, 1 wasted; 14 > 13: cold, 5 wasted; 73: cold, 5; tail 29: 5 wasted
    assert (f.cold_starts, f.wasted_minutes, f.decisions, f.prewarms) == (3, 16.0, 4, 4)
    # idle 9 < prewarm 9.5: cold before the load, nothing wasted; the tail is cut at the horizon
    f = sim.simulate(wl(130, ONE), lambda s: [9.5, 100.0]).functions[0]
    assert (f.cold_starts, f.wasted_minutes) == (2, 0.0 + 4.5 + 63.5 + 19.5)
    f = sim.simulate(wl(130, ONE), lambda s: [9, 0]).functions[0]  # exactly on time, zero window
    assert (f.cold_starts, f.wasted_minutes) == (3, 0.0)
    assert sim.idle_outcome(3, 3, 0) == (False, 0.0) and sim.idle_outcome(2.5, 3, 0) == (True, 0.0)
    assert sim.trailing_waste(2.0, 3.0, 10.0) == 0.0 and sim.trailing_waste(20.0, 3.0, 10.0) == 10.0


def test_the_policy_sees_the_past_only_in_time_order():
    other = fn((3, 5, 4), (40, 40, 1), memory=128, trigger="timer")
    decide, seen = recorder(lambda s: 10.0)
    out = sim.simulate(wl(130, ONE, other), decide)
    order = [(s["time"], s["function"]) for s in seen]
    assert order == sorted(order) and order[:3] == [(1, "t/f0"), (6, "t/f1"), (11, "t/f0")]
    assert set(seen[0]) == {"function", "trigger", "memory_mb", "break_even", "time", "day", "hour",
                            "busy_minutes", "invocations", "cold_starts", "idle_count", "idle_times"}
    f0 = [s for s in seen if s["function"] == "t/f0"]
    assert [s["idle_times"] for s in f0] == [[], [9], [9, 14], [9, 14, 73]]
    assert [s["invocations"] for s in f0] == [1, 3, 8, 9]  # up to the stretch just ended
    assert [s["cold_starts"] for s in f0] == [1, 1, 2, 3]
    assert [s["busy_minutes"] for s in f0] == [1, 1, 2, 1]
    assert f0[0]["break_even"] == 10.0 and seen[1]["break_even"] == 40.0
    assert seen[1]["trigger"] == "timer" and seen[1]["idle_count"] == 0
    assert out.calls == 6 and out.functions[1].wasted_minutes == 10 + 10


def test_history_is_capped_and_hours_wrap():
    busy = tuple((3 * k, 3 * k, 1) for k in range(600))  # idle 2 minutes, 600 stretches
    decide, seen = recorder(lambda s: 1.0)
    out = sim.simulate(wl(1800, fn(*busy)), decide)
    last = seen[-1]
    assert last["idle_count"] == 599 and last["idle_times"] == [2] * sim.HISTORY
    assert (last["time"], last["day"], last["hour"]) == (1798, 1, pytest.approx(358 / 60))
    assert out.functions[0].cold_starts == 600  # a 1-minute window never covers 2 idle minutes


# --- strict validation of the reply -------------------------------------------------------------

@pytest.mark.parametrize("reply, why", [
    ("forever", "must return a number"), (None, "must return a number"), (True, "must return a number"),
    ({"keepalive": 10, "cost": 0}, "must return a number"), ([10], "1 item"),
    ([0, 10, {"cost": 0}], "3 item"), ([True, 10], "prewarm .* must be a number"),
    ([0, "10"], "keepalive .* must be a number"), ([0, [10]], "must be a number"),
    (-1, "must be >= 0"), ([-0.5, 10], "must be >= 0"), (float("nan"), "must be finite"),
    (float("inf"), "must be finite"), ([0, float("-inf")], "must be finite"),
])
def test_parse_reply_rejects(reply, why):
    with pytest.raises(InvalidOutput, match=why):
        sim.parse_reply(reply, "f at minute 3")


def test_parse_reply_accepts_numbers_and_cuts_endless_windows():
    assert sim.parse_reply(10, "") == (0.0, 10.0) and sim.parse_reply([2, 7.5], "") == (2.0, 7.5)
    assert sim.parse_reply(0, "") == (0.0, 0.0)
    assert sim.parse_reply(1e300, "") == (0.0, sim.MAX_MINUTES)
    assert sim.parse_reply([10 ** 400, 10 ** 400], "") == (sim.MAX_MINUTES, sim.MAX_MINUTES)


# --- the baselines: figures of the README -------------------------------------------------------

def job(code: str, set_name: str = "gate", draw: int | None = None) -> dict:
    return run_job({"problem": PROBLEM, "code": code, "set": set_name, "draw": draw})


def policy(code: str):
    ns: dict = {}
    exec(code, ns)  # trusted baselines, in the test process only
    return ns["keepalive"]


def in_process(code: str, set_name: str, draw: int | None = None) -> dict[str, float]:
    verifier = verifier_for(PROBLEM, draw)
    insts = verifier.instances(set_name)
    decide = policy(code)  # fresh module state per set
    return verifier.score(insts, [sim.simulate(i.workload, decide) for i in insts])[0]


BASELINES = load_problem(PROBLEM).baselines()
REFERENCE = {  # (cost_ratio, p75_cold_pct, wasted_memory_norm) on the public draw: train, test
    "fixed_10min": ((1.0, 78.3295, 1.0), (1.0, 75.0633, 1.0)),
    "fixed_1h": ((1.022037, 13.6461, 1.870378), (1.087764, 13.9977, 1.947559)),
    "hybrid_histogram": ((0.828403, 11.1111, 1.447137), (0.883213, 10.0862, 1.534295)),
}


@pytest.mark.parametrize("name", REFERENCE)
def test_baselines_reproduce_the_readme_figures(name):
    for k, set_name in enumerate(("train", "test")):
        m = in_process(BASELINES[name], set_name)
        got = (round(m["cost_ratio"], 6), round(m["p75_cold_pct"], 4), round(m["wasted_memory_norm"], 6))
        assert got == REFERENCE[name][k], (set_name, got)


def test_the_hybrid_resets_its_histograms_when_a_workload_is_replayed():
    """Constant tuning scores many settings in one session: the same functions come again."""
    decide = policy(BASELINES["hybrid_histogram"])
    w = verifier_for(PROBLEM).instances("train")[0].workload
    assert sim.simulate(w, decide) == sim.simulate(w, decide) != sim.simulate(w, sim.fixed(10.0))


def test_hybrid_beats_fixed_10_minutes_on_train_through_the_sandbox():
    out = job(BASELINES["hybrid_histogram"], "train")
    assert out["ok"], out["error"]
    m = out["metrics"]
    assert round(m["cost_ratio"], 6) == REFERENCE["hybrid_histogram"][0][0] < 1.0
    assert m["p75_cold_pct"] < 78.0 / 5  # cold starts of the 75th-percentile function cut 7x
    assert m["calls"] == 17078 and 0 < m["prewarm_share"] < 1
    assert out["combined_score"] == -m["cost_ratio"]
    assert "Functions costing most" in out["feedback"] and "By trigger" in out["feedback"]


# --- reward hacks through the sandbox -----------------------------------------------------------

@pytest.mark.parametrize("body, kind, needle", [
    ("return 'forever'", "invalid", "must return a number of minutes"),
    ("return {'keepalive': 10.0, 'cost': 0.0, 'cold_starts': 0}", "invalid", "must return a number"),
    ("return [0.0, 10.0, {'cost': 0}]", "invalid", "3 item(s)"),
    ("return [True, 10.0]", "invalid", "prewarm in [True, 10.0] must be a number"),
    ("return -1.0", "invalid", "keepalive is -1.0; it must be >= 0"),
    ("return float('nan')", "exception", "returned nan or inf"),
    ("return [0.0, float('inf')]", "exception", "returned nan or inf"),
])
def test_cheats_and_bad_replies_fail_with_reasons(body, kind, needle):
    out = job(f"def keepalive(state):\n    {body}\n", "train")  # stopped by the quick check
    assert not out["ok"] and out["error_kind"] == kind and needle in out["error"], out["error"]
    assert "quick check" in out["error"] and out["metrics"] == {}


def test_an_endless_keepalive_is_cut_to_a_week():
    week = job("def keepalive(state):\n    return 10080\n")
    for body in ("return 1e300", "return 10 ** 400", "return [0, 1e308]"):
        out = job(f"def keepalive(state):\n    {body}\n")
        assert out["ok"], out["error"]
        assert out["metrics"]["cost_ratio"] == week["metrics"]["cost_ratio"] > 1.0  # and costs


def test_editing_the_state_changes_nothing():
    code = ("def keepalive(state):\n    state['cold_starts'] = 0\n    state['idle_times'].clear()\n"
            "    state['memory_mb'] = 1\n    return 10.0\n")
    a, b = job(code), job(BASELINES["fixed_10min"])
    assert a["ok"] and {k: v for k, v in a["metrics"].items() if k != "cpu_seconds"} == \
        {k: v for k, v in b["metrics"].items() if k != "cpu_seconds"}


def test_forged_reply_cannot_smuggle_infinity():
    forge = '''
import struct, sys
proto = sys.modules.get("protocol")
if proto is not None:
    real = proto.encode
    def encode(obj):
        if "ok" in obj:  # 1e400 parses as inf on the other side
            data = b'{"ok":[0,1e400]}'
            return struct.pack(">I", len(data)) + data
        return real(obj)
    proto.encode = encode
def keepalive(state):
    return 10.0
'''
    out = job(forge, "train")
    assert not out["ok"] and out["combined_score"] is None, out
    assert out["error_kind"] in ("crash", "protocol", "invalid")


def test_reading_the_schedule_or_the_verifier_is_impossible():
    spy = f'''
import gc, glob, os
LEAK = []
for path in [{str(EVALUATORS / "workloads.py")!r}, "evaluators/{PROBLEM}/workloads.py",
             f"/proc/{{os.getppid()}}/environ",
             f"/proc/{{os.getppid()}}/mem", "/proc/1/environ"]:
    try:
        with open(path, "rb") as fh:
            if fh.read(64):
                LEAK.append(path)
    except OSError:
        pass
LEAK += glob.glob({str(EVALUATORS)!r} + "/*.py")
for name in ("evaluators.{PROBLEM}.workloads", "evaluators.draws"):
    try:
        __import__(name)
        LEAK.append(name)
    except ImportError:
        pass
LEAK += [o for o in gc.get_objects() if type(o).__name__ in ("Workload", "Instance", "Function")][:1]

def keepalive(state):
    if LEAK:
        raise RuntimeError(f"LEAKED {{LEAK[:3]}}")
    return 10.0
'''
    here: dict = {}
    exec(spy, here)  # in the verifier's own process the same code finds the generator at once ...
    assert len(here["LEAK"]) >= 3
    spied, honest = job(spy), job(BASELINES["fixed_10min"])  # ... in the sandbox it finds nothing
    assert spied["ok"], spied["error"]
    assert spied["metrics"]["cost_ratio"] == honest["metrics"]["cost_ratio"] == 1.0


# --- drawn sets: the held-out workloads cannot be rebuilt from the public seeds -----------------

def digest(instances) -> list[tuple]:
    return [tuple(f.stretches for f in i.workload.functions) for i in instances]


def test_train_and_test_differ_per_draw_and_the_gate_does_not():
    public, one, other = (verifier_for(PROBLEM, d) for d in (None, 2 ** 41 + 5, 2 ** 41 + 6))
    for set_name in ("train", "test"):
        base, a, b = (digest(v.instances(set_name)) for v in (public, one, other))
        assert a != base and b != a and not set(a) & set(base), set_name
        assert digest(verifier_for(PROBLEM, 2 ** 41 + 5).instances(set_name)) == a  # reproducible
    assert digest(one.instances("gate")) == digest(public.instances("gate"))
    assert not set(digest(public.instances("train"))) & set(digest(public.instances("test")))


def oracle():
    """A cheat that regenerates the public draw (the generator is public code) and replays the
    future: prewarm exactly to the next busy stretch, zero window."""
    future = {f"{w.name}/f{j}": {s[1] + 1: n[0] - (s[1] + 1) for s, n in zip(f.stretches, f.stretches[1:])}
              for w in build_source("train") for j, f in enumerate(w.functions)}
    return lambda state: [future[state["function"]].get(state["time"], 0.0), 0.0]


def test_an_oracle_rebuilt_from_the_public_seed_fails_on_a_run_draw():
    cheat = oracle()
    verifier = verifier_for(PROBLEM)
    insts = verifier.instances("train")
    public = verifier.score(insts, [sim.simulate(i.workload, cheat) for i in insts])[0]
    assert public["cost_ratio"] < 0.1  # on the README's draw it knows every future idle time ...
    draw = new_draw()
    drawn_v = verifier_for(PROBLEM, draw)
    insts = drawn_v.instances("train")
    drawn = drawn_v.score(insts, [sim.simulate(i.workload, cheat) for i in insts])[0]
    honest = in_process(BASELINES["hybrid_histogram"], "train", draw)
    assert drawn["cost_ratio"] > 1.5 > honest["cost_ratio"]  # ... on a run's draw it is lost


# --- the brief's edge cases hold on the sets ----------------------------------------------------

@cache
def calls_and_functions(set_name: str) -> tuple[list[dict], list[Function]]:
    seen: list[dict] = []
    for inst in verifier_for(PROBLEM).instances(set_name):
        sim.simulate(inst.workload, lambda s: seen.append(s) or 10.0)
    return seen, [f for i in verifier_for(PROBLEM).instances(set_name) for f in i.workload.functions]


def test_the_briefs_edge_cases_are_measured_on_the_sets():
    brief = load_problem(PROBLEM).brief.split("## Inputs that break naive code", 1)[1]
    pattern = r"first call of every function \(([\d,]+) of ([\d,]+) training calls, (\d+) of (\d+)"
    numbers = [int(x.replace(",", "")) for x in re.findall(pattern, brief)[0]]
    train, train_f = calls_and_functions("train")
    gate, _ = calls_and_functions("gate")
    assert numbers == [sum(not s["idle_times"] for s in train), len(train),
                       sum(not s["idle_times"] for s in gate), len(gate)]
    all_its = np.array([it for f in train_f for it in sim.idle_times(f)])
    assert f"({round(100 * np.mean(all_its == 1))}% on train)" in brief
    assert f"(up to {max(s['idle_count'] for s in train)} on train)" in brief
    test_f = [f for i in verifier_for(PROBLEM).instances("test") for f in i.workload.functions]
    for fs, label in ((train_f, "6.4 to 80 minutes on train"), (test_f, "5.4 to 80 on the held-out set")):
        be = [sim.COLD_START_GB_MINUTES * 1024 / f.memory_mb for f in fs]
        assert f"{min(be):.1f} to {max(be):.0f}" in label, (min(be), max(be))
        assert label in brief
    single = sum(len(f.stretches) == 1 for f in train_f)
    assert f"{single} of {len(train_f)} training functions have a single busy stretch" in brief


# --- a scripted run -----------------------------------------------------------------------------

PREWARM_DIFF = """Pre-warm just before the shortest recent idle time, keep until the longest.
<<<<<<< SEARCH
    return 0.0, 10.0
=======
    if len(idle_times) < 3:
        return 0.0, 10.0
    recent = sorted(idle_times[-20:])
    return 0.9 * recent[0], 1.1 * recent[-1] - 0.9 * recent[0]
>>>>>>> REPLACE
"""


@pytest.mark.slow
def test_evolve_run_scores_a_child(stub, tmp_path):
    stub.push(Step(content=PREWARM_DIFF))
    runs = tmp_path / "runs"
    config = tmp_path / "run.yaml"
    config.write_text("tuning:\n  enabled: false\n")
    res = run_cli("run", PROBLEM, "--api-base", stub.url, "--iterations", "2", "--no-report",
                  "--runs-dir", str(runs), "--run-name", "sk", "--config", str(config))
    assert res.returncode == 0, res.stderr + res.stdout
    db = runs / "sk" / "archive.db"
    rows = query(db, "select id, parent_id, status, combined_score from programs order by id")
    (draw,), = query(db, "select draw from runs")
    assert draw is not None and rows[0][2] == "ok" and rows[0][3] == -1.0  # the seed is fixed 10 min
    child = rows[1]
    assert child[1] == 1 and child[2] == "ok" and child[3] is not None and child[3] != -1.0
    prompt = str(stub.requests[0]["messages"])
    assert "Functions costing most" in prompt and "def keepalive" in prompt
