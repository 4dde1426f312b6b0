"""Tunable literals: what is found, parameterise() and substitute() agree, the text stays intact."""

from __future__ import annotations

import ast
import math
import random
from pathlib import Path

import pytest

from evolve.tuning.literals import SETTER, find_tunable, format_value, parameterise, settle, substitute

ROOT = Path(__file__).resolve().parent.parent
ATC = (ROOT / "problems/smtt/baselines/atc.py").read_text()

WMDD = '''"""A WMDD-like rule with a weight constant (test fixture)."""

import math

SCALE = 3.0  # outside the block: never tuned


# EVOLVE-BLOCK-START
def priority(p_j: int, w_j: int, d_j: int, t: int) -> float:
    """Smallest first: modified due date over a damped weight, minus a weight bonus."""
    slack = d_j - t - 2 * p_j  # a look-ahead of two processing times
    return max(p_j, slack) / (w_j ** 1.5) - 0.25 * w_j


def schedule(p: list[int], w: list[int], d: list[int]) -> list[int]:
    left = set(range(len(p)))
    t = 0
    order = []
    while left:
        j = min(left, key=lambda j: (priority(p[j], w[j], d[j], t), d[j], j))
        order.append(j)
        left.remove(j)
        t += p[j]
    return order
# EVOLVE-BLOCK-END


def unused(x):
    return x * 2.5 + SCALE
'''


def load(code: str) -> dict:
    namespace: dict = {"__name__": "candidate"}
    exec(compile(code, "<candidate>", "exec"), namespace)
    return namespace


def block(body: str) -> str:
    return f"# EVOLVE-BLOCK-START\n{body}# EVOLVE-BLOCK-END\n"


def values_of(code: str) -> list[float]:
    return [lit.value for lit in find_tunable(code)]


def random_instance(rng: random.Random, n: int) -> tuple[list[int], list[int], list[int]]:
    p = [rng.randint(1, 100) for _ in range(n)]
    w = [rng.randint(1, 10) for _ in range(n)]
    total = sum(p)
    d = [rng.randint(int(0.2 * total), int(0.9 * total)) for _ in range(n)]
    return p, w, d


def perturbed(rng: random.Random, literals) -> list[float]:
    return [settle(lit.value * math.exp(rng.uniform(-1, 1)), lit.is_int) for lit in literals]


def test_atc_k_grid_is_tunable_and_nothing_structural_is():
    lits = find_tunable(ATC)
    assert [lit.value for lit in lits] == [0.5, 1.0, 2.0, 3.0, 5.0, 6.0]
    assert all(not lit.is_int and lit.context.startswith("K_GRID = ") for lit in lits)
    assert [lit.index for lit in lits] == list(range(6))
    line = ATC.splitlines()[lits[0].lineno - 1]
    assert [line[lit.col_offset:lit.end_col_offset] for lit in lits] == ["0.5", "1.0", "2.0", "3.0", "5.0",
                                                                         "6.0"]


def test_wmdd_rule_constants_and_block_bounds():
    lits = find_tunable(WMDD)
    assert [(lit.value, lit.is_int) for lit in lits] == [(2, True), (1.5, False), (0.25, False)]
    assert "SCALE" not in "".join(lit.context for lit in lits)  # outside the block: 3.0 and 2.5


@pytest.mark.parametrize("code", [ATC, WMDD], ids=["atc", "wmdd"])
def test_substitute_with_the_original_values_is_the_identity(code):
    lits = find_tunable(code)
    assert substitute(code, lits, [lit.value for lit in lits]) == code


@pytest.mark.parametrize("code", [ATC, WMDD], ids=["atc", "wmdd"])
def test_parameterised_program_matches_the_substituted_one(code):
    lits = find_tunable(code)
    param = load(parameterise(code, lits))
    rng = random.Random(7)
    for _ in range(4):
        new = perturbed(rng, lits)
        param[SETTER](new)  # the same warm module, setting after setting
        fresh = load(substitute(code, lits, new))
        for _ in range(5):
            args = random_instance(rng, rng.randint(5, 25))
            assert param["schedule"](*args) == fresh["schedule"](*args)
    param[SETTER]([lit.value for lit in lits])
    args = random_instance(rng, 20)
    assert param["schedule"](*args) == load(code)["schedule"](*args)


def test_module_constants_and_helper_defaults_follow_the_setter():
    code = block("K = (0.5, 2.0)\n\n\ndef helper(x, k=3.5):\n    return x * k\n\n\n"
                 "def f(x):\n    return [helper(x) + k for k in K]\n")
    lits = find_tunable(code, entry="f")
    assert [lit.value for lit in lits] == [0.5, 2.0, 3.5]
    namespace = load(parameterise(code, lits))
    namespace[SETTER]([1.5, 4.0, 0.5])
    assert namespace["f"](2.0) == load(substitute(code, lits, [1.5, 4.0, 0.5]))["f"](2.0) == [2.5, 5.0]


def test_ints_are_rounded_by_both_paths():
    code = block("def f(t, d):\n    return t + 2 * d > 7\n")
    lits = find_tunable(code)
    assert [(lit.value, lit.is_int) for lit in lits] == [(2, True), (7, True)]
    assert substitute(code, lits, [3.4, 9.6]) == block("def f(t, d):\n    return t + 3 * d > 10\n")
    namespace = load(parameterise(code, lits))
    namespace[SETTER]([3.4, 9.6])
    assert namespace["_EVOLVE_P"] == [3, 10] and all(type(v) is int for v in namespace["_EVOLVE_P"])


