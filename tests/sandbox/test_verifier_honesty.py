"""Scores cannot be raised from inside the sandbox; honest candidates score exactly the reference."""

from __future__ import annotations

import importlib.util

from evaluators.jobs import run_job, verifier_for
from evaluators.smtt.instances import weighted_tardiness
from evaluators.smtt.verifier import score

EDD = "def schedule(p, w, d):\n    return sorted(range(len(p)), key=lambda j: d[j])\n"

SNOOP = '''
import gc, sys
SECRET_TYPES = {"Inst" + "ance", "SmttVer" + "ifier", "Eval" + "Outcome", "Problem" + "Spec"}
SECRET_KEY = "ref" + "_kind"

def _suspicious():
    hits = []
    for obj in gc.get_objects():
        try:
            if type(obj).__name__ in SECRET_TYPES or hasattr(type(obj), SECRET_KEY):
                hits.append(type(obj).__name__)
            elif isinstance(obj, dict) and SECRET_KEY in obj:
                hits.append("dict")
        except Exception:
            continue
    frame = sys._getframe()
    while frame is not None:
        for name, value in list(frame.f_locals.items()):
            if type(value).__name__ in SECRET_TYPES or name in ("inst", "instances", "spec"):
                hits.append("frame:" + name)
        frame = frame.f_back
    return hits

def schedule(p, w, d):
    hits = _suspicious()
    if hits:
        raise RuntimeError(f"FOUND {hits[:5]}")
    return sorted(range(len(p)), key=lambda j: d[j])
'''

PATCHER = '''
import sys
try:
    import evaluators.smtt.verifier as v  # the scorer is not even importable here
    v.score = lambda *a, **k: ({"gap": 0.0}, "")
except ImportError:
    pass
proto = sys.modules.get("protocol")
if proto is not None:
    real = proto.encode
    proto.encode = lambda obj: real({**obj, "gap": 0.0, "cpu": 0.0, "metrics": {"gap": 0.0}})
def schedule(p, w, d):
    return sorted(range(len(p)), key=lambda j: d[j])
'''


def job(code: str, set_name: str = "train") -> dict:
    return run_job({"problem": "smtt", "code": code, "set": set_name})


def test_snooping_finds_nothing_and_scores_honestly():
    # the same snooping in the verifier's own process finds the references at once ...
    here: dict = {}
    exec(SNOOP, here)
    verifier_for("smtt").instances("train")
    assert here["_suspicious"]()
    # ... inside the sandbox there is nothing to find
    honest = job(EDD)
    snoop = job(SNOOP)
    assert snoop["ok"], snoop["error"]
    assert snoop["metrics"]["gap"] == honest["metrics"]["gap"]


def test_monkeypatching_the_scorer_changes_nothing():
    honest = job(EDD)
    patched = job(PATCHER)
    assert patched["ok"], patched["error"]
    assert patched["combined_score"] == honest["combined_score"]
    assert patched["metrics"]["gap"] > 1.0  # still EDD's 150%, not the 0 it tried to report


def test_empty_and_partial_schedules_fail():
    for body in ("[]", "list(range(len(p)))[:-1]", "[0] * len(p)", "list(range(len(p))) + [0]",
                 "' '.join(map(str, range(len(p))))", "[float(j) for j in range(len(p))]", "None"):
        out = job(f"def schedule(p, w, d):\n    return {body}\n")
        assert not out["ok"] and out["error_kind"] == "invalid", body


def test_sandboxed_score_equals_in_process_reference():
    verifier = verifier_for("smtt")
    code = verifier.spec.baselines()["atc_api"]
    spec = importlib.util.spec_from_loader("atc_api", loader=None)
    module = importlib.util.module_from_spec(spec)
    exec(code, module.__dict__)  # trusted baseline, run here only to compute the reference
    instances = verifier.instances("test")
    costs = [weighted_tardiness(module.schedule(list(i.p), list(i.w), list(i.d)), i.p, i.w, i.d)
             for i in instances]
    expected, _ = score(instances, costs)
    out = job(code, "test")
    assert out["ok"]
    for key, value in expected.items():
        assert out["metrics"][key] == value, key
