"""Trusted metrics from simulated outcomes: SLO attainment, TTFT / TPOT percentiles, goodput.

A request meets its SLO when TTFT <= ``SLO.ttft`` and its stream keeps the TPOT pace at every
token: TPOT counted from the first token to any later token, at its worst (``tpot_peak``: the
final token and every token that resumed a preempted request), <= ``SLO.tpot``. The average over
the whole response alone let a policy stall streams mid-way and catch up by the end (issue 19,
finding 1): per-token deadlines, as in Andes (Liu et al., 2024, "Andes: Defining and Enhancing
Quality-of-Experience in LLM-Based Text Streaming Services"). Attainment of a
workload is the share of its requests that meet it; the set's fitness is the mean attainment over
its (workload, rate) pairs. Goodput (DistServe) is the highest rate of the set at which at least
90% of the requests of every workload family meet the SLO (pooled over seeds), averaged over
families; 0 when no rate qualifies. Percentiles pool every request of the set.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from evaluators.llm_serving.model import GOODPUT_ATTAINMENT, SLO, Slo
from evaluators.llm_serving.simulator import Outcome
from evaluators.llm_serving.workloads import Workload


def met(out: Outcome, slo: Slo = SLO) -> np.ndarray:
    return (out.ttft <= slo.ttft) & (out.tpot_peak <= slo.tpot)


def attainment(out: Outcome, slo: Slo = SLO) -> float:
    return float(met(out, slo).mean())


def goodput(workloads: list[Workload], outcomes: list[Outcome], slo: Slo = SLO) -> float:
    """Mean over families of the highest rate whose pooled attainment is >= 90%."""
    hits: dict[str, dict[float, list[np.ndarray]]] = defaultdict(lambda: defaultdict(list))
    for wl, out in zip(workloads, outcomes):
        hits[wl.family][wl.rate].append(met(out, slo))
    best = []
    for rates in hits.values():
        ok = [rate for rate, parts in rates.items() if np.concatenate(parts).mean() >= GOODPUT_ATTAINMENT]
        best.append(max(ok, default=0.0))
    return float(np.mean(best))


def summarize(workloads: list[Workload], outcomes: list[Outcome]) -> dict[str, float]:
    per = np.array([attainment(o) for o in outcomes])
    ttft = np.concatenate([o.ttft for o in outcomes])
    tpot = np.concatenate([o.tpot for o in outcomes])
    peak = np.concatenate([o.tpot_peak for o in outcomes])
    requests = sum(w.size for w in workloads)
    return {
        "slo_attainment": float(per.mean()),
        "worst_attainment": float(per.min()),
        "goodput": goodput(workloads, outcomes),
        "ttft_p50": float(np.percentile(ttft, 50)),
        "ttft_p99": float(np.percentile(ttft, 99)),
        "tpot_p50": float(np.percentile(tpot, 50)),
        "tpot_p99": float(np.percentile(tpot, 99)),
        "ttft_ok": float((ttft <= SLO.ttft).mean()),
        "tpot_ok": float((peak <= SLO.tpot).mean()),
        # streams whose average TPOT meets the SLO but that fell behind its pace mid-way
        "stalled": float(((tpot <= SLO.tpot) & (peak > SLO.tpot)).mean()),
        "preemptions_per_request": sum(o.preemptions for o in outcomes) / requests,
        "calls": float(sum(o.calls for o in outcomes)),
        "requests": float(requests),
    }
