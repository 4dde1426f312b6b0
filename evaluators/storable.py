"""Text that crossed the trust boundary, made safe to store (issue 18).

A candidate shapes the error and feedback text of its evaluation (its exception messages, its
stderr, the values it returned), and a model or the server in front of it shapes a reply. Either
can hold what a database refuses: a lone surrogate (``"\\udcff"`` decodes from JSON and from
Python escapes, and SQLite's UTF-8 encoder raises on it), a NUL byte (PostgreSQL text refuses it),
or megabytes. Everything such is cleaned here before the archive sees it: valid UTF-8 with
U+FFFD for what was not, no NUL, at most ``TEXT_CAP`` characters (the start and the end kept),
and an error kind from ``ERROR_KINDS`` only (the column holds 30 characters).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

from evaluators.base import EvalOutcome

TEXT_CAP = 20_000
# sandbox.session.KINDS, the verifier's own verdicts, the executors' failures, and the archive's
ERROR_KINDS = frozenset({"load", "exception", "timeout", "crash", "oversize", "protocol", "eof",
                         "invalid", "slow", "same", "verifier", "worker_lost", "executor",
                         "unstorable"})
REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL, and surrogates (valid only in pairs
# in UTF-16; a Python str holding one cannot be encoded as UTF-8)


def clean_text(text: object, cap: int = TEXT_CAP) -> str:
    """``text`` as storable text: a non-string is shown by its type only (it was not meant to be
    there), invalid code points and NUL become U+FFFD, the middle of an over-long text is cut."""
    if not isinstance(text, str):
        return f"<{type(text).__name__}>"
    clean = _UNSTORABLE.sub(REPLACEMENT, text)
    if len(clean) > cap:
        half = cap // 2
        clean = f"{clean[:half]}\n[... {len(clean) - 2 * half} characters cut ...]\n{clean[-half:]}"
    return clean


def clean_optional(text: object, cap: int = TEXT_CAP) -> str | None:
    return None if text is None else clean_text(text, cap)


def clean_kind(kind: object) -> str | None:
    """An error kind from the allow-list; anything else (a list, a long or unknown string) is
    ``protocol``: the outcome did not keep to the contract."""
    if kind is None:
        return None
    return kind if isinstance(kind, str) and kind in ERROR_KINDS else "protocol"


def clean_outcome(outcome: EvalOutcome | Mapping) -> EvalOutcome:
    """An evaluation outcome with its candidate-shaped fields cleaned (metrics, scores and the
    fingerprint come from the trusted verifier and pass as they are)."""
    outcome = EvalOutcome.of(outcome)
    return replace(outcome, error=clean_optional(outcome.error), feedback=clean_text(outcome.feedback),
                   error_kind=clean_kind(outcome.error_kind))
