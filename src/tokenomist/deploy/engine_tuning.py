"""Engine-specific rules that pick scheduler limits from the workload.

``trtllm_bench_limits`` reproduces how ``trtllm-bench`` sizes ``max_batch_size`` and
``max_num_tokens`` when they are not given (TensorRT-LLM
``tensorrt_llm/bench/build/tuning.py``): enough sequences of ISL + OSL tokens to fill the
KV memory, capped at 4096, and a token budget of batch x (1 + ISL/OSL), capped at 32768,
each rounded up to a coarse grid.
"""

from __future__ import annotations

import math

from tokenomist.arch.accounting import kv_bytes_per_token
from tokenomist.deploy.deployment import Deployment


def _round_batch(bs: float) -> int:
    if bs < 256:
        return max(64, math.ceil(bs / 32) * 32)
    if bs < 1024:
        return math.ceil(bs / 128) * 128
    return math.ceil(bs / 256) * 256


def _round_tokens(tok: float) -> int:
    if tok < 4096:
        return max(2048, math.ceil(tok / 256) * 256)
    if tok < 8192:
        return math.ceil(tok / 512) * 512
    return math.ceil(tok / 1024) * 1024


def trtllm_bench_limits(d: Deployment, isl: int, osl: int,
                        kv_mem_fraction: float = 0.9) -> tuple[int, int]:
    """(max_batch_size, max_num_tokens) that trtllm-bench would choose."""
    total_mem = d.hardware.memory_bytes * d.num_gpus
    weights = d.weight_bytes_per_gpu * d.num_gpus
    per_token = kv_bytes_per_token(d.model, d.kv_dtype)
    kv_req = kv_mem_fraction * (total_mem - weights) / (per_token * (isl + osl))
    raw_bs = min(kv_req, 4096.0) / d.pp
    raw_tok = min(raw_bs * (1 + isl / osl), 32768.0)
    bs = _round_batch(raw_bs)
    tok = _round_tokens(raw_tok)
    if not d.engine.scheduler.chunked_prefill:
        tok = max(tok, isl + bs)
    return bs, tok
