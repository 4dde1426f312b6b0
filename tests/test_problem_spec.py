"""problem.toml is validated: set names, unknown keys, the documentation-only combined score, the
folder name; a feature the verifier does not return is an error, never bin 0; folders starting
with ``_`` are templates, not problems; ``evolve new-problem`` copies the template."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from evaluators.problem import ProblemError, list_problems, load_problem
from evolve.new_problem import new_problem
from evolve.search.grid import MissingFeature, feature_values
from tests.conftest import clean_env, run_cli

TEMPLATE = Path(__file__).resolve().parent.parent / "problems" / "_template"


@pytest.fixture
def toy(tmp_path, monkeypatch) -> Path:
    """The template as problem ``toy`` in a scratch problems folder; returns its problem.toml."""
    shutil.copytree(TEMPLATE, tmp_path / "problems" / "toy")
    toml = tmp_path / "problems" / "toy" / "problem.toml"
    toml.write_text(toml.read_text().replace('name = "_template"', 'name = "toy"'))
    monkeypatch.setenv("EVOLVE_PROBLEMS", str(tmp_path / "problems"))
    return toml


def edited(toml: Path, old: str, new: str) -> str:
    text = toml.read_text()
    assert old in text
    toml.write_text(text.replace(old, new, 1))
    with pytest.raises(ProblemError) as err:
        load_problem("toy")
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{toml}: "), message
    return message


def test_the_template_loads_and_is_not_listed(toy):
    assert load_problem("toy").sets.keys() == {"train", "test", "gate"}
    shutil.copytree(toy.parent, toy.parent.parent / "_draft")
    assert [p.name for p in list_problems()] == ["toy"]
    with pytest.raises(ProblemError, match="known problems are toy "):
        load_problem("nope")


@pytest.mark.parametrize("old, new, needle", [
    ("[sets.gate]", "[sets.quick]", "sets: unknown instance set 'quick': allowed names are train, test, "
                                    "validation, gate; a further set scored only on request needs "
                                    "`extra = true` in [sets.quick]"),
    ("[sets.train]", "[sets.trian]", "unknown instance set 'trian'"),
    ("[sets.train]", "[sets.validation]", "no [sets.train]: every candidate is scored on it"),
    ('about = "quick check', 'extra = true\nabout = "quick check', "[sets.gate] is read by runs"),
    ('metric = "gap"', 'metric = "gap"\nmetirc = "gap"',
     "objective.metirc: unknown key (known here: metric, direction, combined_score, percent, second"),
    ("bins = 8", "bins = 8\nbin = 3", "features.bin: unknown key (known here: name, min, max, bins, scale"),
    ('drawn = true  #', 'drawn = true\ncount = 3  #', "sets.train.count: unknown key (known here: about, "
                                                      "sources, drawn, extra;"),
    ('# combined_score = "-gap"', 'combined_score = "gap"', "combined_score 'gap' is not what the engine "
                                                            "computes ('-gap'); remove the key"),
    ("max = 6000", "max = 0", "feature code_length: min (0.0) must be below max (0.0)"),
    ('name = "toy"', 'name = "toys"', "name = 'toys' but the folder is 'toy': set name = 'toy'"),
], ids=["unknown set", "misspelled train", "no train", "extra gate", "objective key", "feature key",
        "set key", "combined score", "feature range", "folder name"])
def test_a_malformed_spec_is_one_line_naming_the_file_the_key_and_the_fix(toy, old, new, needle):
    assert needle in edited(toy, old, new)


def test_the_combined_score_is_optional_and_if_given_must_be_the_engines(toy):
    assert load_problem("toy").objective.combined_score is None
    toy.write_text(toy.read_text().replace('# combined_score = "-gap"', 'combined_score = "-gap"'))
    assert load_problem("toy").objective.combined_score == "-gap"


def test_a_feature_the_verifier_does_not_return_is_an_error_not_bin_0(toy):
    dims = load_problem("toy").features
    assert feature_values("x" * 10, {"cpu_seconds": 0.5}, dims) == {"code_length": 10.0, "cpu_seconds": 0.5}
    with pytest.raises(MissingFeature) as err:
        feature_values("x", {"gap": 0.1}, dims)
    assert "feature 'cpu_seconds' of problem.toml is not a metric the verifier returns (it returns gap)" \
        in str(err.value)


@pytest.mark.slow
def test_evolve_verify_refuses_a_misspelled_feature(toy):
    toy.write_text(toy.read_text().replace('name = "cpu_seconds"', 'name = "cpu_secs"'))
    res = run_cli("verify", str(toy.parent / "initial.py"), "--problem", "toy", "--sets", "gate",
                  env=clean_env(EVOLVE_PROBLEMS=str(toy.parent.parent)))
    assert res.returncode == 2, res.stdout + res.stderr
    assert "names metric(s) cpu_secs that the verifier did not return on gate" in res.stderr


def test_new_problem_copies_the_template_under_the_name(tmp_path, monkeypatch):
    monkeypatch.setenv("EVOLVE_PROBLEMS", str(tmp_path / "problems"))
    (tmp_path / "problems").mkdir()
    made = new_problem("toy_jobs", evaluators=tmp_path / "evaluators")
    spec = load_problem("toy_jobs")
    assert spec.verifier == "evaluators.toy_jobs.verifier:ToyJobsVerifier"
    verifier = (made.verifier / "verifier.py").read_text()
    assert 'version = "toy_jobs-1"' in verifier and "class ToyJobsVerifier(Verifier)" in verifier
    assert sorted(p.name for p in made.problem.iterdir()) == sorted(p.name for p in TEMPLATE.iterdir())
    assert "_template" not in (made.problem / "README.md").read_text().replace("test_the_template", "")
    with pytest.raises(ProblemError, match="exists already"):
        new_problem("toy_jobs", evaluators=tmp_path / "evaluators")
    with pytest.raises(ProblemError, match="use lower-case letters"):
        new_problem("Toy-Jobs", evaluators=tmp_path / "evaluators")
