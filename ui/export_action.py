"""The dashboard's export button: run ``evolve export`` in its own process and hand back the files.

The export scores what it must (held-out set, baselines) through the sandbox and stores it, exactly
as the command does; the dashboard process itself stays read-only.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url


@dataclass(frozen=True)
class ExportResult:
    ok: bool
    module: Path
    check: Path
    message: str


def export_dir(url: str, run: str) -> Path:
    """Beside the run's own SQLite archive (runs/NAME/exports), else ./exports/NAME."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return Path(parsed.database).parent / "exports"
    return Path("exports") / run


def export(url: str, run: str, program: int, timeout: float = 900) -> ExportResult:
    out = export_dir(url, run) / f"{run}_program_{program}.py".replace("-", "_")
    cmd = [sys.executable, "-m", "evolve.cli", "export", run, "--program", str(program), "--out",
           str(out), "--with-test", "--db", url]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return ExportResult(False, out, out, f"evolve export did not finish in {timeout:.0f} s")
    message = (res.stdout if res.returncode == 0 else res.stderr).strip().splitlines()
    return ExportResult(res.returncode == 0, out, out.with_name(f"test_{out.stem}.py"),
                        message[-1] if message else f"evolve export exited {res.returncode}")
