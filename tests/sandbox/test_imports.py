"""Issue 19, finding 5: a candidate imports the standard library and its problem's ``imports``,
nothing else of the environment (OR-Tools let a CP-SAT candidate solve jssp), on both levels."""

from __future__ import annotations

import pytest

from evaluators.jobs import verifier_for
from evaluators.problem import list_problems
from sandbox.session import CandidateError, Limits, SandboxSession

PROBE = '''
def load(name):
    try:
        __import__(name)
        return "ok"
    except BaseException as exc:
        return type(exc).__name__

def uses_numpy():  # names numpy: the zygote preloads it for this candidate
    import numpy
    return int(numpy.arange(4).sum())
'''


def test_stdlib_and_allowed_packages_import_others_do_not(level):
    with SandboxSession(PROBE, Limits(imports=("numpy",))) as box:
        assert box.hardening["imports"] == ["numpy"]
        for name in ("json", "decimal", "sqlite3", "heapq", "numpy"):
            assert box.call("load", name) == "ok", name
        for name in ("ortools", "sqlalchemy", "yaml", "litellm"):  # installed beside us
            assert box.call("load", name) != "ok", name


def test_a_package_is_importable_once_the_problem_allows_it(level):
    with SandboxSession(PROBE, Limits(imports=("numpy", "ortools"))) as box:
        assert box.call("load", "ortools") == "ok"
        assert box.call("load", "sqlalchemy") != "ok"


def test_a_module_preloaded_for_another_problem_is_not_handed_on(level):
    with SandboxSession(PROBE, Limits(imports=("numpy",))) as box:
        assert box.call("uses_numpy") == 6
    with SandboxSession(PROBE, Limits(imports=())) as box:
        assert box.call("load", "numpy") != "ok"


def test_a_failed_import_says_what_the_problem_allows(level):
    code = "from ortools.sat.python import cp_model\n\ndef f():\n    return 1\n"
    with pytest.raises(CandidateError) as err:
        with SandboxSession(code, Limits(imports=("numpy",))):
            pass
    assert err.value.kind == "load"
    assert "can import the standard library, numpy and nothing else" in err.value.message


def test_a_cp_sat_candidate_fails_the_jssp_gate(level):
    code = ("from ortools.sat.python import cp_model\n\n"
            "def schedule(durations, machines):\n    return []\n")
    outcome = verifier_for("jssp").evaluate(code, "gate")
    assert not outcome.ok
    assert "can import the standard library, numpy and nothing else" in outcome.error


@pytest.mark.parametrize("spec", list_problems(), ids=lambda s: s.name)
def test_every_problem_declares_its_imports_and_its_brief_names_them(spec):
    assert spec.imports == ["numpy"]
    for name in spec.imports:
        assert name in spec.brief, f"{spec.name}/brief.md does not say candidates may use {name}"
    assert "standard library" in spec.brief.lower()
