"""Celery scaling: evaluations/s of the same smtt batch, local executor vs Celery workers.

    .venv/bin/python bench/celery_scaling.py [--broker redis://127.0.0.1:6379/14] [--batch 24]

Same 2 evaluation slots everywhere, side by side:
- local: the default executor, a pool of 2 processes on this machine;
- celery 1 worker: one `evolve worker --concurrency 2`;
- celery 2 workers: two `evolve worker --concurrency 1` (the two-machine layout, on one host).
Each mode evaluates the same batch of distinct programs and stores every outcome in a SQLite
archive, as a run does. Two batches: "slow" candidates (ATC with interchange, about 0.5 s per
evaluation, the target's regime) and "fast" ones (EDD variants, tens of ms), where per-task
overhead shows. Last, the added latency per task: one evaluation at a time, Celery vs local.
Target (issue 4): Celery with 1 worker within 1.2x of the local executor on >= 0.5 s evaluations.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from evaluators.problem import load_problem
from evolve.archive.store import Archive
from evolve.config import ExecutorConfig
from evolve.executors.base import EvalJob
from evolve.executors.celery.executor import CeleryExecutor
from evolve.executors.local import LocalExecutor

ROOT = Path(__file__).resolve().parent.parent
SPEC = load_problem("smtt")


def batch(kind: str, n: int, tag: str) -> list[str]:
    base = (SPEC.root / "baselines" / ("atc_api.py" if kind == "slow" else "edd.py")).read_text()
    return [f"{base}\n# variant {tag}-{i}\n" for i in range(n)]


def seed_programs(archive: Archive, codes: list[str], name: str) -> list[int]:
    run = archive.create_run(name, "smtt", {})
    return [archive.add_seed(run, code) for code in codes]


async def evaluate_all(executor, archive: Archive, ids: list[int], codes: list[str]) -> float:
    async def one(pid: int, code: str) -> None:
        out = await executor.evaluate(EvalJob("smtt", code, "train", pid, "bench", (0,)))
        assert out.ok, out.error
        archive.record_evaluation(pid, set_name="train", evaluator_version=out.evaluator_version,
                                  outcome=out, cell="0", elite_islands=(0,))

    started = time.perf_counter()
    await asyncio.gather(*(one(p, c) for p, c in zip(ids, codes)))
    return time.perf_counter() - started


def start_workers(broker: str, concurrencies: list[int], logdir: Path) -> list[subprocess.Popen]:
    procs = []
    for i, c in enumerate(concurrencies):
        log = logdir / f"worker-{len(concurrencies)}-{i}.log"
        procs.append(subprocess.Popen([sys.executable, "-m", "evolve.cli", "worker", "--broker", broker,
                                       "--concurrency", str(c), "--loglevel", "WARNING"],
                                      cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
                                      start_new_session=True))
    return procs


def stop_workers(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def measure(mode: str, broker: str, tmp: Path, batches: dict[str, list[str]], warm: int) -> dict:
    archive = Archive.for_run_dir(tmp / mode.replace(" ", "_"))
    workers: list[subprocess.Popen] = []
    if mode == "local":
        executor = LocalExecutor(2, SPEC.limits.wall_seconds)
    else:
        workers = start_workers(broker, [2] if mode == "celery 1 worker" else [1, 1], tmp)
        executor = CeleryExecutor(archive, mode.replace(" ", "-"), ExecutorConfig(kind="celery",
                                  broker=broker), 2)
    try:
        out = {}
        warm_codes = batch("fast", warm, f"{mode}-warm")
        asyncio.run(evaluate_all(executor, archive, seed_programs(archive, warm_codes, "warm"),
                                 warm_codes))
        for kind, codes in batches.items():
            codes = [c + f"# {mode}\n" for c in codes]
            ids = seed_programs(archive, codes, kind)
            out[kind] = len(codes) / asyncio.run(evaluate_all(executor, archive, ids, codes))
        # latency: one at a time, fast candidates
        singles = batch("fast", 12, f"{mode}-single")
        ids = seed_programs(archive, singles, "single")
        times = [asyncio.run(evaluate_all(executor, archive, [i], [c])) for i, c in zip(ids, singles)]
        out["latency"] = statistics.median(times)
        return out
    finally:
        executor.close()
        stop_workers(workers)
        archive.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--broker", default="redis://127.0.0.1:6379/14")
    ap.add_argument("--batch", type=int, default=24)
    args = ap.parse_args()
    redis.Redis.from_url(args.broker).flushdb()
    batches = {"slow": batch("slow", args.batch, "s"), "fast": batch("fast", 4 * args.batch, "f")}
    modes = ["local", "celery 1 worker", "celery 2 workers"]
    with tempfile.TemporaryDirectory() as tmp:
        results = {m: measure(m, args.broker, Path(tmp), batches, warm=6) for m in modes}
    local = results["local"]
    print(f"\nsmtt training evaluations (250 instances + gate), 2 slots per mode, {os.cpu_count()} cores")
    print(f"{'mode':<18}{'slow eval/s':>12}{'vs local':>10}{'fast eval/s':>13}{'vs local':>10}"
          f"{'1-at-a-time s':>15}")
    for m in modes:
        r = results[m]
        print(f"{m:<18}{r['slow']:>12.2f}{r['slow'] / local['slow']:>9.2f}x{r['fast']:>13.2f}"
              f"{r['fast'] / local['fast']:>9.2f}x{r['latency']:>15.3f}")
    added = (results["celery 1 worker"]["latency"] - local["latency"]) * 1000
    print(f"\nadded latency per task, Celery over local (median, one at a time): {added:.1f} ms")
    ratio = local["slow"] / results["celery 1 worker"]["slow"]
    print(f"target: Celery with 1 worker within 1.2x of local on >= 0.5 s evaluations: "
          f"{ratio:.2f}x slower -> {'met' if ratio <= 1.2 else 'NOT met'}")
    redis.Redis.from_url(args.broker).flushdb()


if __name__ == "__main__":
    main()
