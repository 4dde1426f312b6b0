"""Trusted transaction-scheduling verifier: send a workload, check the order, recompute the makespan.

The candidate receives only the operations of each workload (and ``num_seqs``) and returns an
execution order. This side checks that the reply is a permutation of transaction indices made of
ints, recomputes the makespan with the cost model in ``model.py`` (nothing the candidate claims
is used), and scores it against the workload's provable lower bound and the SMF reference, which
never leave the verifier.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from evaluators.base import Verifier, finite
from evaluators.checks import check_permutation
from evaluators.txn_scheduling.model import Txn, lower_bound, makespan, prepare_all, serial_time
from evaluators.txn_scheduling.smf import smf
from evaluators.txn_scheduling.workloads import Workload, load_source

NUM_SEQS = 10  # the ADRS API's search-effort argument; the SMF reference uses this many starts


@dataclass(frozen=True)
class Case:
    """One workload with its trusted references (only ``workload.as_json()`` goes out)."""

    workload: Workload
    txns: tuple[Txn, ...]
    lower_bound: int
    smf: int
    serial: int

    @property
    def name(self) -> str:
        return self.workload.name

    @property
    def family(self) -> str:
        return self.name.split(" #")[0]


@lru_cache(maxsize=64)
def load_cases(source: str, draw: int | None = None) -> tuple[Case, ...]:
    out = []
    for wl in load_source(source, draw):
        txns = prepare_all(wl.ops)
        out.append(Case(wl, txns, lower_bound(txns), smf(txns, NUM_SEQS)[0], serial_time(txns)))
    return tuple(out)




def score(cases: list[Case], spans: list[int]) -> tuple[dict[str, float], str]:
    """Metrics and feedback from trusted makespans."""
    ratios = [m / c.lower_bound for c, m in zip(cases, spans)]
    metrics = {
        "ratio": math.exp(sum(math.log(r) for r in ratios) / len(ratios)),  # geometric mean
        "makespan": sum(spans) / len(spans),
        "vs_smf": sum(spans) / sum(c.smf for c in cases) - 1,
        "worst_ratio": max(ratios),
        "at_bound": sum(m == c.lower_bound for c, m in zip(cases, spans)) / len(cases),
        "instances": float(len(cases)),
    }
    families: dict[str, list[tuple[Case, int]]] = defaultdict(list)
    for c, m in zip(cases, spans):
        families[c.family].append((c, m))
    per_family = {fam: (math.exp(sum(math.log(m / c.lower_bound) for c, m in rows) / len(rows)),
                        sum(m for _, m in rows) / sum(c.smf for c, _ in rows) - 1)
                  for fam, rows in sorted(families.items())}
    worst_family = max(per_family, key=lambda fam: per_family[fam][1])
    lines = [f"Makespan / lower bound (geometric mean) {metrics['ratio']:.3f}; total makespan "
             f"{100 * metrics['vs_smf']:+.1f}% vs SMF greedy; weakest family vs SMF: {worst_family} "
             f"({100 * per_family[worst_family][1]:+.1f}%)."]
    worst = sorted(zip(cases, spans, ratios), key=lambda cmr: -cmr[2])[:3]
    lines.append("Workloads furthest from their lower bound:")
    lines += [f"  {c.name}: makespan {m} (lower bound {c.lower_bound}, SMF {c.smf}, serial {c.serial})"
              for c, m, _ in worst]
    lines.append("Per family (pattern, Zipf skew, read %): makespan / lower bound, and vs SMF:")
    lines += [f"  {fam}: {r:.3f}, {100 * d:+.1f}% vs SMF" for fam, (r, d) in per_family.items()]
    return finite(metrics), "\n".join(lines)


class TxnSchedulingVerifier(Verifier):
    version = "txn_scheduling-1"
    draws = True

    def load_source(self, name: str, draw: int | None = None) -> Sequence[Case]:
        return load_cases(name, draw)

    def arguments(self, case: Case) -> tuple:
        return case.workload.as_json(), NUM_SEQS

    def accept(self, case: Case, order: object) -> int:
        return makespan(case.txns, check_permutation(order, case.workload.n, call="get_best_schedule()",
                                                        item="transaction"))

    def score(self, instances: list[Case], results: list[int]) -> tuple[dict[str, float], str]:
        return score(instances, results)
