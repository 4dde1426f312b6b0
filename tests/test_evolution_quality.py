"""Making every LLM call count, end to end through `evolve run` against a real HTTP chat server:
fresh sampling seeds, duplicates and same-behaviour children caught before a full evaluation,
one repair call for a failing child, human baselines as starting points, constant tuning."""

from __future__ import annotations

import json
import os

import pytest

from evolve.llm.stub_server import Step, StubLLM

from .conftest import ROOT, clean_env, query, run_cli, write_config

FIXTURES = ROOT / "tests" / "fixtures"


def env() -> dict[str, str]:
    return clean_env(PYTHONPATH=f"{FIXTURES}{os.pathsep}{ROOT}", EVOLVE_PROBLEMS=str(FIXTURES / "problems"))


def rule(body: str) -> str:
    return f"```python\ndef priority(p_j, w_j, d_j, t):\n    {body}\n```"


def compact_config(tmp_path, url: str, extra: str = "") -> str:
    model = f"{{name: openai/stub, api_base: '{url}', style: compact, temperature: 0.3, max_tokens: 600}}"
    return str(write_config(tmp_path / "run.yaml", f"llm:\n  models:\n    - {model}\n"
                            "proposals_in_flight: 1\nevaluations_in_flight: 1\n" + extra))


@pytest.mark.slow
def test_division_by_zero_is_guarded_without_a_call(tmp_path):
    proposals = iter([rule("return d_j / t  # zero at the first step"),
                      rule("return p_j / t + [w_j][d_j]  # guarded, it still fails")])
    fixed = rule("return max(p_j, d_j - t) / w_j")

    def reply(n: int, body: dict) -> Step:
        if "failed the verifier" in body["messages"][-1]["content"]:
            return Step(content=fixed)
        # later proposals take a while: the guard is evaluated and its repair queued meanwhile
        return Step(content=next(proposals, None) or "The program is fine as it is.", delay=0.0 if n < 2
                    else 1.0)

    with StubLLM(responder=reply) as stub:
        cfg = compact_config(tmp_path, stub.url, "search:\n  islands: 1\ntuning:\n  enabled: false\n")
        res = run_cli("run", "smtt_small", "--config", cfg, "--iterations", "4", "--runs-dir",
                      str(tmp_path / "runs"), "--run-name", "g", env=env())
    assert res.returncode == 0, res.stdout + res.stderr
    db = tmp_path / "runs" / "g" / "archive.db"
    progs = {r[0]: r[1:] for r in query(db, "select id, parent_id, status, edit_kind, code from programs")}
    by_kind = {}
    for pid, (parent, status, kind, code) in progs.items():
        by_kind.setdefault(kind, []).append((pid, parent, status, code))
    (first, second), guards = sorted(p[0] for p in by_kind["function"]), by_kind["guard"]
    assert [progs[first][1], progs[second][1]] == ["failed", "failed"]
    # each failed child has a guarded child: its divisor wrapped, nothing else changed
    assert sorted((g[1], g[2]) for g in guards) == [(first, "ok"), (second, "failed")]
    good = next(g for g in guards if g[1] == first)[3]
    assert "return d_j / (t or 1)  # zero at the first step" in good
    assert good.replace("(t or 1)", "t") == progs[first][3]
    bad = next(g for g in guards if g[1] == second)
    assert "IndexError" in query(db, "select error from evaluations where program_id = ?", bad[0])[0][0]
    # the guard that still failed got the repair call; the one that passed needed none
    repairs = by_kind["repair"]
    assert [(r[1], r[2]) for r in repairs] == [(bad[0], "ok")]
    fix = [b for b in stub.requests if "failed the verifier" in b["messages"][-1]["content"]]
    assert len(fix) == 1 and "(t or 1)" in fix[0]["messages"][-1]["content"]
    # guards are no LLM calls and no iterations
    assert query(db, "select count(*) from iterations") == [(4,)]
    assert query(db, "select count(*) from llm_calls") == [(4,)]
    status = run_cli("status", "g", "--runs-dir", str(tmp_path / "runs"), env=env())
    shown = " ".join(status.stdout.split())
    assert "2 failed children guarded against division by zero and math domain errors (no LLM " \
           "call), 1 passed" in shown
    # a proposal whose guarded child passed gave a valid program; the two rejected replies did not
    assert "1 repair call, 1 child, 1 passed (100% of calls; fresh proposals: a valid program " \
           "from 1 of 3 calls)" in shown


