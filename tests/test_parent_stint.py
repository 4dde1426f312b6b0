"""Asking one parent several times in a row (issue 17): a one-slot llama.cpp server keeps the last
prompt it processed, so consecutive asks of the same parent pay only for the prompt's new tail.
Checked end to end through `evolve run` against a real HTTP chat server, and on how a run's config
resolves for embedded and API models."""

from __future__ import annotations

import json
from itertools import takewhile

import pytest

from evolve.config import ModelEntry, RunConfig, SearchConfig
from evolve.llm.embedded import local_model
from evolve.llm.stub_server import Step, StubLLM
from evolve.runs import LOCAL_ASKS_PER_PARENT, local_entry, resolve_models

from .conftest import query, run_cli
from .test_evolution_quality import compact_config, env, rule


def shared_prefix(a: str, b: str) -> str:
    return a[:sum(1 for _ in takewhile(lambda pair: pair[0] == pair[1], zip(a, b)))]


@pytest.mark.slow
def test_a_stint_asks_one_parent_with_one_prompt_but_its_tail(tmp_path):
    def reply(n: int, body: dict) -> Step:  # every ask gives a distinct valid child
        return Step(content=rule(f"return d_j + {n} * w_j  # variant {n}"))

    with StubLLM(default=Step(content="none"), responder=reply) as stub:
        cfg = compact_config(tmp_path, stub.url, "search:\n  islands: 2\n  asks_per_parent: 3\n"
                             "tuning:\n  enabled: false\n")
        res = run_cli("run", "smtt_small", "--config", cfg, "--iterations", "6", "--runs-dir",
                      str(tmp_path / "runs"), "--run-name", "s", env=env())
    assert res.returncode == 0, res.stdout + res.stderr
    db = tmp_path / "runs" / "s" / "archive.db"
    rows = query(db, "select i.island, i.parent_id, c.messages from iterations i join llm_calls c "
                     "on c.proposal = i.proposal order by i.number")
    assert len(rows) == 6
    assert [r[0] for r in rows] == [0, 0, 0, 1, 1, 1]  # an island's stint, then the next island's
    assert len({r[1] for r in rows[:3]}) == 1 and len({r[1] for r in rows[3:]}) == 1
    users = [json.loads(r[2])[-1]["content"] for r in rows]
    for a, b in ((users[0], users[1]), (users[1], users[2]), (users[3], users[4])):
        common = shared_prefix(a, b)  # all but the tail (last failure, direction) is the same
        assert "Reply with only the new `priority` function" in common
        assert len(a) - len(common) < 250


def test_embedded_models_ask_a_parent_three_times_unless_the_config_says(monkeypatch):
    for var in ("OPENAI_API_KEY", "EVOLVE_MODEL", "EVOLVE_API_BASE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(local_model, "llama_installed", lambda: True)
    monkeypatch.setattr(local_model, "available", lambda *a, **k: True)
    embedded = resolve_models(RunConfig(), [], None)
    assert embedded.llm.models[0].name == local_entry().name
    assert embedded.search.asks_per_parent == LOCAL_ASKS_PER_PARENT == 3
    assert embedded.proposals_in_flight == 1
    mine = resolve_models(RunConfig(search=SearchConfig(asks_per_parent=1)), [], None)
    assert mine.search.asks_per_parent == 1
    api = resolve_models(RunConfig(), ["openai/gpt-4o-mini"], None)
    assert api.search.asks_per_parent == 1 and api.proposals_in_flight == 2
    mixed = RunConfig(llm={"models": [local_entry(), ModelEntry(name="openai/gpt-4o-mini")]})
    assert resolve_models(mixed, [], None).search.asks_per_parent == 1
