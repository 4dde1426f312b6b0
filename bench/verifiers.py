"""Verifier throughput per problem domain: instances scored per second, through the sandbox.

    .venv/bin/python bench/verifiers.py [PROBLEM ...] [--sets train,test] [--repeats 3]

For every problem (all under problems/ by default), the seed and every baseline are evaluated
exactly as a worker does it (gate, then the set, in one warm sandbox session) with
``Verifier.evaluate``; the table shows the median seconds per evaluation, instances per second
and the candidate's share of the time (its CPU seconds as the kernel counts them, from outside).
A sandbox round trip costs about 0.25 ms, so domains that call the policy per decision (online
bin packing per item, spot scheduling per tick) are bounded by it; the column `calls/s` shows how
many candidate calls per second the verifier drove. For llm_serving it also times the simulator
alone (in-process FCFS), the issue's "simulated requests per second" figure.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluators.jobs import verifier_class  # noqa: E402
from evaluators.problem import list_problems, load_problem  # noqa: E402
from sandbox import session as sbx  # noqa: E402


def count_calls() -> list[int]:
    """Patch SandboxSession.call to count calls (the verifier's own process; no candidate code)."""
    counter = [0]
    original = sbx.SandboxSession.call

    def counted(self, name, *args):
        counter[0] += 1
        return original(self, name, *args)

    sbx.SandboxSession.call = counted
    return counter


def measure(problem: str, sets: list[str], repeats: int) -> list[tuple]:
    spec = load_problem(problem)
    verifier = verifier_class(problem)(spec)
    calls = count_calls()
    rows = []
    codes = {"seed": spec.initial_code, **spec.baselines()}
    for set_name in [s for s in sets if s in spec.sets]:
        n = len(verifier.instances(set_name))
        for name, code in codes.items():
            times, cpus, made = [], [], []
            for _ in range(repeats):
                calls[0] = 0
                started = time.perf_counter()
                out = verifier.evaluate(code, set_name)
                times.append(time.perf_counter() - started)
                cpus.append(out.metrics.get("cpu_seconds", 0.0) if out.ok else 0.0)
                made.append(calls[0])
                if not out.ok:
                    break
            secs = statistics.median(times)
            rows.append((problem, set_name, name, n, secs, n / secs, statistics.median(made) / secs,
                         statistics.median(cpus) / secs if secs else 0.0,
                         "ok" if out.ok else f"FAILED: {out.error[:60]}"))
    return rows


def simulator_speed() -> None:
    """llm_serving's simulator alone (in-process FCFS, the policy's time excluded); target 10,000/s."""
    from evaluators.llm_serving.simulator import bench

    runs = [bench() for _ in range(3)]
    alone = statistics.median(r["requests_per_s_without_policy"] for r in runs)
    with_policy = statistics.median(r["requests_per_s"] for r in runs)
    first = runs[0]
    print(f"\nllm_serving simulator: {first['requests']} requests, {first['iterations']} iterations, "
          f"{first['calls']} policy calls: {alone:,.0f} simulated requests/s without the policy, "
          f"{with_policy:,.0f} with it (median of 3; target >= 10,000)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("problems", nargs="*", help="default: every problem under problems/")
    ap.add_argument("--sets", default="train,test")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    names = args.problems or [p.name for p in list_problems()]
    sets = args.sets.split(",")
    print(f"{'problem':<16}{'set':<8}{'policy':<20}{'inst':>6}{'s/eval':>9}{'inst/s':>10}"
          f"{'calls/s':>10}{'cand cpu':>9}  status")
    for problem in names:
        try:
            rows = measure(problem, sets, args.repeats)
        except Exception as exc:  # a domain under construction must not hide the others
            print(f"{problem:<16}error: {type(exc).__name__}: {exc}")
            continue
        for problem_, set_name, name, n, secs, rate, call_rate, share, status in rows:
            print(f"{problem_:<16}{set_name:<8}{name:<20}{n:>6}{secs:>9.2f}{rate:>10.1f}{call_rate:>10.0f}"
                  f"{100 * share:>8.0f}%  {status}")
    if "llm_serving" in names:
        simulator_speed()


if __name__ == "__main__":
    main()