@pytest.mark.slow
def test_duplicates_same_behaviour_and_one_repair(tmp_path):
    proposals = iter([rule("return d_j + 0  # no-op"),           # same outputs as the seed
                      rule("return (d_j)  # earliest due date"),  # the seed, up to layout
                      rule("return d_j + w_j.real[0]")])          # TypeError
    fixed = rule("return max(p_j, d_j - t) / w_j")

    def reply(n: int, body: dict) -> Step:
        if "failed the verifier" in body["messages"][-1]["content"]:
            return Step(content=fixed)
        return Step(content=next(proposals, "The program is fine as it is."))

    with StubLLM(responder=reply) as stub:
        cfg = compact_config(tmp_path, stub.url, "search:\n  islands: 1\ntuning:\n  enabled: false\n")
        res = run_cli("run", "smtt_small", "--config", cfg, "--iterations", "5", "--runs-dir",
                      str(tmp_path / "runs"), "--run-name", "q", env=env())
    assert res.returncode == 0, res.stdout + res.stderr
    db = tmp_path / "runs" / "q" / "archive.db"
    progs = {r[0]: r[1:] for r in query(db, "select id, parent_id, generation, status, edit_kind, "
                                            "same_as from programs")}
    same = [pid for pid, r in progs.items() if r[2] == "same"]
    failed = [pid for pid, r in progs.items() if r[2] == "failed"]
    repaired = [pid for pid, r in progs.items() if r[3] == "repair"]
    assert len(same) == 1 and progs[same[0]][4] == 1  # behaves like the seed: not evaluated in full
    assert query(db, "select error_kind from evaluations where program_id = ?", same[0]) == [("same",)]
    assert len(failed) == 1 and len(repaired) == 1
    r = progs[repaired[0]]
    assert (r[0], r[1], r[2]) == (failed[0], progs[failed[0]][1] + 1, "ok")  # its own lineage
    iters = query(db, "select outcome, edit_kind, parent_id, child_id, reason from iterations "
                      "order by number")
    assert len(iters) == 5
    assert next(i for i in iters if i[0] == "duplicate")[4] == \
        "same code as program 1 up to comments, docstrings and layout"
    assert [(i[1], i[2], i[3]) for i in iters if i[1] == "repair"] == [("repair", failed[0], repaired[0])]
    # the repair prompt: the failing code and its error, after the same prefix as every proposal
    fix = next(b for b in stub.requests if "failed the verifier" in b["messages"][-1]["content"])
    first = stub.requests[0]
    assert fix["messages"][0] == first["messages"][0]
    brief_head = first["messages"][1]["content"][:200]
    assert fix["messages"][1]["content"].startswith(brief_head)
    assert "TypeError" in fix["messages"][1]["content"]
    assert "d_j + w_j.real[0]" in fix["messages"][1]["content"]
    # a proposal from the seed after the no-op was told its change had no effect
    told = [b for b in stub.requests if "had no effect" in json.dumps(b["messages"])
            or "repeated program" in json.dumps(b["messages"])]
    assert told
    # the same-behaviour child and the duplicate were repeats from the seed: the next proposal
    # from it is sampled hotter (0.3 per repeat among its last three proposals)
    temps = [b["temperature"] for b in stub.requests]
    assert temps[0] == 0.3 and temps[2] >= 0.6, temps
    # every request carried its own sampling seed, recorded with the call
    seeds = [b["seed"] for b in stub.requests]
    assert len(set(seeds)) == len(seeds) == 5
    assert sorted(s for (s,) in query(db, "select seed from llm_calls")) == sorted(seeds)
    status = run_cli("status", "q", "--runs-dir", str(tmp_path / "runs"), env=env())
    assert status.returncode == 0, status.stderr
    assert "1 repair call, 1 child, 1 passed (100% of calls;" in status.stdout
    assert "same behaviour" in status.stdout


