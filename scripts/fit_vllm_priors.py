"""Fit the `vllm` engine profile's efficiency priors on the article's measurements.

Run by hand: `python scripts/fit_vllm_priors.py tests/data/measurements/*.json`.
It prints the fitted values, their standard errors and the error per file; the values
are then written into src/tokenomist/data/engines/vllm.json (with `fitted_on`).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from tokenomist.arch import resolve_model
from tokenomist.bench import load_article_results
from tokenomist.calibrate import Observation, fit_efficiency
from tokenomist.deploy import Deployment, resolve_engine
from tokenomist.hardware import resolve_hardware

PARAMS = ("flops", "gemm_half_tokens", "bandwidth", "attention_bandwidth",
          "attention_items_half", "step_overhead_s", "seq_overhead_s",
          "eager_layer_overhead_s", "comm_latency_s", "comm_bandwidth")


def main(paths: list[str]) -> None:
    engine = resolve_engine("vllm")
    hw = resolve_hardware("h100-sxm")
    deps = {
        "70b": Deployment(resolve_model("llama-3.3-70b"), hw, engine, tp=4),
        "8b": Deployment(resolve_model("llama-3.1-8b"), hw, engine, tp=1),
    }
    obs = []
    for p in paths:
        dep = deps["70b"] if "70b" in Path(p).name else deps["8b"]
        obs += [Observation(dep, pt) for pt in load_article_results(Path(p))]
    params = tuple(sys.argv[-1].split(",")) if not sys.argv[-1].endswith(".json") \
        else PARAMS
    t0 = time.time()
    res = fit_efficiency(obs, params)
    print(f"fit in {time.time() - t0:.1f} s: {res.message}")
    for n in res.params:
        print(f"  {n:28s} {res.values[n]:.6g} +- {res.stderr[n]:.2g}")
    errs = res.errors
    for p in paths:
        idx = [k for k, ob in enumerate(obs) if ob.point.source == p]
        print(f"  {Path(p).name:55s} MAPE {np.mean(np.abs(errs[idx])):.1%}  "
              + " ".join(f"{e:+.1%}" for e in errs[idx]))
    print(f"overall MAPE {res.mape:.2%}")
    from tokenomist.calibrate.fit import predict
    _, req = predict(obs, res.efficiency)
    meas = np.array([ob.point.request_tokens_per_s for ob in obs])
    e2 = req / meas - 1
    for p in paths:
        idx = [k for k, ob in enumerate(obs) if ob.point.source == p]
        print(f"  per-request {Path(p).name[:40]:40s} " + " ".join(f"{e:+.1%}" for e in e2[idx]))


if __name__ == "__main__":
    main([a for a in sys.argv[1:] if a.endswith(".json")])
