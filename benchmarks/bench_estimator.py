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
"""

from __future__ import annotations

import time

import numpy as np

from tokenomist import load_deployment
from tokenomist.perf.burst import BurstEstimator

BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]


class ArticleModel:
    """The article's first-principles throughput model, per-token loop included."""

    def __init__(self, gpus: int = 4) -> None:
        self.h, self.layers, self.heads, self.kv_heads, self.head = 8192, 80, 64, 8, 128
        self.inter, self.vocab = 28672, 128256
        self.gpus = gpus
        self.flops = 989e12 * gpus
        self.bandwidth = 3.35e12 * gpus
        self.params = (2 * self.vocab * self.h + self.layers * (
            2 * self.h * self.h + 2 * self.h * self.kv_heads * self.head
            + 3 * self.h * self.inter + 2 * self.h) + self.h)
        self.comm = 2 * 2 * self.h * self.layers * (gpus - 1) / gpus / 450e9

    def prefill_flops(self, s: int) -> float:
        h = self.h
        return self.layers * (10 * s * h + 25.5 * s * h * h + 4 * s * s * h
                              + 5 * s * s * self.heads) + 2 * s * h * self.vocab

    def decode_time_breakdown(self, seq: int, batch: int) -> dict[str, float]:
        h = self.h
        flops = batch * (self.layers * (10 * h + 25.5 * h * h + 4 * seq * h + 5 * seq * self.heads)
                         + 2 * h * self.vocab)
        kv = 2 * 2 * self.layers * self.head * self.kv_heads * seq * batch
        weights = 2 * self.params
        compute_time = flops / self.flops
        memory_time = (weights + kv) / self.bandwidth
        return {"compute_time": compute_time, "memory_time": memory_time,
                "total_time": max(compute_time, memory_time) + self.comm}

    def total_inference_time(self, input_tokens: int, output_tokens: int, batch: int) -> float:
        prefill = batch * self.prefill_flops(input_tokens) / self.flops
        decode = 0.0
        seq = input_tokens
        for _ in range(output_tokens):
            decode += self.decode_time_breakdown(seq, batch)["total_time"]
            seq += 1
        return prefill + decode


def time_it(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    article = ArticleModel()
    d = load_deployment("llama-3.3-70b", "h100-sxm", tp=4)
    est = BurstEstimator(d)
    rows = []
    for i_tok, o_tok in ((2035, 300), (16035, 1000)):
        t_article = time_it(lambda i=i_tok, o=o_tok: [article.total_inference_time(i, o, b)
                                                     for b in BATCHES]) / len(BATCHES)
        t_ours = time_it(lambda i=i_tok, o=o_tok: est.estimate(BATCHES, i, o)) / len(BATCHES)
        rows.append((i_tok, o_tok, t_article, t_ours))
        print(f"{i_tok}/{o_tok}, B=1..512: article loop {t_article * 1e3:.3f} ms/point, "
              f"tokenomist {t_ours * 1e6:.0f} us/point (one sweep per call): "
              f"{t_article / t_ours:.0f}x")

    # many points per call: request shapes of a planner sweep x the article's batch sizes
    rng = np.random.default_rng(0)
    n_shapes = 1000
    inputs = np.round(np.exp(rng.uniform(np.log(128), np.log(8192), n_shapes))).astype(int)
    outputs = np.round(np.exp(rng.uniform(np.log(64), np.log(2048), n_shapes))).astype(int)
    ii = np.repeat(inputs, len(BATCHES))
    oo = np.repeat(outputs, len(BATCHES))
    bb = np.tile(BATCHES, n_shapes)
    est.estimate_grid(ii[:100], oo[:100], bb[:100])  # warm up
    t_grid = time_it(lambda: est.estimate_grid(ii, oo, bb), repeat=3)
    print(f"{ii.size:,} configurations (1,000 shapes, I 128-8192 x O 64-2048, x 10 batch "
          f"sizes) in one call: {t_grid:.3f} s = {t_grid / ii.size * 1e6:.0f} us/point")
    t_article_grid = np.mean([r[2] for r in rows])
    print(f"per point vs the article loop: {t_article_grid / (t_grid / ii.size):.0f}x fewer "
          "seconds")


if __name__ == "__main__":
    main()