@pytest.mark.parametrize("expr", [
    "x[2] * 0.5 if False else x[2]", "x[1:3]", "sum(x[i] for i in range(2, 5))", "len(x) // 3",
    "len(x) % 4", "len(x) << 3", "len(x) ** 2", "len(x) == 3", "round(x[0] * 2.5, 3) if False else 0",
    "int(0.5 * len(x))", "[0.0] * len(x)", "x[0] + 1e9", "x[0] + 1e-12", "x[0] - 1", "x[0] * -1",
    "1.0 - x[0]", "x[0] * 1.0", "x[0] in (2, 3)", "{2.5: 1}", "list(enumerate(x, 2))", "f'{x[0]:.3f}'",
    "~5",
])
def test_structural_literals_are_not_tunable(expr):
    code = block(f"def f(x):\n    return {expr}\n")
    assert compile(code, "<t>", "exec")
    found = find_tunable(code)
    assert all(lit.value in (0.5, 2.5) and "False" in lit.context for lit in found), found


def test_defaults_initialisers_and_code_outside_the_block():
    code = ("RATE = 0.7\n\n\n" + block("def schedule(p, w, d, k=2.0):\n    total = 0.0\n"
                                        "    lo, hi = 0.0, 1.0\n"
                                        "    for j in p:\n        total += 0.3 * j\n    return total\n")
            + "\n\ndef after(x):\n    return x * 0.9\n")
    assert values_of(code) == [0.3]  # not RATE, the entry's default, the initialiser, after()'s 0.9
    helper = block("def helper(x, k=2.0):\n    return x * k\n")
    assert values_of(helper) == []  # no entry named: every function's defaults are its contract
    assert find_tunable(helper, entry="schedule")[0].value == 2.0


def test_a_negative_literal_is_one_literal():
    code = block("def f(x):\n    return x * -0.5 + 2.0 ** x - 0.25\n")
    lits = find_tunable(code)
    assert [lit.value for lit in lits] == [-0.5, 2.0, 0.25]
    line = code.splitlines()[lits[0].lineno - 1]
    assert line[lits[0].col_offset:lits[0].end_col_offset] == "-0.5"
    out = substitute(code, lits, [-0.75, -3.0, -0.125])
    assert out == block("def f(x):\n    return x * -0.75 + (-3.0) ** x - (-0.125)\n")
    assert load(out)["f"](2.0) == pytest.approx(2.0 * -0.75 + 9.0 + 0.125)
    namespace = load(parameterise(code, lits))
    namespace[SETTER]([-0.75, -3.0, -0.125])
    assert namespace["f"](2.0) == load(out)["f"](2.0)


def test_value_formatting():
    assert format_value(0.437345, False) == "0.4373"
    assert format_value(12.5, False) == "12.5"
    assert format_value(12.0, False) == "12.0"
    assert format_value(1.2e-05, False) == "1.2e-05"
    assert format_value(12345.678, False) == "12350.0"
    assert format_value(11.6, True) == "12"
    with pytest.raises(ValueError):
        format_value(math.nan, False)


def test_only_the_literal_text_changes():
    code = block('def f(x):\n    label = "é→"; y = x * 0.5  # weight 0.5, keep this comment\n'
                 '    return y  +  .25\n')
    lits = find_tunable(code)
    assert [lit.value for lit in lits] == [0.5, 0.25]
    out = substitute(code, lits, [0.6, 0.25])
    assert out == code.replace("x * 0.5", "x * 0.6")
    assert ".25" in out  # an unchanged value keeps its spelling


def test_no_tunable_literals():
    code = (ROOT / "problems/bin_packing/baselines/funsearch_weibull.py").read_text()
    assert find_tunable(code) == []  # int exponents and a slice only
    param = parameterise(code, [])
    namespace = load(param)
    namespace[SETTER]([])
    bins = [30.0, 50.0, 100.0]
    assert namespace["priority"](10.0, bins) == load(code)["priority"](10.0, bins)
    assert substitute(code, [], []) == code


def test_whole_file_with_docstring_and_future_import():
    code = '"""Doc."""\nfrom __future__ import annotations\n\nW = 0.4\n\n\ndef f(x: float) -> float:\n' \
           '    return W * x + 0.1\n'
    lits = find_tunable(code)
    assert [lit.value for lit in lits] == [0.4, 0.1]
    param = parameterise(code, lits)
    assert ast.get_docstring(ast.parse(param)) == "Doc."
    namespace = load(param)
    namespace[SETTER]([0.8, 0.2])
    assert namespace["f"](1.0) == pytest.approx(1.0)


def test_cap_keeps_floats_first_in_source_order():
    code = block("def f(x):\n    return (x + 3) * 0.5 + (x > 4) * 0.25 + x * 7\n")
    assert [(lit.value, lit.is_int) for lit in find_tunable(code)] == [(3, True), (0.5, False), (4, True),
                                                                         (0.25, False), (7, True)]
    capped = find_tunable(code, max_params=3)
    assert [lit.value for lit in capped] == [3, 0.5, 0.25]
    assert [lit.index for lit in capped] == [0, 1, 2]


def test_parameterised_errors_point_at_the_original_lines():
    code = block("def f(x):\n    return 0.5 / x\n")
    lits = find_tunable(code)
    namespace = load(parameterise(code, lits))
    namespace[SETTER]([0.7])
    with pytest.raises(ZeroDivisionError) as info:
        namespace["f"](0)
    assert info.traceback[-1].lineno + 1 == 4  # _EVOLVE_P sits on line 2, so `return` moved to 4
