"""What each LLM call of finished runs cost and yielded, side by side (issue 17).

    .venv/bin/python bench/run_calls.py runs/<a> [runs/<b> ...] [--server-log LOG]

Per run, from its archive: LLM calls, seconds per call (mean, median, p90), reply tokens per call,
reply tokens per second of call time, valid children (programs from proposals that passed the
verifier and behave differently from their parent), and valid children per hour of the run's
wall time (start to finish, the final report included) and of its LLM time. With
``--server-log`` (the log of the llama.cpp server the runs used, in the order given: `evolve run`
writes it to ``~/.cache/evolve/llama-server-<port>.log``) also the prompt tokens the server
processed and reused from the previous prompt, per call.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from local_speed import p90, prefix_counts  # bench/ is this script's folder

PROPOSAL_KINDS = ("function", "diff", "rewrite", "repair")


@dataclass(frozen=True)
class RunCalls:
    name: str
    latencies: list[float]
    reply_tokens: int
    valid: int
    wall_seconds: float


def read_run(run_dir: Path) -> RunCalls:
    db = run_dir / "archive.db"
    if not db.exists():
        sys.exit(f"error: {db} does not exist; pass a run directory (runs/<name>)")
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        lat, tokens = zip(*con.execute("select latency, completion_tokens from llm_calls "
                                       "order by id").fetchall(), strict=True)
        kinds = ",".join(f"'{k}'" for k in PROPOSAL_KINDS)
        valid = con.execute(f"select count(*) from programs where status = 'ok' and edit_kind in "
                            f"({kinds})").fetchone()[0]
        first, last = con.execute("select created_at, updated_at from runs").fetchone()
    wall = (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
    return RunCalls(run_dir.name, list(lat), sum(tokens), valid, wall)


def prompt_split(log: Path, counts: list[int]) -> list[tuple[int, int]]:
    """(processed, reused) prompt tokens per run: the log's requests taken in run order."""
    rows = prefix_counts(log.read_text(errors="replace"))
    if len(rows) < sum(counts):
        sys.exit(f"error: {log} has {len(rows)} requests, the runs {sum(counts)}: pass the log of "
                 "the server these runs used, and the runs in the order they used it")
    rows = rows[len(rows) - sum(counts):]  # the runs are the log's last requests
    out, at = [], 0
    for n in counts:
        part = rows[at:at + n]
        out.append((sum(b for _, b in part), sum(a for a, _ in part)))
        at += n
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--server-log", type=Path, default=None)
    args = ap.parse_args()
    runs = [read_run(r) for r in args.runs]
    split = prompt_split(args.server_log, [len(r.latencies) for r in runs]) if args.server_log \
        else [None] * len(runs)
    print(f"{'run':<18}{'calls':>6}{'s/call':>8}{'median':>8}{'p90':>7}{'processed':>10}"
          f"{'reused':>8}{'reply tok':>10}{'tok/s':>7}{'valid':>7}{'valid/h':>9}{'per LLM h':>10}")
    for r, tokens in zip(runs, split, strict=True):
        n, llm = len(r.latencies), sum(r.latencies)
        processed, reused = (f"{tokens[0] / n:.0f}", f"{tokens[1] / n:.0f}") if tokens else ("-", "-")
        print(f"{r.name:<18}{n:>6}{llm / n:>8.1f}{statistics.median(r.latencies):>8.1f}"
              f"{p90(r.latencies):>7.1f}{processed:>10}{reused:>8}{r.reply_tokens / n:>10.0f}"
              f"{r.reply_tokens / llm:>7.1f}{r.valid:>7}{3600 * r.valid / r.wall_seconds:>9.0f}"
              f"{3600 * r.valid / llm:>10.0f}")


if __name__ == "__main__":
    main()
