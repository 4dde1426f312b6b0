"""Novelty rejection before evaluation: near-duplicates of an island's programs, by MinHash.

The archive catches a child equal to an earlier program up to comments, docstrings and layout
(``codehash.normalised_hash``). A reply that changes one constant or one operand of a long program
passes that check and costs an evaluation while it rarely behaves differently, and small models
send many of them. Here a program's evolved block is normalised as the archive normalises it,
cut into Python tokens with every number replaced by one placeholder (constants are the tuner's
job: ``evolve/tuning``), shingled into runs of ``SHINGLE`` tokens and summarised by a MinHash of
``NUM_PERM`` permutations (``datasketch``: a maintained implementation with an LSH index, so a
lookup costs the same however many programs an island holds). A child whose estimated Jaccard
similarity with a program of its island reaches the threshold is rejected as a near-duplicate.
"""

from __future__ import annotations

import io
import tokenize
from dataclasses import dataclass

from datasketch import MinHash, MinHashLSH

from evolve.archive.codehash import normalised_code
from evolve.edits import split_block

NUM_PERM = 128
SHINGLE = 3
SKIPPED = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.ENCODING, tokenize.ENDMARKER}


def tokens(code: str) -> list[str]:
    """The normalised program's tokens, numbers as ``<num>``, indentation as ``<in>``/``<out>``."""
    out: list[str] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(normalised_code(code)).readline):
            if tok.type in SKIPPED:
                continue
            out.append("<num>" if tok.type == tokenize.NUMBER else "<in>" if tok.type == tokenize.INDENT
                       else "<out>" if tok.type == tokenize.DEDENT else tok.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        out = code.split()
    return out


def signature(code: str) -> MinHash:
    """The MinHash of a program's evolved block (all of it without EVOLVE-BLOCK markers)."""
    frame = split_block(code)
    toks = tokens(frame[1] if frame else code)
    shingles = {" ".join(toks[i:i + SHINGLE]) for i in range(max(1, len(toks) - SHINGLE + 1))}
    sig = MinHash(num_perm=NUM_PERM, seed=1)
    sig.update_batch([s.encode("utf-8") for s in shingles])
    return sig


@dataclass(frozen=True)
class NearDuplicate:
    program_id: int
    similarity: float  # estimated Jaccard similarity of the shingle sets

    def reason(self, threshold: float) -> str:
        return (f"near-duplicate of program {self.program_id} (similarity {self.similarity:.2f} "
                f">= {threshold:g}, numbers aside); not evaluated")


class NoveltyIndex:
    """MinHash signatures of each island's programs, and the near-duplicate test for a child."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self._islands: dict[int, tuple[MinHashLSH, dict[int, MinHash]]] = {}

    def _island(self, island: int) -> tuple[MinHashLSH, dict[int, MinHash]]:
        if island not in self._islands:
            self._islands[island] = (MinHashLSH(threshold=self.threshold, num_perm=NUM_PERM), {})
        return self._islands[island]

    def add(self, program_id: int, island: int, code: str) -> None:
        lsh, sigs = self._island(island)
        if program_id not in sigs:
            sigs[program_id] = signature(code)
            lsh.insert(str(program_id), sigs[program_id])

    def near(self, island: int, code: str) -> NearDuplicate | None:
        """The island's most similar program at or above the threshold, if any."""
        lsh, sigs = self._island(island)
        sig = signature(code)
        found = [NearDuplicate(int(key), sig.jaccard(sigs[int(key)])) for key in lsh.query(sig)]
        found = [f for f in found if f.similarity >= self.threshold]
        return max(found, key=lambda f: (f.similarity, -f.program_id)) if found else None
