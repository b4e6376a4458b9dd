"""Speed of the planner and of the open-loop step simulator.

Run by hand: ``python benchmarks/bench_planner.py``. It reports

1. the time of ``tokenomist plan`` on the article's model over H100, H200, B200 and
   MI300X (the CLI's default search), and over a wide search (4 engines x 3 weight
   precisions x 2 KV dtypes x TP 1-8 x 20 concurrencies): configurations per second;
2. the time to simulate 10,000 requests arriving as a Poisson process at 30%, 70% and 95%
   of a deployment's saturated rate, through the step simulator.
"""

from __future__ import annotations

import time

from tokenomist import load_deployment
from tokenomist.perf.simulator import Requests, Simulator
from tokenomist.perf.steady_state import steady_state
from tokenomist.plan import SLO, Workload, plan


def bench_plan() -> None:
    wl = Workload.fixed(2035, 300)
    slo = SLO(min_tokens_per_user=30)
    for name, kw in [
        ("default search", {}),
        ("wide search", {"engines": ("vllm", "sglang", "trtllm", "llamacpp"),
                         "precisions": (None, "fp8", "int4"), "kv_dtypes": ("bf16", "fp8")}),
    ]:
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            r = plan("llama-3.3-70b", wl, slo, **kw)  # type: ignore[arg-type]
            best = min(best, time.perf_counter() - t0)
        n = len(r.configs)
        print(f"plan, {name}: {r.candidates} deployments, {n:,} configurations in "
              f"{best:.2f} s ({n / best:,.0f} configurations/s)")


def bench_simulator() -> None:
    """Dense (full attention), MoE and sliding-window models; the second time includes
    splitting busy time into prefill and decode (one more cost evaluation per mixed
    step), as ``tokenomist simulate`` does."""
    worst = 0.0
    for model, tp, i_tok, o_tok in [("llama-3.1-8b", 1, 2035, 300),
                                    ("llama-3.3-70b", 4, 1000, 500),
                                    ("qwen3-30b-a3b", 1, 2035, 300),
                                    ("gemma-3-27b", 1, 2035, 300),
                                    ("gpt-oss-120b", 1, 2035, 300)]:
        d = load_deployment(model, "h100-sxm", tp=tp)
        cap = float(steady_state(d, i_tok, o_tok, [4096]).requests_per_s[0])
        for frac in (0.3, 0.7, 0.95):
            reqs = Requests.poisson(cap * frac, 10_000, i_tok, o_tok, seed=1)
            t0 = time.perf_counter()
            r = Simulator(d, attribute_prefill=False).run(reqs)
            t1 = time.perf_counter()
            Simulator(d).run(reqs)
            t2 = time.perf_counter()
            worst = max(worst, t2 - t1)
            print(f"simulate 10,000 requests, {model} TP{tp} {i_tok}/{o_tok} at "
                  f"{frac:.0%} of saturation ({cap * frac:.2f} req/s): {t1 - t0:.2f} s "
                  f"({t2 - t1:.2f} s with the prefill/decode split), {r.steps:,} engine "
                  f"steps, {r.preemptions} preemptions")
    print(f"slowest: {worst:.2f} s")


if __name__ == "__main__":
    bench_plan()
    bench_simulator()
