"""Why a run stopped, as data: the kind decides what happens next (a finished run is reported,
an abandoning stop cancels the work in flight), the message is what people read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

StopKind = Literal["iterations", "plateau", "target", "budget", "wall", "interrupted", "fatal"]


@dataclass(frozen=True)
class Stop:
    kind: StopKind
    message: str

    @property
    def finished(self) -> bool:
        """The run did what it was asked (its status becomes ``finished``, not ``stopped``)."""
        return self.kind in ("iterations", "plateau")

    @property
    def abandons(self) -> bool:
        """Work in flight is cancelled rather than awaited (it is redone on resume)."""
        return self.kind in ("interrupted", "wall", "fatal")
