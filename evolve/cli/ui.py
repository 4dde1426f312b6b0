"""``evolve ui``: start the Streamlit dashboard on an archive (read-only)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from evolve.cli.support import UserError, console, user_errors


def ui_command(db: Annotated[Optional[str], typer.Option(
                   "--db", help="archive URL or path to an archive.db (default: every run under "
                           "--runs-dir)")] = None,
               runs_dir: Annotated[Path, typer.Option(
                   "--runs-dir", help="folder holding runs/<name>/archive.db")] = Path("runs"),
               port: Annotated[int, typer.Option(help="port of the dashboard")] = 8501,
               host: Annotated[str, typer.Option(help="address to listen on (0.0.0.0: every "
                                                      "interface)")] = "127.0.0.1") -> None:
    """Open the dashboard: runs, score curves, lineage, programs, MAP-Elites, baselines, export."""
    import ui
    from evolve.llm.embedded.local_server import port_open
    from ui.readonly import ArchiveUnavailable, readonly_engine, sources

    with user_errors():
        found = sources(db, runs_dir)
        if db:
            db = found[0].url  # a path to an archive.db becomes its URL
            try:
                readonly_engine(db)
            except ArchiveUnavailable as exc:
                raise UserError(str(exc)) from None
        elif not found:
            console.print(f"[yellow]note:[/yellow] no runs under {runs_dir} yet; the dashboard lists "
                          "them as they appear (or pass --runs-dir / --db)")
        if port_open(port):
            raise UserError(f"port {port} is already in use: pass another --port")
        app = Path(ui.__file__).with_name("app.py")
        env = {**os.environ, "EVOLVE_UI_DB": db or "", "EVOLVE_UI_RUNS_DIR": str(runs_dir.resolve())}
        shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
        console.print(f"dashboard on http://{shown}:{port} · {len(found)} archive(s) · Ctrl-C stops")
        cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
               "--server.address", host, "--server.headless", "true",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
               "--client.toolbarMode", "minimal", "--theme.base", "light"]
        os.execve(sys.executable, cmd, env)
