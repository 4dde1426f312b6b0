"""Export an archived program as a standalone module with its provenance.

The module is the program's own code (candidate code never imports evolve) under a docstring that
says where it came from: problem and API contract, run, program id, lineage from the seed, the
models whose replies made it, and trusted scores on the train and held-out sets beside the
baselines'. Scores come from the archive or, where missing, from the sandboxed verifier.
"""

from __future__ import annotations

import asyncio
import textwrap
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from evaluators.problem import ProblemSpec, load_problem
from evolve.archive.fronts import run_points
from evolve.archive.models import Iteration, Program, Run
from evolve.archive.store import Archive
from evolve.edits import BLOCK_END, BLOCK_START
from evolve.executors.local import LocalExecutor
from evolve.report import baseline_results, evaluate_many, record_test_evaluation
from evolve.search.pareto import pareto_front


class ExportError(Exception):
    """The program cannot be exported; the message names the fix."""


def lineage(archive: Archive, program_id: int) -> list[int]:
    """Program ids from the seed to ``program_id``."""
    path = []
    current: int | None = program_id
    while current is not None:
        path.append(current)
        current = archive.program(current).parent_id
    return path[::-1]


def models_used(archive: Archive, run_id: int, path: list[int]) -> list[str]:
    with archive.session() as s:
        rows = s.scalars(select(Iteration.model).where(Iteration.run_id == run_id,
                                                       Iteration.child_id.in_(path))).all()
    return sorted({m for m in rows if m})


def strip_markers(code: str) -> str:
    """The program without its seed docstring and EVOLVE-BLOCK marker lines."""
    lines = [ln for ln in code.splitlines() if ln.strip() not in (BLOCK_START, BLOCK_END)]
    body = "\n".join(lines).strip() + "\n"
    if body.startswith('"""'):
        end = body.find('"""', 3)
        body = body[end + 3:].lstrip("\n") if end > 0 else body
    return body


def scores(spec: ProblemSpec, archive: Archive, run_id: int, program_id: int, code: str) -> dict:
    """{name: {set: metric}} for the program (stored train, test stored or computed now) and
    every baseline (stored with the run, or computed through the sandbox and stored)."""
    held_out = [s for s in ("test",) if s in spec.sets]
    sets = ["train", *held_out]
    metric = spec.objective.metric
    out: dict[str, dict[str, float | None]] = {"evolved": {"train": archive.program(program_id)
                                                           .metrics.get(metric)}}
    missing = [s for s in held_out if not archive.program(program_id, s).metrics]

    async def both(executor: LocalExecutor) -> tuple[dict, dict]:
        return await asyncio.gather(evaluate_many(executor, spec, {"evolved": code}, missing),
                                    baseline_results(archive, run_id, spec, executor, sets))

    with LocalExecutor(2, spec.limits.wall_seconds, draw=archive.run_draw(run_id)) as executor:
        evolved, baselines = asyncio.run(both(executor))
    for s in held_out:
        if s in missing:
            record_test_evaluation(archive, program_id, evolved[("evolved", s)])
        out["evolved"][s] = archive.program(program_id, s).metrics.get(metric)
    for (name, s), res in baselines.items():
        out.setdefault(name, {})[s] = res.metrics.get(metric) if res.ok else None
    return out


def shown(value: float | None, percent: bool) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.2f}%" if percent else f"{value:.6g}"


def render(spec: ProblemSpec, run: Run, program_id: int, path: list[int], models: list[str],
           table: dict, code: str, trade_off: str = "") -> str:
    metric, direction = spec.objective.metric, spec.objective.direction
    sets = list(next(iter(table.values())))
    header = [f"Evolved policy for `{spec.name}`: {spec.summary}", "",
              f"Provenance: run {run.name!r}, program {program_id}, lineage depth {len(path) - 1} "
              f"({' -> '.join(map(str, path))}), models {', '.join(models) or 'none (seed)'}, "
              f"exported {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by evolve.", "",
              f"Scores ({metric}, {direction}; trusted verifier, sandboxed{drawn_note(spec, run)}):"]
    header.append("    " + f"{'policy':<16}" + "".join(f"{s:>12}" for s in sets))
    for name, row in table.items():
        cells = "".join(f"{shown(row.get(s), spec.objective.percent):>12}" for s in sets)
        header.append("    " + f"{name:<16}" + cells)
    if trade_off:
        header += ["", trade_off]
    header += ["", f"API contract: {spec.signature}", "",
               *textwrap.dedent(spec.brief).strip().replace('"""', "'''").splitlines()]
    doc = "\n".join(header)
    return f'"""{doc}\n"""\n\n\n{code}'


