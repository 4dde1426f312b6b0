"""score_settings: many settings in one warm sandbox session, scored exactly as evaluate() scores."""

from __future__ import annotations

from pathlib import Path

from evaluators.jobs import verifier_for
from evaluators.tuning_job import batch_limits, score_settings
from evolve.tuning.literals import find_tunable, parameterise, substitute

ROOT = Path(__file__).resolve().parent.parent
ATC = (ROOT / "problems/smtt/baselines/atc.py").read_text()
SET = "gate"  # 10 generated instances of 20 jobs: fast

FRAGILE = '''"""WMDD whose constants can make it raise (a negative sqrt) or end its own process."""

# EVOLVE-BLOCK-START
import math
import os


def schedule(p: list[int], w: list[int], d: list[int]) -> list[int]:
    if 0.5 > 100.0:
        os._exit(3)
    left = set(range(len(p)))
    t = 0
    order = []
    while left:
        j = min(left, key=lambda j: (max(p[j], d[j] - t) / w[j] * math.sqrt(0.25), d[j], j))
        order.append(j)
        left.remove(j)
        t += p[j]
    return order
# EVOLVE-BLOCK-END
'''


def test_scores_equal_evaluate_of_the_substituted_program():
    verifier = verifier_for("smtt")
    lits = find_tunable(ATC)
    settings = [[lit.value for lit in lits], [0.3, 0.8, 1.5, 2.5, 4.0, 8.0], [1.2, 1.3, 1.4, 1.5, 1.6, 1.7]]
    scores = score_settings(verifier, parameterise(ATC, lits), settings, SET)
    expected = [verifier.evaluate(substitute(ATC, lits, s), SET).combined_score for s in settings]
    assert scores == expected
    assert len(set(scores)) > 1  # the settings do change the schedule


def test_a_failing_setting_scores_none_and_the_next_still_scores():
    verifier = verifier_for("smtt")
    lits = find_tunable(FRAGILE)
    assert [lit.value for lit in lits] == [0.5, 100.0, 0.25]
    good = [0.5, 100.0, 0.25]
    raises = [0.5, 100.0, -0.25]  # math domain error: the process lives on
    dies = [200.0, 100.0, 0.25]  # os._exit: the process is gone, a fresh session takes over
    code = parameterise(FRAGILE, lits)
    scores = score_settings(verifier, code, [good, raises, good, dies, good], SET)
    reference = verifier.evaluate(FRAGILE, SET).combined_score
    assert scores == [reference, None, reference, None, reference]
    assert score_settings(verifier, code, [dies, dies, good], SET) == [None, None, None]  # one restart only


def test_a_program_that_does_not_load_scores_none_everywhere():
    code = "# EVOLVE-BLOCK-START\nimport not_a_module_here\nX = 0.5\n# EVOLVE-BLOCK-END\n"
    lits = find_tunable(code)
    assert score_settings(verifier_for("smtt"), parameterise(code, lits), [[0.5], [0.7]], SET) == [None, None]


def test_the_session_budget_scales_with_the_batch():
    verifier = verifier_for("smtt")
    base = verifier.limits()
    eight = batch_limits(verifier, 8)
    assert eight.wall_seconds == min(8 * base.wall_seconds, 3600.0)
    assert eight.cpu_seconds == min(8 * base.cpu_seconds, 3600)
    assert eight.call_seconds == base.call_seconds and eight.memory_mb == base.memory_mb
    assert batch_limits(verifier, 1) == base
