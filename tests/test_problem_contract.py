"""The contract every problem keeps, checked for each folder in problems/ (and for the template,
through a scratch copy): the folder and spec are complete; the seed and every baseline pass the
quick check and score deterministically; every metric problem.toml names is one the verifier
returns; generic cheats come back as failures. A new problem passes this before it is evolved
(docs/adding-a-problem.md); its own test file holds only what is specific to it."""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest

from evaluators.base import Verifier
from evaluators.jobs import run_job, verifier_class, verifier_for
from evaluators.problem import InstanceSet, ProblemSpec, list_problems, load_problem
from evolve.edits import BLOCK_END, BLOCK_START
from evolve.search.grid import feature_values

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "problems" / "_template"
PROBLEMS = [p.name for p in list_problems()]

# a body for the entry function (any signature) and the failure kinds it may end in
CHEATS = {
    "raises": ("raise RuntimeError('cheat')", {"exception"}),
    "returns None": ("return None", {"invalid"}),
    "claims a score": ("return {'score': 1e9, 'gap': 0.0, 'makespan': 0}", {"invalid"}),
    "returns a string": ("return 'optimal'", {"invalid"}),
    "returns NaN": ("return float('nan')", {"exception"}),
    "exits": ("import os\n    os._exit(0)", {"crash"}),
}


def job(problem: str, code: str, set_name: str = "gate") -> dict:
    return run_job({"problem": problem, "code": code, "set": set_name})


def programs(spec: ProblemSpec) -> dict[str, str]:
    return {"initial": spec.initial_code, **spec.baselines()}


def top_level_functions(code: str) -> set[str]:
    return {n.name for n in ast.parse(code).body if isinstance(n, ast.FunctionDef)}


def check_folder(name: str) -> None:
    spec = load_problem(name)
    for file in ("problem.toml", "brief.md", "initial.py", "README.md"):
        assert (spec.root / file).is_file(), f"{name}: no {file}"
    assert spec.baselines(), f"{name}: no baselines/*.py"
    assert {"train", "test", "gate"} <= set(spec.sets), f"{name}: needs train, test and gate sets"
    lines = spec.initial_code.splitlines()
    assert lines.count(BLOCK_START) == 1 and lines.count(BLOCK_END) == 1, f"{name}: one EVOLVE-BLOCK"
    assert lines.index(BLOCK_START) < lines.index(BLOCK_END)
    for label, code in programs(spec).items():
        assert spec.entry in top_level_functions(code), f"{name}/{label} defines no {spec.entry}()"
    if spec.focus:
        block = "\n".join(lines[lines.index(BLOCK_START) + 1:lines.index(BLOCK_END)])
        assert spec.focus in top_level_functions(block), f"{name}: focus {spec.focus}() not in the block"
    cls = verifier_class(name)
    assert issubclass(cls, Verifier) and cls.version
    assert cls.draws or not any(s.drawn for s in spec.sets.values())
    assert verifier_for(name).instances("gate"), f"{name}: the gate set is empty"


def check_metrics(spec: ProblemSpec, out: dict, code: str, label: str) -> None:
    assert not spec.missing_metrics(out["metrics"]), f"{label}: {spec.missing_metrics(out['metrics'])}"
    assert out["combined_score"] == (-1 if spec.objective.direction == "minimize" else 1) * \
        out["metrics"][spec.objective.metric]
    feature_values(code, out["metrics"], spec.features)  # MissingFeature if one is not returned


def check_gate(name: str) -> None:
    spec = load_problem(name)
    for label, code in programs(spec).items():
        first, again = job(name, code), job(name, code)
        assert first["ok"], f"{name}/{label}: {first['error']}"
        assert first["combined_score"] == again["combined_score"], f"{name}/{label} is not deterministic"
        assert first["fingerprint"] == again["fingerprint"]
        check_metrics(spec, first, code, f"{name}/{label}")


def check_cheat(name: str, cheat: str) -> None:
    body, kinds = CHEATS[cheat]
    out = job(name, f"def {load_problem(name).entry}(*args, **kwargs):\n    {body}\n")
    assert not out["ok"] and out["error_kind"] in kinds, (out["error_kind"], out["error"])
    assert out["combined_score"] is None and out["metrics"] == {}