def trade_off_line(spec: ProblemSpec, archive: Archive, run_id: int, program_id: int) -> str:
    """The program's second objective on the training set and whether it is on the run's Pareto
    front ("" for a problem without one)."""
    second = spec.objective.second
    value = second.score(archive.program(program_id).metrics) if second is not None else None
    if second is None or value is None:
        return ""
    front = pareto_front(run_points(archive.engine, run_id, second))
    on = any(p.program_id == program_id for p in front)
    return (f"Second objective on the training set: {second.label()} {second.shown(value):.6g}; "
            f"{'on' if on else 'not on'} the run's Pareto front of the two (evolve status lists it).")


def drawn_note(spec: ProblemSpec, run: Run) -> str:
    """Which instances the scores of a problem's drawn sets are on (`evolve verify --draw`)."""
    if not any(s.drawn for s in spec.sets.values()):
        return ""
    return ("; drawn sets on the public draw" if run.draw is None else
            f"; drawn sets on the run's draw: evolve verify --draw {run.draw}")


CHECK = """\"\"\"Re-score {module} through evolve's sandbox and verifier (written by `evolve export`).\"\"\"

from pathlib import Path

from evaluators.jobs import run_job

EXPECTED = {expected!r}  # {metric} per set, as stored in run {run!r} (program {program})
DRAW = {draw!r}  # the run's draw of the problem's drawn sets (None: the public draw)


def test_{stem}_reproduces_its_exported_scores():
    code = Path(__file__).with_name("{module}").read_text(encoding="utf-8")
    for set_name, value in EXPECTED.items():
        out = run_job({{"problem": {problem!r}, "code": code, "set": set_name, "draw": DRAW}})
        assert out["ok"], out["error"]
        assert abs(out["metrics"][{metric!r}] - value) <= 1e-9 * max(1.0, abs(value)), set_name
"""


def write_check(out: Path, spec: ProblemSpec, run: Run, program_id: int, table: dict) -> Path:
    """A pytest file beside ``out`` that re-scores it and compares with the exported scores."""
    expected = {s: v for s, v in table["evolved"].items() if v is not None}
    path = out.with_name(f"test_{out.stem}.py")
    path.write_text(CHECK.format(module=out.name, stem=out.stem, expected=expected,
                                 metric=spec.objective.metric, run=run.name, program=program_id,
                                 problem=spec.name, draw=run.draw))
    return path


def export_program(archive: Archive, run_id: int, program_id: int | None, out: Path,
                   with_test: bool = False) -> Path:
    with archive.session() as s:
        run = s.get(Run, run_id)
        if program_id is None:
            program_id = archive.winner(run_id)
            if program_id is None:
                raise ExportError(f"run {run.name} has no evaluated program yet: resume it first")
        prog = s.get(Program, program_id)
        if prog is None or prog.run_id != run_id:
            raise ExportError(f"program {program_id} is not in run {run.name}: see `evolve status "
                              f"{run.name}` for ids")
        if prog.status != "ok":
            raise ExportError(f"program {program_id} is {prog.status}, not a passing program: "
                              "export one with a score (--best)")
    spec = load_problem(run.problem)
    code = strip_markers(archive.program(program_id).code)
    path = lineage(archive, program_id)
    table = scores(spec, archive, run_id, program_id, archive.program(program_id).code)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(spec, run, program_id, path, models_used(archive, run_id, path), table,
                          code, trade_off_line(spec, archive, run_id, program_id)))
    if with_test:
        write_check(out, spec, run, program_id, table)
    return out
