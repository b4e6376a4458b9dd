"""Speed of the closed-form estimator against the article's per-token loop.

Run by hand: ``python benchmarks/bench_estimator.py``. It reports

1. seconds per point of the article's method ("Tokenomics from first principles"): the
   prefill time from FLOPs, then a Python loop over every generated token that computes
   that token's FLOPs and bytes from the architecture and takes the slower of compute and
   memory (re-implemented here from the article's description);
2. seconds per point of tokenomist's closed-form burst estimator on the same sweep, alone
   and when many points are evaluated in one call;
3. the time to evaluate 10,000 configurations (request shapes x batch sizes on the
   article's deployment).

Like the ``tokenomist`` command, it first has glibc keep freed memory for reuse
(:func:`tokenomist.perf.memory.keep_freed_memory`); the 10,000 configurations are also
timed in a separate process that keeps glibc's default thresholds.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tokenomist import load_deployment
from tokenomist.perf import StepLoad, decode_load
from tokenomist.perf.burst import BurstEstimator
from tokenomist.perf.memory import keep_freed_memory

BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]


@dataclass
class ArticleModelParams:
    """Llama 3.3 70B as the article parameterizes it."""

    hidden_size: int = 8192
    num_hidden_layers: int = 80
    num_attention_heads: int = 64
    num_key_value_heads: int = 8
    intermediate_size: int = 28672
    vocab_size: int = 128256
    dtype_bytes: int = 2

    def __post_init__(self) -> None:
        self.head_size = self.hidden_size // self.num_attention_heads
        h, i = self.hidden_size, self.intermediate_size
        block = 2 * h * h + 2 * h * h // 8 + 3 * h * i + 2 * h
        self.model_size_bytes = (2 * self.vocab_size * h + self.num_hidden_layers * block
                                 + h) * self.dtype_bytes


@dataclass
class ArticleHardwareParams:
    """4 x H100 with the article's utilisation factors."""

    tflops: float = 989.0
    memory_bandwidth_gbs: float = 3350.0
    num_gpus: int = 4
    nvlink_bandwidth_gbs: float = 450.0
    compute_utilization: float = 0.6
    memory_utilization: float = 0.7

    def __post_init__(self) -> None:
        self.effective_tflops = self.tflops * self.num_gpus * self.compute_utilization
        self.effective_bandwidth_gbs = (self.memory_bandwidth_gbs * self.num_gpus
                                        * self.memory_utilization)


class ArticleModel:
    """The article's first-principles method: prefill from FLOPs, then a Python loop over
    every generated token computing its FLOPs, bytes and communication (re-implemented
    from the article's description and method, same structure)."""

    def __init__(self) -> None:
        self.model = ArticleModelParams()
        self.hardware = ArticleHardwareParams()

    def prefill_flops(self, s: int) -> float:
        m = self.model
        h = m.hidden_size
        attention = (4 * s * h + 2 * s * h * h + 0.5 * s * h * h + 6 * s * h + 2 * s * s * h
                     + 5 * s * s * m.num_attention_heads + 2 * s * s * h + 2 * s * h * h)
        return (attention + 21 * s * h * h) * m.num_hidden_layers + 2 * s * h * m.vocab_size

    def decode_flops(self, seq: int) -> float:
        m = self.model
        h = m.hidden_size
        attention = (4 * h + 2 * h * h + 0.5 * h * h + 6 * h + 2 * seq * h
                     + 5 * seq * m.num_attention_heads + 2 * seq * h + 2 * h * h)
        return (attention + 21 * h * h) * m.num_hidden_layers + 2 * h * m.vocab_size

    def kv_cache_bytes(self, seq: int, batch: int) -> float:
        m = self.model
        return (2 * m.dtype_bytes * m.num_hidden_layers * m.head_size * m.num_key_value_heads
                * seq * batch)

    def comm_time(self, tokens: int) -> float:
        m, hw = self.model, self.hardware
        gb = tokens * m.hidden_size * m.dtype_bytes / 1e9
        return 2 * m.num_hidden_layers * gb / hw.nvlink_bandwidth_gbs

    def decode_time_breakdown(self, seq: int, batch: int) -> dict[str, float | str]:
        memory = (self.model.model_size_bytes / 1e9 + self.kv_cache_bytes(seq, batch) / 1e9) \
            / self.hardware.effective_bandwidth_gbs
        compute = self.decode_flops(seq) * batch / 1e12 / self.hardware.effective_tflops
        comm = self.comm_time(batch)
        return {"compute_time": compute, "memory_time": memory, "comm_overhead": comm,
                "bottleneck": "memory" if memory > compute else "compute",
                "total_time": max(compute, memory) + comm}

    def total_inference_time(self, input_tokens: int, output_tokens: int, batch: int) -> float:
        prefill = self.prefill_flops(input_tokens) * batch / 1e12 \
            / self.hardware.effective_tflops + self.comm_time(batch * input_tokens)
        decode = 0.0
        seq = input_tokens
        for _ in range(output_tokens):
            breakdown = self.decode_time_breakdown(seq, batch)
            decode += float(breakdown["total_time"])
            seq += 1
        return prefill + decode


