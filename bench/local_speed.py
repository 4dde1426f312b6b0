"""The embedded model's speed on the prompts a run really sends, by server setting (issue 17).

    .venv/bin/python bench/local_speed.py [--archive runs/<run>/archive.db] [--calls 12]
        [--settings plain,lookup,cache] [--temperature 0.3] [--port 8790]

Replays the first ``--calls`` proposal prompts an archive recorded, in their order (a server
reuses the prefix it processed last, so order matters), against a fresh llama.cpp server per
setting, each request with its recorded sampling seed. Prints per setting, side by side: seconds
per call (mean, median, max), prompt tokens processed and reused (read from the server's log),
reply tokens and generation tokens/s, and how many replies give a valid child of their recorded
parent (``apply_reply``; nothing is evaluated). With ``--temperature 0`` it also counts replies
equal to the first setting's: speculative decoding must not change a greedy reply (a shaped reply
counts as equal when it is the plain one cut at the stop).

Settings: ``plain`` (the server as ``evolve run`` starts it), ``lookup`` (prompt-lookup
speculative decoding: draft tokens copied from n-grams of the prompt; replies restate the
parent's function), ``cache`` (llama-cpp-python's RAM prompt cache, which keeps the states of
several prompts instead of only the last one), ``flash`` (flash attention), ``shaped`` (the plain
server, each request with the loop's reply cap and stop at the code block's end:
``evolve.prompts.reply_shape``), ``begun`` (as shaped, and the reply begun with the function's
signature and docstring through the completions route, as the loop asks a ChatML model).

Measured (2026-12-04, 2 cores, 1.5B model, llama-cpp-python 0.3.36, the first 10 prompts of a
100-call smtt run from baselines, temperature 0, ``--calls 10 --temperature 0``):

    setting    s/call  median    max prompt tok  reused reply tok  valid  same as plain
    plain        36.2    29.0   72.6       6930    5410      2244  10/10  10/10
    lookup       48.5    42.4   83.5       6930    5410      2258  10/10  8/10
    cache        34.9    29.3   67.8       5099    7241      2244  10/10  8/10

Prompt-lookup decoding is 25% slower here (0.75x) and changes 2 of 10 greedy replies; the RAM
cache saves 26% of the prompt tokens processed but only 4% of the time. Plain already reuses the
system message and brief (the previous prompt's prefix, 541 tokens a call); what each call pays
is ~690 new prompt tokens (~17 s) and ~225 reply tokens (~16 s).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from evolve.edits import EditRejected, apply_reply
from evolve.llm.embedded import local_model, local_server
from evolve.llm.openai_compat import chatml
from evolve.prompts.reply_shape import function_reply

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Setting:
    """Server flags, and whether requests carry the loop's reply shape (cap and stop)."""
    flags: tuple[str, ...] = ()
    shaped: bool = False
    begun: bool = False
    threads: int | None = None  # None: as `evolve run` starts the server (one per core)


SETTINGS: dict[str, Setting] = {
    "plain": Setting(),
    "lookup": Setting(("--draft_model", "prompt-lookup-decoding", "--draft_model_num_pred_tokens", "10")),
    "lookup4": Setting(("--draft_model", "prompt-lookup-decoding", "--draft_model_num_pred_tokens", "4")),
    "cache": Setting(("--cache", "true", "--cache_type", "ram")),
    "flash": Setting(("--flash_attn", "true")),
    "shaped": Setting(shaped=True),
    "begun": Setting(shaped=True, begun=True),
    "t1": Setting(shaped=True, begun=True, threads=1),
    "b64": Setting(("--n_batch", "64"), shaped=True, begun=True),
    "b128": Setting(("--n_batch", "128"), shaped=True, begun=True),
}
_PREFIX = re.compile(r"Llama\.generate: (\d+) prefix-match hit, remaining (\d+) prompt tokens")


def prefix_counts(log_text: str) -> list[tuple[int, int]]:
    """(prompt tokens reused, prompt tokens processed) per request, from a llama.cpp server log."""
    return [(int(a), int(b)) for a, b in _PREFIX.findall(log_text)]
_FOCUS = re.compile(r"Write a better `([A-Za-z_][A-Za-z0-9_]*)`")


