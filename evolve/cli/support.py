"""What every ``evolve`` command shares: consoles and the one-red-line user error (exit 2)."""

from __future__ import annotations

from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

from evaluators.problem import ProblemError, ProblemSpec
from evolve.config import ConfigError
from evolve.executors.base import ExecutorError
from evolve.runs import RunSetupError

console = Console()
err_console = Console(stderr=True)


class UserError(Exception):
    pass


@contextmanager
def user_errors():
    try:
        yield
    except (ConfigError, ProblemError, RunSetupError, UserError, ExecutorError) as exc:
        for line in str(exc).splitlines():
            err_console.print(f"[red]error:[/red] {escape(line)}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def set_names(spec: ProblemSpec, sets: str) -> list[str]:
    """Parse a comma-separated list of instance sets of ``spec``; unknown names are an error."""
    names = [s.strip() for s in sets.split(",") if s.strip()]
    unknown = [s for s in names if s not in spec.sets]
    if unknown:
        raise UserError(f"unknown set(s) {', '.join(unknown)} for {spec.name}: "
                        f"choose from {', '.join(spec.sets)}")
    return names


def parse_draw(value: str) -> int | None:
    """``--draw``: public (None, the README tables' instances), random (a fresh draw) or a number."""
    from evaluators.draws import chosen_draw_error, new_draw

    if value == "public":
        return None
    if value == "random":
        return new_draw()
    if not value.isdigit():
        raise UserError(f"--draw {value!r}: use public (the README tables' instances), random (a "
                        "fresh draw) or a number random drew (e.g. a run's draw from `evolve status`)")
    if why := chosen_draw_error(int(value)):
        raise UserError(f"--draw: {why}")
    return int(value)


def draw_note(spec: ProblemSpec, names: list[str], draw: int | None) -> str | None:
    """Which instances the drawn sets among ``names`` held, or None if none of them is drawn."""
    from evaluators.draws import describe

    drawn = [s for s in names if spec.sets[s].drawn]
    if not drawn:
        return None
    return f"drawn set(s) {', '.join(drawn)}: {describe(draw)}" + (
        "; rerun with --draw random to score on instances no candidate could know" if draw is None else "")
