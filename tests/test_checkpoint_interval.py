"""checkpoint_interval: the simulator's accounting on hand-computed jobs, strict validation of the
interval, Daly against fixed intervals, reward hacks through the sandbox, the drawn sets and a
scripted run."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from evaluators.base import InvalidOutput
from evaluators.checkpoint_interval import reference
from evaluators.checkpoint_interval.instances import RECIPES, Instance, build
from evaluators.checkpoint_interval.simulator import MIN_INTERVAL, check_interval, simulate
from evaluators.jobs import run_job, verifier_for
from evolve.llm.stub_server import Step

from .conftest import query, run_cli, write_config

NEVER = 1e9  # a failure time past the end of every hand-made job


def inst(failures=(), work=3.0, cost=0.1, downtime=0.2, growth=0.0, episodes=(), busy=1.0,
         mtbf=2.0) -> Instance:
    """A hand-made job: failures at the given wall times (hours), then none."""
    return Instance(name="t", failure="exp", shape=1.0, mtbf=mtbf, work=work, downtime=downtime,
                    cost0=cost, pattern="contended" if episodes else "const", growth=growth,
                    busy_factor=busy, episodes=tuple(episodes), failures=(*failures, NEVER))


def recorder(reply=1.0):
    """A policy returning ``reply`` (a value or a function of the state), recording every state."""
    seen: list[dict] = []

    def decide(state):
        seen.append(state)
        return reply(state) if callable(reply) else reply
    return decide, seen


def identity(job: Instance, out) -> float:
    return job.work + out.lost + out.checkpointing + out.downtime + out.recovery


# --- the simulator on hand-computed jobs ------------------------------------------------------

def test_no_failure_pays_only_the_checkpoints():
    decide, seen = recorder(1.0)
    out = simulate(inst(), decide)  # 1 h, write 0.1 h, 1 h, write 0.1 h, last hour: no checkpoint
    assert out.finished and out.wall == pytest.approx(3.2) and out.overhead == pytest.approx(0.2 / 3)
    assert (out.checkpoints, out.failures, out.calls, out.lost) == (2, 0, 3, 0.0)
    assert [s["event"] for s in seen] == ["start", "checkpoint", "checkpoint"]
    assert [s["done"] for s in seen] == [0.0, 1.0, 2.0] and seen[2]["elapsed"] == pytest.approx(2.2)
    assert seen[0]["failure_times"] == [] and seen[0]["checkpoint_history"] == []
    assert seen[2]["checkpoint_history"] == [[1.0, 0.1], [pytest.approx(2.1), 0.1]]
    assert set(seen[0]) == {"call", "event", "elapsed", "work", "done", "unsaved", "remaining",
                            "since_failure", "failures", "failure_times", "checkpoint_cost",
                            "recovery_cost", "downtime", "mtbf", "min_interval", "checkpoints",
                            "checkpoint_history"}


def test_one_failure_loses_exactly_the_work_since_the_last_checkpoint():
    # 0-1 compute, 1-1.1 write, failure at 1.5 (0.4 h lost), down to 1.7, read 0.1 h, 1.8-2.8
    # compute, write to 2.9, the last hour to 3.9
    decide, seen = recorder(1.0)
    out = simulate(inst([1.5]), decide)
    assert out.lost == pytest.approx(0.4) and out.checkpointing == pytest.approx(0.2)
    assert (out.downtime, out.recovery) == (pytest.approx(0.2), pytest.approx(0.1))
    assert out.wall == pytest.approx(3.9) == identity(inst(), out)
    assert out.overhead == pytest.approx(0.3) and (out.failures, out.checkpoints, out.calls) == (1, 2, 4)
    rec = seen[2]
    assert rec["event"] == "recovery" and rec["elapsed"] == pytest.approx(1.8) and rec["done"] == 1.0
    assert rec["since_failure"] == pytest.approx(0.1) and rec["failure_times"] == [1.5]
    assert rec["failures"] == 1 and rec["recovery_cost"] == pytest.approx(0.1)


def test_a_failure_during_a_write_loses_the_write_and_what_it_saved():
    out = simulate(inst([1.05]), recorder(1.0)[0])  # the first write (1.0-1.1) fails at 1.05
    assert out.lost == pytest.approx(1.0) and out.checkpointing == pytest.approx(0.05 + 0.2)
    assert out.recovery == 0.0  # nothing saved yet: nothing to read
    assert out.wall == pytest.approx(4.45) == identity(inst(), out)


def test_a_failure_during_recovery_restarts_it():
    out = simulate(inst([1.5, 1.75]), recorder(1.0)[0])  # the read (1.7-1.8) fails at 1.75
    assert out.failures == 2 and out.downtime == pytest.approx(0.4)
    assert out.recovery == pytest.approx(0.05 + 0.1) and out.lost == pytest.approx(0.4)
    assert out.wall == pytest.approx(4.15) == identity(inst(), out)


def test_bandwidth_changes_call_the_policy_and_a_low_target_checkpoints_at_once():
    job = inst(episodes=[(0.5, 2.0)], busy=0.25)  # 4x the cost from 0.5 h to 2.0 h

    def policy(state):
        return 0.5 if state["event"] == "bandwidth" and state["checkpoint_cost"] < 0.2 else 1.0
    decide, seen = recorder(policy)
    out = simulate(job, decide)
    assert [s["event"] for s in seen] == ["start", "bandwidth", "checkpoint", "bandwidth", "checkpoint",
                                          "checkpoint"]
    assert seen[1]["unsaved"] == 0.5 and seen[1]["checkpoint_cost"] == pytest.approx(0.4)
    assert seen[3]["unsaved"] == pytest.approx(0.6) and seen[3]["remaining"] == pytest.approx(1.4)
    # writes: 0.4 h at 1.0 (busy), 0.1 h at 2.0 saving all 0.6 h, 0.1 h at 3.1; the last 0.4 h to 3.6
    assert out.checkpointing == pytest.approx(0.6) and out.wall == pytest.approx(3.6) == identity(job, out)
    assert seen[4]["done"] == pytest.approx(1.6)


def test_the_cost_grows_with_the_state():
    out = simulate(inst(work=3.0, growth=1.0), recorder(1.0)[0])  # writes at 1/3 and 2/3 of the work
    assert out.checkpointing == pytest.approx(0.1 * (1 + 1 / 3) + 0.1 * (1 + 2 / 3))


def test_a_job_that_never_checkpoints_stops_at_its_horizon():
    job = build("train")[0]  # 60 h of work, MTBF 2 h: 60 failure-free hours never come
    out = simulate(job, lambda s: s["work"])
    assert not out.finished and out.checkpoints == 0 and out.wall >= 10 * job.work
    assert out.overhead == pytest.approx(9.0 + 1.0)  # 900% + the unsaved share (all of it)


def test_accounting_holds_and_no_state_shows_the_future_on_every_training_job():
    rng = random.Random(4)
    for job in build("train")[::3] + build("test")[::4]:
        chaos, seen = recorder(lambda state: min(max(rng.choice([0.1, 0.3, 1.0, 3.0, state["unsaved"]]),
                                                     0.1), state["work"]))
        out = simulate(job, chaos)
        assert out.finished and out.wall == pytest.approx(identity(job, out), rel=1e-9)
        for s in seen:
            assert all(f <= s["elapsed"] for f in s["failure_times"]) and len(s["failure_times"]) <= 50
            assert s["failures"] == sum(f <= s["elapsed"] for f in job.failures)
            assert s["done"] + s["unsaved"] + s["remaining"] == pytest.approx(job.work)


# --- strict validation of the reply -------------------------------------------------------------

STATE = {"min_interval": MIN_INTERVAL, "work": 60.0}


@pytest.mark.parametrize("reply, why", [
    (True, "got bool"), ("1.0", "got str"), (None, "got NoneType"), ([1.0], "got list"),
    ({"interval": 1.0, "overhead": 0.0}, "only the interval is accepted"), (float("nan"), "finite"),
    (float("inf"), "finite"), (-1.0, "below min_interval"), (0, "below min_interval"),
    (0.05, "below min_interval"), (60.5, "more than the job's work"), (10 ** 400, "too large"),
])
def test_check_interval_rejects(reply, why):
    with pytest.raises(InvalidOutput, match=why):
        check_interval(reply, STATE, "call 3")


def test_check_interval_accepts_ints_floats_and_numpy_floats():
    assert check_interval(1, STATE, "") == 1.0 and check_interval(60, STATE, "") == 60.0
    assert check_interval(np.float64(0.1), STATE, "") == 0.1


# --- Daly against fixed intervals ---------------------------------------------------------------

def groups(set_name: str) -> dict[str, list[Instance]]:
    out: dict[str, list[Instance]] = {}
    for job in build(set_name):
        out.setdefault(f"{job.failure} {job.cost_group}", []).append(job)
    return out


def mean_overhead(jobs, policy) -> float:
    return float(np.mean([simulate(j, policy).overhead for j in jobs]))


def test_daly_beats_fixed_intervals_on_the_exponential_constant_cost_jobs():
    jobs = groups("train")["exp const"]
    daly = mean_overhead(jobs, reference.daly_policy)
    for hours in (0.25, 0.5, 1.0, 2.0, 4.0):
        assert daly < mean_overhead(jobs, reference.fixed_policy(hours)), hours
    for factor in (0.5, 2.0):  # and Daly's own interval halved or doubled, per job
        assert daly < float(np.mean([simulate(j, reference.fixed_policy(factor * reference.daly(
            j.cost0, j.mtbf))).overhead for j in jobs]))


def test_brute_force_best_fixed_interval_is_near_dalys_on_exponential_failures_only():
    """The README's claims, on 3 replicate jobs per family (the README uses 8): on exponential
    failures with a constant cost, the best of 13 fixed intervals (0.5x .. 4x Daly's, chosen on
    the same jobs) gains under 3% on Daly; with a varying cost, Daly's interval kept from the start
    (a fixed save interval) loses to Daly recomputed at every call, and on Weibull jobs with a
    varying cost the hazard-aware interval beats Daly recomputed at every call."""
    recipe = RECIPES["train"]
    rows = [reference.family_row("train", i, 3) for i, fam in enumerate(recipe.families)
            if (fam.failure, fam.pattern) == ("exp", "const")]
    daly, best = np.mean([r["daly"] for r in rows]), np.mean([r["best_fixed"] for r in rows])
    assert daly / 1.03 < best <= daly
    assert 0.7 <= np.median([r["best_multiple"] for r in rows]) <= 1.2
    static, online, hazard, weibull_daly = [], [], [], []
    for i, fam in enumerate(recipe.families):
        if fam.pattern == "contended" and fam.mtbf == 2.0:
            jobs = reference.replicates("train", i, 3)
            if fam.failure == "exp":
                static.append(reference.expected(jobs, lambda _: reference.daly_static_policy()))
                online.append(reference.expected(jobs, lambda _: reference.daly_policy))
            else:
                weibull_daly.append(reference.expected(jobs, lambda _: reference.daly_policy))
                hazard.append(reference.expected(jobs, reference.oracle_hazard_policy))
    assert np.mean(online) < np.mean(static) and np.mean(hazard) < np.mean(weibull_daly)


def test_young_and_daly_formulas():
    assert reference.young(0.5, 4.0) == 2.0
    c, m = 0.15, 6.0
    x = c / (2 * m)
    assert reference.daly(c, m) == pytest.approx(math.sqrt(2 * c * m) * (1 + math.sqrt(x) / 3 + x / 9) - c)
    assert reference.daly(5.0, 2.0) == 2.0  # C >= 2M: M
    assert reference.hazard_interval(0.2, 3.0, 1.0, 4.0) == pytest.approx(reference.young(0.2, 4.0))


# --- through the sandbox ------------------------------------------------------------------------

def job(code: str, set_name: str = "gate", draw: int | None = None) -> dict:
    return run_job({"problem": "checkpoint_interval", "code": code, "set": set_name, "draw": draw})


REFERENCE = {  # overhead on the public draw (README table; deterministic): gate, train, test
    "hourly": (0.639673, 0.440012, 0.609705),
    "young": (0.692244, 0.369597, 0.456076),
    "daly": (0.732169, 0.376465, 0.464555),
    "daly_static": (0.935521, 0.401268, 0.549881),
}


def baseline(name: str) -> str:
    return verifier_for("checkpoint_interval").spec.baselines()[name]


@pytest.mark.slow
def test_daly_through_the_sandbox_reproduces_the_readme_figures():
    """About 24,000 sandbox calls (20 s on 2 idle cores, 70 s on a loaded machine)."""
    for k, set_name in ((1, "train"), (2, "test")):
        out = job(baseline("daly"), set_name)
        assert out["ok"], out["error"]
        assert round(out["metrics"]["overhead"], 6) == REFERENCE["daly"][k], set_name
        assert out["metrics"]["vs_daly"] == pytest.approx(0.0, abs=1e-12)
        assert out["combined_score"] == -out["metrics"]["overhead"]


def test_every_readme_figure_in_process():
    """The baselines run here on the trusted simulator (the sandbox gives the same replies: Daly's
    figures above, the hourly gate figure below)."""
    for name, figures in REFERENCE.items():
        ns: dict = {}
        exec(baseline(name), ns)  # trusted baselines, in the test process only
        for set_name, figure in zip(("gate", "train", "test"), figures):
            jobs = verifier_for("checkpoint_interval").instances(set_name)
            got = np.mean([simulate(j, ns["next_checkpoint"]).overhead for j in jobs])
            assert round(float(got), 6) == figure, (name, set_name)


@pytest.mark.parametrize("body, kind, needle", [
    ("return True", "invalid", "got bool"),
    ("return 'checkpoint now'", "invalid", "got str"),
    ("return [1.0, 'no failures']", "invalid", "got list"),
    ("return {'interval': 1.0, 'overhead': 0.0, 'lost': 0.0}", "invalid", "only the interval is accepted"),
    ("return float('nan')", "exception", "returned nan or inf"),
    ("return -1.0", "invalid", "below min_interval"),
    ("return 0", "invalid", "below min_interval"),
    ("return 1e300", "invalid", "more than the job's work"),
    ("return 10 ** 400", "invalid", "too large"),
    ("return state['work'] + 1", "invalid", "more than the job's work"),
])
def test_bad_replies_fail_at_the_quick_check(body, kind, needle):
    out = job(f"def next_checkpoint(state):\n    {body}\n", "train")  # stopped by the gate
    assert not out["ok"] and out["error_kind"] == kind and needle in out["error"], out["error"]
    assert "quick check" in out["error"] and out["combined_score"] is None


def test_never_and_always_checkpointing_lose_to_daly():
    daly = job(baseline("daly"))["metrics"]["overhead"]
    never = job("def next_checkpoint(state):\n    return state['work']\n")
    always = job("def next_checkpoint(state):\n    return state['min_interval']\n")
    assert never["ok"] and always["ok"]
    assert never["metrics"]["overhead"] > 3.0 and never["metrics"]["unfinished_share"] > 0
    assert never["metrics"]["checkpoints"] == 0.0
    assert always["metrics"]["overhead"] > daly + 0.3 and always["metrics"]["checkpoint_share"] > 0.5


def test_editing_the_state_or_claiming_progress_changes_nothing():
    tamper = ("def next_checkpoint(state):\n"
              "    state['done'] = state['work']; state['remaining'] = 0.0; state['failures'] = 0\n"
              "    state['checkpoint_cost'] = 0.0; state['failure_times'].clear()\n"
              "    return min(max(1.0, state['min_interval']), state['work'])\n")
    honest, tampered = job(baseline("hourly")), job(tamper)
    assert tampered["ok"], tampered["error"]
    assert tampered["metrics"] == {**honest["metrics"], "cpu_seconds": tampered["metrics"]["cpu_seconds"]}
    assert round(honest["metrics"]["overhead"], 6) == REFERENCE["hourly"][0]


def test_the_failure_schedule_is_out_of_reach():
    root = verifier_for("checkpoint_interval").spec.root
    spy = f'''
import gc, glob
LEAK = []
try:
    from evaluators.checkpoint_interval.instances import build
    LEAK.append(("rebuilt", build("gate")[0].failures[:3]))
except ImportError:
    pass
for path in [{str(root / "README.md")!r}, "evaluators/checkpoint_interval/instances.py",
             "/work/main/evaluators/checkpoint_interval/instances.py"]:
    try:
        with open(path) as fh:
            LEAK.append((path, len(fh.read())))
    except OSError:
        pass
LEAK += glob.glob({str(root.parent.parent / "evaluators")!r} + "/*")

def next_checkpoint(state):
    found = [type(o).__name__ for o in gc.get_objects()
             if type(o).__name__ in ("Inst" + "ance", "Out" + "come")]
    if LEAK or found:
        raise RuntimeError(f"LEAKED {{LEAK[:3]}} {{found[:3]}}")
    return min(max(1.0, state["min_interval"]), state["work"])
'''
    here: dict = {}
    exec(spy, here)  # in the verifier's own process the same code rebuilds the failures at once ...
    assert any(item[0] == "rebuilt" for item in here["LEAK"] if isinstance(item, tuple))
    build("gate")
    with pytest.raises(RuntimeError, match="LEAKED"):
        here["next_checkpoint"]({"min_interval": 0.1, "work": 6.0})
    out = job(spy)  # ... inside the sandbox it finds nothing and plays as the hourly baseline
    assert out["ok"], out["error"]
    assert round(out["metrics"]["overhead"], 6) == REFERENCE["hourly"][0]


def test_the_held_out_set_differs_per_draw_and_not_from_the_public_seeds():
    public = build("test")
    one, again, other = build("test", 2 ** 41 + 5), build("test", 2 ** 41 + 5), build("test", 2 ** 50 + 9)
    assert [j.failures for j in one] == [j.failures for j in again]  # a draw is reproducible
    assert len(one) == len(public) == 36 and [j.name for j in one] == [j.name for j in public]
    public_failures = {f for j in public for f in j.failures[:20]}
    for drawn in (one, other):
        assert not {f for j in drawn for f in j.failures[:20]} & public_failures
    assert not {j.failures for j in one} & {j.failures for j in other}
    # the verifier passes a run's draw to the drawn sets only: the gate is public on every draw
    drawn = verifier_for("checkpoint_interval", 2 ** 41 + 5)
    assert [j.failures for j in drawn.instances("test")] == [j.failures for j in one]
    assert [j.failures for j in drawn.instances("gate")] == [j.failures for j in build("gate")]


# --- a scripted run -----------------------------------------------------------------------------

YOUNG_DIFF = """Use Young's interval with the cost observed now.
<<<<<<< SEARCH
    return 1.0
