"""How a run's progress is shown: a live bar on a terminal; complete log lines where output is a
file or a pipe (a bar there is cut to 80 columns and repainted into the log)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from evolve.loop import Progress as RunProgress


def status_line(p: RunProgress, total: int) -> str:
    best = "-" if p.best_score is None else f"{p.best_score:.6g}"
    return (f"iteration {p.iterations}/{total} · best {best} · ${p.cost:.4f} · failed {p.failed} · "
            f"rejected {p.rejected} · llm errors {p.llm_errors} · in flight "
            f"{p.proposals_in_flight + p.evaluations_in_flight}")


@contextmanager
def progress_display(console: Console, total: int) -> Iterator[Callable[[RunProgress], None]]:
    """A callback for ``Controller(on_progress=...)`` that shows each event once."""
    seen = [0]

    def messages(p: RunProgress, out: Console) -> None:
        for msg in p.messages[seen[0]:] if len(p.messages) > seen[0] else []:
            out.print(f"[dim]{escape(msg)}[/dim]", highlight=False, soft_wrap=True)
        seen[0] = len(p.messages)

    if not console.is_terminal:
        last = [""]

        def log(p: RunProgress) -> None:
            messages(p, console)
            line = status_line(p, total)
            if line.split(" · in flight")[0] != last[0].split(" · in flight")[0]:
                console.print(line, highlight=False, soft_wrap=True)
            last[0] = line

        yield log
        return
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("best {task.fields[best]} · ${task.fields[cost]} · failed "
                          "{task.fields[failed]} · rejected {task.fields[rejected]} · "
                          "llm errors {task.fields[llm]} · in flight {task.fields[flight]}"),
               TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("iterations", total=total, best="-", cost="0.0000",
                            failed=0, rejected=0, llm=0, flight=0)

        def show(p: RunProgress) -> None:
            messages(p, bar.console)
            bar.update(task, completed=p.iterations,
                       best="-" if p.best_score is None else f"{p.best_score:.6g}",
                       cost=f"{p.cost:.4f}", failed=p.failed, rejected=p.rejected, llm=p.llm_errors,
                       flight=p.proposals_in_flight + p.evaluations_in_flight)

        yield show
