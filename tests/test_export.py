"""Export round trip: a real scripted run, exported, imported fresh, re-verified, same scores."""

from __future__ import annotations

import subprocess
import sys

import pytest

from evolve.llm.stub_server import Step

from .conftest import WMDD_DIFF, query, run_cli


@pytest.mark.slow
def test_export_imports_fresh_and_verifies_to_the_stored_score(stub, tmp_path):
    stub.push(Step(content=WMDD_DIFF))
    runs = str(tmp_path / "runs")
    res = run_cli("run", "smtt", "--api-base", stub.url, "--iterations", "2", "--runs-dir", runs,
                  "--run-name", "ex")
    assert res.returncode == 0, res.stderr
    db = tmp_path / "runs" / "ex" / "archive.db"
    best, = query(db, "select id from programs order by combined_score desc limit 1")[0]
    stored_test, = query(db, "select combined_score from evaluations where program_id = ? "
                             "and set_name = 'test'", best)[0]
    out = tmp_path / "pkg" / "policy.py"
    res = run_cli("export", "ex", "--out", str(out), "--with-test", "--runs-dir", runs)
    assert res.returncode == 0, res.stderr
    check = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            str(out.with_name("test_policy.py"))], cwd=out.parent,
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0 and "1 passed" in check.stdout, check.stdout + check.stderr
    text = out.read_text()
    assert "evolve" not in text.split('"""', 2)[2]  # no dependency on the platform
    for needle in (f"program {best}", "lineage depth 1 (1 -> 2)", "models openai/local",
                   "API contract: schedule(", "wmdd", "atc_api", f"{-100 * stored_test:.2f}%"):
        assert needle in text, needle
    probe = (f"import sys; sys.path.insert(0, {str(out.parent)!r}); import policy; "
             "print(policy.schedule([3, 1, 2], [1, 5, 1], [3, 1, 9]))")
    fresh = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True, text=True,
                           timeout=60)
    assert fresh.returncode == 0 and sorted(eval(fresh.stdout)) == [0, 1, 2], fresh.stderr
    res = run_cli("verify", str(out), "--problem", "smtt")
    assert res.returncode == 0, res.stderr
    assert f"{-100 * stored_test:.2f}%" in res.stdout  # re-scored through the sandbox: same
    bad = run_cli("export", "ex", "--out", str(out), "--program", "999", "--runs-dir", runs)
    assert bad.returncode == 2 and "program 999 is not in run ex" in bad.stderr
