"""The server model and the SLOs: one Llama-2-7B replica on one A100-80GB (constants documented).

Step time of one iteration (a continuous-batching forward pass) is linear in its work:
``c0 + c_p * prefill_tokens + c_d * decode_seqs + c_kv * context_tokens`` (seconds), with
``context_tokens`` the KV-cache tokens the decoding sequences attend to. c0, c_p and c_kv are the
roofline estimates of NOTES section 3 (7 ms weight read, 0.072 ms per prefill token, 0.26 us per
KV token read); c_d = 0.1 ms per decoding sequence (sampling, scheduling and the decode GEMV work
above the weight-read floor) is our choice. KV cache: 0.5 MiB per token, 40 GiB reserved for it,
paged in blocks of 16 tokens -> 5,120 blocks; vLLM keeps 1% of them free as a watermark when it
admits.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB_PER_TOKEN = 0.5
KV_GIB = 40


@dataclass(frozen=True)
class Server:
    c0: float = 7e-3             # s per iteration
    c_p: float = 0.072e-3        # s per prefill token
    c_d: float = 0.1e-3          # s per decoding sequence
    c_kv: float = 0.26e-6        # s per KV-cache token attended by decoding sequences
    block_tokens: int = 16
    blocks: int = int(KV_GIB * 1024 / MIB_PER_TOKEN) // 16   # 5,120
    watermark: int = 51          # blocks kept free at admission (1%, vLLM)
    max_seqs: int = 256          # running sequences at most (vLLM max_num_seqs)
    prefill_budget: int = 4096   # default prefill tokens per iteration (Llama-2 context length)
    min_budget: int = 32
    max_budget: int = 16384

    def blocks_for(self, tokens: int) -> int:
        return -(-tokens // self.block_tokens)


SERVER = Server()


@dataclass(frozen=True)
class Slo:
    """A request meets its SLO when both hold (DistServe's attainment and goodput use this)."""

    ttft: float = 2.0    # s from arrival to the first output token
    tpot: float = 0.1    # s per output token after the first, averaged over the request


SLO = Slo()
GOODPUT_ATTAINMENT = 0.9   # goodput: the highest rate at which at least 90% of requests meet the SLO
