"""Cluster generator with fixed seeds, and the source strings that name instance families.

A cluster is ``nodes`` machines drawn from four node types (CPU in millicores, memory in MiB) and
``pods`` pods with CPU/memory requests from a mix of small, medium, large and memory-heavy shapes,
scaled so that the total request of the busier resource is ``load`` x the cluster's capacity
(over-subscribed: not every pod can run), and a priority 0-3 (3 = most important). The first
``old`` share of the pods arrived earlier and were placed by the default scheduler (FIFO, no
preemption, ``kube.fifo_schedule``): those it placed are *running* on their node, the rest and
all later pods are *pending*. List order is arrival order. A source line such as
``"nodes=16 pods=100 seed=1100 count=6"`` names a family; cluster i is generated from seed + i
(the public draw), or from a run's draw and seed + i (evaluators/draws.py).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace

import numpy as np

from evaluators.draws import entropy
from evaluators.pod_packing.kube import fifo_schedule

PRIORITIES = 4
PRIORITY_SHARES = (0.4, 0.3, 0.2, 0.1)  # priority 0 .. 3
NODE_TYPES = ((4000, 16384), (8000, 32768), (16000, 32768), (8000, 65536))  # general S/L, cpu, memory
NODE_SHARES = (0.3, 0.35, 0.15, 0.2)
# pod shape: share, cpu range (m), memory range (MiB), drawn log-uniformly before scaling
SHAPES = ((0.45, (100, 500), (128, 1024)),      # small
          (0.30, (500, 2000), (512, 4096)),     # medium
          (0.10, (2000, 6000), (2048, 12288)),  # large
          (0.15, (250, 1000), (4096, 16384)))   # memory-heavy


@dataclass(frozen=True)
class Params:
    nodes: int = 8
    pods: int = 40
    load: float = 1.3
    old: float = 0.6


@dataclass(frozen=True)
class Pod:
    cpu: int
    mem: int
    priority: int
    node: int | None  # the node it runs on now, None if pending


@dataclass(frozen=True)
class Cluster:
    name: str
    params: Params
    seed: int
    nodes: tuple[tuple[int, int], ...]
    pods: tuple[Pod, ...]

    @property
    def running(self) -> int:
        return sum(p.node is not None for p in self.pods)

    def as_json(self) -> tuple[list[list[int]], list[list]]:
        """What the candidate receives: nodes [[cpu, mem]], pods [[cpu, mem, priority, node|None]]."""
        return ([list(n) for n in self.nodes],
                [[p.cpu, p.mem, p.priority, p.node] for p in self.pods])

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.as_json()).encode()).hexdigest()[:16]


def _log_uniform(rng: np.random.Generator, lo: int, hi: int, size: int) -> np.ndarray:
    return np.exp(rng.uniform(np.log(lo), np.log(hi), size=size))


def generate(params: Params, seed: int, name: str = "", draw: int | None = None) -> Cluster:
    rng = np.random.default_rng(entropy(draw, seed))
    types = rng.choice(len(NODE_TYPES), size=params.nodes, p=NODE_SHARES)
    nodes = tuple(NODE_TYPES[t] for t in types)
    cap = np.array(nodes, dtype=float).sum(axis=0)
    shape = rng.choice(len(SHAPES), size=params.pods, p=[s[0] for s in SHAPES])
    req = np.zeros((params.pods, 2))
    for k, (_, cpu, mem) in enumerate(SHAPES):
        idx = np.flatnonzero(shape == k)
        req[idx, 0] = _log_uniform(rng, *cpu, len(idx))
        req[idx, 1] = _log_uniform(rng, *mem, len(idx))
    req *= params.load / (req.sum(axis=0) / cap).max()
    biggest = np.array(nodes).max(axis=0)
    cpu = np.clip(np.round(req[:, 0] / 10) * 10, 10, biggest[0]).astype(int)
    mem = np.clip(np.round(req[:, 1] / 16) * 16, 16, biggest[1]).astype(int)
    prio = rng.choice(PRIORITIES, size=params.pods, p=PRIORITY_SHARES)
    n_old = round(params.old * params.pods)
    placed = fifo_schedule([(int(c), int(m)) for c, m in zip(cpu[:n_old], mem[:n_old])], nodes)
    placed += [None] * (params.pods - n_old)
    pods = tuple(Pod(int(c), int(m), int(p), n) for c, m, p, n in zip(cpu, mem, prio, placed))
    return Cluster(name, params, seed, nodes, pods)


FIELDS = {"nodes": int, "pods": int, "load": float, "old": float}


def parse_source(source: str) -> tuple[Params, int, int]:
    """``"nodes=16 pods=100 load=1.3 seed=7 count=3"`` -> (params, first seed, count)."""
    params, seed, count = Params(), None, 1
    for field in source.split():
        name, sep, value = field.partition("=")
        if not sep:
            raise ValueError(f"bad field {field!r} in pod_packing source {source!r} (want name=value)")
        if name == "seed":
            seed = int(value)
        elif name == "count":
            count = int(value)
        elif name in FIELDS:
            params = replace(params, **{name: FIELDS[name](value)})
        else:
            raise ValueError(f"unknown field {name!r} in pod_packing source {source!r} "
                             f"(known: {', '.join([*FIELDS, 'seed', 'count'])})")
    if seed is None:
        raise ValueError(f"pod_packing source {source!r} needs seed=")
    if params.nodes < 1 or params.pods < 1 or count < 1 or params.load <= 0 or not 0 <= params.old <= 1:
        raise ValueError(f"pod_packing source {source!r}: nodes, pods, count >= 1, load > 0, 0 <= old <= 1")
    return params, seed, count


def load_source(source: str, draw: int | None = None) -> tuple[Cluster, ...]:
    """The clusters a source names, from its seeds and ``draw`` (None: the public draw)."""
    params, seed, count = parse_source(source)
    tag = f"{params.nodes}n/{params.pods}p" + (f" load {params.load:g}" if params.load != 1.3 else "")
    return tuple(generate(params, seed + i, f"{tag} #{seed + i}", draw) for i in range(count))
