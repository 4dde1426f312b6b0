"""EPLB placements: strict validation of a candidate's ``phy2log`` and the balance it achieves.

``phy2log[l][s]`` is the logical expert held by physical slot ``s`` of layer ``l``; slot ``s``
lives on GPU ``s // slots_per_gpu``. The replica count of every expert (``logcnt``) is derived
here from ``phy2log``, never taken from the candidate. An expert's load is split evenly over its
replicas; a GPU's load is the sum over its slots. Balance is measured per GPU (the unit that
waits for the slowest), not per slot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evaluators.base import InvalidOutput
from evaluators.moe_eplb.instances import Config

SHOWN = 5  # offending items named in an error message


def check_phy2log(value: object, cfg: Config) -> np.ndarray:
    """The candidate's reply as an int array [L, R], or InvalidOutput naming what is wrong."""
    want = f"phy2log: a list of {cfg.layers} lists (one per layer) of {cfg.replicas} ints in " \
           f"[0, {cfg.experts})"
    if not isinstance(value, list):
        raise InvalidOutput(f"rebalance_experts must return {want}; got {type(value).__name__}")
    if value and isinstance(value[0], list) and value[0] and isinstance(value[0][0], list):
        raise InvalidOutput(f"rebalance_experts must return only {want}; got a list of nested lists "
                            "(return phy2log alone, not a (phy2log, log2phy, logcnt) tuple)")
    if len(value) != cfg.layers:
        raise InvalidOutput(f"rebalance_experts returned {len(value)} rows; expected {want}")
    for layer, row in enumerate(value):
        if not isinstance(row, list) or len(row) != cfg.replicas:
            got = f"{len(row)} slots" if isinstance(row, list) else type(row).__name__
            raise InvalidOutput(f"layer {layer}: got {got}; expected {cfg.replicas} slots "
                                f"({cfg.slots_per_gpu} per GPU x {cfg.gpus} GPUs)")
        bad = [s for s, x in enumerate(row) if type(x) is not int or not 0 <= x < cfg.experts]
        if bad:
            s, x = bad[0], row[bad[0]]
            if type(x) is not int:
                raise InvalidOutput(f"layer {layer} slot {s}: {x!r} ({type(x).__name__}) is not an int "
                                    f"expert id; expected {want}")
            raise InvalidOutput(f"layer {layer} slot {s}: expert id {x} is out of range "
                                f"[0, {cfg.experts})")
    arr = np.array(value, dtype=np.int64)
    counts = replica_counts(arr, cfg.experts)
    missing = np.argwhere(counts == 0)
    if len(missing):
        layer = missing[0, 0]
        ids = np.flatnonzero(counts[layer] == 0)
        raise InvalidOutput(f"layer {layer}: experts {ids[:SHOWN].tolist()}"
                            f"{' ...' if len(ids) > SHOWN else ''} ({len(ids)} in all) have no "
                            "replica; every expert needs at least one slot")
    return arr


def replica_counts(phy2log: np.ndarray, experts: int) -> np.ndarray:
    """logcnt [L, E]: how many slots of each layer hold each expert."""
    layers = phy2log.shape[0]
    flat = phy2log + experts * np.arange(layers)[:, None]
    return np.bincount(flat.ravel(), minlength=layers * experts).reshape(layers, experts)


def slot_loads(phy2log: np.ndarray, load: np.ndarray) -> np.ndarray:
    """[L, R] load of each physical slot: its expert's load split evenly over that expert's replicas."""
    counts = replica_counts(phy2log, load.shape[1])
    rows = np.arange(phy2log.shape[0])[:, None]
    return load[rows, phy2log] / counts[rows, phy2log]


def gpu_loads(phy2log: np.ndarray, load: np.ndarray, gpus: int) -> np.ndarray:
    """[L, num_gpus] load of each GPU: the sum over its consecutive block of slots."""
    slots = slot_loads(phy2log, load)
    return slots.reshape(slots.shape[0], gpus, -1).sum(axis=2)


def balancedness(units: np.ndarray) -> np.ndarray:
    """Per layer: mean over units / max over units (1 = perfectly balanced; all-zero rows count as 1)."""
    peak = units.max(axis=1)
    return np.where(peak > 0, units.mean(axis=1) / np.where(peak > 0, peak, 1.0), 1.0)


@dataclass(frozen=True, eq=False)
class Placement:
    """The trusted evaluation of one case: per-layer balance and the candidate's CPU time."""

    gpu: np.ndarray  # [L] per-GPU balancedness on the next window (the fitness)
    slot: np.ndarray  # [L] per-slot balancedness on the next window (the public evaluator's unit)
    in_sample: np.ndarray  # [L] per-GPU balancedness on the window the plan was computed from
    cpu_ms: float  # the candidate's CPU time for this call, kernel accounting
    load_ms: float = 0.0  # CPU its module-level code took when loaded (once per session)


def evaluate(phy2log: np.ndarray, cfg: Config, seen: np.ndarray, future: np.ndarray,
             cpu_ms: float, load_ms: float = 0.0) -> Placement:
    return Placement(gpu=balancedness(gpu_loads(phy2log, future, cfg.gpus)),
                     slot=balancedness(slot_loads(phy2log, future)),
                     in_sample=balancedness(gpu_loads(phy2log, seen, cfg.gpus)), cpu_ms=cpu_ms,
                     load_ms=load_ms)
