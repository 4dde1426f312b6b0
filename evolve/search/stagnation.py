"""Stagnation: islands whose best stopped improving (restarted from the run's best) and the run's
plateau (an early stop).

Counts live in memory; a resumed run counts from where it resumed (a restart or a plateau stop
never comes sooner than configured, only later).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Stagnation:
    restart_after: int  # an island's proposals without a better island best (0: never restart)
    plateau: int | None  # the run's iterations without a better run best (None: no early stop)
    best_at: int = 0  # iteration count when the run's best last improved (or the run resumed)
    stale: dict[int, int] = field(default_factory=dict)  # island -> proposals since its best rose

    def proposed(self, island: int) -> bool:
        """Count a proposal from ``island``; whether the island is due for a restart (the count
        then starts again, whether or not the caller restarts it)."""
        self.stale[island] = self.stale.get(island, 0) + 1
        if self.restart_after and self.stale[island] > self.restart_after:
            self.stale[island] = 1
            return True
        return False

    def island_improved(self, island: int) -> None:
        self.stale[island] = 0

    def run_improved(self, iterations: int) -> None:
        self.best_at = iterations

    def plateau_reason(self, iterations: int) -> str | None:
        if self.plateau is not None and iterations - self.best_at >= self.plateau:
            return (f"plateau: no better program in the last {self.plateau} iterations "
                    f"(best since iteration {self.best_at})")
        return None
