"""gpu_model_placement: the verifier's arithmetic on a hand-made instance, the references (lower
bound <= CP-SAT optimum <= greedy; the optimum against brute force), the README's baseline figures,
the reward hacks of the reply (a dropped model, a duplicate, an over-capacity GPU, a claimed
score, wrong types), tampering with the inputs, the red team's cheats (reading the verifier's
files, state kept between evaluations, rewriting replies already returned, an oracle rebuilt from
the public seeds against a run's draw), and a scripted run."""

from __future__ import annotations

import hashlib
import itertools
import json
import re

import pytest

from evaluators.base import InvalidOutput
from evaluators.draws import new_draw
from evaluators.gpu_model_placement.instances import EXACT_GPUS, generate, load_source
from evaluators.gpu_model_placement.model import Instance, Model, check_placement, lower_bound, max_pressure
from evaluators.gpu_model_placement.reference import TOLERANCE, greedy_by_pressure, optimum
from evaluators.gpu_model_placement.verifier import score
from evaluators.jobs import run_job, verifier_for
from evaluators.problem import load_problem
from evolve.llm.stub_server import Step

from .conftest import ROOT, query, run_cli
from .red_team import STATE_PROBE, spy_code

PROBLEM = "gpu_model_placement"
SPEC = load_problem(PROBLEM)


def hand_made() -> Instance:
    models = (Model(30.0, 4.0, 1.0), Model(20.0, 2.0, 0.5), Model(10.0, 1.0, 2.0))
    return Instance("hand", 2, 80.0, models, lower_bound(2, 80.0, models), None)


# --- the model and the verifier's arithmetic ----------------------------------------------------

def test_pressure_and_score_by_hand():
    inst = hand_made()
    # demands 4, 4 and 0.5; fluid bound 8.5 / (160 - 60) = 0.085 beats the single-model 4 / 50
    assert inst.lower_bound == pytest.approx(0.085)
    # GPU 0: 4 / (80 - 30) = 0.08; GPU 1: 4.5 / (80 - 30) = 0.09
    assert max_pressure(2, 80.0, inst.models, [0, 1, 1]) == pytest.approx(0.09)
    # all on GPU 0: 8.5 / (80 - 60); GPU 1 empty has pressure 0
    assert max_pressure(2, 80.0, inst.models, [0, 0, 0]) == pytest.approx(8.5 / 20)
    metrics, feedback = score([inst, inst], [0.09, 0.085])
    assert metrics["gap"] == pytest.approx((0.09 / 0.085 + 1) / 2 - 1)
    assert metrics["worst_gap"] == pytest.approx(0.09 / 0.085 - 1) and metrics["at_bound"] == 0.5
    assert "opt_gap" not in metrics and "hand: max pressure 0.09 vs lower bound 0.085" in feedback
    single = (Model(50.0, 30.0, 0.5), Model(5.0, 1.0, 1.0))  # one heavy model: 60 / 30 = 2
    assert lower_bound(2, 80.0, single) == pytest.approx(2.0)


@pytest.mark.parametrize("reply, why", [
    ([0, 1], "returned 2 entries for 3 models"),  # a dropped model
    ([0, 1, 1, 1], "returned 4 entries for 3 models"),  # a model placed twice
    ([0, 0, 1.0], "entry 2 (model 2) is float"), ([0, True, 1], "entry 1 (model 1) is bool"),
    ([0, 1, 2], "is GPU 2, outside 0..1"), ([-1, 1, 1], "is GPU -1, outside"),
    ([0, "1", 1], "is str"), ({"placement": [0, 1, 1], "gap": 0.0}, "got dict"), (0.0, "got float"),
])
def test_check_placement_rejects(reply, why):
    with pytest.raises(InvalidOutput, match=re.escape(why)):
        check_placement(reply, hand_made())


def test_a_gpu_must_keep_memory_for_the_kv_cache():
    models = (Model(40.0, 1.0, 1.0), Model(40.0, 1.0, 1.0), Model(10.0, 1.0, 1.0))
    inst = Instance("full", 2, 80.0, models, lower_bound(2, 80.0, models), None)
    with pytest.raises(InvalidOutput, match=r"GPU 0 holds models \[0, 1\] of 80 GB"):
        check_placement([0, 0, 1], inst)  # exactly full: 0 GB left
    assert check_placement([0, 1, 1], inst) == [0, 1, 1]


