"""The ``evolve`` command line: run, resume, status, worker, problems, new-problem, baseline, export,
verify, ui.

Every user error ends in one red line that names the thing and the fix, and exit code 2.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from evaluators.problem import list_problems, load_problem, problems_dir
from evolve.archive.db import shown_url
from evolve.cli.llm import llm_app
from evolve.cli.support import (
    UserError,
    console,
    draw_note,
    err_console,
    parse_draw,
    set_names,
    user_errors,
)
from evolve.cli.ui import ui_command
from evolve.config import RunConfig, load_config, with_overrides
from evolve.executors.factory import make_executor
from evolve.finish import finish
from evolve.runs import (
    RunHandle,
    create_run,
    ensure_local_servers,
    find_run,
    resolve_models,
)

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Evolve scheduling and load-balancing policies with LLMs and trusted verifiers.")
RunsDir = Annotated[Path, typer.Option("--runs-dir", help="folder holding runs/<name>/archive.db")]
DbUrl = Annotated[Optional[str], typer.Option("--db", help="SQLAlchemy URL of the archive "
                                              "(default: SQLite in the run folder)")]


def _level() -> str:
    from sandbox.levels import SandboxUnavailable, detect

    try:
        level = detect()
    except SandboxUnavailable as exc:
        raise UserError(str(exc)) from None
    return level.name if level.name != "rlimits" else f"{level.name} ({level.reason})"


ExecutorKind = Annotated[Optional[str], typer.Option(
    "--executor", help="where evaluations run: local (process pool) or celery (workers started "
    "with `evolve worker`)")]
BrokerUrl = Annotated[Optional[str], typer.Option("--broker", help="Celery broker URL, e.g. "
                                                  "redis://127.0.0.1:6379/0")]
DrawOption = Annotated[str, typer.Option(
    "--draw", help="instances of the problem's drawn (generated) sets: public (the README "
    "tables'), random (fresh, unknown to any candidate) or a number (e.g. a run's draw)")]


def _check_broker(cfg: RunConfig) -> None:
    if cfg.executor.kind == "celery":
        from evolve.executors.celery.app import BrokerUnreachable, check_broker, make_app

        app = make_app(cfg.executor.broker)
        try:
            check_broker(app)
        except BrokerUnreachable as exc:
            raise UserError(str(exc)) from None
        finally:
            app.close()


def _executor_overrides(kind: str | None, broker: str | None) -> dict[str, tuple[str, object]]:
    """``--executor`` and ``--broker`` as config overrides (a broker alone means celery)."""
    return {"executor.kind": ("--executor", kind or ("celery" if broker else None)),
            "executor.broker": ("--broker", broker)}


@app.command()
def problems() -> None:
    """List the problems this installation knows."""
    with user_errors():  # one block per problem: names and signatures are never cut or wrapped
        specs = list_problems()
        if not specs:
            console.print(f"no problems in {problems_dir()} (`evolve new-problem NAME` starts one)")
        for spec in specs:
            console.print(f"[bold]{spec.name}[/bold]: {escape(spec.summary)}", soft_wrap=True)
            second = spec.objective.second
            trade = f" against {second.direction} {second.metric}" if second is not None else ""
            console.print(f"  objective: {spec.objective.direction} {spec.objective.metric}{trade} · "
                          f"sets: {', '.join(spec.sets)}", soft_wrap=True, highlight=False)
            console.print(f"  entry: {escape(spec.signature)}", soft_wrap=True, highlight=False)


@app.command()
def doctor() -> None:
    """Show the sandbox isolation level in force here, and check it on hostile probes."""
    from sandbox.levels import SandboxUnavailable
    from sandbox.session import Limits, SandboxSession, isolation_report

    with user_errors():
        try:
            report = isolation_report()
        except SandboxUnavailable as exc:
            raise UserError(str(exc)) from None
        table = Table(title="sandbox", show_header=False)
        table.add_column("what")
        table.add_column("value")
        table.add_row("level", f"[bold]{report['level']}[/bold]")
        table.add_row("why", escape(report["reason"]))
        table.add_row("seccomp", "yes" if report["seccomp"] else "no (pip install pyseccomp)")
        table.add_row("landlock ABI", str(report["landlock_abi"] or "none"))
        table.add_row("running as root", "yes (fresh uid per candidate)" if report["root"] else "no")
        grouped = report["aggregate"].startswith("cgroup")
        table.add_row("limits per candidate", escape(report["aggregate"]))
        if not grouped:
            table.add_row("without a group", FALLBACK_LIMITS)
        lim = Limits()
        table.add_row("default limits", f"memory {lim.memory_mb} MB, {lim.processes} processes, "
                      f"{lim.cpu_seconds} CPU-s, {lim.call_seconds:g} s a call "
                      + ("(summed over its processes)" if grouped else "(each process on its own)"))
        with SandboxSession(PROBE) as box:
            probes = box.call("probe")
            table.add_row("candidate hardening", escape(str(box.hardening)))
            box.call("cpu_in_child")
            table.add_row("CPU of forked children", f"{box.last_cpu:.2f} s of 0.30 s counted")
        for name, result in probes.items():
            table.add_row(f"probe: {name}", "[green]blocked[/green]" if result != "ALLOWED"
                          else "[red]ALLOWED[/red]")
        console.print(table)


FALLBACK_LIMITS = ("per process only: address space and CPU seconds per process, file size; "
                   "processes per candidate (its own uid); CPU measured for its main process")
PROBE = """
import os, socket, time
def cpu_in_child():
    pid = os.fork()
    if pid == 0:
        start = time.process_time()
        while time.process_time() - start < 0.3:
            pass
        os._exit(0)
    os.waitpid(pid, 0)
