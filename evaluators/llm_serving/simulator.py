"""The trusted discrete-event simulator of one continuously batched LLM server (vLLM / Orca style).

Every iteration runs one forward pass over all running requests: each decoding request produces
one token; requests still in prefill get prefill tokens in admission order up to the prefill
budget (chunked prefill, Sarathi-style; the default budget of 4,096 takes any prompt in one
iteration). A request whose prefill completes produces its first token in that iteration.
Iteration time is ``Server``'s linear model. KV cache is paged: admission reserves the blocks of
the prompt (plus any tokens generated before a preemption, recomputed); a decoding request takes
a new block every 16 tokens; when a decode step finds no free block the simulator preempts the
youngest running request (vLLM's recompute preemption: its KV is dropped, it goes back to the
waiting queue keeping its generated tokens, and must prefill prompt + generated again). Nothing
can exceed the KV budget: admission checks the blocks (keeping a 1% watermark) and the sequence
cap, and every decode block is allocated or paid for by a preemption first.

The policy ``decide(state)`` is called at the start of an iteration only when requests are waiting
and something changed since its last call (an arrival, a completion, a forced preemption). It
returns ids to admit (admitted in its order while they fit; admission stops at the first that does
not), optionally ids to preempt and a new prefill budget (see ``replies.py``). It sees the
predicted output lengths, never the true ones, and never the metrics.

Between events, runs of pure-decode iterations are advanced in closed form (step times form an
arithmetic series, blocks are needed by 16 phase classes), so the cost is per event, not per
iteration. ``fcfs`` and ``bench`` exist for measuring the simulator's own speed in process.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from evaluators.base import InvalidOutput
from evaluators.llm_serving.model import SERVER, Server
from evaluators.llm_serving.replies import parse_reply
from evaluators.llm_serving.workloads import FAMILIES, Workload, generate


@dataclass(frozen=True, eq=False)
class Outcome:
    """Per-request latencies and counters of one workload, measured by the simulator."""

    name: str
    ttft: np.ndarray       # s, arrival -> first token
    tpot: np.ndarray       # s per token after the first (0 for one-token responses)
    # the same, at its worst point of the stream: max over the final token and every token that
    # resumed a preempted request of (its time - first token) / (tokens after the first), so a
    # stall mid-stream shows even when the average recovers by the end (per-token deadlines)
    tpot_peak: np.ndarray
    calls: int             # decide() calls
    preemptions: int       # all of them: forced by the KV budget and asked by the policy
    iterations: int
    makespan: float        # s, until the last request finished


class _Req:
    """Mutable state of one request inside the simulator."""

    __slots__ = ("arrival", "finish", "first", "generated", "join_g", "kv_join", "output", "peak",
                 "phase", "predicted", "preemptions", "prefill_left", "prompt", "reserved", "rid")

    def __init__(self, rid: int, arrival: float, prompt: int, output: int, predicted: int):
        self.rid, self.arrival, self.prompt, self.output = rid, arrival, prompt, output
        self.predicted, self.generated, self.preemptions = predicted, 0, 0
        self.first = self.finish = -1.0
        self.peak = 0.0  # worst (time since first token) / (tokens since) at a resumed token
        self.prefill_left = self.reserved = self.kv_join = self.phase = 0
        self.join_g = -1   # >= 0 while decoding: the global iteration it started decoding at


class _Sim:
    def __init__(self, wl: Workload, decide: Callable[[dict], object], server: Server):
        self.server, self.decide, self.name = server, decide, wl.name
        self.reqs = [_Req(i, a, p, o, q) for i, (a, p, o, q) in enumerate(zip(
            wl.arrival.tolist(), wl.prompt.tolist(), wl.output.tolist(), wl.predicted.tolist()))]
        self.t, self.g, self.free, self.budget = 0.0, 0, server.blocks, server.prefill_budget
        self.next_arrival, self.done = 0, 0
        self.waiting: dict[int, list] = {}     # id -> row shown to the policy, in arrival order
        self.running: dict[int, _Req] = {}     # admission order: the youngest is last
        self.prefilling: dict[int, _Req] = {}  # running requests still in prefill
        self.n_dec = self.ctx = 0              # decoding requests and the KV tokens they attend to
        self.phases = [0] * server.block_tokens
        self.heap: list[tuple[int, int, int]] = []  # (iteration a decoder finishes in, id, epoch)
        self.changed, self.calls, self.preemptions, self.iterations = False, 0, 0, 0

    # -- bookkeeping ------------------------------------------------------------------------
    def kv(self, r: _Req) -> int:
        return r.kv_join + self.g - r.join_g

    def held(self, r: _Req) -> int:
        return self.server.blocks_for(self.kv(r) - 1) if r.join_g >= 0 else r.reserved

    def start_decoding(self, r: _Req) -> None:
        r.kv_join, r.join_g = r.prompt + r.generated, self.g
        r.phase = (r.kv_join - self.g) % self.server.block_tokens
        self.n_dec += 1
        self.ctx += r.kv_join
        self.phases[r.phase] += 1
        heapq.heappush(self.heap, (self.g + r.output - r.generated - 1, r.rid, r.preemptions))

    def stop_decoding(self, r: _Req) -> None:
        r.generated = self.kv(r) - r.prompt
        self.n_dec -= 1
        self.ctx -= self.kv(r)
        self.phases[r.phase] -= 1
        r.join_g = -1

    def release(self, r: _Req) -> None:
        self.free += self.held(r)
        if r.join_g >= 0:
            self.stop_decoding(r)
        else:
            del self.prefilling[r.rid]
        del self.running[r.rid]

    def finish(self, r: _Req) -> None:
        self.release(r)
        r.finish = self.t
        self.done += 1
        self.changed = True

    def preempt(self, r: _Req, forced: bool) -> None:
        """Back to the waiting queue; a forced one is news for the policy, its own choice is not."""
        self.release(r)
        r.preemptions += 1
        self.preemptions += 1
        self.changed = self.changed or forced
        row = [r.rid, r.arrival, r.prompt, r.predicted, r.generated, r.preemptions]
        rows = sorted([*self.waiting.values(), row], key=lambda w: (w[1], w[0]))
        self.waiting = {w[0]: w for w in rows}

    def admit(self, rid: int) -> bool:
        r, s = self.reqs[rid], self.server
        tokens = r.prompt + r.generated
        need = s.blocks_for(tokens)
        if len(self.running) >= s.max_seqs or need > self.free - s.watermark:
            return False
        del self.waiting[rid]
        self.free -= need
        r.reserved, r.prefill_left = need, tokens
        self.running[rid] = self.prefilling[rid] = r
        return True

    # -- the policy -------------------------------------------------------------------------
    def state(self) -> dict:
        s = self.server
        running = [[r.rid, r.prompt, r.predicted, self.kv(r) - r.prompt, 0] if r.join_g >= 0 else
                   [r.rid, r.prompt, r.predicted, r.generated, r.prefill_left]
                   for r in self.running.values()]
        return {"now": self.t, "free_blocks": self.free, "total_blocks": s.blocks,
                "block_tokens": s.block_tokens, "watermark": s.watermark, "max_seqs": s.max_seqs,
                "prefill_budget": self.budget, "waiting": list(self.waiting.values()),
                "running": running}

    def consult(self) -> None:
        self.calls += 1
        self.changed = False
        when = f"t={self.t:.3f} s (call {self.calls})"
        decision = parse_reply(self.decide(self.state()), self.waiting, self.running, when,
                               (self.server.min_budget, self.server.max_budget))
        for rid in decision.preempt:
            self.preempt(self.running[rid], forced=False)
        if decision.prefill_budget is not None:
            self.budget = decision.prefill_budget
        for rid in decision.admit:
            if not self.admit(rid):
                break

    # -- iterations -------------------------------------------------------------------------
    def need_at(self, g: int) -> int:
        """Decoders that need a new KV block in iteration ``g``."""
        return self.phases[(1 - g) % self.server.block_tokens]

    def step_once(self) -> None:
        """One general iteration: forced preemptions, chunked prefill, decode, completions."""
        s = self.server
        need = self.need_at(self.g)
        while need > self.free:
            victim = self.running[next(reversed(self.running))]
            if victim.join_g >= 0 and (victim.phase + self.g) % s.block_tokens == 1:
                need -= 1
            self.preempt(victim, forced=True)
        if not self.running:
            return
        self.free -= need
        left, chunks = self.budget, []
        for r in self.prefilling.values():
            if left == 0:
                break
            c = min(r.prefill_left, left)
            chunks.append((r, c))
            left -= c
        prefill = self.budget - left
        self.t += s.c0 + s.c_p * prefill + s.c_d * self.n_dec + s.c_kv * self.ctx
        self.advance(1)
        for r, c in chunks:
            r.prefill_left -= c
            if r.prefill_left == 0:
                r.generated += 1
                if r.first < 0:
                    r.first = self.t
                else:  # a preempted request's next token: how far behind its pace is the stream?
                    r.peak = max(r.peak, (self.t - r.first) / (r.generated - 1))
                if r.generated >= r.output:
                    self.finish(r)
                else:
                    del self.prefilling[r.rid]
                    self.start_decoding(r)

    def advance(self, k: int) -> None:
        """Close ``k`` iterations (time already added): decoders grow, those done finish."""
        self.ctx += self.n_dec * k
        self.g += k
        self.iterations += k
        heap = self.heap
        while heap and heap[0][0] < self.g:
            _, rid, epoch = heapq.heappop(heap)
            r = self.reqs[rid]
            if r.join_g >= 0 and r.preemptions == epoch:
                self.finish(r)

    def decode_run(self) -> int:
        """Pure-decode iterations that can run before the next event (0: a shortage comes first)."""
        s, heap = self.server, self.heap
        while heap:   # drop entries of requests preempted since they were pushed
            _, rid, epoch = heap[0]
            r = self.reqs[rid]
            if r.join_g >= 0 and r.preemptions == epoch:
                break
            heapq.heappop(heap)
        k = heap[0][0] - self.g + 1
        n, bt = self.n_dec, s.block_tokens
        cycles = self.free // n
        total = cycles * n
        for j in range(bt):
            total += self.need_at(self.g + j)
            if total > self.free:
                k = min(k, cycles * bt + j)
                break
        if self.next_arrival < len(self.reqs) and k > 0:
            k = min(k, self.iterations_until(self.reqs[self.next_arrival].arrival))
        return k

    def run_time(self, k: int) -> float:
        s, n = self.server, self.n_dec
        return k * (s.c0 + s.c_d * n + s.c_kv * self.ctx) + s.c_kv * n * k * (k - 1) / 2

    def iterations_until(self, when: float) -> int:
        """The fewest pure-decode iterations after which the clock has reached ``when``."""
        s, n, gap = self.server, self.n_dec, when - self.t
        a = s.c_kv * n / 2
        b = s.c0 + s.c_d * n + s.c_kv * self.ctx - a
        k = max(1, math.ceil(gap / b if a == 0 else (-b + math.sqrt(b * b + 4 * a * gap)) / (2 * a)))
        while k > 1 and self.t + self.run_time(k - 1) >= when:
            k -= 1
        while self.t + self.run_time(k) < when:
            k += 1
        return k

    def decode_bulk(self, k: int) -> None:
        n, bt = self.n_dec, self.server.block_tokens
        blocks = (k // bt) * n + sum(self.need_at(self.g + j) for j in range(k % bt))
        self.t += self.run_time(k)
        self.free -= blocks
        self.advance(k)

    # -- the driver -------------------------------------------------------------------------
    def run(self) -> Outcome:
        reqs, total = self.reqs, len(self.reqs)
        while self.done < total:
            while self.next_arrival < total and reqs[self.next_arrival].arrival <= self.t:
                r = reqs[self.next_arrival]
                self.waiting[r.rid] = [r.rid, r.arrival, r.prompt, r.predicted, 0, 0]
                self.next_arrival += 1
                self.changed = True
            if self.waiting and self.changed:
                self.consult()
            if not self.running:
                if self.next_arrival < total:
                    self.t = max(self.t, reqs[self.next_arrival].arrival)
                    continue
                raise InvalidOutput(f"the server is idle at t={self.t:.3f} s with {len(self.waiting)} "
                                    "request(s) waiting and no further arrivals: schedule() must admit "
                                    "a request when nothing is running")
            if self.prefilling:
                self.step_once()
                continue
            k = self.decode_run()
            if k == 0:
                self.step_once()
            else:
                self.decode_bulk(k)
        return self.outcome()

    def outcome(self) -> Outcome:
        first = np.array([r.first for r in self.reqs])
        finish = np.array([r.finish for r in self.reqs])
        arrival = np.array([r.arrival for r in self.reqs])
        output = np.array([r.output for r in self.reqs])
        tpot = np.where(output > 1, (finish - first) / np.maximum(output - 1, 1), 0.0)
        peak = np.maximum(tpot, np.array([r.peak for r in self.reqs]))
        return Outcome(name=self.name, ttft=first - arrival, tpot=tpot, tpot_peak=peak, calls=self.calls,
                       preemptions=self.preemptions, iterations=self.iterations,
                       makespan=float(finish.max()))


def simulate(wl: Workload, decide: Callable[[dict], object], server: Server = SERVER) -> Outcome:
    """Serve every request of ``wl``; ``decide(state)`` returns the policy's raw reply."""
    largest = int((wl.prompt + wl.output).max())
    if server.blocks_for(largest) > server.blocks - server.watermark:
        raise ValueError(f"{wl.name}: a request of {largest} tokens cannot fit in the KV cache alone")
    return _Sim(wl, decide, server).run()


def fcfs(state: dict) -> list[int]:
    """vLLM's default rule, in process, for measuring the simulator only: all waiting, in order."""
    return [row[0] for row in state["waiting"]]


def bench(requests: int = 2000, rate: float = 4.0, seed: int = 7) -> dict[str, float]:
    """Simulator throughput with the in-process FCFS rule: requests per second of wall time."""
    wl = generate(FAMILIES["chat"], seed, rate, requests)
    policy = [0.0]

    def timed(state: dict) -> list[int]:
        started = time.perf_counter()
        reply = fcfs(state)
        policy[0] += time.perf_counter() - started
        return reply

    started = time.perf_counter()
    out = simulate(wl, timed)
    wall = time.perf_counter() - started
    return {"requests": requests, "seconds": wall, "requests_per_s": requests / wall,
            "requests_per_s_without_policy": requests / (wall - policy[0]), "calls": out.calls,
            "iterations": out.iterations}
