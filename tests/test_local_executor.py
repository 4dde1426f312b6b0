"""The local executor's workers live and die with the engine that started them, and start
without re-running the engine's main module."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from evaluators.base import EvalOutcome

ROOT = Path(__file__).resolve().parent.parent
ENGINE = """
import asyncio, sys, time
from evolve.executors.base import EvalJob
from evolve.executors.local import LocalExecutor

if __name__ == "__main__":
    ex = LocalExecutor(2, 10, "smtt")
    code = "def schedule(p, w, d):\\n    return list(range(len(p)))\\n"
    out = asyncio.run(ex.evaluate(EvalJob("smtt", code, "train", 1, "x", (0,))))
    print(out.ok, *ex._pool._processes, flush=True)
    time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_workers_die_with_a_killed_engine(tmp_path):
    script = tmp_path / "engine.py"
    script.write_text(ENGINE)
    engine = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        ok, *workers = engine.stdout.readline().split()
        assert ok == "True" and len(workers) == 2
        pids = [int(w) for w in workers]
        assert all(alive(p) for p in pids)
        engine.send_signal(signal.SIGKILL)  # no atexit, no pool shutdown: the machine-died case
        engine.wait()
        deadline = time.monotonic() + 10
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(p) for p in pids), "a worker outlived its engine"
    finally:
        engine.kill()


MAIN = """
import os, sys, time
with open(sys.argv[1], "a") as fh:  # every process that runs this module leaves its pid
    fh.write(f"{os.getpid()}\\n")
from evolve.executors.local import LocalExecutor

if __name__ == "__main__":
    ex = LocalExecutor(2, 10, "smtt")
    # 2 s of jobs: even if one worker took them all, the other has long finished starting up
    for f in [ex._pool.submit(time.sleep, 0.5) for _ in range(4)]:
        f.result()
    print(*ex._pool._processes, flush=True)
    ex.close()
"""


def test_workers_do_not_rerun_the_engines_main_module(tmp_path):
    script, marks = tmp_path / "engine.py", tmp_path / "marks.txt"
    script.write_text(MAIN)
    out = subprocess.run([sys.executable, str(script), str(marks)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    workers, ran_main = out.stdout.split(), marks.read_text().split()
    assert len(workers) == 2  # the pool's two worker processes
    assert len(ran_main) == 1 and ran_main[0] not in workers  # the engine only


def test_a_job_waiting_for_a_worker_is_not_timed_out_by_the_guard():
    """The guard timeout counts a worker's time on a job, not the job's wait in line: five jobs
    on one worker, each well inside the guard, all pass (tuning batches queue beside children)."""
    import asyncio

    from evolve.executors.base import EvalJob
    from evolve.executors.local import LocalExecutor

    code = "import time\ndef schedule(p, w, d):\n    time.sleep(0.005)\n    return list(range(len(p)))\n"
    ex = LocalExecutor(1, 10, "smtt")
    try:
        async def one() -> EvalOutcome:
            return await ex.evaluate(EvalJob("smtt", code, "train", 1, "x", (0,)))

        assert asyncio.run(one()).ok  # the worker is up
        started = time.monotonic()
        assert asyncio.run(one()).ok
        ex.guard_seconds = 2.5 * (time.monotonic() - started)

        async def five() -> list[EvalOutcome]:
            return await asyncio.gather(*(one() for _ in range(5)))

        outs = asyncio.run(five())
        assert [o.ok for o in outs] == [True] * 5, [o.error for o in outs]
    finally:
        ex.close()
