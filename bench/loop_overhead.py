"""Loop overhead: iterations/s of the whole controller, and archive time per iteration vs archive size.

    .venv/bin/python bench/loop_overhead.py [--iterations 300] [--sizes 1000,10000,100000]

Part 1 runs the real Controller (selection, prompts, litellm over HTTP to an instant stub server,
edits, archive commits) with (a) an instant in-process evaluator, to isolate the engine's own
overhead, and (b) the real local executor with sandboxed smtt evaluations.
Part 2 fills an archive with N programs and times the archive work of one iteration (parent and
inspiration reads, iteration commit, evaluation write, elite offer). Target: the time at 100k
programs within 1.2x of the time at 1k.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

from evaluators.base import EvalOutcome
from evaluators.problem import load_problem
from evolve.archive.models import Elite, Evaluation, Iteration, Program
from evolve.archive.store import Archive, ChildDraft, code_hash
from evolve.config import ModelEntry, RunConfig
from evolve.executors.base import EvalJob, Executor
from evolve.llm.client import LlmClient
from evolve.llm.stub_server import Step, StubLLM
from evolve.loop import Controller


class InstantExecutor(Executor):
    """A trivial evaluator: every program scores a random number at once."""

    capacity = 4

    async def evaluate(self, job: EvalJob) -> EvalOutcome:
        return EvalOutcome(ok=True, metrics={"gap": random.random(), "cpu_seconds": 0.01},
                           combined_score=-random.random(), feedback="fine",
                           evaluator_version="instant")


def rewrite(n: int) -> str:
    return (f"```python\n# EVOLVE-BLOCK-START\ndef schedule(p, w, d):\n    # v{n}\n"
            f"    return sorted(range(len(p)), key=lambda j: (d[j], ({n} * j) % 11))\n"
            f"# EVOLVE-BLOCK-END\n```")


def run_loop(iterations: int, executor: Executor, in_flight: int) -> float:
    spec = load_problem("smtt")
    with tempfile.TemporaryDirectory() as tmp, \
            StubLLM(responder=lambda n, body: Step(content=rewrite(n))) as stub:
        cfg = RunConfig.model_validate({"proposals_in_flight": in_flight,
                                        "evaluations_in_flight": in_flight,
                                        "stop": {"iterations": iterations}})
        cfg = cfg.model_copy(update={"llm": cfg.llm.model_copy(update={
            "models": [ModelEntry(name="openai/stub", api_base=stub.url)]})})
        archive = Archive.for_run_dir(Path(tmp))
        run_id = archive.create_run("bench", "smtt", cfg.model_dump(mode="json"))
        ctl = Controller(archive, run_id, "bench", spec, cfg, executor, LlmClient(cfg.llm))
        asyncio.run(ctl.run())  # warms up litellm import and the seed evaluation
        more = cfg.model_copy(update={"stop": cfg.stop.model_copy(update={"iterations": 2 * iterations})})
        ctl = Controller(archive, run_id, "bench", spec, more, executor, LlmClient(cfg.llm))
        started = time.perf_counter()
        asyncio.run(ctl.run())
        elapsed = time.perf_counter() - started
        archive.close()
    return iterations / elapsed


def populate(archive: Archive, run_id: int, n: int, islands: int = 3) -> None:
    rng = random.Random(0)
    code = "def schedule(p, w, d):\n    return list(range(len(p)))  # {}\n"
    batch = 5000
    with archive.engine.begin() as conn:
        for start in range(0, n, batch):
            rows = []
            for i in range(start, min(n, start + batch)):
                c = code.format(i)
                rows.append({"run_id": run_id, "sha256": code_hash(c), "code": c, "generation": 1,
                             "island": i % islands, "iteration": i + 1, "status": "ok",
                             "combined_score": -rng.random(), "cell": f"{i % 8},{i % 6}",
                             "children_count": 0})
            conn.execute(insert(Program), rows)
            conn.execute(insert(Iteration), [{"run_id": run_id, "number": r["iteration"],
                                              "proposal": f"p{r['iteration']}", "island": r["island"],
                                              "inspiration_ids": [], "outcome": "child"} for r in rows])
        ids = [r[0] for r in conn.exec_driver_sql("select id, combined_score from programs")]
        conn.execute(insert(Evaluation), [{"program_id": pid, "set_name": "train",
                                           "evaluator_version": "b", "seed": 0, "ok": True,
                                           "metrics": {"gap": 0.1}, "combined_score": -0.1,
                                           "feedback": "x", "seconds": 0.0} for pid in ids])
        elites = {}
        for pid in ids:
            key = (pid % islands, f"{pid % 8},{pid % 6}")
            elites[key] = pid
        conn.execute(insert(Elite), [{"run_id": run_id, "island": k[0], "cell": k[1], "program_id": v,
                                      "score": -0.5} for k, v in elites.items()])


def archive_iteration(archive: Archive, run_id: int, i: int, rng: random.Random) -> None:
    """The archive work of one iteration, as the controller does it."""
    island = i % 3
    elites = archive.elites(run_id, island)
    parent = archive.program(rng.choice(elites).program_id)
    top = archive.top_programs(run_id, 3)
    for pid in [t[0] for t in top[:2]] + [e.program_id for e in rng.sample(elites, 2)]:
        archive.program(pid)
    code = f"def schedule(p, w, d):\n    return list(range(len(p)))  # new {i} {rng.random()}\n"
    _, child, _ = archive.commit_iteration(run_id, proposal=f"bench-{i}-{rng.random()}", island=island,
                                           parent_id=parent.id, inspiration_ids=[], model="m",
                                           edit_kind="diff", outcome="child", reason=None,
                                           child=ChildDraft(code, parent.id, None, 2, island))
    archive.record_evaluation(child, set_name="train", evaluator_version="b",
                              outcome={"ok": True, "metrics": {"gap": 0.1}, "combined_score": -0.2,
                                       "feedback": "", "error": None, "error_kind": None, "seconds": 0},
                              features={"code_length": 60.0}, cell="0,0")
    archive.offer_elite(run_id, island, "0,0", child, -0.2)


def archive_scale(sizes: list[int], reps: int, block: int = 20) -> dict[int, float]:
    """Median archive time per iteration for each size. The sizes take turns in blocks of
    ``block`` iterations, so drift on a shared machine (disk, other load) falls on all alike."""
    samples: dict[int, list[float]] = {n: [] for n in sizes}
    with tempfile.TemporaryDirectory() as tmp:
        archives = {}
        for n in sizes:
            archive = Archive.for_run_dir(Path(tmp) / str(n))
            run_id = archive.create_run("scale", "smtt", {})
            t = time.perf_counter()
            populate(archive, run_id, n)
            print(f"  {n:>7} programs filled in {time.perf_counter() - t:.1f}s", flush=True)
            rng = random.Random(1)
            for i in range(20):  # warm caches
                archive_iteration(archive, run_id, i, rng)
            archives[n] = (archive, run_id, rng)
        for start in range(0, reps, block):
            for n in sizes:
                archive, run_id, rng = archives[n]
                for i in range(start, min(reps, start + block)):
                    t = time.perf_counter()
                    archive_iteration(archive, run_id, 1000 + i, rng)
                    samples[n].append(time.perf_counter() - t)
        for archive, _, _ in archives.values():
            archive.close()
    out = {n: statistics.median(v) for n, v in samples.items()}
    for n in sizes:
        print(f"  {n:>7} programs: {1000 * out[n]:.2f} ms/iteration (median of {reps}, "
              f"sizes interleaved in blocks of {block})", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--reps", type=int, default=300)
    args = ap.parse_args()

    print("Part 1: whole loop, instant stub LLM over HTTP")
    instant = run_loop(args.iterations, InstantExecutor(), 4)
    print(f"  instant evaluator, 4 in flight:       {instant:7.1f} iterations/s")
    from evolve.executors.local import LocalExecutor

    local = LocalExecutor(2, 240)
    try:
        real = run_loop(max(20, args.iterations // 10), local, 2)
    finally:
        local.close()
    print(f"  sandboxed smtt evaluations, 2 workers: {real:7.1f} iterations/s")

    print("Part 2: archive time per iteration vs stored programs")
    sizes = [int(s) for s in args.sizes.split(",")]
    times = archive_scale(sizes, args.reps)
    base = times[sizes[0]]
    print("  ratio to the smallest: " + ", ".join(f"{n}: {times[n] / base:.2f}x" for n in sizes)
          + "  (target at 100k: <= 1.2x)")


if __name__ == "__main__":
    main()
