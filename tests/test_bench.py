"""The benchmarks under bench/ still run: each one, shrunk to seconds, end to end.

(bench/local_llm.py needs the embedded model for minutes, bench/vs_openevolve.py installs its
peers, bench/celery_scaling.py and bench/dashboard_load.py start services: the toy problem of
vs_openevolve runs here through evolve alone.)"""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import ROOT, clean_env


def bench(*args: str, timeout: float = 300) -> str:
    res = subprocess.run([sys.executable, *args], cwd=ROOT, env={**clean_env(), "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    return res.stdout


@pytest.mark.slow
def test_loop_overhead():
    out = bench("bench/loop_overhead.py", "--iterations", "20", "--sizes", "200,400", "--reps", "20")
    assert "iterations/s" in out and "ratio to the smallest: 200: 1.00x, 400:" in out


@pytest.mark.slow
def test_sandbox_overhead():
    out = bench("bench/sandbox_overhead.py", "--repeats", "3", "--evaluations", "2")
    assert "warm template, no control group" in out and "evaluations/s" in out


@pytest.mark.slow
def test_verifiers():
    out = bench("bench/verifiers.py", "smtt", "jssp", "--sets", "train", "--repeats", "1")
    assert "error:" not in out and out.count("smtt") >= 2 and "jssp" in out


@pytest.mark.slow
def test_the_vs_openevolve_toy_problem_through_evolve(tmp_path):
    code = ("import sys; sys.path.insert(0, 'bench')\n"
            "from pathlib import Path\n"
            "import vs_openevolve as v\n"
            "from evolve.llm.stub_server import Step, StubLLM\n"
            f"tmp = Path({str(tmp_path)!r}); v.write_problem(tmp)\n"
            "with StubLLM(responder=lambda n, _b: Step(content=v.reply(n))) as stub:\n"
            "    r = v.run_evolve(tmp, stub.url, 12, 4)\n"
            "print('evaluated', r['evaluated'])\n")
    assert bench("-c", code).split()[-2:] == ["evaluated", "12"]
