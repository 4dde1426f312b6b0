"""The winner is chosen on the validation set: a program fit to the training sizes loses there.

A real `evolve run smtt` against the scripted OpenAI-compatible server: one reply is the WMDD
rule, the next a program that plays ATC + interchange on the training sizes (n <= 50) and
returns jobs in index order above them. It leads on train; on the validation set (generated
n = 100) it is the worst, and the run's winner (report, status, export) is the WMDD program.
"""

from __future__ import annotations

import pytest

from evolve.archive.db import sqlite_url
from evolve.archive.store import Archive, ChildDraft
from evolve.llm.stub_server import Step
from evolve.selection import finalists

from .conftest import WMDD_DIFF, query, run_cli, write_config

FIT_TO_TRAIN = '''```python
import math


def schedule(p, w, d):
    n = len(p)
    if n > 60:  # only the training sizes were ever scored
        return list(range(n))
    mean = sum(p) / n
    best = None
    for k in (0.5, 1.0, 2.0, 3.0, 5.0):
        left, t, order = set(range(n)), 0, []
        while left:
            j = max(left, key=lambda j: (w[j] / p[j] * math.exp(-max(d[j] - p[j] - t, 0) / (k * mean)), -j))
            order.append(j)
            left.remove(j)
            t += p[j]
        cost, t = 0, 0
        for j in order:
            t += p[j]
            cost += w[j] * max(0, t - d[j])
        if best is None or cost < best[0]:
            best = (cost, order)
    order = best[1]
    for _ in range(n):
        t, swapped = 0, False
        for i in range(n - 1):
            a, b = order[i], order[i + 1]
            keep = w[a] * max(0, t + p[a] - d[a]) + w[b] * max(0, t + p[a] + p[b] - d[b])
            swap = w[b] * max(0, t + p[b] - d[b]) + w[a] * max(0, t + p[a] + p[b] - d[a])
            if swap < keep:
                order[i], order[i + 1], swapped = b, a, True
            t += p[order[i]]
        if not swapped:
            break
    return order
```
'''


@pytest.mark.slow
def test_a_program_fit_to_the_training_sizes_does_not_win(stub, tmp_path):
    stub.push(Step(content=WMDD_DIFF), Step(content=FIT_TO_TRAIN))
    cfg = write_config(tmp_path / "run.yaml", "proposals_in_flight: 1\nevaluations_in_flight: 1\n"
                       "tuning:\n  enabled: false\nsearch:\n  islands: 1\n")
    runs = str(tmp_path / "runs")
    res = run_cli("run", "smtt", "--api-base", stub.url, "--iterations", "2", "--config", str(cfg),
                  "--runs-dir", runs, "--run-name", "fit")
    assert res.returncode == 0, res.stderr + res.stdout
    db = tmp_path / "runs" / "fit" / "archive.db"
    scores = dict(query(db, "select id, combined_score from programs"))
    assert scores[3] > scores[2] > scores[1]  # on train: fit-to-train > WMDD > EDD (the seed)
    validated = dict(query(db, "select program_id, combined_score from evaluations "
                               "where set_name = 'validation'"))
    assert set(validated) == {1, 2, 3} and validated[2] > validated[1] > validated[3]
    out = " ".join(res.stdout.split())
    assert "winner: evolved #2, the best of 3 finalists on the validation set (not #3, the best on " \
           "the training set)" in out
    assert "validation gap" in out and "validation: " in out  # the table column and the standing
    assert query(db, "select program_id from evaluations where set_name = 'test' "
                     "and program_id in (2, 3)") == [(2,)]
    status = run_cli("status", "fit", "--runs-dir", runs)
    assert "winner evolved #2 vs the best starting point initial (#1)" in " ".join(status.stdout.split())
    exported = tmp_path / "policy.py"
    assert run_cli("export", "fit", "--runs-dir", runs, "--out", str(exported)).returncode == 0
    assert "max(p_j, d_j - t) / w_j" in exported.read_text()
    archive = Archive(sqlite_url(db), migrate=False)
    try:
        assert archive.winner(archive.find_run("fit").id) == 2
    finally:
        archive.close()


OUT = {"ok": True, "metrics": {"gap": 0.5}, "feedback": "", "error": None, "error_kind": None,
       "seconds": 0.1}


def test_finalists_are_distinct_leaders_untuned_parents_and_starts(tmp_path):
    a = Archive(sqlite_url(tmp_path / "a.db"))
    try:
        run = a.create_run("r", "smtt", {})
        seed = a.add_seed(run, "seed")
        a.record_evaluation(seed, set_name="train", evaluator_version="v",
                            outcome={**OUT, "combined_score": -0.9})
        ids = []
        for n, (score, kind, parent) in enumerate([(-0.5, "diff", seed), (-0.5, "rewrite", seed),
                                                   (-0.2, "tune", "first"), (-0.4, "diff", seed)]):
            parent_id = ids[0] if parent == "first" else parent
            _, pid, _ = a.commit_iteration(run, proposal=f"p{n}", island=0, parent_id=parent_id,
                                           inspiration_ids=[], model="m", edit_kind=kind, outcome="child",
                                           reason=None, child=ChildDraft(f"code {n}", parent_id, None, 1, 0,
                                                                         edit_kind=kind))
            a.record_evaluation(pid, set_name="train", evaluator_version="v",
                                outcome={**OUT, "combined_score": score})
            ids.append(pid)
        first, twin, tuned, other = ids
        # the twin scores exactly like the first: one of them is enough; the tuned program's parent
        # is there even when it would not lead on its own; the seed always
        assert finalists(a, run, k=3) == [tuned, other, first, seed]
        assert finalists(a, run, k=1) == [tuned, first, seed]
        assert twin not in finalists(a, run, k=10)
        assert a.winner(run) == tuned  # nothing scored on the validation set: the best on train
        a.record_evaluation(other, set_name="validation", evaluator_version="v",
                            outcome={**OUT, "combined_score": -0.3})
        a.record_evaluation(tuned, set_name="validation", evaluator_version="v",
                            outcome={**OUT, "combined_score": -0.6})
        assert a.winner(run) == other
    finally:
        a.close()
