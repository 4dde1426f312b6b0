"""The ``evolve`` command line: ``main.py`` holds the commands (run, resume, status, export, ...),
``llm.py`` the embedded-model commands, ``ui.py`` the dashboard launcher, ``progress.py`` the live
progress line and ``support.py`` the console and the one-line user errors. This package is the
only part of ``evolve`` that may import the dashboard (tests/test_layers.py)."""


def main() -> None:
    """The console script's entry (imported lazily: the engine imports ``evolve.cli.support``)."""
    from evolve.cli.main import main as run

    run()
