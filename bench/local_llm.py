"""The embedded local model at work: speed, reply quality by temperature, and short smtt runs.

    .venv/bin/python bench/local_llm.py [--samples 12] [--temperatures 0.3,0.8,1.1] [--runs 3]
                                        [--iterations 30] [--skip-probe] [--skip-runs]

1. Probe: the compact prompt the loop sends for the smtt seed (EDD), sampled at several
   temperatures. Prompt tokens/s (a max_tokens=1 request), generation tokens/s, seconds per
   reply, share of replies that yield a valid candidate, share of candidates that beat the seed
   on the training set (scored through the sandbox, like any candidate).
2. Runs: `evolve run smtt` with no model configured (the embedded default) for --iterations, one
   run per seed; the winner's held-out test gap beside the seed's and (W)MDD's.
Targets (issue 5): the winner beats the seed in every run; stretch: within 5% of (W)MDD.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from evaluators.jobs import run_job
from evaluators.problem import load_problem
from evolve.archive.store import ProgramView
from evolve.edits import EditRejected, apply_reply
from evolve.llm.embedded import local_model, local_server
from evolve.prompts.builder import build_compact_messages, directions
from evolve.runs import LOCAL_MAX_TOKENS

ROOT = Path(__file__).resolve().parent.parent
SPEC = load_problem("smtt")


def chat(port: int, messages: list[dict], temperature: float, max_tokens: int) -> tuple[dict, float]:
    body = json.dumps({"model": local_model.DEFAULT_MODEL, "messages": messages,
                       "temperature": temperature, "max_tokens": max_tokens}).encode()
    req = urllib.request.Request(f"{local_server.api_base(port)}/chat/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(req, timeout=600) as resp:
        data = json.loads(resp.read())
    return data, time.perf_counter() - started


def seed_view() -> ProgramView:
    out = run_job({"problem": "smtt", "code": SPEC.initial_code, "set": "train"})
    return ProgramView(id=1, code=SPEC.initial_code, parent_id=None, generation=0, island=0,
                       status="ok", combined_score=out["combined_score"], cell=None,
                       metrics=out["metrics"], feedback=out["feedback"],
                       error=None)


def probe(port: int, samples: int, temperatures: list[float]) -> None:
    seed = seed_view()
    rng = random.Random(0)
    messages = build_compact_messages(SPEC, seed, [], [], directions()[0])
    chat(port, messages, 0.0, 1)  # warm the cache path once
    prefill = []
    for _ in range(3):
        # vary the prompt's first byte so the server's prompt cache cannot answer
        msgs = [{**messages[0], "content": f"{time.time_ns()} " + messages[0]["content"]}, messages[1]]
        data, secs = chat(port, msgs, 0.0, 1)
        prefill.append((data["usage"]["prompt_tokens"], secs))
    prompt_tokens = statistics.median(p for p, _ in prefill)
    prefill_s = statistics.median(s for _, s in prefill)
    chat(port, messages, 0.0, 1)
    data, secs = chat(port, messages, 0.0, 200)  # the prompt is cached now: generation only
    gen_rate = data["usage"]["completion_tokens"] / secs
    print(f"prompt: {prompt_tokens:.0f} tokens, prefill {prefill_s:.2f} s "
          f"-> {prompt_tokens / prefill_s:.0f} prompt tokens/s; generation {gen_rate:.1f} tokens/s")
    print(f"{'temp':>5}{'s/reply':>9}{'tokens':>8}{'valid':>8}{'beat seed':>11}{'best gap':>10}")
    for t in temperatures:
        secs, lengths, valid, better, gaps = [], [], 0, 0, []
        for _ in range(samples):
            messages = build_compact_messages(SPEC, seed, [], [], rng.choice(directions()))
            data, s = chat(port, messages, t, LOCAL_MAX_TOKENS)
            secs.append(s)
            lengths.append(data["usage"]["completion_tokens"])
            try:
                edit = apply_reply(data["choices"][0]["message"]["content"], SPEC.initial_code,
                                   SPEC.entry, focus=SPEC.focus)
            except EditRejected:
                continue
            out = run_job({"problem": "smtt", "code": edit.code, "set": "train"})
            if not out["ok"]:
                continue
            valid += 1
            gaps.append(out["metrics"]["gap"])
            better += out["combined_score"] > seed.combined_score
        best = f"{100 * min(gaps):.1f}%" if gaps else "-"
        print(f"{t:>5.1f}{statistics.median(secs):>9.1f}{statistics.median(lengths):>8.0f}"
              f"{valid / samples:>8.0%}{better / samples:>11.0%}{best:>10}")
    print(f"(seed EDD training gap {100 * seed.metrics['gap']:.1f}%; {samples} samples per "
          f"temperature; valid = parses, defines schedule, passes the verifier)")


def runs(count: int, iterations: int) -> None:
    baselines = {name: run_job({"problem": "smtt", "code": code, "set": "test"})["metrics"]["gap"]
                 for name, code in SPEC.baselines().items() if name in ("edd", "wmdd")}
    print(f"\n{iterations}-iteration runs on the embedded model (test = held-out wt100)")
    print(f"{'seed':>5}{'winner test gap':>17}{'EDD seed':>10}{'WMDD':>8}{'beats seed':>12}"
          f"{'vs WMDD':>9}{'s/iter':>8}{'valid':>7}{'improved':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(count):
            cfg = Path(tmp) / f"seed{k}.yaml"
            cfg.write_text(f"seed: {k}\nproposals_in_flight: 2\n")
            started = time.perf_counter()
            res = subprocess.run([sys.executable, "-m", "evolve.cli", "run", "smtt", "--iterations",
                                  str(iterations), "--config", str(cfg), "--runs-dir", tmp,
                                  "--run-name", f"seed{k}"], cwd=ROOT, capture_output=True, text=True)
            wall = time.perf_counter() - started
            if res.returncode != 0:
                print(f"run {k} failed: {res.stderr.strip().splitlines()[-1:]}")
                continue
            db = sqlite3.connect(Path(tmp) / f"seed{k}" / "archive.db")
            test = db.execute("select combined_score from evaluations where set_name = 'test'").fetchone()
            outcomes = dict(db.execute("select outcome, count(*) from iterations group by outcome"))
            improved = db.execute(
                "select count(*) from programs c join programs p on p.id = c.parent_id "
                "where c.combined_score > p.combined_score").fetchone()[0]
            ok = db.execute("select count(*) from programs where status = 'ok' and parent_id is not null"
                            ).fetchone()[0]
            db.close()
            gap = -test[0]
            print(f"{k:>5}{100 * gap:>16.1f}%{100 * baselines['edd']:>9.1f}%{100 * baselines['wmdd']:>7.1f}%"
                  f"{'yes' if gap < baselines['edd'] else 'no':>12}"
                  f"{100 * (gap - baselines['wmdd']):>+8.1f}%{wall / iterations:>8.1f}"
                  f"{ok / iterations:>7.0%}{improved / iterations:>10.0%}")
            print(f"      outcomes: {outcomes}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=12)
    ap.add_argument("--temperatures", default="0.3,0.8,1.1")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--skip-probe", action="store_true")
    ap.add_argument("--skip-runs", action="store_true")
    args = ap.parse_args()
    port = local_server.base_port()
    started = time.perf_counter()
    _, fresh = local_server.ensure_server(local_model.DEFAULT_MODEL, port)
    print(f"model {local_model.DEFAULT_MODEL} on port {port} "
          f"({'loaded in %.1f s' % (time.perf_counter() - started) if fresh else 'already running'}), "
          f"{local_server.default_threads()} threads")
    if not args.skip_probe:
        probe(port, args.samples, [float(t) for t in re.split(r"[, ]+", args.temperatures) if t])
    if not args.skip_runs:
        runs(args.runs, args.iterations)


if __name__ == "__main__":
    main()
