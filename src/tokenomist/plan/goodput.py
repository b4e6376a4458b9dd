"""Open-loop load: Poisson arrivals through the step simulator, latency percentiles,
goodput (requests per second that meet the SLOs) and the highest rate within the SLOs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tokenomist.bench.summary import stats
from tokenomist.deploy.deployment import Deployment
from tokenomist.errors import InvalidValueError
from tokenomist.perf.simulator import Requests, SimulationResult, Simulator
from tokenomist.perf.steady_state import steady_state
from tokenomist.plan.workload import SLO, Workload


@dataclass(frozen=True)
class OpenLoopResult:
    rate: float  # offered requests per second
    requests: int
    duration_s: float  # first arrival to last finish
    ttft_s: dict[str, float]  # mean, p50, p90, p99
    tpot_s: dict[str, float]
    e2e_s: dict[str, float]
    throughput_rps: float  # measured requests completed per second of the window
    output_tokens_per_s: float
    goodput_rps: float  # requests per second meeting every SLO
    slo_attainment: float  # share of requests meeting every SLO
    meets_slo: bool  # p99 TTFT and p99 TPOT within the objectives
    max_running: int
    preemptions: int

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _stats(x: np.ndarray) -> dict[str, float]:
    """Mean and percentiles of the finite values (NaN where there are none)."""
    return stats(x[np.isfinite(x)], empty=float("nan"))  # type: ignore[return-value]


def saturation_rps(d: Deployment, workload: Workload) -> float:
    """Requests per second the engine serves when saturated (steady state, 4096 clients)."""
    return float(steady_state(d, workload.mean_input, workload.mean_output, [4096],
                              prefix_hit_rate=workload.prefix_hit_rate).requests_per_s[0])


def summarize(rate: float, r: SimulationResult, slo: SLO, warmup: float = 0.1
              ) -> OpenLoopResult:
    """Latency percentiles and goodput of a simulated run (the first ``warmup`` share of
    requests, which meet an empty engine, are left out of the statistics)."""
    n = r.arrival_s.size
    order = np.argsort(r.arrival_s, kind="stable")
    keep = order[int(n * warmup):] if n >= 20 else order
    ttft, tpot, e2e = r.ttft_s[keep], r.tpot_s[keep], r.e2e_s[keep]
    ok = slo.meets(ttft, tpot)
    # the measurement window: first measured arrival to last measured finish
    window = float(np.max(r.finish_s[keep]) - np.min(r.arrival_s[keep]))
    s_ttft, s_tpot = _stats(ttft), _stats(tpot)
    meets = slo.meets(s_ttft["p99"], s_tpot["p99"])
    return OpenLoopResult(
        rate=rate, requests=int(n), duration_s=r.elapsed_s, ttft_s=s_ttft, tpot_s=s_tpot,
        e2e_s=_stats(e2e), throughput_rps=keep.size / window,
        output_tokens_per_s=float(np.sum(r.output_tokens[keep])) / window,
        goodput_rps=float(np.sum(ok)) / window,
        slo_attainment=float(np.mean(ok)), meets_slo=bool(meets),
        max_running=r.max_running, preemptions=r.preemptions)


def replay(d: Deployment, requests: Requests, slo: SLO, *,
           simulator: Simulator | None = None) -> OpenLoopResult:
    """Simulate a given list of requests (a trace) at its own arrival times; its rate is
    its requests over the span of its arrivals."""
    span = float(requests.arrival_s.max() - requests.arrival_s.min())
    rate = len(requests) / span if span > 0 else float(len(requests))
    sim = simulator or Simulator(d, attribute_prefill=False)
    return summarize(rate, sim.run(requests), slo)


def open_loop(d: Deployment, workload: Workload, rate: float, slo: SLO, *,
              num_requests: int = 2000, seed: int = 0,
              simulator: Simulator | None = None) -> OpenLoopResult:
    """Simulate ``num_requests`` Poisson arrivals at ``rate`` per second."""
    if num_requests < 1:
        raise InvalidValueError(f"need at least one request, got {num_requests}")
    sim = simulator or Simulator(d, attribute_prefill=False)
    reqs: Requests = workload.requests(rate, num_requests, seed)
    return summarize(rate, sim.run(reqs), slo)


@dataclass(frozen=True)
class RateSearch:
    max_rate: float  # highest rate found within the SLOs (0 if none)
    at_max: OpenLoopResult | None
    capacity_rps: float  # the engine's saturated request rate (steady state)
    tried: list[OpenLoopResult]


def max_rate_within_slo(d: Deployment, workload: Workload, slo: SLO, *,
                        num_requests: int = 2000, seed: int = 0, rel_tol: float = 0.03,
                        max_iter: int = 14, simulator: Simulator | None = None) -> RateSearch:
    """The highest Poisson rate whose p99 TTFT and p99 TPOT meet the SLOs (bisection
    between 0 and the engine's saturated throughput)."""
    if slo.empty:
        raise InvalidValueError("give at least one SLO (TTFT, TPOT or tokens/s per user)")
    if num_requests < 1:
        raise InvalidValueError(f"need at least one request, got {num_requests}")
    sim = simulator or Simulator(d, attribute_prefill=False)
    cap = saturation_rps(d, workload)
    lo, hi = 0.0, cap
    tried: list[OpenLoopResult] = []
    best: OpenLoopResult | None = None
    for _ in range(max_iter):
        rate = 0.5 * (lo + hi) if lo > 0 else hi * 0.5
        res = open_loop(d, workload, rate, slo, num_requests=num_requests, seed=seed,
                        simulator=sim)
        tried.append(res)
        if res.meets_slo:
            lo, best = rate, res
        else:
            hi = rate
        if lo > 0 and (hi - lo) / hi < rel_tol:
            break
        if lo == 0 and hi < cap * 1e-3:
            break
    return RateSearch(max_rate=lo, at_max=best, capacity_rps=cap, tried=tried)
