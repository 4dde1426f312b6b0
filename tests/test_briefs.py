"""Problem briefs: every one ends with the inputs that break naive code, and those statements hold."""

from __future__ import annotations

import re

import pytest

from evaluators.jobs import verifier_for
from evaluators.problem import list_problems, load_problem

HEADING = "## Inputs that break naive code"
PROBLEMS = [spec.name for spec in list_problems()]


def test_all_eight_problems_are_checked():
    assert set(PROBLEMS) >= {"smtt", "bin_packing", "txn_scheduling", "moe_eplb", "cant_be_late",
                             "jssp", "pod_packing", "llm_serving"}


@pytest.mark.parametrize("name", PROBLEMS)
def test_edge_cases_are_the_last_section(name):
    brief = load_problem(name).brief
    lines = brief.rstrip().splitlines()
    sections = [k for k, line in enumerate(lines) if line.startswith("## ")]
    assert sections and lines[sections[-1]] == HEADING, "the edge cases must be the last section"
    assert brief.count(HEADING) == 1
    body = [line for line in lines[sections[-1] + 1:] if line.strip()]
    assert 3 <= len(body) <= 7 and all(line.startswith("- ") for line in body), \
        "a short bullet list, one line per bullet, to the end of the file"


@pytest.mark.parametrize("name", PROBLEMS)
def test_prompt_brief_can_leave_the_edge_cases_out(name):
    spec = load_problem(name)
    full, short = spec.prompt_brief(), spec.prompt_brief(edge_cases=False)
    assert full == spec.brief.rstrip() and HEADING in full
    assert HEADING not in short and short == spec.brief[:spec.brief.index(HEADING)].rstrip()
    assert full.startswith(short) and len(short) > 500  # the rest is kept, unchanged
    assert short == short.rstrip()


def _bullet(name: str, start: str) -> str:
    body = load_problem(name).brief.split(HEADING, 1)[1]
    found = [line for line in body.splitlines() if line.startswith("- " + start)]
    assert len(found) == 1, f"{name}: no single bullet starting {start!r}"
    return found[0]


def test_smtt_zero_due_dates_are_as_the_brief_says():
    bullet = _bullet("smtt", "`d[j] == 0`")
    match = re.search(r"for (\d+)% of jobs \((\d+) of (\d+) training instances, (\d+) of (\d+) "
                      r"quick-check instances\)", bullet)
    assert match, bullet
    share, with_zero, total, gate_zero, gate_total = (int(g) for g in match.groups())
    verifier = verifier_for("smtt")
    train = verifier.instances("train")
    assert len(train) == total
    assert sum(any(d == 0 for d in inst.d) for inst in train) == with_zero > 0
    for set_name in ("train", "test"):
        jobs = [d for inst in verifier.instances(set_name) for d in inst.d]
        assert round(100 * jobs.count(0) / len(jobs)) == share, set_name
    gate = verifier.instances("gate")  # the quick check has them too: an unguarded d_j fails there
    assert (sum(0 in inst.d for inst in gate), len(gate)) == (gate_zero, gate_total)


def test_smtt_other_edge_cases_hold():
    verifier = verifier_for("smtt")
    match = re.search(r"Due dates repeat in (\d+) of (\d+) training", _bullet("smtt", "Due dates repeat"))
    assert match
    train = verifier.instances("train")
    assert sum(len(set(inst.d)) < inst.n for inst in train) == int(match.group(1))
    assert "1 job in 7" in _bullet("smtt", "Late jobs")
    for set_name in ("train", "test"):
        insts = verifier.instances(set_name)
        late = sum(d < p for inst in insts for p, d in zip(inst.p, inst.d))
        assert abs(late / sum(inst.n for inst in insts) - 1 / 7) < 0.01
        assert min(min(inst.p) for inst in insts) >= 1 and min(min(inst.w) for inst in insts) >= 1
        assert min(min(inst.d) for inst in insts) >= 0  # the brief's d[j] >= 0
