"""Sandbox overhead: one evaluation's round trip per isolation level, and smtt evaluations/s.

    .venv/bin/python bench/sandbox_overhead.py [--repeats 40]

A round trip is: start the candidate (spawn or fork, harden), call a policy on a 20-job instance,
read the framed result, tear everything down. Compared side by side, as ratios to a plain
`python -I` subprocess doing the same over a pipe:
- cold: a new sandbox (bubblewrap namespaces or the Landlock fallback) started per evaluation;
- warm: the template already running, one hardened child forked per evaluation (what workers do),
  with the candidate's control group (``sandbox/cgroups.py``, where the machine allows one) and
  without it (``EVOLVE_CGROUPS=off``), measured in alternating blocks of 10 so that load from
  elsewhere falls on both alike.
Then the whole smtt evaluation (gate + 250 training instances) through the local executor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time

from sandbox import cgroups
from sandbox import session as sbx
from sandbox.levels import detect
from sandbox.session import SandboxSession

POLICY = "def schedule(p, w, d):\n    return sorted(range(len(p)), key=lambda j: (d[j], p[j]))\n"
INSTANCE = ([(7 * j) % 97 + 1 for j in range(20)], [j % 10 + 1 for j in range(20)],
            [(31 * j) % 600 for j in range(20)])


def plain_round_trip() -> float:
    started = time.perf_counter()
    code = POLICY + ("import json, sys\nargs = json.loads(sys.stdin.readline())\n"
                     "sys.stdout.write(json.dumps({'ok': schedule(*args)}) + '\\n')\n")
    proc = subprocess.Popen([sys.executable, "-I", "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env={"PATH": "/usr/bin:/bin"})
    out, _ = proc.communicate(json.dumps(INSTANCE).encode() + b"\n")
    assert len(json.loads(out)["ok"]) == 20
    return time.perf_counter() - started


def warm_round_trip() -> float:
    started = time.perf_counter()
    with SandboxSession(POLICY) as box:
        assert len(box.call("schedule", *INSTANCE)) == 20
    return time.perf_counter() - started


def cold_round_trip() -> float:
    started = time.perf_counter()
    sbx.reset()
    sbx.template()
    with SandboxSession(POLICY) as box:
        assert len(box.call("schedule", *INSTANCE)) == 20
    sbx.reset()
    return time.perf_counter() - started


def warm_with_and_without_group(repeats: int) -> dict[str, float]:
    """Median ms of a warm round trip with the machine's control group ("on") and without."""
    samples: dict[str, list[float]] = {"on": [], "off": []}
    for _ in range(max(1, repeats // 10)):
        for mode in samples:
            os.environ["EVOLVE_CGROUPS"] = mode
            cgroups.probe.cache_clear()
            sbx.reset()
            warm_round_trip()
            samples[mode] += [warm_round_trip() for _ in range(10)]
    os.environ.pop("EVOLVE_CGROUPS", None)
    cgroups.probe.cache_clear()
    return {mode: 1000 * statistics.median(xs) for mode, xs in samples.items()}


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    return 1000 * statistics.median(fn() for _ in range(repeats))


def with_level(name: str):
    os.environ["EVOLVE_SANDBOX"] = name
    sbx.reset()
    return detect()


def smtt_throughput(n: int, policy: str) -> float:
    from evaluators.jobs import verifier_for
    from evolve.executors.base import EvalJob
    from evolve.executors.local import LocalExecutor

    code = verifier_for("smtt").spec.baselines()[policy]
    executor = LocalExecutor(2, 240)

    async def go() -> float:
        await executor.evaluate(EvalJob("smtt", code + "\n# warm\n"))
        await asyncio.gather(*(executor.evaluate(EvalJob("smtt", code + f"\n# w{i}\n")) for i in range(2)))
        started = time.perf_counter()
        outs = await asyncio.gather(*(executor.evaluate(EvalJob("smtt", code + f"\n# {i}\n"))
                                      for i in range(n)))
        assert all(o.ok for o in outs), outs[0].error
        return n / (time.perf_counter() - started)

    try:
        return asyncio.run(go())
    finally:
        executor.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--evaluations", type=int, default=20)
    args = ap.parse_args()
    rows = [("plain subprocess (no isolation)", median_ms(plain_round_trip, args.repeats))]
    for name in ("bwrap", "landlock"):
        try:
            with_level(name)
        except Exception as exc:  # a level this machine does not offer
            print(f"  {name}: unavailable ({exc})")
            continue
        rows.append((f"{name}, cold (new sandbox per evaluation)",
                     median_ms(cold_round_trip, args.repeats)))
        warm = warm_with_and_without_group(args.repeats)
        group = cgroups.probe().describe().split(" (")[0]
        rows.append((f"{name}, warm template, {group}", warm["on"]))
        rows.append((f"{name}, warm template, no control group", warm["off"]))
    os.environ.pop("EVOLVE_SANDBOX", None)
    sbx.reset()
    base = rows[0][1]
    print(f"One evaluation round trip, median of {args.repeats} (20-job instance, one call):")
    print(f"  {'path':56s} {'ms':>8s} {'x plain':>8s}")
    for name, ms in rows:
        print(f"  {name:56s} {ms:8.1f} {ms / base:8.2f}")
    level = detect()
    print(f"smtt through the local executor (2 workers, {level.name}, gate + 250 training instances):")
    for policy in ("edd", "atc_api"):
        print(f"  {policy:8s} {smtt_throughput(args.evaluations, policy):6.2f} evaluations/s")


if __name__ == "__main__":
    main()