=======
    return (2.0 * state["checkpoint_cost"] * state["mtbf"]) ** 0.5
>>>>>>> REPLACE
"""


@pytest.mark.slow
def test_evolve_run_scores_a_child(stub, tmp_path):
    stub.push(Step(content=YOUNG_DIFF))
    runs = str(tmp_path / "runs")
    config = write_config(tmp_path / "run.yaml", "tuning:\n  enabled: false\n")
    res = run_cli("run", "checkpoint_interval", "--api-base", stub.url, "--iterations", "2", "--config",
                  str(config), "--runs-dir", runs, "--run-name", "ckpt", "--no-report")
    assert res.returncode == 0, res.stderr + res.stdout
    db = tmp_path / "runs" / "ckpt" / "archive.db"
    rows = query(db, "select id, parent_id, status, combined_score from programs order by id")
    (draw,), = query(db, "select draw from runs")
    assert draw is not None and rows[0][2] == "ok"
    assert rows[0][3] != pytest.approx(-REFERENCE["hourly"][1])  # the run's own draw, not the public one
    child = rows[1]
    assert child[1] == 1 and child[2] == "ok" and child[3] > rows[0][3]  # Young beats a fixed hour
    prompt = str(stub.requests[0]["messages"])
    assert "furthest above Daly" in prompt and "def next_checkpoint" in prompt


def test_the_briefs_edge_cases_are_measured_on_the_sets():
    brief = verifier_for("checkpoint_interval").spec.brief.split("## Inputs that break naive code")[1]
    train, gate = build("train"), build("gate")
    calls = {"all": 0, "bandwidth": 0}
    varying, most_failures = 0, 0
    for job in train:
        decide, seen = recorder(reference.daly_policy)
        out = simulate(job, decide)
        costs = {s["checkpoint_cost"] for s in seen}
        varying += len(costs) > 1
        most_failures = max(most_failures, out.failures)
        calls["all"] += len(seen)
        calls["bandwidth"] += sum(s["event"] == "bandwidth" and s["unsaved"] > 0 for s in seen)
        assert seen[0]["call"] == 0 and seen[0]["elapsed"] == seen[0]["since_failure"] == 0.0
        assert min(costs) >= 0.03 - 1e-12 and max(costs) <= 1.2
    assert f"in {varying} of {len(train)} training jobs" in brief
    assert f"(2 of {len(gate)} quick-check jobs)" in brief and sum(j.pattern != "const" for j in gate) == 2
    assert f"up to {most_failures} in a training job" in brief
    assert f"{calls['bandwidth']} of the {calls['all']} calls" in brief
    assert {j.work for j in gate} == {6.0} and "6 h in the quick check" in brief
