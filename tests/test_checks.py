"""The reply checks verifiers share (evaluators/checks.py): every malformed permutation is refused
with a line naming the entry and what was expected."""

import numpy as np
import pytest

from evaluators.base import InvalidOutput
from evaluators.checks import check_permutation


@pytest.mark.parametrize("bad, why", [
    ([], "returned 0 entries, expected all 3"),
    ([0, 1], "returned 2 entries"),
    ([0, 1, 1], "1 appears more than once .entry 2.: not a permutation of 0..2 .missing \\[2\\]"),
    ([0, 0, 1], "not a permutation"),
    ([0, 1, 3], "entry 2 is 3, outside 0..2"),
    ([0, -1, 2], "outside 0..2"),
    ([0, 1.0, 2], "entry 1 is float"),
    ([True, 0, 2], "entry 0 is bool"),
    ([0, "1", 2], "entry 1 is str"),
    ([0, np.int64(1), 2], "entry 1 is int64"),
    ([[0, 1, 2], 7, 0], "entry 0 is list"),
    ({"order": [0, 1, 2], "makespan": 1}, "get_order\\(\\) must return a list .* got dict"),
    ((0, 1, 2), "got tuple"),
    (None, "got NoneType"),
    (3, "got int"),
])
def test_a_malformed_permutation_is_refused(bad, why):
    with pytest.raises(InvalidOutput, match=why):
        check_permutation(bad, 3, call="get_order()", item="job")


def test_a_permutation_comes_back_as_it_is():
    order = [2, 0, 1]
    assert check_permutation(order, 3, call="f()", item="job") is order