@dataclass(frozen=True)
class Recorded:
    """One proposal as the run sent it: messages, seed, the parent's code, the asked function."""
    messages: list[dict[str, str]]
    seed: int | None
    parent_code: str
    focus: str | None
    entry: str


@dataclass(frozen=True)
class Reply:
    seconds: float
    text: str
    prompt_tokens: int
    completion_tokens: int


def newest_archive() -> Path:
    dbs = sorted(ROOT.glob("runs/**/archive.db"), key=lambda p: p.stat().st_mtime, reverse=True)
    for db in dbs:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            if con.execute("select count(*) from llm_calls where messages like '%Write a better%'"
                           ).fetchone()[0] >= 4:
                return db
    sys.exit("error: no archive under runs/ holds compact-prompt calls of the embedded model; "
             "run `bash scripts/run.sh smtt --iterations 12` first or pass --archive")


def recorded(db: Path, n: int) -> list[Recorded]:
    from evaluators.problem import load_problem

    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        problem = con.execute("select problem from runs").fetchone()[0]
        rows = con.execute(
            "select c.messages, c.seed, p.code from llm_calls c join iterations i on i.proposal = "
            "c.proposal join programs p on p.id = i.parent_id where c.error is null and "
            "i.edit_kind != 'repair' order by c.id limit ?", (n,)).fetchall()
    entry = load_problem(problem).entry
    out = []
    for messages, seed, code in rows:
        msgs = json.loads(messages)
        focus = _FOCUS.search(msgs[-1]["content"])
        out.append(Recorded(msgs, seed, code, focus.group(1) if focus else None, entry))
    return out


def ask(port: int, rec: Recorded, temperature: float, max_tokens: int, setting: Setting) -> Reply:
    body = {"model": local_model.DEFAULT_MODEL, "messages": rec.messages,
            "temperature": temperature, "max_tokens": max_tokens}
    route, begun = "chat/completions", ""
    if setting.shaped and rec.focus:
        shape = function_reply(rec.parent_code, rec.focus, max_tokens)
        body.update(max_tokens=shape.max_tokens, stop=list(shape.stop))
        if setting.begun and shape.prefill:
            route, begun = "completions", shape.prefill
            body.update(prompt=chatml(body.pop("messages")) + begun, stop=list(shape.prefill_stop))
    if rec.seed is not None:
        body["seed"] = rec.seed
    req = urllib.request.Request(f"{local_server.api_base(port)}/{route}",
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(req, timeout=900) as resp:
        data = json.loads(resp.read())
    usage = data.get("usage") or {}
    choice = data["choices"][0]
    text = begun + (choice["text"] if begun else choice["message"]["content"] or "")
    return Reply(time.perf_counter() - started, text,
                 usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))


def valid(rec: Recorded, text: str) -> bool:
    try:
        apply_reply(text, rec.parent_code, rec.entry, focus=rec.focus)
    except EditRejected:
        return False
    return True