def probe():
    out = {}
    tests = {"TCP to 127.0.0.1:6379": lambda: socket.create_connection(("127.0.0.1", 6379), 1),
             "read /etc/shadow": lambda: open("/etc/shadow").read(1),
             "write /usr": lambda: open("/usr/evolve-probe", "w"),
             "signal the parent": lambda: os.kill(os.getppid(), 0)}
    for name, fn in tests.items():
        try:
            fn()
            out[name] = "ALLOWED"
        except Exception as exc:
            out[name] = type(exc).__name__
    return out
"""


@app.command()
def baseline(problem: str,
             sets: Annotated[str, typer.Option(help="comma-separated instance sets")] = "train,test",
             workers: Annotated[int, typer.Option(help="parallel evaluations")] = 2,
             draw: DrawOption = "public",
             executor_kind: ExecutorKind = None, broker: BrokerUrl = None) -> None:
    """Score every human baseline of PROBLEM (through the sandbox) on its instance sets."""
    from evolve.report import baseline_table, evaluate_many

    with user_errors():
        spec = load_problem(problem)
        names = set_names(spec, sets)
        codes = spec.baselines()
        if not codes:
            raise UserError(f"problem {problem} has no baselines in {spec.root / 'baselines'}")
        settings = with_overrides(RunConfig(), _executor_overrides(executor_kind, broker)).executor
        chosen = parse_draw(draw)
        with make_executor(spec, workers, settings, draw=chosen) as executor:
            results = asyncio.run(evaluate_many(executor, spec, codes, names))
        console.print(baseline_table(spec, results, names, f"{problem} baselines "
                                     f"({spec.objective.direction} {spec.objective.metric})", console.width))
        for s in names:
            console.print(f"  {s}: {escape(spec.sets[s].about)}", highlight=False)
        if (note := draw_note(spec, names, chosen)) is not None:
            console.print(f"  {note}", highlight=False)
        for (name, s), out in results.items():
            if not out.ok:
                err_console.print(f"[red]{name} on {s} failed:[/red] {escape(str(out.error))}")


@app.command()
def run(problem: str,
        config: Annotated[Optional[Path], typer.Option("--config", help="YAML run config")] = None,
        model: Annotated[Optional[list[str]], typer.Option("--model", help="litellm model string "
                                                           "(repeat for a pool)")] = None,
        api_base: Annotated[Optional[str], typer.Option("--api-base", help="OpenAI-compatible "
                                                        "server URL, e.g. http://127.0.0.1:8000/v1")] = None,
        iterations: Annotated[Optional[int], typer.Option(help="iterations to run")] = None,
        run_name: Annotated[Optional[str], typer.Option("--run-name")] = None,
        budget: Annotated[Optional[float], typer.Option(help="stop after this many US dollars")] = None,
        target: Annotated[Optional[float], typer.Option(help="stop at this combined score")] = None,
        wall_seconds: Annotated[Optional[float], typer.Option(help="stop after this long")] = None,
        report: Annotated[bool, typer.Option(help="score the winner on the held-out set")] = True,
        start_from: Annotated[Optional[str], typer.Option(
            "--from", help="starting programs, comma-separated: initial, baselines (every human "
            "baseline of the problem, each on its own island) or baseline names")] = None,
        executor_kind: ExecutorKind = None, broker: BrokerUrl = None,
        runs_dir: RunsDir = Path("runs"), db: DbUrl = None) -> None:
    """Evolve PROBLEM from its initial program (or from the baselines people wrote: --from)."""
    with user_errors():
        names = None
        if start_from is not None:
            names = [n.strip() for n in start_from.split(",") if n.strip()]
            if not names:
                raise UserError("--from needs at least one starting program: initial, baselines "
                                "or a baseline name")
        cfg = with_overrides(load_config(config), {
            "stop.iterations": ("--iterations", iterations), "stop.budget_usd": ("--budget", budget),
            "stop.target_score": ("--target", target),
            "stop.wall_seconds": ("--wall-seconds", wall_seconds),
            "final_report": ("--report", report), "seeds": ("--from", names),
            **_executor_overrides(executor_kind, broker)})
        cfg = resolve_models(cfg, model or [], api_base)
        _check_broker(cfg)
        handle = create_run(problem, cfg, run_name, runs_dir, db)
        console.print(f"run [bold]{handle.name}[/bold] · archive {shown_url(handle.archive.url)} · "
                      "models " + ", ".join(m.name for m in cfg.llm.models) + f" · {_where(cfg)}")
        _drive(handle)


@app.command()
def resume(name: Annotated[str, typer.Argument(help="run name")],
           iterations: Annotated[Optional[int], typer.Option(help="new total iteration limit")] = None,
           model: Annotated[Optional[list[str]], typer.Option("--model")] = None,
           api_base: Annotated[Optional[str], typer.Option("--api-base")] = None,
           executor_kind: ExecutorKind = None, broker: BrokerUrl = None,
           runs_dir: RunsDir = Path("runs"), db: DbUrl = None) -> None:
    """Continue a stopped or killed run exactly where it ended."""
    with user_errors():
        handle = find_run(name, runs_dir, db)
        cfg = with_overrides(handle.cfg, {"stop.iterations": ("--iterations", iterations),
                                          **_executor_overrides(executor_kind, broker)})
        if model or api_base:
            cfg = resolve_models(cfg.model_copy(update={"llm": cfg.llm.model_copy(
                update={"models": [] if model else cfg.llm.models})}), model or [], api_base)
        handle.archive.set_run_config(handle.run_id, cfg.model_dump(mode="json"))
        handle = dataclasses.replace(handle, cfg=cfg)
        done = handle.archive.iteration_count(handle.run_id)
        console.print(f"resuming [bold]{name}[/bold] at iteration {done} of {cfg.stop.iterations}"
                      f" · {_where(cfg)}")
        _drive(handle)


@app.command()
def worker(broker: Annotated[str, typer.Option("--broker", help="Celery broker URL")]
           = "redis://127.0.0.1:6379/0",
           db: DbUrl = None,
           concurrency: Annotated[int, typer.Option(help="evaluations at once on this machine")] = 2,
           loglevel: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO") -> None:
    """Evaluate candidates for runs started with `--executor celery` (one per machine)."""
    from evolve.executors.celery.app import BrokerUnreachable
    from evolve.executors.celery.tasks import ArchiveMismatch
    from evolve.executors.celery.worker import start_worker

    with user_errors():
        if concurrency < 1:
            raise UserError(f"--concurrency must be at least 1 (got {concurrency})")
        console.print(f"worker · broker {broker} · archive "
                      f"{shown_url(db) if db else 'from each task'} · sandbox {_level()}")
        try:
            start_worker(broker, db, concurrency, loglevel.upper())
        except (BrokerUnreachable, ArchiveMismatch) as exc:
            raise UserError(str(exc)) from None


@app.command()
def status(name: Annotated[str, typer.Argument(help="run name")],
           top: Annotated[int, typer.Option(help="programs to list")] = 10,
           runs_dir: RunsDir = Path("runs"), db: DbUrl = None) -> None:
    """Show a run: iterations, outcomes, cost, and its best programs."""
    from evolve.report import status_tables
    from evolve.report_front import front_table

    with user_errors():
        handle = find_run(name, runs_dir, db)
        summary, table = status_tables(handle.archive, handle.run_id, top)
        console.print(summary)
        console.print(table)
        if (front := front_table(handle.archive, handle.run_id, name, handle.spec)) is not None:
            console.print(front)


def _where(cfg: RunConfig) -> str:
    if cfg.executor.kind == "celery":
        return f"executor celery ({cfg.executor.broker}, {cfg.evaluations_in_flight} in flight)"
    return f"executor local ({cfg.evaluations_in_flight} processes) · sandbox {_level()}"


def _run_log(handle: RunHandle) -> None:
    """Append the run's events (and any traceback) to runs/<name>/run.log."""
    handle.run_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(handle.run_dir / "run.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("evolve")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)


def _evolve(handle: RunHandle, executor):
    """Run the controller to its stop; a run that cannot go on is a one-line error."""
    from evolve.cli.progress import progress_display
    from evolve.llm.client import LlmClient
    from evolve.loop import Controller, RunFailed

    cfg = handle.cfg
    llm = LlmClient(cfg.llm, warn=lambda msg: console.print(f"[yellow]note:[/yellow] {msg}"))
    with progress_display(console, cfg.stop.iterations) as show:
        controller = Controller(handle.archive, handle.run_id, handle.name, handle.spec, cfg,
                                executor, llm, on_progress=show)
        try:
            stop = asyncio.run(controller.run())
        except RunFailed as exc:
            handle.archive.set_run_status(handle.run_id, "stopped", str(exc))
            raise UserError(str(exc)) from None
    console.print(f"stopped: {escape(stop.message)}")
    if controller.fatal:
        raise UserError(controller.fatal)
    return controller


def _drive(handle: RunHandle) -> None:
    _run_log(handle)
    cfg = handle.cfg
    for note in ensure_local_servers(cfg):
        console.print(note)
    # local workers start warming up now, while this process imports the loop and the LLM client
    with make_executor(handle.spec, cfg.evaluations_in_flight, cfg.executor, handle.archive,
                       handle.name, note=lambda m: console.print(f"[yellow]note:[/yellow] {escape(m)}"),
                       draw=handle.draw) as executor:
        controller = _evolve(handle, executor)
        if not controller.interrupted:
            finish(handle, executor, report=cfg.final_report)
    where = f" --runs-dir {handle.run_dir.parent}" if str(handle.run_dir.parent) != "runs" else ""
    own_file = handle.archive.url.endswith(str((handle.run_dir / "archive.db").resolve()))
    where_db = where if own_file else f" --db {shown_url(handle.archive.url)}"
    console.print(f"inspect with: evolve status {handle.name}{where_db} · explore and export: "
                  f"evolve ui{where_db}")
    if controller.interrupted:
        console.print(f"continue with: evolve resume {handle.name}")
        raise typer.Exit(130)


@app.command()
def export(name: Annotated[str, typer.Argument(help="run name")],
           out: Annotated[Path, typer.Option("--out", help="module to write, e.g. policy.py")],
           program: Annotated[Optional[int], typer.Option("--program", help="program id "
                                                          "(default: the best)")] = None,
           with_test: Annotated[bool, typer.Option("--with-test", help="also write test_<module>.py, "
                                                   "a pytest check of the exported scores")] = False,
           runs_dir: RunsDir = Path("runs"), db: DbUrl = None) -> None:
    """Write a program (the best by default) as a standalone module with its provenance."""
    from evolve.export import ExportError, export_program

    with user_errors():
        handle = find_run(name, runs_dir, db)
        try:
            path = export_program(handle.archive, handle.run_id, program, out, with_test)
        except ExportError as exc:
            raise UserError(str(exc)) from None
        drawn = any(s.drawn for s in handle.spec.sets.values()) and handle.draw is not None
        console.print(f"wrote {path}; check it with: evolve verify {path} --problem {handle.spec.name}"
                      + (f" --draw {handle.draw}" if drawn else ""))


@app.command("new-problem")
def new_problem(name: Annotated[str, typer.Argument(help="the new problem's name (a Python "
                                                    "package name: lower case, digits, _)")]) -> None:
    """Start a problem NAME from the template (a working toy): see docs/adding-a-problem.md."""
    from evolve.new_problem import new_problem as create

    with user_errors():
        made = create(name)
    console.print(f"created {made.problem} and {made.verifier}\nnext: edit them "
                  "(docs/adding-a-problem.md), then\n"
                  f"  evolve verify {made.problem / 'initial.py'} --problem {name} --sets gate,train\n"
                  f"  evolve baseline {name}\n"
                  f"  pytest tests/test_problem_contract.py -k {name}", highlight=False, soft_wrap=True)


@app.command()
def verify(path: Annotated[Path, typer.Argument(help="a policy module (exported or hand-written)")],
           problem: Annotated[str, typer.Option("--problem", help="problem to score it on")],
           sets: Annotated[str, typer.Option(help="comma-separated instance sets")] = "test",
           draw: DrawOption = "public") -> None:
    """Score a policy module through the sandbox and trusted verifier."""
    from evolve.report import baseline_table, evaluate_many

    with user_errors():
        spec = load_problem(problem)
        if not path.is_file():
            raise UserError(f"no file {path}: pass the path of a policy module")
        names = set_names(spec, sets)
        chosen = parse_draw(draw)
        with make_executor(spec, 2, draw=chosen) as executor:
            results = asyncio.run(evaluate_many(executor, spec, {path.name: path.read_text()}, names))
        for (_, s), out in results.items():  # a misspelled name: an error, never a silent bin 0
            if out.ok and (missing := spec.missing_metrics(out.metrics)):
                raise UserError(f"{spec.root / 'problem.toml'} names metric(s) {', '.join(missing)} "
                                f"that the verifier did not return on {s} (it returned "
                                f"{', '.join(sorted(out.metrics))}): fix the names in problem.toml "
                                "or return them from the verifier's score()")
        console.print(baseline_table(spec, results, names, f"{path} on {problem}", console.width))
        if (note := draw_note(spec, names, chosen)) is not None:
            console.print(f"  {note}", highlight=False)
        failed = [f"{s}: {out.error}" for (_, s), out in results.items() if not out.ok]
        if failed:
            raise UserError(f"{path} failed verification: " + "; ".join(failed)[:500])


app.add_typer(llm_app, name="llm")
app.command("ui")(ui_command)


def main() -> None:
    app()

