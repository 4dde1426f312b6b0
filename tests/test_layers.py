"""The packages' layers: the sandbox imports nothing of the product; the verifiers (evaluators/)
import the sandbox but never the engine (evolve/) or the dashboard (ui/); the engine never
imports the dashboard. An import against these arrows is a cycle in the making, and a verifier
that reaches into the engine is trusted code depending on untrusted-facing code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"sandbox": {"evolve", "evaluators", "ui", "bench"},
             "evaluators": {"evolve", "ui", "bench"},
             "evolve": {"ui", "bench"}}
ALLOWED = {("evolve", "cli")}  # the command line starts the dashboard


def imported_packages(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


@pytest.mark.parametrize("package", FORBIDDEN)
def test_no_import_points_up_a_layer(package):
    wrong = [f"{f.relative_to(ROOT)} imports {sorted(imported_packages(f) & FORBIDDEN[package])}"
             for f in sorted((ROOT / package).rglob("*.py"))
             if imported_packages(f) & FORBIDDEN[package] and f.relative_to(ROOT).parts[:2] not in ALLOWED]
    assert not wrong, wrong


def test_the_scan_sees_an_import_inside_a_function(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from evolve.loop import run\n    import ui.app\n")
    assert imported_packages(f) == {"evolve", "ui"}
