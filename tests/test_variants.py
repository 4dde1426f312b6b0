"""Prompt variants (issue 20): directions chosen by a bandit on their record, new ones written by
the LLM, every proposal's direction stored with its iteration."""

from __future__ import annotations

import random

from evolve.llm.stub_server import Step, StubLLM
from evolve.search.variants import (
    MIN_USES,
    POPULATION,
    VariantRecord,
    clean_direction,
    pick_direction,
    population,
    variant_messages,
)

from .conftest import query, run_cli
from .test_evolution_quality import compact_config, env, rule

A, B = "Combine two inputs in a ratio.", "Make one small change."


def test_untried_directions_come_first_then_the_best_record():
    records = {A: VariantRecord(A, 10, 5)}
    assert {pick_direction([A, B], records, random.Random(s)) for s in range(10)} == {B}
    records[B] = VariantRecord(B, 10, 0)
    assert pick_direction([A, B], records, random.Random(0)) == A
    records[B] = VariantRecord(B, MIN_USES, 0)  # tried little: exploration keeps it in play
    records[A] = VariantRecord(A, 200, 20)
    assert pick_direction([A, B], records, random.Random(0)) == B


def test_a_written_direction_is_one_line_of_plain_text():
    assert clean_direction('1. "Prefer jobs whose slack is small relative to their length."\nMore') == \
        "Prefer jobs whose slack is small relative to their length."
    assert clean_direction("```python\ndef f(): return 1\n```") is None
    assert clean_direction("ok") is None
    long = clean_direction("Consider " + "the weight of the job and " * 20)
    assert len(long) <= 200 and long.endswith(".")
    assert "\x1b" not in (clean_direction("Try the \x1b[31mred\x1b[0m idea on long jobs first.") or "")


def test_the_population_keeps_builtins_and_the_latest_written():
    builtin = [f"built-in {i}" for i in range(6)]
    written = [f"written {i}" for i in range(10)]
    pop = population(builtin, written)
    assert len(pop) == POPULATION and pop[:6] == builtin and pop[6:] == [f"written {i}" for i in range(6, 10)]
    assert population(builtin, ["built-in 0"]) == builtin  # a copy of a built-in is not added


def test_the_request_shows_each_directions_record_best_first():
    text = variant_messages([VariantRecord(A, 4, 0), VariantRecord(B, 4, 2)], "raised")[1]["content"]
    assert text.index(B) < text.index(A) and "(2 better programs from 4 tries)" in text


def test_a_run_stores_directions_writes_one_and_uses_it(tmp_path):
    written = "Prefer jobs whose deadline is near relative to their processing time."
    with StubLLM(default=Step(content="no change")) as stub:
        stub.push(Step(content=rule("return max(p_j, d_j - t) / w_j")), Step(content="no change"),
                  Step(content="no change"), Step(content=written))
        cfg = compact_config(tmp_path, stub.url, "search:\n  islands: 1\n  asks_per_parent: 1\n"
                             "prompts:\n  direction_choice: bandit\n  direction_writing_interval: 3\n"
                             "tuning:\n  enabled: false\n")
        res = run_cli("run", "smtt_small", "--config", cfg, "--iterations", "20", "--runs-dir",
                      str(tmp_path / "runs"), "--run-name", "v", "--no-report", env=env())
        prompts = [r["messages"][-1]["content"] if "messages" in r else r.get("prompt", "")
                   for r in stub.requests]
    assert res.returncode == 0, res.stdout + res.stderr
    db = tmp_path / "runs" / "v" / "archive.db"
    rows = query(db, "select number, outcome, direction, edit_kind from iterations order by number")
    assert rows[3][1:] == ("variant", None, "variant"), rows
    writes = [r for r in rows if r[3] == "variant"]
    assert [r[0] for r in writes] == [4, 8, 12, 16, 20], rows  # one call in every 4
    assert all(r[1] == "rejected" for r in writes[1:])  # "no change" is not a direction
    assert all(d for _, _, d, kind in rows if kind not in ("variant", "repair")), rows
    assert query(db, "select kind, text from search_events where kind = 'variant'") == [("variant", written)]
    # every direction is tried before the record decides, the written one included
    assert any(d == written for _, _, d, _ in rows), rows
    # a call that wrote (or failed to write) a direction is no proposal in the models' record
    from evolve.archive.db import sqlite_url
    from evolve.archive.events import model_records
    from evolve.archive.store import Archive

    archive = Archive(sqlite_url(db), migrate=False)
    try:
        calls = model_records(archive, archive.find_run("v").id)["openai/stub"].calls
    finally:
        archive.close()
    assert calls == sum(kind not in ("variant", "repair") for *_, kind in rows)
    assert any(written in p for p in prompts[4:])
