"""Drawn sets: generated train/test sets come from a draw a candidate cannot know (issue 19, finding 2).

A candidate that rebuilds a set from the public seeds at import time and plays precomputed
answers wins on the public draw (the README tables) and gains nothing on a run's draw.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest

from evaluators.base import Verifier
from evaluators.draws import entropy, new_draw
from evaluators.jobs import run_job, verifier_for
from evaluators.moe_eplb.instances import FAMILIES
from evaluators.problem import list_problems, load_problem

from .conftest import ROOT, query, run_cli, write_config

DRAWN = {p.name: [s for s, spec in p.sets.items() if spec.drawn] for p in list_problems()}
DRAWN = {p: sets for p, sets in DRAWN.items() if sets}


def fingerprint(instances: list) -> list[str]:
    """A digest of each instance (inputs and the trusted data beside them)."""
    return [hashlib.sha256(pickle.dumps(i)).hexdigest() for i in instances]


def test_every_generated_set_whose_secrecy_matters_is_drawn():
    assert DRAWN == {"bin_packing": ["train"], "cant_be_late": ["train", "test"],
                     "checkpoint_interval": ["train", "test"], "llm_serving": ["train", "test"],
                     "gpu_model_placement": ["train", "test"], "moe_eplb": ["train", "test"],
                     "multicloud_broadcast": ["train", "test"], "pod_packing": ["train", "test"],
                     "prefix_reuse_ordering": ["train", "test"], "serverless_keepalive": ["train", "test"],
                     "txn_scheduling": ["train", "test"]}


@pytest.mark.parametrize("problem", sorted(DRAWN))
def test_a_draw_changes_the_instances_and_only_the_drawn_sets(problem):
    public, again = verifier_for(problem), verifier_for(problem, None)
    one, other, same = (verifier_for(problem, 11), verifier_for(problem, 12),
                        verifier_for(problem, 11))
    for set_name in load_problem(problem).sets:
        base = fingerprint(public.instances(set_name))
        assert fingerprint(again.instances(set_name)) == base  # the public draw is fixed
        drawn = fingerprint(one.instances(set_name))
        assert fingerprint(same.instances(set_name)) == drawn  # a draw is reproducible
        assert len(drawn) == len(base)
        if set_name in DRAWN[problem]:
            assert drawn != base and fingerprint(other.instances(set_name)) != drawn, set_name
            assert not set(drawn) & set(base), f"{problem}/{set_name}: an instance of the public draw"
        else:
            assert drawn == base, set_name  # the gate and published sets stay as they are


def test_the_public_draw_seeds_numpy_exactly_as_before():
    assert entropy(None, 7) == 7 and entropy(None, [3, 4]) == [3, 4]
    assert entropy(5, 7) == [5, 7] and entropy(5, (3, 4)) == [5, 3, 4]
    draws = {new_draw() for _ in range(64)}
    assert len(draws) == 64 and all(0 <= d < 2 ** 63 for d in draws)


def test_a_chosen_draw_must_be_beyond_search(tmp_path):
    small = write_config(tmp_path / "small.yaml", "draw: 424242\n")
    res = run_cli("run", "moe_eplb", "--config", str(small), "--api-base", "http://127.0.0.1:9/v1",
                  "--runs-dir", str(tmp_path / "runs"))
    assert res.returncode == 2 and "draw 424242 is small enough for a candidate to find" in res.stderr
    res = run_cli("verify", __file__, "--problem", "moe_eplb", "--draw", "12345")
    assert res.returncode == 2 and "--draw: draw 12345 is small enough" in res.stderr


def test_a_run_draw_separates_families_the_public_draw_does_not():
    from evaluators.llm_serving.workloads import FAMILIES, generate

    def gaps(draw):
        chat, rag = (generate(FAMILIES[f], 201, 4.0, 200, draw) for f in ("chat", "rag"))
        return np.array_equal(chat.arrival, rag.arrival), chat, rag  # both Gamma shape 0.5

    assert gaps(None)[0]  # the public draw: the same stream (kept, the README tables use it)
    same, chat, rag = gaps(new_draw())
    assert not same and not np.array_equal(chat.output, rag.output)


def test_a_verifier_that_cannot_draw_refuses_a_drawn_set():
    spec = load_problem("smtt")
    sets = {**spec.sets, "train": spec.sets["train"].model_copy(update={"drawn": True})}
    with pytest.raises(ValueError, match=r"marks set\(s\) train drawn, but SmttVerifier cannot"):
        type(verifier_for("smtt"))(spec.model_copy(update={"sets": sets}), 3)
    assert issubclass(type(verifier_for("smtt")), Verifier)


def regenerating_candidate() -> str:
    """DeepSeek's EPLB, played on the *next* window: every public family regenerated at import
    from the seeds in evaluators/moe_eplb/instances.py (the audit's 89.80% against 71.47%)."""
    fams = [(f.config.layers, f.config.experts, f.config.groups, f.windows, f.sigma, f.group_sigma,
             f.rho, f.drift, f.tokens, f.seed) for f in FAMILIES.values()]
    honest = load_problem("moe_eplb").baselines()["deepseek_eplb"]
    honest = honest.replace("def rebalance_experts(", "def _honest(")
    return honest + f'''

def _loads(layers, experts, groups, windows, sigma, group_sigma, rho, drift, tokens, seed):
    rng = np.random.default_rng(seed)
    group_of = np.arange(experts) // (experts // groups)
    base = sigma * rng.standard_normal((layers, experts)) \\
        + group_sigma * rng.standard_normal((layers, groups))[:, group_of]
    dev = np.zeros_like(base)
    out = np.empty((windows, layers, experts))
    for t in range(windows):
        logits = base + dev
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        for layer in range(layers):
            out[t, layer] = rng.multinomial(tokens, p[layer])
        dev = rho * dev + drift * rng.standard_normal(dev.shape)
    return out


NEXT = {{}}
for fam in {fams!r}:
    loads = _loads(*fam)
    for t in range(len(loads) - 1):
        NEXT[loads[t].tobytes()] = loads[t + 1]


def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    future = NEXT.get(np.asarray(weight, dtype=np.float64).tobytes())
    return _honest(weight if future is None else future.tolist(), num_replicas, num_groups,
                   num_nodes, num_gpus)
'''


def balancedness(code: str, draw: int | None) -> float:
    out = run_job({"problem": "moe_eplb", "code": code, "set": "test", "draw": draw})
    assert out["ok"], out["error"]
    return out["metrics"]["balancedness"]


def test_a_regenerating_candidate_wins_on_the_public_draw_and_gains_nothing_on_a_run_draw():
    cheat, honest = regenerating_candidate(), load_problem("moe_eplb").baselines()["deepseek_eplb"]
    assert balancedness(cheat, None) > balancedness(honest, None) + 0.1  # the hack works here ...
    draw = new_draw()
    assert balancedness(cheat, draw) == balancedness(honest, draw)  # ... and not on a run's draw


def test_verify_with_a_random_draw_names_it(tmp_path):
    policy = tmp_path / "cheat.py"
    policy.write_text(regenerating_candidate())
    res = run_cli("verify", str(policy), "--problem", "moe_eplb", "--draw", "random")
    assert res.returncode == 0, res.stderr + res.stdout
    assert re.search(r"drawn set\(s\) test: draw \d+", res.stdout), res.stdout
    public = run_cli("verify", str(policy), "--problem", "moe_eplb", "--sets", "gate")
    assert public.returncode == 0 and "drawn set" not in public.stdout  # the gate is not drawn
    bad = run_cli("verify", str(policy), "--problem", "moe_eplb", "--draw", "soon")
    assert bad.returncode == 2 and "--draw 'soon': use public" in bad.stderr


@pytest.mark.slow
def test_a_run_keeps_its_draw_and_its_report_scores_baselines_on_it(stub, tmp_path):
    runs = tmp_path / "runs"
    config = write_config(tmp_path / "run.yaml", "draw: 4242424242424242\ntuning:\n  enabled: false\n")
    res = run_cli("run", "moe_eplb", "--api-base", stub.url, "--iterations", "1", "--runs-dir",
                  str(runs), "--run-name", "drawn", "--config", str(config))
    assert res.returncode == 0, res.stderr + res.stdout
    db = runs / "drawn" / "archive.db"
    assert query(db, "select draw from runs") == [(4242424242424242,)]
    stored = dict(query(db, "select name, combined_score from baseline_scores where set_name = 'test'"))
    deepseek = load_problem("moe_eplb").baselines()["deepseek_eplb"]
    assert stored["deepseek_eplb"] == pytest.approx(balancedness(deepseek, 4242424242424242), rel=1e-12)
    assert stored["deepseek_eplb"] != pytest.approx(balancedness(deepseek, None), rel=1e-6)
    seed_test = query(db, "select combined_score from evaluations where program_id = 1 and "
                          "set_name = 'test'")
    seed_code = load_problem("moe_eplb").initial_code
    assert seed_test == [(pytest.approx(balancedness(seed_code, 4242424242424242), rel=1e-12),)]
    assert "instances drawn for this run (draw 4242424242424242)" in res.stdout  # the report says which
    status = run_cli("status", "drawn", "--runs-dir", str(runs))
    assert "train, test: drawn for this run (draw 4242424242424242)" in status.stdout, status.stdout
    # the export names the draw and its generated check re-scores on it
    out = tmp_path / "policy.py"
    exported = run_cli("export", "drawn", "--runs-dir", str(runs), "--out", str(out), "--with-test")
    assert exported.returncode == 0 and "--draw 4242424242424242" in exported.stdout, exported.stderr
    assert "drawn sets on the run's draw: evolve verify --draw 4242424242424242" in out.read_text()
    check = subprocess.run([sys.executable, "-m", "pytest", "-q", str(tmp_path / "test_policy.py")],
                           capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert check.returncode == 0, check.stdout + check.stderr