@pytest.mark.slow
def test_repairs_pause_while_they_yield_less_than_fresh_proposals(tmp_path):
    """A model that answers every repair with the failing code unchanged (the embedded 1.5B model
    did so in 11 of 20 replayed repairs) gets ``repair.trials`` repair calls, then none while fresh
    proposals give valid programs more often; the calls go to proposals instead."""
    count = iter(range(1, 100))

    def reply(n: int, body: dict) -> Step:
        prompt = body["messages"][-1]["content"]
        if "failed the verifier" in prompt:  # echo the failing function: an unchanged edit
            return Step(content="```python\n" + prompt.split("```python\n")[1].split("```")[0] + "```",
                        delay=0.5)
        k = next(count)
        body_ = f"return d_j + w_j.real[{k}]" if k % 2 else f"return d_j + {k} * p_j"  # TypeError / ok
        return Step(content=rule(body_), delay=0.5)

    with StubLLM(responder=reply) as stub:
        cfg = compact_config(tmp_path, stub.url, "search:\n  islands: 1\ntuning:\n  enabled: false\n"
                             "repair:\n  trials: 2\n")
        res = run_cli("run", "smtt_small", "--config", cfg, "--iterations", "12", "--runs-dir",
                      str(tmp_path / "runs"), "--run-name", "p", env=env())
    assert res.returncode == 0, res.stdout + res.stderr
    db = tmp_path / "runs" / "p" / "archive.db"
    repairs = query(db, "select outcome, reason from iterations where edit_kind = 'repair'")
    assert repairs == [("rejected", "the edit leaves the program unchanged")] * 2  # none queued after
    failed = query(db, "select count(*) from programs where status = 'failed'")[0][0]
    valid = query(db, "select count(*) from programs where status = 'ok' and edit_kind = 'function'")[0][0]
    assert failed >= 4 and valid >= 4  # later failures got no repair call: 10 proposals, 2 repairs
    assert len(stub.requests) == 12
    assert "repair calls paused: 0 of 2 gave a valid program, fresh proposals" in " ".join(res.stdout.split())
    status = run_cli("status", "p", "--runs-dir", str(tmp_path / "runs"), env=env())
    assert "2 repair calls, 0 children, 0 passed (0% of calls; fresh proposals: a valid program " \
           f"from {valid} of 10 calls)" in " ".join(status.stdout.split())


@pytest.mark.slow
def test_baselines_start_their_own_islands_and_constants_get_tuned(tmp_path):
    with StubLLM(default=Step(content="The program is fine as it is.")) as stub:
        cfg = compact_config(tmp_path, stub.url, "search:\n  islands: 1\ntuning:\n  budget: 8\n  batch: 4\n")
        res = run_cli("run", "smtt_small", "--config", cfg, "--iterations", "1", "--from",
                      "initial,baselines", "--runs-dir", str(tmp_path / "runs"), "--run-name", "b",
                      env=env())
    assert res.returncode == 0, res.stdout + res.stderr
    db = tmp_path / "runs" / "b" / "archive.db"
    starts = query(db, "select id, edit_kind, label, island, status from programs "
                       "where edit_kind in ('seed', 'baseline') order by id")
    assert [(k, lab, isl) for _, k, lab, isl, _ in starts] == [
        ("seed", None, 0), ("baseline", "weighted_edd", 1), ("baseline", "wmdd", 2)]
    assert all(s[4] == "ok" for s in starts)
    elites = dict(query(db, "select island, program_id from elites"))
    assert sorted(elites) == [0, 1, 2]  # one island per starting program
    cfg_stored = json.loads(query(db, "select config from runs")[0][0])
    assert cfg_stored["search"]["islands"] == 3 and cfg_stored["seeds"] == ["initial", "baselines"]
    # the start with a constant (w ** 0.2) was tuned; the tuned child beats it on the training set
    weighted = starts[1][0]
    tuned = query(db, "select id, parent_id, island, status, combined_score, params, code from programs "
                      "where edit_kind = 'tune'")
    assert len(tuned) == 1, res.stdout
    _, parent, island, status, score, params, code = tuned[0]
    parent_score = query(db, "select combined_score from programs where id = ?", weighted)[0][0]
    assert (parent, island, status) == (weighted, 1, "ok") and score > parent_score
    change = json.loads(params)["constants"]
    assert len(change) == 1 and change[0]["from"] == 0.2 and f"** {change[0]['to']}" in code
    assert "tuning program" in res.stdout
    assert "winner: wmdd (#3), a starting program" in res.stdout  # the strongest start stays best
    status = run_cli("status", "b", "--runs-dir", str(tmp_path / "runs"), env=env())
    assert "starting points" in status.stdout and "weighted_edd" in status.stdout
    assert "1 tuned program, 1 better" in status.stdout


