"""A candidate cannot make the trusted processes hold much more than its replies' worth
(issue 18, finding 5): a reply of ``[[],[],...]`` decodes to ~20x its size, and a batch of
replies was bounded only by 8 MB a reply (250 replies: 2 GB). Replies are refused before they are
decoded once a call's or a batch's bytes or values run over."""

from __future__ import annotations

import pytest

from sandbox.session import CandidateError, SandboxSession

from .test_hostile import FAST, healthy, run

MANY_VALUES = "def f():\n    return [[]] * 2_000_000\n"  # 6 MB of JSON, 2 M values


def test_a_reply_of_too_many_values_is_refused_before_decoding(level):
    kind, message = run(MANY_VALUES)
    assert kind == "oversize" and "values exceeds the limit of 1000000" in message


def test_a_batch_may_hold_only_its_budget(level):
    code = "BIG = 'x' * (3 << 20)\ndef f(i):\n    return BIG\n"  # 3 MB each, 8 MB allowed each
    with pytest.raises(CandidateError) as err, SandboxSession(code, FAST) as box:
        box.call_many("f", [[i] for i in range(10)])
    assert err.value.kind == "oversize" and err.value.index == 5  # 16 MB for the batch
    healthy()


def test_honest_batches_are_untouched(level):
    code = "def f(n):\n    return list(range(n))\n"
    with SandboxSession(code, FAST) as box:
        out = box.call_many("f", [[20_000]] * 20)  # 400,000 values, 2.6 MB in all
    assert len(out) == 20 and out[-1][-1] == 19_999
