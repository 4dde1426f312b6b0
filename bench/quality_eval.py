"""Bridge from OpenEvolve's evaluator to our trusted verifier: score one program file.

    /work/main/.venv/bin/python bench/quality_eval.py PROBLEM PROGRAM_FILE [--set train]

Runs in evolve's virtualenv (OpenEvolve's evaluator, in OpenEvolve's own virtualenv, starts it
as a subprocess). The program goes through ``evaluators.jobs.run_job``: the problem's gate, then
the set, in our sandbox, exactly as evolve evaluates its own children. Prints one JSON line:
``{"ok", "combined_score", "metric", "error", "feedback", "norm_hash"}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def norm_hash(code: str) -> str:
    """The archive's normalised-code hash (comments, docstrings, spacing ignored)."""
    try:
        from evolve.archive.codehash import normalised_hash
    except ImportError:  # an engine without it: the exact hash
        import hashlib

        return hashlib.sha256(code.encode()).hexdigest()
    return normalised_hash(code)


def evaluate(problem: str, code: str, set_name: str) -> dict:
    from evaluators.jobs import run_job
    from evaluators.problem import load_problem

    out = run_job({"problem": problem, "code": code, "set": set_name})
    metric = load_problem(problem).objective.metric
    return {"ok": bool(out["ok"]), "combined_score": out.get("combined_score"),
            "metric": (out.get("metrics") or {}).get(metric), "error": out.get("error"),
            "feedback": out.get("feedback") or "", "norm_hash": norm_hash(code)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("problem")
    ap.add_argument("program", type=Path)
    ap.add_argument("--set", default="train", dest="set_name")
    args = ap.parse_args()
    try:
        result = evaluate(args.problem, args.program.read_text(encoding="utf-8"), args.set_name)
    except Exception as exc:  # reported as a failed program, never as a crash of the bridge
        result = {"ok": False, "combined_score": None, "metric": None, "feedback": "",
                  "error": f"bridge error: {type(exc).__name__}: {exc}", "norm_hash": ""}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