def replay(setting: str, calls: list[Recorded], port: int, temperature: float,
           max_tokens: int) -> tuple[list[Reply], list[tuple[int, int]]]:
    log = ROOT / "runs" / f"local-speed-{setting}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    chosen = SETTINGS[setting]
    cmd = local_server.serve_command(local_model.DEFAULT_MODEL, port,
                                     chosen.threads or local_server.default_threads(), chosen.flags)
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        local_server.wait_ready(port, local_model.DEFAULT_MODEL, proc, log)
        replies = []
        for i, rec in enumerate(calls, 1):
            replies.append(ask(port, rec, temperature, max_tokens, SETTINGS[setting]))
            print(f"  {setting} {i}/{len(calls)}: {replies[-1].seconds:.1f}s", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    prefix = prefix_counts(log.read_text())[-len(calls):]
    return replies, prefix


class EvaluationLoad:
    """``n`` processes scoring the smtt seed through the sandbox over and over (`evolve verify`
    on the training set), as the local executor's pool does beside the model during a run."""

    def __init__(self, n: int):
        self.n = n
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> EvaluationLoad:
        verify = f"{sys.executable} -m evolve.cli verify problems/smtt/initial.py --problem smtt"
        loop = f"while true; do {verify} --sets train > /dev/null 2>&1; done"
        self.procs = [subprocess.Popen(["bash", "-c", loop], cwd=ROOT, start_new_session=True)
                      for _ in range(self.n)]
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def prompt_rate(result: tuple[list[Reply], list[tuple[int, int]]]) -> float:
    """Prompt tokens processed per second in one setting: each call's seconds split by least
    squares into its processed prompt tokens (from llama.cpp's log) and its reply tokens."""
    replies, prefix = result
    rows = [(b, r.completion_tokens, r.seconds) for (_, b), r in zip(prefix, replies)]
    fit = _fit(rows)
    return 1 / fit[0] if fit and fit[0] > 0 else float("nan")


def _fit(rows: list[tuple[int, int, float]]) -> tuple[float, float] | None:
    """Seconds per processed prompt token and per reply token, least squares without intercept."""
    sxx = sum(a * a for a, _, _ in rows)
    syy = sum(b * b for _, b, _ in rows)
    sxy = sum(a * b for a, b, _ in rows)
    sxt = sum(a * t for a, _, t in rows)
    syt = sum(b * t for _, b, t in rows)
    det = sxx * syy - sxy * sxy
    if len(rows) < 2 or det == 0:
        return None
    return (sxt * syy - syt * sxy) / det, (syt * sxx - sxt * sxy) / det


def gen_rate(prefix: list[tuple[int, int]], replies: list[Reply], rate: float) -> float:
    """Reply tokens per second once the processed prompt is paid at the first setting's rate."""
    gen = sum(r.seconds for r in replies) - sum(b for _, b in prefix) / rate
    return sum(r.completion_tokens for r in replies) / gen if gen > 0 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--archive", type=Path, default=None)
    ap.add_argument("--calls", type=int, default=12)
    ap.add_argument("--settings", default="plain,lookup,cache")
    ap.add_argument("--temperature", type=float, default=0.3)
    ap.add_argument("--max-tokens", type=int, default=600)
    ap.add_argument("--port", type=int, default=8790)
    ap.add_argument("--load", type=int, default=0,
                    help="evaluation processes kept busy beside the model (the run's pool)")
    args = ap.parse_args()
    names = [s.strip() for s in args.settings.split(",") if s.strip()]
    unknown = [s for s in names if s not in SETTINGS]
    if unknown:
        sys.exit(f"error: unknown setting {unknown[0]!r}; choose from {', '.join(SETTINGS)}")
    db = args.archive or newest_archive()
    calls = recorded(db, args.calls)
    print(f"replaying {len(calls)} proposal prompts of {db} at temperature {args.temperature}, "
          f"max_tokens {args.max_tokens}, {args.load} evaluation processes beside", flush=True)
    with EvaluationLoad(args.load):
        results = {s: replay(s, calls, args.port, args.temperature, args.max_tokens) for s in names}
    first = results[names[0]][0]
    print(f"\n{'setting':<9}{'s/call':>8}{'median':>8}{'p90':>7}{'prompt tok':>11}{'reused':>8}"
          f"{'reply tok':>10}{'gen tok/s':>10}{'valid':>7}{'valid/h':>9}"
          + ("  same as " + names[0] if args.temperature == 0 else ""))
    for s in names:
        replies, prefix = results[s]
        secs = [r.seconds for r in replies]
        processed = sum(b for _, b in prefix)
        reused = sum(a for a, _ in prefix)
        same = sum(a.text == b.text or (s == "shaped" and b.text.startswith(a.text))
                   for a, b in zip(replies, first))
        good = sum(valid(c, r.text) for c, r in zip(calls, replies))
        print(f"{s:<9}{statistics.mean(secs):>8.1f}{statistics.median(secs):>8.1f}{p90(secs):>7.1f}"
              f"{processed:>11}{reused:>8}{sum(r.completion_tokens for r in replies):>10}"
              f"{gen_rate(prefix, replies, prompt_rate(results[names[0]])):>10.1f}"
              f"{good:>4}/{len(calls):<2}{3600 * good / sum(secs):>9.0f}"
              + (f"  {same}/{len(calls)}" if args.temperature == 0 else ""))
    base = statistics.mean(r.seconds for r in first)
    print("speed-up vs " + names[0] + ": " + ", ".join(
        f"{s} {base / statistics.mean(r.seconds for r in results[s][0]):.2f}x" for s in names[1:]))


if __name__ == "__main__":
    main()
