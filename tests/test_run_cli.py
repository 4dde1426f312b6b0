"""Full `evolve run` invocations against a real OpenAI-compatible HTTP server (scripted replies)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from evolve.llm.stub_server import Step

from .conftest import ROOT, SEED_RULE, WMDD_DIFF, clean_env, query, run_cli, write_config

BROKEN_DIFF = """<<<<<<< SEARCH
    return sorted(range(len(p)), key=lambda j: -d[j])
=======
    return list(range(len(p)))
>>>>>>> REPLACE
"""
SYNTAX_ERROR_REWRITE = "```python\ndef schedule(p, w, d):\n    return sorted(range(len(p))\n```"
CRASHING_REWRITE = "```python\ndef schedule(p, w, d):\n    return [j for j in range(len(p))][1:]\n```"


@pytest.mark.slow
def test_run_stores_lineage_rejections_retries_and_improves(stub, tmp_path):
    fast = {"prompt_tokens": 10**6}  # measured as a very fast model: its time limit stays at the
    # configured 2 s (a limit from measured speed is never below it), whatever the stub's latency
    stub.push(Step(content=WMDD_DIFF, **fast),
              Step(content="I believe the program is already optimal.", **fast),
              Step(content=BROKEN_DIFF, **fast),
              Step(status=429), Step(status=500), Step(content=SYNTAX_ERROR_REWRITE, **fast),
              Step(delay=4.0, content="too late"), Step(content=CRASHING_REWRITE))
    cfg = write_config(tmp_path / "run.yaml", "proposals_in_flight: 1\nevaluations_in_flight: 1\n"
                       "llm:\n  timeout_seconds: 2\n  retries: 3\n  backoff_seconds: 0.05\n"
                       "search:\n  islands: 1\n  elite_ratio: 1\n  fitness_ratio: 0\n  random_ratio: 0\n")
    res = run_cli("run", "smtt", "--api-base", stub.url, "--iterations", "5", "--config", str(cfg),
                  "--runs-dir", str(tmp_path / "runs"), "--run-name", "lineage")
    assert res.returncode == 0, res.stderr + res.stdout
    db = tmp_path / "runs" / "lineage" / "archive.db"
    iters = query(db, "select number, outcome, reason, parent_id, child_id from iterations order by number")
    assert [i[0] for i in iters] == [1, 2, 3, 4, 5]
    outcomes = [i[1] for i in iters]
    assert outcomes == ["child", "rejected", "rejected", "rejected", "child"]
    assert "neither SEARCH/REPLACE" in iters[1][2]
    assert "does not match" in iters[2][2]
    assert "syntax error" in iters[3][2]
    # lineage: seed (1) -> WMDD child (2); later proposals descend from evaluated programs only
    progs = dict((r[0], r[1:]) for r in query(db, "select id, parent_id, generation, status, "
                                                  "combined_score from programs"))
    seed_score, child_score = progs[1][3], progs[2][3]
    assert progs[2][:3] == (1, 1, "ok") and child_score > seed_score  # WMDD beats EDD
    assert {i[3] for i in iters} <= {1, 2}
    crashed = iters[4][4]
    assert progs[crashed][2] == "failed"
    err = query(db, "select error_kind, error from evaluations where program_id = ?", crashed)[0]
    assert err[0] == "invalid" and "quick check" in err[1] and "expected all 20" in err[1]
    # every attempt is an llm_calls row: 429, 500 and the timeout recorded, each then retried
    calls = query(db, "select attempt, error from llm_calls order by id")
    errors = [e for _, e in calls if e]
    assert len(calls) == 8 and len(errors) == 3
    assert "RateLimit" in errors[0] and "Timeout" in errors[2]
    # the prompt carried the parent's code, metrics and verifier feedback
    first_prompt = json.dumps(stub.requests[0]["messages"])
    assert SEED_RULE.strip() in first_prompt and "Worst (TF, RDD) classes" in first_prompt
    assert "aggregate_gap" in first_prompt
    # the final report scored the winner on the held-out set
    assert query(db, "select count(*) from evaluations where set_name='test' and program_id=2") == [(1,)]
    assert "winner vs starting points and baselines" in res.stdout
    status = run_cli("status", "lineage", "--runs-dir", str(tmp_path / "runs"))
    assert status.returncode == 0 and "child=2" in status.stdout and "rejected=3" in status.stdout
    # issue 21: output to a pipe is complete log lines, not a bar cut to 80 columns
    assert "…" not in res.stdout, res.stdout
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("iteration ")]
    assert lines[-1].startswith("iteration 5/5 · best ") and " · rejected 3 · llm errors 0" in lines[-1]
    assert len(lines) == len(set(lines))  # a line when something changed, once


def test_problems_are_listed_whole_in_80_columns():
    res = run_cli("problems", env={**clean_env(), "COLUMNS": "80"})
    assert res.returncode == 0, res.stderr
    for name in ("bin_packing", "cant_be_late", "txn_scheduling", "llm_serving", "moe_eplb",
                 "pod_packing", "jssp", "smtt"):
        assert f"{name}: " in res.stdout, res.stdout
    assert "…" not in res.stdout
    assert "entry: priority(item: float, bins: list[float]) -> list[float]" in res.stdout


@pytest.mark.slow
def test_budget_stops_the_run(tmp_path):
    from evolve.llm.stub_server import StubLLM

    from .conftest import variant_rewrite

    # a priced model name: litellm's price map turns 1M prompt tokens into real dollars
    with StubLLM(responder=lambda n, body: Step(content=variant_rewrite(n), prompt_tokens=1_000_000)) as s:
        res = run_cli("run", "smtt", "--model", "openai/gpt-4o-mini", "--api-base", s.url,
                      "--iterations", "40", "--budget", "0.5", "--no-report",
                      "--runs-dir", str(tmp_path / "runs"), "--run-name", "budget")
    assert res.returncode == 0, res.stderr
    db = tmp_path / "runs" / "budget" / "archive.db"
    status, reason = query(db, "select status, stop_reason from runs")[0]
    assert status == "stopped" and "budget" in reason
    cost, known, n = query(db, "select sum(cost), min(cost_known), count(*) from llm_calls")[0]
    assert cost >= 0.5 and known == 1 and n < 40
    done = query(db, "select count(*) from iterations")[0][0]
    assert done == n  # in-flight proposals finished cleanly, each one an iteration


def test_target_score_stops_the_run(stub, tmp_path):
    stub.push(Step(content=WMDD_DIFF))  # WMDD scores about -0.39; EDD -1.5
    stub.default = Step(content="no change proposed", delay=0.5)  # the rest arrive after its score
    res = run_cli("run", "smtt", "--api-base", stub.url, "--iterations", "30", "--target", "-0.5",
                  "--no-report", "--runs-dir", str(tmp_path / "runs"), "--run-name", "target")
    assert res.returncode == 0, res.stderr
    db = tmp_path / "runs" / "target" / "archive.db"
    status, reason = query(db, "select status, stop_reason from runs")[0]
    assert status == "stopped" and "target score -0.5 reached" in reason
    assert query(db, "select count(*) from iterations")[0][0] < 30


def test_provider_rejection_stops_with_one_line(stub, tmp_path):
    stub.default = Step(status=401)
    res = run_cli("run", "smtt", "--api-base", stub.url, "--iterations", "10", "--no-report",
                  "--runs-dir", str(tmp_path / "runs"), "--run-name", "denied")
    assert res.returncode == 2
    assert "rejected the request" in res.stderr and "AuthenticationError" in res.stderr
    db = tmp_path / "runs" / "denied" / "archive.db"
    calls = query(db, "select attempt, error from llm_calls")
    assert len(calls) <= 2 and all(c[0] == 1 and "AuthenticationError" in c[1] for c in calls)  # no retries
    assert query(db, "select status from runs") == [("stopped",)]
    assert {r[0] for r in query(db, "select outcome from iterations")} == {"llm_error"}


def test_no_model_configured_is_one_clear_line(tmp_path):
    # a machine without the embedded model's extra, no key, no flags
    without_extra = ("import sys; import evolve.llm.embedded.local_model as m; "
                     "m.llama_installed = lambda: False; from evolve.cli import main; "
                     "sys.argv[0] = 'evolve'; main()")
    res = subprocess.run([sys.executable, "-c", without_extra, "run", "smtt", "--runs-dir",
                          str(tmp_path / "runs")], cwd=ROOT, env=clean_env(), capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "no LLM configured" in lines[0] and "OPENAI_API_KEY" in lines[0]
    assert "pip install -e .[local]" in lines[0]
    assert not (tmp_path / "runs").exists()


def test_bad_inputs_are_named(tmp_path):
    bad = write_config(tmp_path / "bad.yaml", "search:\n  islands: many\nllm:\n  retires: 3\n")
    res = run_cli("run", "smtt", "--config", str(bad), "--api-base", "http://127.0.0.1:9/v1")
    assert res.returncode == 2
    assert f"{bad}:2: search.islands" in res.stderr and f"{bad}:4: llm.retires: unknown key" in res.stderr
    res = run_cli("run", "nope", "--api-base", "http://127.0.0.1:9/v1")
    assert res.returncode == 2 and "unknown problem 'nope'" in res.stderr and "smtt" in res.stderr
    res = run_cli("resume", "ghost", "--runs-dir", str(tmp_path))
    assert res.returncode == 2 and "no run 'ghost'" in res.stderr
