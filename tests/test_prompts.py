"""Prompt assembly: everything the LLM needs, from template files."""

from __future__ import annotations

from evaluators.problem import load_problem
from evolve.archive.store import ProgramView
from evolve.prompts.builder import build_compact_messages, build_messages, directions


def view(pid: int, code: str, score: float | None, **kw) -> ProgramView:
    base = dict(id=pid, code=code, parent_id=None, generation=0, island=0, status="ok",
                combined_score=score, cell="0,0", metrics={}, feedback="", error=None)
    return ProgramView(**{**base, **kw})


def test_prompt_carries_brief_parent_feedback_failures_inspirations_and_format():
    spec = load_problem("smtt")
    parent = view(1, spec.initial_code, -1.5, metrics={"gap": 1.5, "aggregate_gap": 1.1},
                  feedback="Worst (TF, RDD) classes: TF=0.4 RDD=0.4 +328%")
    other = view(7, "def schedule(p, w, d):\n    return list(range(len(p)))  # other\n", -0.4)
    msgs = build_messages(spec, parent, [other], "diff", ["reply rejected: a SEARCH section does not match"])
    assert [m["role"] for m in msgs] == ["system", "user"]
    user = msgs[1]["content"]
    seed_rule = "priority(p[j], w[j], d[j], t)"
    for needle in ("total weighted tardiness", spec.signature, seed_rule,
                   "score -1.5", "- gap: 1.5", "TF=0.4 RDD=0.4 +328%",
                   "Recent attempts from this program that failed", "does not match",
                   "# other", "score -0.4", "<<<<<<< SEARCH", ">>>>>>> REPLACE"):
        assert needle in user, needle
    rewrite = build_messages(spec, parent, [], "rewrite")[1]["content"]
    assert "complete new program" in rewrite and "<<<<<<< SEARCH" not in rewrite
    assert "Recent attempts" not in rewrite and "Other program" not in rewrite


def test_compact_prompt_is_short_and_asks_for_the_focus_function():
    spec = load_problem("smtt")
    parent = view(1, spec.initial_code, -1.5, feedback="Worst classes: TF=0.4 RDD=0.4 +328%\nmore\n" * 20)
    better = view(7, spec.initial_code.replace("    return d_j\n", "    return d_j / w_j\n"), -0.9)
    worse = view(8, spec.initial_code.replace("    return d_j\n", "    return -d_j\n"), -3.0)
    direction = directions()[0]
    msgs = build_compact_messages(spec, parent, [worse, better], ["NameError: name 'np' is not defined"],
                                  direction)
    user = msgs[1]["content"]
    assert "Seed policy" not in user  # only the evolved block, not the file around it
    assert "score -1.5" in user and "TF=0.4 RDD=0.4 +328%" in user and direction in user
    assert "return d_j / w_j" in user and "return -d_j" not in user  # only a better program inspires
    assert "NameError" in user and "new `priority` function" in user
    assert len(user) < 4300  # about a thousand tokens: CPU prefill stays in seconds


def test_a_program_without_the_focus_function_is_asked_for_one_of_its_functions():
    """A baseline is several functions and lacks the seed's rule: a compact prompt names one of
    them (drawn), so the reply restates that one, and the edit keeps the others."""
    import random

    from evolve.edits import apply_reply
    from evolve.prompts.builder import focus_for

    spec = load_problem("smtt")
    code = spec.baselines()["atc_api"]
    assert "def priority" not in code
    names = {"total_weighted_tardiness", "atc_sequence", "adjacent_interchange", "schedule"}
    drawn = {focus_for(spec, code, random.Random(s)) for s in range(40)}
    assert drawn == names
    assert focus_for(spec, code) == "schedule"  # without a draw: the entry
    assert focus_for(spec, spec.initial_code, random.Random(1)) == "priority"
    parent = view(3, code, -0.029)
    user = build_compact_messages(spec, parent, [], [], directions()[0],
                                  focus="adjacent_interchange")[1]["content"]
    assert "new `adjacent_interchange` function" in user and "other functions stay as they are" in user
    reply = "```python\ndef adjacent_interchange(order, p, w, d):\n    return list(order)\n```"
    child = apply_reply(reply, code, spec.entry, focus="adjacent_interchange").code
    assert "def atc_sequence" in child and "return list(order)" in child and "improved = True" not in child