# --- the references -----------------------------------------------------------------------------

def brute_force(inst: Instance) -> float:
    best = float("inf")
    for placement in itertools.product(range(inst.gpus), repeat=len(inst.models)):
        used = [0.0] * inst.gpus
        for m, g in zip(inst.models, placement):
            used[g] += m.size
        if max(used) < inst.capacity:
            best = min(best, max_pressure(inst.gpus, inst.capacity, inst.models, placement))
    return best


def test_the_optimum_matches_brute_force_on_tiny_instances():
    tiny = [*verifier_for(PROBLEM).instances("gate"), *(generate(3, 7, 77, i, None) for i in range(3))]
    for inst in tiny:
        exact = brute_force(inst)
        assert inst.optimum is not None and exact <= inst.optimum <= exact * (1 + TOLERANCE), inst.name


def test_lower_bound_le_optimum_le_greedy_on_small_instances():
    v, drawn = verifier_for(PROBLEM), verifier_for(PROBLEM, 2 ** 50 + 7)
    small = [i for s in ("gate", "train", "test") for i in v.instances(s) if i.gpus <= EXACT_GPUS]
    small += [i for i in drawn.instances("train") if i.gpus <= EXACT_GPUS][:3]
    assert len(small) == 3 + 8 + 8 + 3
    for inst in small:
        found = optimum(inst.gpus, inst.capacity, inst.models)
        assert found.value == inst.optimum  # deterministic, and the cached value
        check_placement(list(found.placement), inst)
        assert max_pressure(inst.gpus, inst.capacity, inst.models, found.placement) == found.value
        assert inst.lower_bound * (1 - 2 * TOLERANCE) <= found.proven_below < found.value
        greedy = greedy_by_pressure(inst.gpus, inst.capacity, inst.models)
        if greedy is not None:
            assert found.value <= max_pressure(inst.gpus, inst.capacity, inst.models, greedy) * (1 + 1e-12)
    # the optimum is usually strictly above the bound: the bound is not a target one can always reach
    assert sum(i.optimum > i.lower_bound * (1 + 1e-6) for i in small) >= len(small) // 2


def test_instances_are_feasible_tight_and_drawn():
    for inst in load_source("gpus=10 seed=1100 count=8"):
        assert len(inst.models) == 20 and inst.optimum is None
        assert all(5 <= m.size <= 60 and 2 * m.size == int(2 * m.size) for m in inst.models)
        assert 0.3 < sum(m.size for m in inst.models) / 800 <= 0.75
        assert all(m.slo in (0.5, 1.0, 2.0) and 0.1 <= m.rate <= 100 for m in inst.models)
    public, drawn = load_source("gpus=2 seed=3000 count=3"), load_source("gpus=2 seed=3000 count=3", 2 ** 45)
    assert [i.models for i in public] != [i.models for i in drawn]


# --- the baselines: the README's figures --------------------------------------------------------

def job(code: str, set_name: str = "gate", draw: int | None = None) -> dict:
    return run_job({"problem": PROBLEM, "code": code, "set": set_name, "draw": draw})


README = {  # gap, opt_gap, worst_gap (percent), at_bound per set: problems/gpu_model_placement/README.md
    "initial": {"train": (7138.15, 2953.58, 17145.8, 0.0), "test": (8295.21, 4142.28, 18824.7, 0.0),
                "gate": (661.84, 597.48, 1749.3, 0.0)},
    "greedy_pressure": {"train": (354.08, 74.49, 5011.0, 0.25), "test": (466.21, 109.00, 6425.0, 0.182),
                        "gate": (48.82, 43.26, 118.3, 0.0)},
    "round_robin": {"train": (455.14, 166.75, 1876.4, 0.0), "test": (714.11, 224.84, 4907.2, 0.0),
                    "gate": (25.32, 18.33, 58.7, 0.0)},
}


@pytest.mark.parametrize("name", README)
def test_seed_and_baselines_reproduce_the_readme(name):
    code = SPEC.initial_code if name == "initial" else SPEC.baselines()[name]
    for set_name, (gap, opt_gap, worst, at_bound) in README[name].items():
        out = job(code, set_name)
        assert out["ok"], out["error"]
        m = out["metrics"]
        got = (round(100 * m["gap"], 2), round(100 * m["opt_gap"], 2), round(100 * m["worst_gap"], 1),
               round(m["at_bound"], 3))
        assert got == (gap, opt_gap, worst, at_bound), (name, set_name, got)


