"""Config loading: defaults, line-numbered errors, model resolution."""

from __future__ import annotations

import pytest

from evolve.config import ConfigError, RunConfig, load_config
from evolve.runs import RunSetupError, resolve_models


def test_defaults_without_a_file():
    cfg = load_config(None)
    assert cfg.search.islands == 3 and cfg.stop.iterations == 50 and cfg.llm.models == []


def test_valid_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("llm:\n  models:\n    - name: openai/gpt-4o-mini\n      weight: 2\n"
                    "    - name: anthropic/claude-3-5-haiku-latest\nstop:\n  budget_usd: 1.5\n")
    cfg = load_config(path)
    assert [m.weight for m in cfg.llm.models] == [2, 1] and cfg.stop.budget_usd == 1.5


@pytest.mark.parametrize("text, expected", [
    ("search:\n  islands: 0\n", ":2: search.islands: Input should be greater than or equal to 1"),
    ("stop:\n  iterations: 10\n  budget: 3\n",
     ":3: stop.budget: unknown key (known here: iterations, budget_usd, target_score, wall_seconds, "
     "plateau_iterations;"),
    ("llm:\n  models:\n    - nme: x\n", "llm.models.0.nme: unknown key (known here: name, weight,"),
    ("sed: 1\n", ":1: sed: unknown key (known here: llm, search, edits,"),
    ("llm:\n  models:\n    - weight: 1\n", ":3: llm.models.0.name: Field required"),
    ("search: [1, 2\n", ": not valid YAML"),
    ("- just a list\n", ":1: the config must be a mapping"),
    ("search:\n  fitness_ratio: 0\n  elite_ratio: 0\n  random_ratio: 0\n", "must be > 0"),
])
def test_errors_name_file_line_and_key(tmp_path, text, expected):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_the_configuration_reference_is_current():
    """docs/configuration.md is rendered from the models; regenerate with python -m evolve.config_doc."""
    from evolve.config_doc import DOC, render

    assert DOC.read_text(encoding="utf-8") == render(), "run: python -m evolve.config_doc"
    for section in ("## llm\n", "## llm.models[]\n", "## stop\n", "## tuning\n"):
        assert section in render()
    assert "| `request_seed` | bool | `True` | a fresh sampling seed on every LLM request |" in render()


def test_the_readme_example_config_loads(tmp_path):
    from evolve.config_doc import DOC

    readme = (DOC.parent.parent / "README.md").read_text(encoding="utf-8")
    example = readme.split("For example:\n\n```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "run.yaml"
    path.write_text(example)
    cfg = load_config(path)
    assert cfg.seed == 1 and cfg.seeds == ["baselines"] and len(cfg.llm.models) == 2


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_model_resolution_order(monkeypatch):
    from evolve.llm.embedded import local_model

    for var in ("OPENAI_API_KEY", "EVOLVE_MODEL", "EVOLVE_API_BASE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(local_model, "llama_installed", lambda: False)  # no [local] extra here
    with pytest.raises(RunSetupError, match="no LLM configured"):
        resolve_models(RunConfig(), [], None)
    cfg = resolve_models(RunConfig(), [], "http://127.0.0.1:8000/v1")
    assert cfg.llm.models[0].name == "openai/local" and cfg.llm.models[0].api_base.endswith("/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    assert resolve_models(RunConfig(), [], None).llm.models[0].name == "gpt-4o-mini"
    assert [m.name for m in resolve_models(RunConfig(), ["a/b", "c/d"], None).llm.models] == ["a/b", "c/d"]


def test_command_line_overrides_are_validated_like_a_config_file():
    from evolve.config import ConfigError, RunConfig, with_overrides

    cfg = with_overrides(RunConfig(), {"stop.iterations": ("--iterations", 7),
                                       "stop.budget_usd": ("--budget", None),
                                       "executor.kind": ("--executor", "celery")})
    assert cfg.stop.iterations == 7 and cfg.stop.budget_usd is None and cfg.executor.kind == "celery"
    assert "proposals_in_flight" not in cfg.model_fields_set  # an unset default stays unset
    with pytest.raises(ConfigError) as err:
        with_overrides(RunConfig(), {"stop.iterations": ("--iterations", -3),
                                     "executor.kind": ("--executor", "slurm")})
    lines = str(err.value).splitlines()
    assert lines[0].startswith("--iterations -3 (stop.iterations): Input should be greater than or "
                               "equal to 0")
    assert lines[1].startswith("--executor 'slurm' (executor.kind): Input should be 'local' or 'celery'")


def test_a_bad_option_value_is_one_error_line_without_a_traceback(tmp_path):
    from .conftest import run_cli

    res = run_cli("run", "smtt", "--iterations", "-1", "--runs-dir", str(tmp_path))
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.strip().splitlines() == [
        "error: --iterations -1 (stop.iterations): Input should be greater than or equal to 0"]
    assert not any(tmp_path.iterdir())
