"""Disaggregated prefill and decode against co-located serving, under SLOs.

Co-located, every replica interleaves prefill chunks with decodes: a step that carries a
chunk is slower for every decoding sequence, so a tight TPOT objective forces fewer
requests in flight. Disaggregated, prefill replicas only prefill (full-budget steps, no
decodes) and ship each prompt's KV cache over the network to decode replicas, which only
decode: TPOT is the pure decode step, at the price of a KV transfer in the TTFT and of
sizing two pools. For each decode concurrency within the TPOT objective the best integer
ratio of prefill to decode replicas (up to ``max_instances`` each) is the one that gives
the most output tokens per second per GPU with the TTFT objective met.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tokenomist.arch.accounting import kv_bytes_per_token
from tokenomist.deploy.deployment import Deployment
from tokenomist.errors import InvalidValueError
from tokenomist.perf.steady_state import (
    decode_capacity,
    md1_p99_wait,
    prefill_capacity,
    steady_state,
)
from tokenomist.plan.search import CONCURRENCY
from tokenomist.plan.workload import SLO, Workload

# per-GPU network bandwidth for KV transfers between nodes: 400 Gb/s (one ConnectX-7 NIC
# per GPU, as in DGX H100 / H200 nodes)
DEFAULT_TRANSFER_GBPS = 50.0


@dataclass(frozen=True)
class ServingOption:
    kind: str  # "co-located" or "disaggregated"
    gpus: int  # GPUs of the unit described (one replica, or the prefill+decode group)
    requests_per_s: float
    output_tokens_per_s_per_gpu: float
    ttft_p99_s: float
    tpot_s: float
    detail: str

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Comparison:
    colocated: ServingOption | None
    disaggregated: ServingOption | None
    verdict: str


def best_colocated(d: Deployment, workload: Workload, slo: SLO,
                   concurrency: tuple[int, ...] = CONCURRENCY) -> ServingOption | None:
    ss = steady_state(d, workload.mean_input, workload.mean_output, concurrency,
                      prefix_hit_rate=workload.prefix_hit_rate)
    ok = slo.meets(ss.ttft_p99_s, ss.tpot_s)
    if not np.any(ok):
        return None
    per_gpu = np.where(ok, ss.output_tokens_per_s_per_gpu, -np.inf)
    k = int(np.argmax(per_gpu))
    return ServingOption(
        kind="co-located", gpus=d.num_gpus, requests_per_s=float(ss.requests_per_s[k]),
        output_tokens_per_s_per_gpu=float(per_gpu[k]), ttft_p99_s=float(ss.ttft_p99_s[k]),
        tpot_s=float(ss.tpot_s[k]),
        detail=f"{int(ss.concurrency[k])} requests in flight per replica; "
               f"{ss.prefill_step_share[k]:.0%} of steps carry a prefill chunk "
               f"({ss.mixed_step_s[k] * 1e3:.1f} ms vs {ss.decode_step_s[k] * 1e3:.1f} ms)")


def best_disaggregated(prefill: Deployment, decode: Deployment, workload: Workload,
                       slo: SLO, *, transfer_gbps: float = DEFAULT_TRANSFER_GBPS,
                       max_instances: int = 8,
                       concurrency: tuple[int, ...] = CONCURRENCY) -> ServingOption | None:
    if not transfer_gbps > 0:
        raise InvalidValueError("transfer bandwidth must be positive")
    if max_instances < 1:
        raise InvalidValueError(f"max_instances must be at least 1, got {max_instances}")
    i_tok, o_tok = workload.mean_input, workload.mean_output
    pc = prefill_capacity(prefill, i_tok, prefix_hit_rate=workload.prefix_hit_rate)
    dc = decode_capacity(decode, i_tok, o_tok, concurrency)
    kv = kv_bytes_per_token(prefill.model, prefill.kv_dtype) * i_tok
    transfer = kv_transfer_s(prefill, i_tok, transfer_gbps)
    rho = np.linspace(0.02, 0.98, 49)
    # prefill pools of n_p replicas: the highest load whose p99 TTFT meets the SLO
    pools = []
    for n_p in range(1, max_instances + 1):
        service = pc.service_s / n_p  # the pool as one faster server
        p99 = transfer + pc.service_s + md1_p99_wait(service, rho)
        ok = p99 <= slo.ttft_p99_s if slo.ttft_p99_s is not None else np.ones_like(rho, bool)
        if np.any(ok):
            j = int(np.nonzero(ok)[0][-1])
            pools.append((n_p, n_p * pc.requests_per_s * float(rho[j]), float(p99[j])))
    best: ServingOption | None = None
    for k in range(dc.concurrency.size):
        if slo.tpot_limit_s is not None and dc.tpot_s[k] > slo.tpot_limit_s:
            continue
        lam_d = float(dc.requests_per_s[k])
        for n_p, lam_p, ttft_p99 in pools:
            for n_d in range(1, max_instances + 1):
                lam = min(lam_p, n_d * lam_d)
                gpus = n_p * prefill.num_gpus + n_d * decode.num_gpus
                per_gpu = lam * o_tok / gpus
                if best is None or per_gpu > best.output_tokens_per_s_per_gpu:
                    best = ServingOption(
                        kind="disaggregated", gpus=gpus, requests_per_s=lam,
                        output_tokens_per_s_per_gpu=per_gpu, ttft_p99_s=ttft_p99,
                        tpot_s=float(dc.tpot_s[k]),
                        detail=f"{n_p} prefill x {prefill.num_gpus} GPUs : {n_d} decode x "
                               f"{decode.num_gpus} GPUs, {int(dc.running[k])} in flight per "
                               f"decode replica; KV transfer {transfer * 1e3:.0f} ms "
                               f"({kv / 1e6:.0f} MB at {transfer_gbps:g} GB/s per GPU)")
    return best


def compare(d: Deployment, workload: Workload, slo: SLO, *,
            prefill: Deployment | None = None, decode: Deployment | None = None,
            transfer_gbps: float = DEFAULT_TRANSFER_GBPS, max_instances: int = 8
            ) -> Comparison:
    """Co-located ``d`` against prefill and decode pools (``d``'s layout by default)."""
    # (the pools first: they check their arguments before any steady state is solved)
    dis = best_disaggregated(prefill or d, decode or d, workload, slo,
                             transfer_gbps=transfer_gbps, max_instances=max_instances)
    col = best_colocated(d, workload, slo)
    within = f"within {slo.describe()}" if not slo.empty else "without SLOs"
    if col is None and dis is None:
        verdict = f"neither meets {slo.describe()}"
    elif col is None:
        verdict = (f"only disaggregated serving meets {slo.describe()}: co-located steps "
                   "that carry prefill chunks are too slow for the TPOT objective")
    elif dis is None:
        verdict = f"only co-located serving meets {slo.describe()}"
    else:
        gain = dis.output_tokens_per_s_per_gpu / col.output_tokens_per_s_per_gpu - 1.0
        if gain > 0.02:
            verdict = (f"disaggregation gives {gain:+.0%} output tokens/s per GPU {within}: "
                       f"decode replicas run more requests in flight "
                       "because no prefill chunk slows their steps")
        elif gain < -0.02:
            verdict = (f"co-located serving gives {-gain / (1 + gain):.0%} more per GPU "
                       "than disaggregation: prefill does not hold decodes back enough to pay "
                       "for separate pools and the KV transfer")
        else:
            verdict = "about the same per GPU either way"
    return Comparison(colocated=col, disaggregated=dis, verdict=verdict)


def kv_transfer_s(d: Deployment, input_tokens: float,
                  transfer_gbps: float = DEFAULT_TRANSFER_GBPS) -> float:
    """Seconds to ship one prompt's KV cache from the prefill to the decode replica."""
    return kv_bytes_per_token(d.model, d.kv_dtype) * input_tokens / (
        transfer_gbps * 1e9 * d.num_gpus)


__all__ = ["Comparison", "ServingOption", "best_colocated", "best_disaggregated", "compare",
           "kv_transfer_s"]
