"""Guards: a program that crashed on a division by zero or a math domain error is rewritten so that
it computes the same wherever it did not crash, with only the guarded expressions' text changed."""

from __future__ import annotations

import itertools
import math

from evolve.guards import guard, guard_for

PROGRAM = '''import math
from math import log
# EVOLVE-BLOCK-START
def priority(p_j, w_j, d_j, t):
    """Rank é."""
    slack = max(0, (d_j - p_j) / t + 1)  # zero at t == 0 ü
    x = w_j / (d_j / (t - 3)) + p_j // 2 + 7 % d_j + math.log(d_j - p_j - t) / 100
    x += log(max(t, 1)) + math.sqrt(t - 5) / 2.0 / (t or 1)
    x /= d_j
    x += math.log(d_j + 1, p_j) + log(t, w_j)
    return slack * x


def schedule(p, w, d):
    return sorted(range(len(p)), key=lambda j: priority(p[j], w[j], d[j], 0) / len(p))
# EVOLVE-BLOCK-END
'''


def run(code: str, *args: int) -> float | str:
    ns: dict = {}
    exec(compile(code, "candidate", "exec"), ns)
    try:
        return ns["priority"](*args)
    except (ZeroDivisionError, ValueError) as exc:
        return type(exc).__name__


def test_guarded_program_equals_the_original_wherever_it_did_not_crash():
    guarded = guard(PROGRAM, "priority")
    crashed = agreed = 0
    for args in itertools.product((1, 4), (1, 9), (0, 3, 10, 40), (0, 3, 4, 5, 6, 30)):
        before, after = run(PROGRAM, *args), run(guarded, *args)
        assert isinstance(after, float), (args, after)  # the guarded program never crashes here
        if isinstance(before, str):
            crashed += 1
        else:
            agreed += math.isclose(before, after, rel_tol=1e-12)
            assert math.isclose(before, after, rel_tol=1e-12), args
    assert crashed and agreed  # both kinds of input were tried
    # only the guarded expressions changed: comments, docstring, other functions, guarded forms stay
    assert "slack = max(0, (d_j - p_j) / (t or 1) + 1)  # zero at t == 0 ü" in guarded
    assert "math.log(max(d_j - p_j - t, 1e-12))" in guarded and "log(max(t, 1))" in guarded
    assert "math.sqrt(max(t - 5, 0)) / 2.0 / (t or 1)" in guarded and "x /= (d_j or 1)" in guarded
    assert "(math.log(max(d_j + 1, 1e-12)) / (math.log(max(p_j, 1e-12)) or 1))" in guarded
    assert "(log(max(t, 1e-12)) / (log(max(w_j, 1e-12)) or 1))" in guarded
    assert guarded.split("def schedule")[1] == PROGRAM.split("def schedule")[1]
    assert guard(guarded, "priority") == guarded  # nothing left to guard


def test_guard_only_for_its_errors_and_the_function_the_error_names():
    zero = "ZeroDivisionError: division by zero (line 6 in priority: slack = ...)"
    assert guard_for("schedule", PROGRAM, zero) == guard(PROGRAM, "priority")
    domain = "ValueError: math domain error (line 7 in priority: x = ...)"
    assert guard_for("schedule", PROGRAM, domain) == guard(PROGRAM, "priority")
    assert guard_for("schedule", PROGRAM, "IndexError: list index out of range (line 6 in priority:") is None
    assert guard_for("schedule", PROGRAM, None) is None
    # an error in a lambda (not a defined function) guards the entry
    entry = guard_for("schedule", PROGRAM, "ZeroDivisionError (line 14 in <lambda>: ...)")
    assert entry is not None and "/ (len(p) or 1)" in entry and "(t or 1) + 1)" not in entry
    assert guard_for("schedule", "def schedule(p, w, d):\n    return sorted(p\n", zero) is None
