"""bench/quality.py end to end in --quick mode (evolve only) on a scripted OpenAI-compatible stub,
and the counting proxy on its own: seeds injected when absent, kept when present, calls counted."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

from evolve.llm.stub_server import Step, StubLLM

from .conftest import ROOT, clean_env

sys.path.insert(0, str(ROOT / "bench"))

from quality_proxy import CountingProxy


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(f"{url}/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def test_proxy_injects_missing_seeds_keeps_given_ones_and_counts(tmp_path):
    ask = {"model": "stub", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.3}
    with StubLLM(default=Step(content="hello", prompt_tokens=11, completion_tokens=3)) as stub, \
            CountingProxy(stub.url, model="stub-model") as proxy:
        proxy.begin_run("run-a", 1, tmp_path / "a.jsonl")
        assert _post(proxy.url, ask)["choices"][0]["message"]["content"] == "hello"
        _post(proxy.url, ask)
        _post(proxy.url, {**ask, "seed": 7})
        assert _get(proxy.stats_url) == {"run": "run-a", "calls": 3}
        assert _get(f"{proxy.url}/models")["data"][0]["id"] == "stub-model"
        first, second, third = (r.get("seed") for r in stub.requests)
        assert first is not None and second is not None and first != second
        assert third == 7
        records = proxy.records()
        assert [r.injected for r in records] == [True, True, False]
        assert [r.index for r in records] == [1, 2, 3]
        assert all(r.status == 200 and r.prompt_tokens == 11 and r.completion_tokens == 3
                   for r in records)
        stats = proxy.stats()
        assert stats.calls == 3 and stats.injected_seeds == 2 and stats.prompt_tokens == 33
        assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 3
        # a new run starts at zero; the same (label, seed) draws the same seeds again
        proxy.begin_run("run-a", 1, None)
        _post(proxy.url, ask)
        assert stub.requests[-1]["seed"] == first and proxy.count == 1
        proxy.begin_run("run-b", 1, None)
        _post(proxy.url, ask)
        assert stub.requests[-1]["seed"] != first
        proxy.begin_run("run-c", 1, None, inject=False)  # e.g. evolve without its request seeds
        _post(proxy.url, ask)
        assert "seed" not in stub.requests[-1] and not proxy.records()[0].injected


FIXTURES = ROOT / "tests" / "fixtures"
CRASH = "return d_j + w_j.real[0]"  # TypeError on every call: a failing child to repair (a
# division by zero would be guarded without a repair call)
DISPATCH = ("def schedule(p, w, d):\n    left, t, order = set(range(len(p))), 0, []\n"
            "    while left:\n        j = min(left, key=lambda j: (priority(p[j], w[j], d[j], t), j))\n"
            "        order.append(j)\n        left.remove(j)\n        t += p[j]\n    return order\n")


def _rule(body: str) -> str:
    """A reply defining the dispatching rule and a schedule() that uses it (so the rule counts
    whichever starting program the parent is)."""
    return f"```python\ndef priority(p_j, w_j, d_j, t):\n    {body}\n\n\n{DISPATCH}```\n"


def _reply(n: int, body: dict) -> Step:
    """First a crashing rule; a request that shows that crash gets a working rule; the rest are
    distinct weighted-MDD variants, a second late (so the crash is evaluated and its repair
    call made within the 4 calls)."""
    if n == 1:
        return Step(content=_rule(CRASH))
    if "TypeError" in json.dumps(body["messages"]):
        return Step(content=_rule("return max(p_j, d_j - t) / w_j"))
    return Step(content=_rule(f"return max(p_j, d_j - t) / w_j + {n} * 1e-9 * d_j"), delay=1.0)


def test_quick_bench_evolve_only_on_a_stub(tmp_path):
    out = tmp_path / "bench"
    cmd = [sys.executable, str(ROOT / "bench" / "quality.py"), "--quick", "--no-openevolve",
           "--problems", "smtt_small", "--calls", "4", "--out", str(out)]
    env = clean_env(PYTHONPATH=f"{FIXTURES}:{ROOT}", EVOLVE_PROBLEMS=str(FIXTURES / "problems"))
    with StubLLM(responder=_reply) as stub:
        cmd += ["--api-base", stub.url, "--model", "stub"]
        res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        calls = len(stub.requests)
        # resumed with the same --out: the finished run is skipped, no new LLM call
        again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr[-3000:]
        assert "1 already done" in again.stdout and len(stub.requests) == calls
    text = res.stdout
    assert "4 LLM calls per run" in text and "estimated" in text
    assert "[1/1] evolve-smtt_small-s1-full: 4 LLM calls" in text
    assert "### smtt_small: minimize gap, 4 LLM calls per run" in text
    header = next(line for line in text.splitlines() if line.startswith("| system"))
    for col in ("train gap @1 calls", "train gap @2 calls", "train gap @4 calls", "held-out gap",
                "best baseline held-out", "beats it", "valid children", "duplicates", "s / LLM call",
                "LLM calls"):
        assert col in header
    row = next(line for line in text.splitlines() if line.startswith("| evolve | 1 |"))
    assert "initial+baselines" in row and "%" in row and ("| yes |" in row or "| no |" in row)
    assert "Best baseline on train: " in text
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["calls"] == 4 and report["settings"]["problems"] == ["smtt_small"]
    (run,) = report["runs"]
    assert run["key"] == {"system": "evolve", "problem": "smtt_small", "seed": 1, "variant": "full"}
    assert run["llm"]["calls"] == 4 == calls and run["iterations"] == 4
    assert run["winner_train"]["ok"] and run["winner_test"]["ok"]
    assert run["winner_test"]["metric"] >= 0  # a gap to the references
    assert run["curve"] and run["curve"][0]["calls"] == 0  # the starting programs, before any call
    assert run["children"] >= 2 and 1 <= run["valid_children"] < run["children"]  # the crash failed
    assert run["repairs"] >= 1 and run["repairs_ok"] >= 1
    assert f"repair success {run['repairs_ok']}/{run['repairs']}" in text
    assert {b["name"] for b in report["baselines"]["smtt_small"]} == {"weighted_edd", "wmdd"}
    assert (out / "results" / "evolve-smtt_small-s1-full.json").exists()
    assert (out / "report.md").read_text().startswith("# Quality bench")
    calls_log = (out / "calls" / "evolve-smtt_small-s1-full.jsonl").read_text().splitlines()
    log = [json.loads(line) for line in calls_log]
    assert len(log) == 4 and all(r["status"] == 200 and r["seed"] is not None for r in log)


def _variant_reply(n: int, body: dict) -> Step:
    """Distinct weighted-MDD variants, every one a valid child."""
    return Step(content=_rule(f"return max(p_j, d_j - t) / w_j + {n} * 1e-9 * d_j"))


def test_pool_bench_draws_both_models_by_the_bandit_and_says_what_each_gave(tmp_path):
    out = tmp_path / "bench"
    env = clean_env(PYTHONPATH=f"{FIXTURES}:{ROOT}", EVOLVE_PROBLEMS=str(FIXTURES / "problems"))
    with StubLLM(responder=_variant_reply) as one, StubLLM(responder=_variant_reply) as two:
        cmd = [sys.executable, str(ROOT / "bench" / "quality.py"), "--quick", "--no-openevolve",
               "--problems", "smtt_small", "--calls", "6", "--out", str(out), "--variant", "bandit",
               "--api-base", one.url, "--model", "stub-a", "--pool", f"stub-b@{two.url}"]
        res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        calls = (len(one.requests), len(two.requests))
    assert "pool: stub-b at " in res.stdout and "(model bandit)" in res.stdout
    # the bandit tries each model twice before trusting its record
    assert min(calls) >= 2 and sum(calls) == 6, calls
    assert {r["model"] for r in one.requests} == {"stub-a"}
    assert {r["model"] for r in two.requests} == {"stub-b"}
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["pool"] == ["stub-b"]
    (run,) = report["runs"]
    assert run["key"]["variant"] == "bandit" and run["llm"]["calls"] == 6
    notes = [n for n in run["notes"] if "proposals" in n]
    assert len(notes) == 2 and any(n.startswith("openai/stub-a:") for n in notes), notes
    assert sum(int(n.split(": ")[1].split()[0]) for n in notes) <= 6
    logs = sorted(p.name for p in (out / "calls").iterdir())
    assert logs == ["evolve-smtt_small-s1-bandit.jsonl", "evolve-smtt_small-s1-bandit.model2.jsonl"]
    runs_cfg = (out / "runs" / "evolve-smtt_small-s1-bandit.yaml").read_text()
    assert "choice: bandit" in runs_cfg and "openai/stub-b" in runs_cfg
