"""Repair calls replayed: how often the embedded model turns a failed child into a valid one.

    .venv/bin/python bench/repair_replay.py --archive runs/NAME/archive.db [--samples 2]
                                            [--variants current,marked,marked_nobrief]

Every child of the archive that failed its evaluation with an exception or an invalid answer is
sent to the embedded model's server (started with `evolve llm serve` or by a run) with a repair
prompt, ``--samples`` times with fresh seeds: ``current`` is the loop's prompt
(`build_repair_messages`), ``marked`` shows only the failing function with the failing line marked
by the exception, ``marked_nobrief`` the same without the problem brief. Each reply is applied
like the loop applies it and the result is scored on the problem's quick-check set through the
sandbox. Prints, per variant: calls, unchanged replies, valid repairs, seconds and prompt tokens
per call; compare the valid share with the run's fresh proposals (`evolve status`).

Measured (bin_packing run of 30 calls, 10 failed children, 1.5B model, 2 cores): current 2 of 20
valid (11 unchanged), 12.2 s/call, 1184 prompt tokens; marked 1 of 20 (10 unchanged); marked
without the brief 2 of 20 (9 unchanged), 10.8 s, 336 tokens; the run's proposals: 6 of 22 valid.
Hence `repair.trials`: repairs continue only while they pay at least as well as proposals.
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import re
import sqlite3
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from evaluators.jobs import run_job
from evaluators.problem import ProblemSpec, load_problem
from evolve.archive.store import ProgramView
from evolve.config import PromptConfig
from evolve.edits import UNCHANGED, EditRejected, apply_reply
from evolve.llm.embedded import local_model, local_server
from evolve.prompts.builder import brief, build_repair_messages, repair_target, shown_error, template

LINE = re.compile(r"\(line (\d+) in [A-Za-z_]\w*:")


@dataclass
class Tally:
    calls: int = 0
    unchanged: int = 0
    rejected: int = 0
    valid: int = 0
    seconds: float = 0.0
    prompt_tokens: int = 0
    errors: list[str] = field(default_factory=list)


def marked(spec: ProblemSpec, failed: ProgramView, with_brief: bool) -> tuple[list[dict], str]:
    """The failing function alone, its failing line marked with the exception."""
    error = shown_error(failed.error or "", PromptConfig()).strip()
    target = repair_target(spec.entry, failed.code, error)
    head = error.splitlines()[0]
    values = [ln.strip() for ln in error.splitlines()[1:3] if ln.strip().startswith("values:")]
    exc = re.sub(r"^quick check[^:]*: ", "", head.split(" (line ")[0])
    lines = failed.code.splitlines()
    if m := LINE.search(head):
        lines[int(m.group(1)) - 1] += f"  # <-- {exc}"
    fn = next(n for n in ast.parse(failed.code).body if isinstance(n, ast.FunctionDef) and n.name == target)
    src = "\n".join(lines[fn.lineno - 1 - len(fn.decorator_list):fn.end_lineno])
    user = ((brief(spec, PromptConfig()) + "\n\n") if with_brief else "") + (
        f"This function fails:\n```python\n{src}\n```\nError: {exc}\n"
        + (f"{values[0]}\n" if values else "")
        + f"\nChange {'the marked line' if m else 'the function'} so that this error cannot happen; "
        f"keep the rest. Reply with only the corrected `{target}` function in one ```python block.")
    return [{"role": "system", "content": template("compact_system").template.strip()},
            {"role": "user", "content": user}], target


def chat(port: int, messages: list[dict], seed: int) -> tuple[str, float, int]:
    body = {"model": local_model.DEFAULT_MODEL, "messages": messages, "temperature": 0.7,
            "max_tokens": 700, "seed": seed}
    req = urllib.request.Request(f"{local_server.api_base(port)}/chat/completions",
                                 data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(req, timeout=900) as resp:
        data = json.loads(resp.read())
    return (data["choices"][0]["message"]["content"] or "", time.perf_counter() - started,
            (data.get("usage") or {}).get("prompt_tokens", 0))


def failed_children(db: Path) -> tuple[str, list[ProgramView]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        problem = con.execute("select problem from runs").fetchone()[0]
        rows = con.execute(
            "select p.id, p.code, e.error from programs p join evaluations e on e.program_id = p.id "
            "where p.status = 'failed' and e.set_name = 'train' and p.edit_kind != 'guard' "
            "and e.error_kind in ('exception', 'invalid') order by p.id").fetchall()
    return problem, [ProgramView(id=pid, code=code, parent_id=None, generation=1, island=0,
                                 status="failed", combined_score=None, cell=None, metrics={},
                                 feedback=None, error=error) for pid, code, error in rows]


def replay(variant: str, spec: ProblemSpec, failed: list[ProgramView], samples: int, port: int,
           rng: random.Random) -> Tally:
    tally = Tally()
    for prog in failed:
        if variant == "current":
            messages, target = build_repair_messages(spec, prog, True)
        else:
            messages, target = marked(spec, prog, with_brief=variant == "marked")
        for _ in range(samples):
            reply, seconds, tokens = chat(port, messages, rng.getrandbits(31))
            tally.calls += 1
            tally.seconds += seconds
            tally.prompt_tokens += tokens
            try:
                child = apply_reply(reply, prog.code, spec.entry, focus=target).code
            except EditRejected as exc:
                if exc.reason == UNCHANGED:
                    tally.unchanged += 1
                else:
                    tally.rejected += 1
                continue
            if ast.dump(ast.parse(child)) == ast.dump(ast.parse(prog.code)):
                tally.unchanged += 1
                continue
            out = run_job({"problem": spec.name, "code": child, "set": "gate"})
            tally.valid += bool(out["ok"])
            if not out["ok"]:
                tally.errors.append(str(out.get("error"))[:100])
    return tally


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--archive", type=Path, required=True)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--variants", default="current,marked,marked_nobrief")
    ap.add_argument("--port", type=int, default=local_server.DEFAULT_PORT)
    args = ap.parse_args()
    problem, failed = failed_children(args.archive)
    spec = load_problem(problem)
    print(f"{problem}: {len(failed)} failed children, {args.samples} repair samples each")
    for variant in args.variants.split(","):
        t = replay(variant, spec, failed, args.samples, args.port, random.Random(7))
        print(f"{variant:>15}: {t.calls} calls, {t.unchanged} unchanged, {t.rejected} rejected, "
              f"{t.valid} valid ({t.valid / max(t.calls, 1):.0%}), {t.seconds / max(t.calls, 1):.1f} s/call, "
              f"{t.prompt_tokens / max(t.calls, 1):.0f} prompt tokens", flush=True)


if __name__ == "__main__":
    main()
