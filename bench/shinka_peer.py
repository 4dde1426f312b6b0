"""ShinkaEvolve 0.0.7 as a peer in bench/vs_openevolve.py (same toy problem, same stub LLM).

ShinkaEvolve is installed into its own virtualenv under ~/.cache/evolve/bench/ (never a project
dependency) and driven through its async runner (``shinka.core.ShinkaEvolveRunner``) with its
local job scheduler, which starts a fresh ``python evaluate.py --program_path P --results_dir R``
per candidate and reads ``metrics.json`` / ``correct.json`` back from R. The LLM is the stub,
addressed as ``local/stub@<url>`` (shinka/local_openai_config.py: ``local/<model>@http(s)://...``,
served by openai.AsyncOpenAI chat completions, the only route the stub answers).

Turned off, because the stub cannot answer them (it serves /chat/completions only) or because
they would add LLM calls the other systems do not make:
  * embeddings (``embedding_model=None``): would call an embeddings endpoint (OpenAI by default);
  * novelty judge (``novelty_llm_models=None``): needs embeddings and extra LLM calls;
  * meta-recommendations / LLM summaries (``meta_rec_interval=None``, ``meta_llm_models=None``);
  * system-prompt evolution (``evolve_prompts=False``, the default).
Only full rewrites are proposed (``patch_types=["full"]``) because the stub's replies are full
rewrites of the EVOLVE-BLOCK; ``num_generations`` counts the seed (generation 0), so it is set
to iterations + 1.
Note: the runner caps concurrency by CPU count (``_validate_concurrency_settings`` in
shinka/core/async_runner.py); on a 2-core machine both 2 and 8 requested evaluation jobs become
1 evaluation job and 1 proposal job. The effective values are returned as ``eval_jobs`` and
``proposal_jobs``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import venv
from pathlib import Path

from toy30 import TOY_SCORE, data_path

SHINKA_VERSION = "0.0.7"
SHINKA_VENV = Path.home() / ".cache" / "evolve" / "bench" / f"shinka-evolve-{SHINKA_VERSION}"
EVALUATOR = TOY_SCORE + '''
import argparse, os


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--program_path", required=True)
    ap.add_argument("--results_dir", required=True)
    args = ap.parse_args()
    try:
        combined, error = toy_score(args.program_path)
    except Exception as e:
        combined, error = -10.0, f"{{type(e).__name__}}: {{e}}"
    os.makedirs(args.results_dir, exist_ok=True)
    with open(os.path.join(args.results_dir, "correct.json"), "w") as f:
        json.dump({{"correct": error is None, "error": error}}, f)
    with open(os.path.join(args.results_dir, "metrics.json"), "w") as f:
        json.dump({{"combined_score": combined, "public": {{}}, "private": {{}}}}, f)


if __name__ == "__main__":
    main()
'''

RUNNER = '''import sys
from shinka.core import EvolutionConfig, ShinkaEvolveRunner
from shinka.database import DatabaseConfig
from shinka.launch import LocalJobConfig

seed, evaluate, out, model, iterations, jobs = sys.argv[1:7]
evo = EvolutionConfig(
    patch_types=["full"], patch_type_probs=[1.0], num_generations=int(iterations) + 1,
    llm_models=[model], llm_kwargs={"temperatures": [0.7], "max_tokens": 1024},
    embedding_model=None, novelty_llm_models=None, meta_rec_interval=None, meta_llm_models=None,
    evolve_prompts=False, init_program_path=seed, results_dir=out, language="python",
    job_type="local")
job = LocalJobConfig(eval_program_path=evaluate, python_executable=sys.executable, time="00:01:00")
runner = ShinkaEvolveRunner(evo, job, DatabaseConfig(), banner_style="minimal", verbose=False,
                            max_evaluation_jobs=int(jobs), max_proposal_jobs=int(jobs))
print("SLOTS", runner.max_evaluation_jobs, runner.max_proposal_jobs, flush=True)
runner.run()
print("DONE", flush=True)
'''


def shinka_python() -> Path:
    """The Shinka venv's python; creates the venv and installs shinka-evolve once."""
    python = SHINKA_VENV / "bin" / "python"
    if not python.exists():
        print(f"installing shinka-evolve=={SHINKA_VERSION} into {SHINKA_VENV} (once) ...", flush=True)
        venv.create(SHINKA_VENV, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"shinka-evolve=={SHINKA_VERSION}"],
                       check=True)
    return python


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[int, str, str]:
    """Run cmd in its own session; on timeout kill the whole group (evaluate.py children too)."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise RuntimeError(f"ShinkaEvolve timed out after {timeout:.0f} s: {err[-2000:]}") from None
    return proc.returncode, out, err


def run_shinka(tmp: Path, url: str, iterations: int, jobs: int, timeout: float = 1800.0) -> dict:
    """One ShinkaEvolve run of `iterations` proposals with `jobs` evaluation jobs against the stub."""
    python = shinka_python()
    work = tmp / f"shinka-{jobs}-{time.monotonic_ns()}"
    work.mkdir()
    counter = work / "evaluations.txt"
    (work / "seed.py").write_text((tmp / "problems" / "toy30" / "initial.py").read_text())  # same seed
    (work / "evaluate.py").write_text(EVALUATOR.format(data=str(data_path(tmp)), counter=str(counter)))
    (work / "runner.py").write_text(RUNNER)
    env = {**os.environ, "LOCAL_OPENAI_API_KEY": "stub", "PYTHONUNBUFFERED": "1"}
    cmd = [str(python), str(work / "runner.py"), str(work / "seed.py"), str(work / "evaluate.py"),
           str(work / "out"), f"local/stub@{url}", str(iterations), str(jobs)]
    started = time.perf_counter()
    code, out, err = _run(cmd, work, env, timeout)  # cwd=work: Shinka loads ./.env, keep it empty
    wall = time.perf_counter() - started
    if code != 0 or "DONE" not in out:
        raise RuntimeError(f"ShinkaEvolve failed (exit {code}): {err[-2000:]}")
    slots = next((line.split()[1:] for line in out.splitlines() if line.startswith("SLOTS")), ["0", "0"])
    evaluated = len(counter.read_text().splitlines()) - 1 if counter.exists() else 0  # minus the seed
    return {"wall": wall, "iterations": iterations, "evaluated": evaluated,
            "eval_jobs": int(slots[0]), "proposal_jobs": int(slots[1])}
