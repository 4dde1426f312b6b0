"""evolve beside OpenEvolve 0.4.0 and ShinkaEvolve 0.0.7: one machine, one toy problem, one stub LLM.

    .venv/bin/python bench/vs_openevolve.py [--iterations 300] [--latencies 0,1] [--workers 2,8]
                                            [--in-flight 64] [--no-shinka]

OpenEvolve and ShinkaEvolve (bench/shinka_peer.py) are each installed into their own virtualenv
under ~/.cache/evolve/bench/ (never project dependencies). One local OpenAI-compatible stub
server answers every system with the same replies: request n gets a full rewrite of the seed's
dispatching rule with its own constant, after a configurable latency. The toy problem (toy30.py) is a
30-job single-machine weighted-tardiness dispatching rule on 25 generated instances (one per
(TF, RDD) class), scored as the aggregate gap to weighted MDD. OpenEvolve evaluates in-process in
its worker processes (its contract); ShinkaEvolve starts a fresh ``python evaluate.py`` per
candidate (its local scheduler, which caps its jobs by CPU count: 1 evaluation + 1 proposal job
on 2 cores whatever is asked); evolve evaluates in its sandbox (a hardened child process per
candidate) through its local executor.

Columns: iterations/s (proposals finished per second of wall time), LLM calls in flight (mean:
calls x latency / wall time; "-" for instant replies), the share of iterations that produced an
evaluated program, wall seconds, and evolve / peer for each peer row. Wall time includes each
system's start-up (evolve: about 2 s to its first LLM call; ShinkaEvolve: about 8 s, mostly
imports), so short runs understate every system's steady-state rate.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evolve.llm.stub_server import Step, StubLLM  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shinka_peer import run_shinka, shinka_python  # noqa: E402
from toy30 import SEED, TOY_SCORE, data_path, reply, write_problem  # noqa: E402

OE_VERSION = "0.4.0"
OE_VENV = Path.home() / ".cache" / "evolve" / "bench" / f"openevolve-{OE_VERSION}"
OE_EVALUATOR = TOY_SCORE + '''

def evaluate(program_path):  # OpenEvolve's contract, called in its worker processes
    return {{"combined_score": toy_score(program_path)[0]}}
'''

OE_RUNNER = '''import sys, time
from openevolve.api import run_evolution
from openevolve.config import load_config
cfg = load_config(sys.argv[3])
started = time.perf_counter()
run_evolution(initial_program=sys.argv[1], evaluator=sys.argv[2], config=cfg,
              iterations=int(sys.argv[4]), output_dir=sys.argv[5], cleanup=True)
print("WALL", time.perf_counter() - started)
'''


def openevolve_python() -> Path:
    python = OE_VENV / "bin" / "python"
    if not python.exists():
        print(f"installing openevolve=={OE_VERSION} into {OE_VENV} (once) ...", flush=True)
        venv.create(OE_VENV, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"openevolve=={OE_VERSION}"], check=True)
    return python


def run_openevolve(tmp: Path, url: str, iterations: int, workers: int) -> dict:
    work = tmp / f"oe-{workers}-{time.monotonic_ns()}"
    work.mkdir()
    counter = work / "evaluations.txt"
    (work / "seed.py").write_text(SEED)
    (work / "evaluator.py").write_text(OE_EVALUATOR.format(data=str(data_path(tmp)), counter=str(counter)))
    (work / "runner.py").write_text(OE_RUNNER)
    (work / "config.yaml").write_text(textwrap.dedent(f'''\
        max_iterations: {iterations}
        checkpoint_interval: 100000
        log_level: WARNING
        diff_based_evolution: false
        llm:
          api_base: {url}
          api_key: stub
          models:
            - name: stub
              weight: 1.0
          timeout: 60
          retries: 1
        database:
          in_memory: true
          num_islands: 3
        evaluator:
          parallel_evaluations: {workers}
          cascade_evaluation: false
          timeout: 60
        '''))
    started = time.perf_counter()
    res = subprocess.run([str(openevolve_python()), str(work / "runner.py"), str(work / "seed.py"),
                          str(work / "evaluator.py"), str(work / "config.yaml"), str(iterations),
                          str(work / "out")], capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - started
    if res.returncode != 0:
        raise RuntimeError(f"OpenEvolve failed: {res.stderr[-2000:]}")
    evaluated = len(counter.read_text().splitlines()) - 1 if counter.exists() else 0  # minus the seed
    return {"wall": wall, "iterations": iterations, "evaluated": evaluated}


def run_evolve(tmp: Path, url: str, iterations: int, in_flight: int) -> dict:
    from evolve.archive.store import Archive

    work = tmp / f"ev-{time.monotonic_ns()}"
    work.mkdir()
    cfg = work / "run.yaml"
    cfg.write_text(textwrap.dedent(f'''\
        llm:
          models:
            - {{name: openai/stub, api_base: "{url}", temperature: 0.7, max_tokens: 1024}}
          retries: 1
        edits:
          diff_ratio: 0.0
        proposals_in_flight: {in_flight}
        evaluations_in_flight: 2
        final_report: false
        '''))
    env = {**os.environ, "EVOLVE_PROBLEMS": str(tmp / "problems"), "OPENAI_API_KEY": "stub"}
    started = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "evolve.cli", "run", "toy30", "--config", str(cfg),
                          "--iterations", str(iterations), "--runs-dir", str(work), "--run-name", "b"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - started
    if res.returncode != 0:
        raise RuntimeError(f"evolve failed: {res.stderr[-2000:]}")
    archive = Archive(f"sqlite:///{work / 'b' / 'archive.db'}")
    with archive.session() as s:
        from sqlalchemy import text

        evaluated = s.execute(text("select count(*) from programs where status != 'pending' "
                                   "and iteration > 0 and edit_kind != 'tune'")).scalar()
    archive.close()
    return {"wall": wall, "iterations": iterations, "evaluated": evaluated}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--latencies", default="0,1")
    ap.add_argument("--workers", default="2,8")
    ap.add_argument("--in-flight", type=int, default=64, help="evolve's proposals_in_flight")
    ap.add_argument("--no-shinka", action="store_true", help="leave ShinkaEvolve 0.0.7 out")
    args = ap.parse_args()
    openevolve_python()
    if not args.no_shinka:
        shinka_python()
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        write_problem(tmp)
        for latency in (float(x) for x in args.latencies.split(",")):
            with StubLLM(responder=lambda n, _body, lat=latency: Step(content=reply(n), delay=lat)) as stub:
                url = stub.url
                results = {}
                for workers in (int(x) for x in args.workers.split(",")):
                    results[f"OpenEvolve {workers} workers"] = run_openevolve(tmp, url, args.iterations,
                                                                              workers)
                if not args.no_shinka:  # asks for 8 jobs; it caps them by CPU count (1 + 1 on 2 cores)
                    r = run_shinka(tmp, url, args.iterations, 8)
                    results[f"ShinkaEvolve {r['eval_jobs']} eval + {r['proposal_jobs']} proposal job"] = r
                results[f"evolve ({args.in_flight} proposals in flight)"] = run_evolve(
                    tmp, url, args.iterations, args.in_flight)
            for name, r in results.items():
                rows.append((latency, name, r))
    print(f"\n{args.iterations} iterations each; 2 cores; same stub replies; wall includes start-up")
    print(f"{'latency':>8}  {'system':<40}{'it/s':>8}{'in flight':>11}{'evaluated':>11}{'wall s':>9}")
    for latency, name, r in rows:
        rate = r["iterations"] / r["wall"]
        flight = "-" if latency == 0 else f"{r['iterations'] * latency / r['wall']:.1f}"
        share = r["evaluated"] / r["iterations"]
        print(f"{latency:>7.1f}s  {name:<40}{rate:>8.2f}{flight:>11}{share:>10.0%}{r['wall']:>9.1f}")
    print()
    for latency in sorted({lat for lat, _, _ in rows}):
        mine = next(r for lat, n, r in rows if lat == latency and n.startswith("evolve"))
        for lat, name, r in rows:
            if lat == latency and not name.startswith("evolve"):
                ratio = (mine["iterations"] / mine["wall"]) / (r["iterations"] / r["wall"])
                print(f"latency {latency:.0f} s: evolve / {name} = {ratio:.2f}x")


if __name__ == "__main__":
    main()