# --- reward hacks through the sandbox -----------------------------------------------------------

VALID = '''
def ffd(gpu_num, gpu_mem, models):
    used, where = [0.0] * gpu_num, [0] * len(models)
    for i in sorted(range(len(models)), key=lambda i: -models[i][0]):
        g = next(g for g in range(gpu_num) if used[g] + models[i][0] < gpu_mem)
        where[i] = g
        used[g] += models[i][0]
    return where


def place_models(gpu_num, gpu_mem, models):
    where = ffd(gpu_num, gpu_mem, models)
    {body}
'''

HACKS = {
    "a dropped model": ("return where[:-1]", "returned 3 entries for 4 models"),
    "a model placed twice": ("return where + [where[0]]", "returned 5 entries for 4 models"),
    "every model on GPU 0 (over capacity)": ("return [0] * len(models)", "leaving no KV-cache memory"),
    "lists of models per GPU": ("return [[i for i, g in enumerate(where) if g == h] for h in range(gpu_num)]",
                                "returned 2 entries for 4 models"),
    "(placement, claimed score)": ("return where, 0.0", "returned 2 entries for 4 models"),
    "a claimed score in a dict": ("return {'placement': where, 'gap': 0.0, 'max_pressure': 0.0}", "got dict"),
    "a claimed score only": ("return 0.0", "got float"),
    "float indices": ("return [float(g) for g in where]", "is float"),
    "bool indices": ("return [g == 1 for g in where]", "is bool"),
    "out-of-range index": ("return [g + gpu_num for g in where]", "outside 0..1"),
    "negative index": ("return [-1] + where[1:]", "is GPU -1, outside"),
}


@pytest.mark.parametrize("name", HACKS)
def test_reward_hacks_are_rejected(name):
    body, why = HACKS[name]
    out = job(VALID.format(body=body))
    assert not out["ok"] and out["error_kind"] == "invalid", out
    assert out["error"].startswith("evaluation: invalid output on G2 M4 #3000: ") and why in out["error"], \
        out["error"]
    assert out["combined_score"] is None and out["metrics"] == {}


def test_numpy_indices_cross_and_tampering_with_the_inputs_gains_nothing():
    honest = job(VALID.format(body="return where"))
    assert honest["ok"] and honest["metrics"]["gap"] == pytest.approx(6.6184, abs=1e-4)  # the seed's
    np_ints = job("import numpy as np\n" + VALID.format(body="return list(np.array(where, dtype=np.int64))"))
    assert np_ints["ok"] and np_ints["metrics"]["gap"] == honest["metrics"]["gap"]
    tamper = VALID.format(body="for m in models:\n        m[0], m[1], m[2] = 0.0, 0.0, 1e9\n"
                               "    gpu_mem = 10 ** 9\n    return where")
    out = job(tamper)
    assert out["ok"] and out["metrics"]["gap"] == honest["metrics"]["gap"]


# --- red team: the verifier's files, state, module memory and the draws -------------------------

EVALUATORS = ROOT / "evaluators" / PROBLEM
FOLDER = ROOT / "problems" / PROBLEM
BASELINES = SPEC.baselines()


def figures(m: dict) -> tuple:
    """The README's rounding: gap, opt_gap, worst_gap (percent), at_bound."""
    return (round(100 * m["gap"], 2), round(100 * m["opt_gap"], 2), round(100 * m["worst_gap"], 1),
            round(m["at_bound"], 3))


def renamed(code: str, name: str) -> str:
    """A seed or baseline whose entry is called ``name`` (a cheat wraps it)."""
    return code.replace("def place_models(", f"def {name}(")


def policy(code: str):
    ns: dict = {}
    exec(code, ns)  # trusted baselines, in the test process only
    return ns["place_models"]


def same_metrics(a: dict, b: dict) -> bool:
    """Equal metrics but for the candidate's CPU time."""
    return {**a, "cpu_seconds": 0} == {**b, "cpu_seconds": 0}