def same_physics_token_loop(est: BurstEstimator, input_tokens: int, output_tokens: int,
                            batch: int) -> float:
    """tokenomist's cost model evaluated the article's way: one step-cost call per token
    (the whole batch prefilled, then decoded, no scheduler)."""
    d = est.d
    cost = est.cost
    prefill = 0.0
    remaining = batch * input_tokens
    budget = int(est.budget)
    while remaining > 0:
        chunk = min(budget, remaining)
        load = StepLoad(tokens=np.array(float(chunk)), seqs=np.array(1.0),
                        decode_seqs=np.array(0.0), logits=np.array(1.0),
                        decode_keys=np.zeros(len(d.model.windows)),
                        prefill_pairs=np.array([chunk * input_tokens / 2.0]),
                        prefill_keys=np.array([float(input_tokens)]), eager=np.array(1.0))
        prefill += float(cost.step_time(load).total)
        remaining -= chunk
    decode = 0.0
    for k in range(1, output_tokens):
        decode += float(cost.step_time(decode_load(batch, input_tokens + k,
                                                   d.model.windows)).total)
    return prefill + decode


def time_it(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def planner_grid() -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64],
                            np.random.Generator]:
    """Request shapes of a planner sweep x the article's batch sizes: 10,000 points."""
    rng = np.random.default_rng(0)
    n_shapes = 1000
    inputs = np.round(np.exp(rng.uniform(np.log(128), np.log(8192), n_shapes))).astype(int)
    outputs = np.round(np.exp(rng.uniform(np.log(64), np.log(2048), n_shapes))).astype(int)
    return (np.repeat(inputs, len(BATCHES)), np.repeat(outputs, len(BATCHES)),
            np.tile(BATCHES, n_shapes), rng)


def grid_only() -> None:
    """The 10,000-point grid alone, best of 8 calls (run in a process of its own)."""
    est = BurstEstimator(load_deployment("llama-3.3-70b", "h100-sxm", tp=4))
    ii, oo, bb, _ = planner_grid()
    est.estimate_grid(ii, oo, bb)
    print(min(time_it(lambda: est.estimate_grid(ii, oo, bb), repeat=1) for _ in range(8)))


def main() -> None:
    # as the tokenomist command does (see tokenomist.perf.memory); the grid is also timed
    # in a process that keeps glibc's defaults, at the end
    kept = keep_freed_memory()
    article = ArticleModel()
    d = load_deployment("llama-3.3-70b", "h100-sxm", tp=4)
    est = BurstEstimator(d)
    fine = np.arange(1, 513)
    rows = []
    for i_tok, o_tok in ((2035, 300), (16035, 1000)):
        t_article = time_it(lambda i=i_tok, o=o_tok: [article.total_inference_time(i, o, b)
                                                     for b in BATCHES]) / len(BATCHES)
        t_ours = time_it(lambda i=i_tok, o=o_tok: est.estimate(BATCHES, i, o)) / len(BATCHES)
        t_fine = time_it(lambda i=i_tok, o=o_tok: est.estimate_grid(
            np.full(fine.size, i), np.full(fine.size, o), fine)) / fine.size
        t_same = time_it(lambda i=i_tok, o=o_tok: [same_physics_token_loop(est, i, o, b)
                                                  for b in BATCHES], repeat=2) / len(BATCHES)
        rows.append((t_article, t_same))
        print(f"{i_tok}/{o_tok}: article loop {t_article * 1e3:.3f} ms/point; "
              f"tokenomist's cost model in a per-token loop {t_same * 1e3:.1f} ms/point; "
              f"closed form {t_ours * 1e6:.0f} us/point (B = 1..512 by powers of 2, one call: "
              f"{t_ours * len(BATCHES) * 1e3:.1f} ms), {t_fine * 1e6:.1f} us/point (every B "
              f"of 1..512, one call: {t_fine * fine.size:.3f} s, "
              f"{t_article / t_fine:.0f}x the article loop)")

    # many points per call: request shapes of a planner sweep x the article's batch sizes
    ii, oo, bb, rng = planner_grid()
    est.estimate_grid(ii, oo, bb)  # warm up
    # the article's loop on the same configurations (a random sample of them); the two are
    # timed in alternation and each keeps its best round, so that a slow spell of a shared
    # machine does not land on one side only
    pick = rng.choice(ii.size, 300, replace=False)
    t_grid = t_article_same = float("inf")
    for _ in range(5):
        t_grid = min(t_grid, time_it(lambda: est.estimate_grid(ii, oo, bb), repeat=1))
        t_article_same = min(t_article_same, time_it(
            lambda: [article.total_inference_time(int(ii[k]), int(oo[k]), int(bb[k]))
                     for k in pick], repeat=1) / pick.size)
    per_point = t_grid / ii.size
    print(f"{ii.size:,} configurations (1,000 shapes, I 128-8192 x O 64-2048, x 10 batch "
          f"sizes) in one call: {t_grid:.3f} s = {per_point * 1e6:.0f} us/point")
    t_article_grid = float(np.mean([r[0] for r in rows]))
    t_same_grid = float(np.mean([r[1] for r in rows]))
    print(f"the article's loop on 300 of the same configurations: {t_article_same * 1e3:.3f} "
          f"ms/point")
    print(f"closed form at scale: {t_article_same / per_point:.0f}x fewer seconds per point "
          f"than the article's loop on the same configurations "
          f"({t_article_grid / per_point:.0f}x against its mean on the article's two shapes); "
          f"{t_same_grid / per_point:.0f}x against the same physics in a per-token loop"
          + ("" if kept else " (glibc's malloc thresholds left as they were)"))
    if kept:
        plain = float(subprocess.run([sys.executable, __file__, "--grid-only"], check=True,
                                     capture_output=True, text=True).stdout)
        print(f"the same grid in a process that keeps glibc's default malloc thresholds: "
              f"{plain:.3f} s = {plain / ii.size * 1e6:.0f} us/point, "
              f"{t_article_same / (plain / ii.size):.0f}x the article's loop")


if __name__ == "__main__":
    if "--grid-only" in sys.argv:
        grid_only()
    else:
        main()

