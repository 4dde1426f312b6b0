"""Selection, inspirations, MAP-Elites cells and replacement, ring migration."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from evaluators.problem import FeatureDim
from evolve.archive.store import Archive, ChildDraft, EliteView
from evolve.search.grid import bin_index, cell_key, feature_values
from evolve.search.islands import migrate_ring
from evolve.search.selection import Ratios, choose_inspirations, choose_parent, fitness_weights

OK = {"ok": True, "metrics": {"gap": 0.1}, "combined_score": -0.1, "feedback": "", "error": None,
      "error_kind": None, "seconds": 0.1}


def elite(pid: int, score: float, children: int = 0, cell: str | None = None) -> EliteView:
    return EliteView(cell=cell or str(pid), program_id=pid, score=score, children_count=children)


def test_elite_mode_picks_the_best():
    elites = [elite(1, -3), elite(2, -1), elite(3, -2)]
    rng = random.Random(0)
    picks = {choose_parent(elites, rng, Ratios(0, 1, 0))[0].program_id for _ in range(50)}
    assert picks == {2}


def test_fitness_mode_prefers_better_and_less_used_programs():
    elites = [elite(1, -3), elite(2, -1), elite(3, -1.5, children=20)]
    w = fitness_weights(elites, novelty_bonus=1.0)
    assert w[1] > w[0]  # better rank
    assert w[2] < w[0]  # many children: novelty bonus shrinks it
    rng = random.Random(1)
    counts = Counter(choose_parent(elites, rng, Ratios(1, 0, 0))[0].program_id for _ in range(3000))
    assert counts[2] > counts[1] > counts[3]


def test_ratios_mix_modes():
    rng = random.Random(2)
    modes = Counter(choose_parent([elite(1, 0), elite(2, 1)], rng, Ratios(0.5, 0.25, 0.25))[1]
                    for _ in range(4000))
    assert 0.45 < modes["fitness"] / 4000 < 0.55
    assert 0.2 < modes["random"] / 4000 < 0.3


def test_empty_island_cannot_pick():
    with pytest.raises(ValueError, match="no evaluated program"):
        choose_parent([], random.Random(0), Ratios(1, 0, 0))


def test_inspirations_exclude_parent_and_mix_top_and_diverse():
    elites = [elite(i, -i) for i in range(1, 8)]
    chosen = choose_inspirations(1, [(1, -1.0), (2, -2.0), (3, -3.0)], elites, random.Random(0), 2, 2)
    assert 1 not in chosen and chosen[:2] == [2, 3] and len(chosen) == 4 and len(set(chosen)) == 4


def test_bins_clamp_and_log_scale():
    lin = FeatureDim(name="x", min=0, max=100, bins=4)
    assert [bin_index(v, lin) for v in (-5, 0, 24.9, 25, 99.9, 100, 1e9)] == [0, 0, 0, 1, 3, 3, 3]
    log = FeatureDim(name="t", min=0, max=60, bins=6, scale="log")
    assert bin_index(0.01, log) == 0 and bin_index(60, log) == 5 and bin_index(1, log) < bin_index(10, log)
    dims = [FeatureDim(name="code_length", min=0, max=1000, bins=10), lin]
    feats = feature_values("x" * 450, {"x": 60.0}, dims)
    assert feats == {"code_length": 450.0, "x": 60.0}
    assert cell_key(feats, dims) == "4,2"


@pytest.fixture
def archive(tmp_path) -> Archive:
    a = Archive.for_run_dir(tmp_path / "run")
    yield a
    a.close()


def add_program(a: Archive, run_id: int, code: str, island: int, score: float | None) -> int:
    _, pid, _ = a.commit_iteration(run_id, proposal=code, island=island, parent_id=None,
                                   inspiration_ids=[], model="m", edit_kind="diff", outcome="child",
                                   reason=None, child=ChildDraft(code, None, None, 1, island))
    outcome = dict(OK, combined_score=score) if score is not None else dict(
        OK, ok=False, combined_score=None, metrics={}, error="boom", error_kind="exception")
    a.record_evaluation(pid, set_name="train", evaluator_version="t", outcome=outcome)
    return pid


def test_map_elites_cell_replacement(archive):
    run = archive.create_run("r", "smtt", {})
    a = add_program(archive, run, "a", 0, -2.0)
    b = add_program(archive, run, "b", 0, -1.0)
    c = add_program(archive, run, "c", 0, -5.0)
    assert archive.offer_elite(run, 0, "1,1", a, -2.0)
    assert archive.offer_elite(run, 0, "1,1", b, -1.0)  # better replaces
    assert not archive.offer_elite(run, 0, "1,1", c, -5.0)  # worse does not
    assert not archive.offer_elite(run, 0, "1,1", a, -1.0)  # a tie does not replace
    assert [(e.cell, e.program_id) for e in archive.elites(run, 0)] == [("1,1", b)]
    assert archive.offer_elite(run, 0, "0,2", c, -5.0)  # other cell keeps diversity
    assert len(archive.elites(run, 0)) == 2


def test_failed_programs_are_never_parents(archive):
    run = archive.create_run("r", "smtt", {})
    add_program(archive, run, "bad", 0, None)
    good = add_program(archive, run, "good", 0, -3.0)
    assert [p for p, _ in archive.top_programs(run, 5)] == [good]
    archive.offer_elite(run, 0, "0", good, -3.0)
    rng = random.Random(0)
    for _ in range(100):
        assert choose_parent(archive.elites(run, 0), rng, Ratios(1, 1, 1))[0].program_id == good


def test_ring_migration_moves_each_best_to_the_next_island(archive):
    run = archive.create_run("r", "smtt", {})
    ids = [add_program(archive, run, f"p{i}", i, -float(i + 1)) for i in range(3)]
    for i, pid in enumerate(ids):
        archive.offer_elite(run, i, f"c{i}", pid, -float(i + 1))
    moves = migrate_ring(archive, run, 3)
    assert sorted(moves) == [(0, 1, ids[0]), (1, 2, ids[1]), (2, 0, ids[2])]
    assert {e.program_id for e in archive.elites(run, 1)} == {ids[0], ids[1]}
    assert {e.program_id for e in archive.elites(run, 0)} == {ids[0], ids[2]}
    # second round: island 0's best is already on island 1 (no move); the others spread on
    assert sorted(migrate_ring(archive, run, 3)) == [(1, 2, ids[0]), (2, 0, ids[1])]
    assert migrate_ring(archive, run, 3) == []  # converged: the global best sits on every island