def test_reading_the_verifier_or_the_problem_folder_is_impossible():
    """The candidate tries every file of the verifier and of the problem folder (this problem has
    no data/: its instances are generated in evaluators/), by absolute and relative path, an
    import of the generator and the CP-SAT reference, /proc of its parent, and the verifier's
    objects in its own memory; it plays the greedy baseline only if all of that came back empty."""
    files = sorted(EVALUATORS.glob("*.py")) + sorted(FOLDER.glob("*.*"))
    paths = [str(f) for f in files] + [str(f.relative_to(ROOT)) for f in files]
    modules = (f"evaluators.{PROBLEM}.instances", f"evaluators.{PROBLEM}.reference")
    objects = ("Instance", "Model", "Optimum")
    spy = spy_code(paths, [str(EVALUATORS), str(FOLDER)], modules, objects, str(ROOT))
    here: dict = {}
    verifier_for(PROBLEM).instances("gate")  # the verifier's objects are in this process
    exec(spy, here)  # in the verifier's own process the same code reads every file at once ...
    assert {str(f) for f in files} <= set(here["LEAK"]) and len(files) >= 8
    assert f"evaluators.{PROBLEM}.reference" in here["LEAK"] and here["verifier_objects"]()
    cheat = spy + renamed(BASELINES["greedy_pressure"], "_honest") + '''

def place_models(gpu_num, gpu_mem, models):
    if LEAK or verifier_objects():
        raise RuntimeError(f"LEAKED {LEAK[:3]} {verifier_objects()[:3]}")
    return _honest(gpu_num, gpu_mem, models)
'''
    out = job(cheat, "test")  # ... in the sandbox it finds nothing and plays the greedy baseline
    assert out["ok"], out["error"]
    assert figures(out["metrics"]) == README["greedy_pressure"]["test"]



def test_state_does_not_survive_between_evaluations():
    v = verifier_for(PROBLEM)
    most = len(v.instances("gate")) + max(len(v.instances("train")), len(v.instances("test")))
    assert most == 3 + 22  # one evaluation's calls at most: a count beyond it is an earlier one's
    code = STATE_PROBE + renamed(BASELINES["greedy_pressure"], "_honest") + f'''

def place_models(gpu_num, gpu_mem, models):
    CALLS[0] += 1
    if CALLS[0] > {most}:
        raise RuntimeError(f"call {{CALLS[0]}}: the module state of an earlier evaluation")
    return _honest(gpu_num, gpu_mem, models)
'''
    first, second = job(code, "train"), job(code, "test")
    assert first["ok"] and second["ok"], (first["error"], second["error"])
    assert figures(first["metrics"]) == README["greedy_pressure"]["train"]
    assert figures(second["metrics"]) == README["greedy_pressure"]["test"]


MEMORY = '''
SHOWN = []  # every instance shown so far (its arguments) and the reply object returned for it


def place_models(gpu_num, gpu_mem, models):
    args = [gpu_num, gpu_mem, models]
    for earlier, reply in SHOWN:
        reply[:] = _better(*earlier)  # a better answer written into a reply already returned
        if earlier == args:
            return reply  # the same instance again: replay the better answer
    reply = _seed(*args)
    SHOWN.append((args, reply))
    return reply
'''


def test_module_memory_across_calls_changes_no_reply_already_scored():
    """One evaluation is a batch of calls in one warm process (the gate, then the set). The
    candidate keeps every instance and reply, rewrites its earlier replies with the greedy
    baseline's answers once it has moved on, and would replay them on a repeated instance. Each
    reply is encoded when returned and scored from the verifier's own copy of its instance: the
    score is exactly the seed's (the same replies read after the rewrites score 886.91%, not
    7138.15%). No instance repeats within an evaluation, so a replay table has nothing to hit; an
    instance reveals nothing beyond its own arguments and no score comes back during an
    evaluation, so there is nothing else to learn."""
    v = verifier_for(PROBLEM)
    for set_name in ("train", "test"):
        shown = [json.dumps(v.arguments(i)) for i in v.instances("gate") + v.instances(set_name)]
        assert len(set(shown)) == len(shown), set_name
    code = renamed(SPEC.initial_code, "_seed") + renamed(BASELINES["greedy_pressure"], "_better") + MEMORY
    out = job(code, "train")
    assert out["ok"], out["error"]
    assert figures(out["metrics"]) == README["initial"]["train"] != README["greedy_pressure"]["train"]


def digest(verifier, set_name: str) -> list[str]:
    """What the candidate is shown of each instance: its call's arguments."""
    return [json.dumps(verifier.arguments(i)) for i in verifier.instances(set_name)]


