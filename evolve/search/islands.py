"""Islands: which island a proposal works on, and ring migration of each island's best."""

from __future__ import annotations

from evolve.archive.store import Archive


def island_for(slot: int, islands: int) -> int:
    return slot % islands


def migrate_ring(archive: Archive, run_id: int, islands: int) -> list[tuple[int, int, int]]:
    """Offer each island's best elite to the next island (same cell). Returns moves made."""
    moves = []
    if islands < 2:
        return moves
    bests = []
    for i in range(islands):
        elites = archive.elites(run_id, i)
        bests.append(max(elites, key=lambda e: e.score) if elites else None)
    for i, best in enumerate(bests):
        if best is None:
            continue
        target = (i + 1) % islands
        if archive.offer_elite(run_id, target, best.cell, best.program_id, best.score):
            moves.append((i, target, best.program_id))
    return moves
