"""The evolution loop: ``Controller`` (controller.py) drives a run; the other modules of this
package are its parts (see controller.py's docstring). ``from evolve.loop import Controller``."""

from evolve.loop.base import Progress, RunFailed
from evolve.loop.controller import Controller

__all__ = ["Controller", "Progress", "RunFailed"]