def test_train_and_test_differ_per_draw_and_the_gate_does_not():
    public, one, other = (verifier_for(PROBLEM, d) for d in (None, 2 ** 41 + 5, 2 ** 41 + 6))
    for set_name in ("train", "test"):
        base, a, b = (digest(v, set_name) for v in (public, one, other))
        assert len(a) == len(b) == len(base) and not set(a) & set(base) and not set(b) & (set(a) | set(base))
    for v in (public, one, other):
        assert not set(digest(v, "train")) & set(digest(v, "test"))
    assert digest(one, "gate") == digest(other, "gate") == digest(public, "gate")
    again = generate(5, 10, 1000, 0, 2 ** 41 + 5)  # a draw is reproducible: the first train instance
    assert json.dumps(again.as_json()) == digest(one, "train")[0]
    assert again.optimum == one.instances("train")[0].optimum


def answer_key(args) -> str:
    return hashlib.sha256(json.dumps(list(args)).encode()).hexdigest()


def oracle() -> str:
    """A cheat that rebuilt the public test set (the generator and its seeds are public) and
    answers from a table made offline: the CP-SAT optimum (OR-Tools, which the sandbox cannot
    import, and past the 5 s call limit on large instances) on the 5-GPU instances, the greedy
    baseline's placement on the others; anything else gets the seed's answer."""
    greedy = policy(BASELINES["greedy_pressure"])
    table = {}
    for inst in verifier_for(PROBLEM).instances("test"):
        if inst.optimum is not None:
            table[answer_key(inst.as_json())] = list(optimum(inst.gpus, inst.capacity, inst.models).placement)
        else:
            table[answer_key(inst.as_json())] = greedy(*inst.as_json())
    assert len(table) == 22
    return renamed(SPEC.initial_code, "_seed") + f'''
import hashlib, json
ANSWERS = {table!r}


def place_models(*args):
    answer = ANSWERS.get(hashlib.sha256(json.dumps(list(args)).encode()).hexdigest())
    return _seed(*args) if answer is None else answer
'''


ORACLE_PUBLIC = (420.69, 0.0, 6425.0, 0.273)  # the oracle on the public test set, as measured here


def test_an_oracle_rebuilt_from_the_public_seed_fails_on_a_run_draw():
    cheat, seed = oracle(), SPEC.initial_code
    public = job(cheat, "test")
    assert public["ok"], public["error"]
    # on the README's draw it places the small instances optimally and beats every baseline ...
    assert figures(public["metrics"]) == ORACLE_PUBLIC
    assert public["metrics"]["gap"] < job(BASELINES["greedy_pressure"], "test")["metrics"]["gap"]
    draw = new_draw()
    drawn, honest = job(cheat, "test", draw), job(seed, "test", draw)
    assert drawn["ok"] and honest["ok"], (drawn["error"], honest["error"])
    # ... on a run's draw no instance is in its table: it is the seed, to the last digit
    assert same_metrics(drawn["metrics"], honest["metrics"])
    assert drawn["metrics"]["gap"] > 10 * public["metrics"]["gap"]


# --- a scripted run -----------------------------------------------------------------------------

PRESSURE_DIFF = """Choose the GPU whose pressure after adding the model is lowest.
<<<<<<< SEARCH
    return -gpu
=======
    return -(load + demand) / (gpu_mem - used - size)
>>>>>>> REPLACE
"""


@pytest.mark.slow
def test_evolve_run_scores_a_child(stub, tmp_path):
    stub.push(Step(content=PRESSURE_DIFF))
    runs = tmp_path / "runs"
    config = tmp_path / "run.yaml"
    config.write_text("tuning:\n  enabled: false\n")
    res = run_cli("run", PROBLEM, "--api-base", stub.url, "--iterations", "2", "--no-report",
                  "--runs-dir", str(runs), "--run-name", "gmp", "--config", str(config))
    assert res.returncode == 0, res.stderr + res.stdout
    db = runs / "gmp" / "archive.db"
    rows = query(db, "select id, parent_id, status, combined_score from programs order by id")
    (draw,), = query(db, "select draw from runs")
    assert draw is not None and rows[0][2] == "ok" and rows[0][3] < -10  # the seed: gap above 1000%
    child = rows[1]
    assert child[1] == 1 and child[2] == "ok" and child[3] > rows[0][3]  # pressure-aware beats the seed
    prompt = str(stub.requests[0]["messages"])
    assert "Instances furthest from the lower bound" in prompt and "def place_models" in prompt