def check_train(name: str) -> None:
    """The seed on the whole training set (the baselines and determinism are checked on the
    gate: scoring every baseline twice on train took 6 minutes of the suite)."""
    spec = load_problem(name)
    out = job(name, spec.initial_code, "train")
    assert out["ok"], f"{name}/initial: {out['error']}"
    check_metrics(spec, out, spec.initial_code, f"{name}/initial")
    absent = [m for m in spec.report if m not in out["metrics"]]  # may be absent on a gate
    assert not absent, f"{name}/initial: report metrics {absent} not returned on train (public draw)"


def check_stuck(name: str) -> None:
    spec = load_problem(name)
    out = job(name, f"import time\ndef {spec.entry}(*args, **kwargs):\n"
                    f"    time.sleep({spec.limits.call_seconds + 30})\n")
    assert not out["ok"] and out["error_kind"] == "timeout", out["error"]


def test_every_problem_is_checked_and_the_template_is_not_listed():
    assert set(PROBLEMS) >= {"smtt", "bin_packing", "txn_scheduling", "moe_eplb", "cant_be_late",
                             "jssp", "pod_packing", "llm_serving"}
    assert not [p for p in PROBLEMS if p.startswith("_")]


@pytest.mark.parametrize("name", PROBLEMS)
def test_the_folder_is_complete_and_the_spec_loads(name):
    check_folder(name)


@pytest.mark.parametrize("name", PROBLEMS)
def test_seed_and_baselines_pass_the_gate_deterministically_with_every_named_metric(name):
    check_gate(name)


@pytest.mark.parametrize("cheat", CHEATS)
@pytest.mark.parametrize("name", PROBLEMS)
def test_generic_cheats_fail(name, cheat):
    check_cheat(name, cheat)


@pytest.mark.slow
@pytest.mark.parametrize("name", PROBLEMS)
def test_the_seed_scores_on_train_with_every_named_metric(name):
    check_train(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", PROBLEMS)
def test_a_stuck_candidate_times_out(name):
    check_stuck(name)


@pytest.fixture
def scratch_template(tmp_path, monkeypatch) -> str:
    """problems/_template copied as it is into a scratch problems folder, named ``toy``."""
    problems = tmp_path / "problems"
    shutil.copytree(TEMPLATE, problems / "toy")
    toml = problems / "toy" / "problem.toml"
    toml.write_text(toml.read_text().replace('name = "_template"', 'name = "toy"'))
    monkeypatch.setenv("EVOLVE_PROBLEMS", str(problems))
    return "toy"


def test_the_template_keeps_the_contract_as_it_is(scratch_template):
    assert [p.name for p in list_problems()] == [scratch_template]
    check_folder(scratch_template)
    check_gate(scratch_template)
    for cheat in CHEATS:
        check_cheat(scratch_template, cheat)
    for body, why in [("list(range(len(p)))[:-1]", "expected all"), ("[0] * len(p)", "not a permutation"),
                      ("[float(j) for j in range(len(p))]", "is float"),
                      ("[True] + list(range(1, len(p)))", "is bool")]:
        out = job(scratch_template, f"def schedule(p, w):\n    return {body}\n")
        assert out["error_kind"] == "invalid" and why in out["error"], out["error"]
    check_train(scratch_template)


@pytest.mark.slow
def test_a_stuck_template_candidate_times_out(scratch_template):
    check_stuck(scratch_template)


def _keys(model: type, prefix: str = "") -> list[str]:
    out = []
    for key, field in model.model_fields.items():
        inner = [t for t in (field.annotation, *getattr(field.annotation, "__args__", ()))
                 if isinstance(t, type) and hasattr(t, "model_fields")]
        if key == "sets":
            inner = [InstanceSet]
        out.append(key)
        out += [k for t in inner for k in _keys(t)]
    return out


def test_the_template_shows_every_key_of_problem_toml():
    text = (TEMPLATE / "problem.toml").read_text()
    missing = [k for k in _keys(ProblemSpec) if k != "root" and not re.search(
        rf"^[#\s]*(\[+[\w.]*\b{k}\b[\w.]*\]+|{k} =)|`{k} = ", text, re.M)]
    assert not missing, f"problems/_template/problem.toml does not show {missing}"