def test_unknown_starting_program_is_one_line(tmp_path):
    res = run_cli("run", "smtt", "--from", "nosuch", "--api-base", "http://127.0.0.1:9/v1",
                  "--runs-dir", str(tmp_path / "runs"))
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "nosuch" in lines[0] and "atc_api" in lines[0] and "baselines" in lines[0]


@pytest.mark.slow
def test_two_starting_programs_with_the_same_code_are_one_program_on_both_islands(tmp_path):
    import shutil

    problems = tmp_path / "problems"
    shutil.copytree(FIXTURES / "problems" / "smtt_small", problems / "smtt_small")
    home = problems / "smtt_small"
    shutil.copy(home / "initial.py", home / "baselines" / "as_initial.py")
    with StubLLM(default=Step(content="The program is fine as it is.")) as stub:
        cfg = compact_config(tmp_path, stub.url, "search:\n  islands: 1\ntuning:\n  enabled: false\n")
        res = run_cli("run", "smtt_small", "--config", cfg, "--iterations", "3", "--from",
                      "initial,baselines", "--runs-dir", str(tmp_path / "runs"), "--run-name", "d",
                      env={**env(), "EVOLVE_PROBLEMS": str(problems)})
    assert res.returncode == 0, res.stdout + res.stderr
    db = tmp_path / "runs" / "d" / "archive.db"
    assert query(db, "select count(*) from programs where edit_kind in ('seed', 'baseline')") == [(3,)]
    assert query(db, "select count(*) from evaluations where program_id = 1 and set_name = 'train'") == [(1,)]
    elites = query(db, "select island, program_id from elites order by island")
    assert [i for i, _ in elites] == [0, 1, 2, 3]  # four starts (one repeated): every island begins
    assert sum(1 for _, p in elites if p == 1) == 2
    assert query(db, "select count(*) from iterations") == [(3,)]


@pytest.mark.slow
@pytest.mark.parametrize("fresh", [True, False])
def test_a_better_program_whose_copy_would_be_a_repeat_is_not_shown(tmp_path, fresh):
    """A start that differs from the seed only in the asked function is not shown as the better
    version to learn from: a small model copies it, and the copy is that start again."""
    import shutil

    problems = tmp_path / "problems"
    shutil.copytree(FIXTURES / "problems" / "smtt_small", problems / "smtt_small")
    home = problems / "smtt_small"
    for old in (home / "baselines").glob("*.py"):
        old.unlink()
    seed = (home / "initial.py").read_text()
    (home / "baselines" / "mdd_rule.py").write_text(
        seed.replace("    return d_j\n", "    return max(p_j, d_j - t) / w_j\n"))
    with StubLLM(default=Step(content="The program is fine as it is.")) as stub:
        cfg = compact_config(tmp_path, stub.url, "search:\n  islands: 1\ntuning:\n  enabled: false\n"
                             f"hygiene:\n  fresh_inspiration: {str(fresh).lower()}\n")
        res = run_cli("run", "smtt_small", "--config", cfg, "--iterations", "4", "--from",
                      "initial,baselines", "--runs-dir", str(tmp_path / "runs"), "--run-name", "i",
                      env={**env(), "EVOLVE_PROBLEMS": str(problems)})
    assert res.returncode == 0, res.stdout + res.stderr
    prompts = [b["messages"][-1]["content"] for b in stub.requests]
    from_seed = [p for p in prompts if "    return d_j\n" in p]
    assert len(from_seed) == 2  # islands 0 (the seed) and 1 (mdd_rule) take turns
    shown = [p for p in from_seed if "better-scoring version" in p]
    assert (len(shown) == 0) if fresh else (len(shown) == 2 and "max(p_j, d_j - t) / w_j" in shown[0])
