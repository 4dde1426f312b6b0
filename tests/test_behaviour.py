"""Same behaviour: a child whose replies on the quick-check set equal its parent's is not evaluated
further; the fingerprint is a digest of the replies, taken outside the candidate."""

from __future__ import annotations

import pytest

from evaluators.jobs import run_job, verifier_for
from evaluators.problem import list_problems, load_problem
from sandbox.session import SandboxSession

SMTT = load_problem("smtt").initial_code
SAME = SMTT.replace("    return d_j\n", "    return d_j + 0  # a no-op rewrite\n")
OTHER = SMTT.replace("    return d_j\n", "    return max(p_j, d_j - t) / w_j\n")


def test_a_child_with_the_parents_outputs_stops_after_the_quick_check():
    parent = run_job({"problem": "smtt", "code": SMTT, "set": "train"})
    assert parent["ok"] and len(parent["fingerprint"]) == 64
    same = run_job({"problem": "smtt", "code": SAME, "set": "train",
                    "behaviour_of": [7, parent["fingerprint"]]})
    assert (same["ok"], same["error_kind"], same["same_as"]) == (False, "same", 7)
    assert same["fingerprint"] == parent["fingerprint"] and same["metrics"] == {}
    assert "same outputs as its parent" in same["error"]
    other = run_job({"problem": "smtt", "code": OTHER, "set": "train",
                     "behaviour_of": [7, parent["fingerprint"]]})
    assert other["ok"] and other["fingerprint"] != parent["fingerprint"] and other["same_as"] is None
    assert other["combined_score"] > parent["combined_score"]  # WMDD beats EDD
    # without a parent to compare with, the same code is evaluated in full
    alone = run_job({"problem": "smtt", "code": SAME, "set": "train"})
    assert alone["ok"] and alone["combined_score"] == parent["combined_score"]


def gate_digest(problem: str, code: str) -> str:
    v = verifier_for(problem)
    with SandboxSession(code, v.limits()) as box:
        box.start_digest()
        v._solve_all(box, v.instances(v.gate_set))
        return box.stop_digest()


@pytest.mark.parametrize("problem", [p.name for p in list_problems()])
def test_every_problems_gate_fingerprint_is_deterministic_and_tells_policies_apart(problem):
    spec = load_problem(problem)
    first = gate_digest(problem, spec.initial_code)
    assert first == gate_digest(problem, spec.initial_code)
    others = {gate_digest(problem, code) for code in spec.baselines().values()}
    assert others - {first}, "no baseline behaves differently from the seed on the quick check"
