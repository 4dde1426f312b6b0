"""``python -m evolve.cli``: the same as the ``evolve`` console script."""

from evolve.cli.main import main

main()
