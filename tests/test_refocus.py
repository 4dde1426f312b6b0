"""A reply that leaves its function unchanged moves the parent's remaining asks to another function
(``hygiene.refocus``): the rule on its own, and end to end through `evolve run` on a chat server
that copies the asked function whenever it is `priority`."""

from __future__ import annotations

import json
import random
import re

import pytest

from evolve.llm.stub_server import Step, StubLLM
from evolve.search.selection import Stint, refocused

from .conftest import ROOT, query, run_cli
from .test_evolution_quality import compact_config, env

SEED = (ROOT / "tests" / "fixtures" / "problems" / "smtt_small" / "initial.py").read_text()
THREE = "def a(x):\n    return x\n\n\ndef b(x):\n    return a(x)\n\n\ndef c(x):\n    return b(x)\n"


def test_the_remaining_asks_go_to_functions_not_yet_left_unchanged_then_the_stint_ends():
    rng = random.Random(3)
    stint = Stint(island=1, parent_id=7, insp_ids=(2,), focus="a", left=2)
    first = refocused(stint, 1, 7, THREE, "a", rng)
    assert first.focus in {"b", "c"} and first.left == 2 and first.unchanged == {"a"}
    second = refocused(first, 1, 7, THREE, first.focus, rng)
    assert {second.focus} == {"b", "c"} - {first.focus} and second.unchanged == {"a", first.focus}
    last = refocused(second, 1, 7, THREE, second.focus, rng)
    assert last.left == 0 and last.unchanged == {"a", "b", "c"}  # nothing left: a new parent next
    # a stale reply (another island, parent or focus than the stint's now) changes nothing
    for island, parent, focus in ((2, 7, first.focus), (1, 8, first.focus), (1, 7, "a")):
        assert refocused(first, island, parent, THREE, focus, rng) is first
    assert refocused(None, 1, 7, THREE, "a", rng) is None


def _seed_function(name: str) -> str:
    start = SEED.index(f"def {name}(")
    end = SEED.find("\n\n\ndef ", start)
    return SEED[start:end if end > 0 else SEED.index("# EVOLVE-BLOCK-END")].rstrip()


def _copy_priority(n: int, body: dict) -> Step:
    """The asked function as it is when it is `priority`; a new `schedule` otherwise."""
    asked = re.search(r"Reply with only the new `(\w+)`", body["messages"][-1]["content"]).group(1)
    if asked == "priority":
        return Step(content=f"```python\n{_seed_function('priority')}\n```")
    return Step(content="```python\ndef schedule(p, w, d):\n    return sorted(range(len(p)), "
                        f"key=lambda j: (d[j] - {n} * p[j], j))\n```")


@pytest.mark.parametrize("refocus", [True, False])
def test_an_unchanged_reply_moves_the_stint_to_another_function(tmp_path, refocus):
    with StubLLM(default=Step(content="none"), responder=_copy_priority) as stub:
        cfg = compact_config(tmp_path, stub.url, "search:\n  islands: 1\n  asks_per_parent: 3\n"
                             f"hygiene:\n  refocus: {str(refocus).lower()}\n"
                             "tuning:\n  enabled: false\n")
        res = run_cli("run", "smtt_small", "--config", cfg, "--iterations", "3", "--runs-dir",
                      str(tmp_path / "runs"), "--run-name", "r", env=env())
    assert res.returncode == 0, res.stdout + res.stderr
    rows = query(tmp_path / "runs" / "r" / "archive.db",
                 "select i.parent_id, i.outcome, i.reason, c.messages from iterations i join "
                 "llm_calls c on c.proposal = i.proposal order by i.number")
    asked = [re.search(r"Reply with only the new `(\w+)`", json.loads(m)[-1]["content"]).group(1)
             for *_, m in rows]
    assert len({r[0] for r in rows}) == 1  # one parent's stint
    assert rows[0][1:3] == ("rejected", "the edit leaves the program unchanged")
    if refocus:
        assert asked == ["priority", "schedule", "schedule"]
        assert [r[1] for r in rows[1:]] == ["child", "child"]
    else:
        assert asked == ["priority"] * 3 and {r[1] for r in rows} == {"rejected"}
