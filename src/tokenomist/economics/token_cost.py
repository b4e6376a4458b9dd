"""What a token costs: GPU time of a run turned into dollars per million input and output
tokens.

Two ways to split one bill between input and output tokens:

- the article's: assume input tokens cost ``gamma`` times an output token, then
  ``beta = cost of the run / (B x (gamma x input + output))`` dollars per output token;
- attribution (no gamma): the performance model says how much of the run's GPU time the
  prefill work took (the steps' time beyond what their decodes alone would take) and how
  much the decodes took; each token type pays for its own share. The ratio of the two
  prices is then *derived* (reported as ``implied_gamma``).
"""

from __future__ import annotations

from dataclasses import dataclass

from tokenomist.bench.results_io import ResultPoint
from tokenomist.errors import InvalidValueError


@dataclass(frozen=True)
class PricedPoint:
    batch_size: int
    input_tokens: float
    output_tokens: float
    elapsed_s: float
    run_cost_usd: float
    usd_per_million_input: float
    usd_per_million_output: float
    usd_per_request: float
    total_tokens_per_s: float
    output_tokens_per_s: float
    output_tokens_per_usd: float
    method: str
    implied_gamma: float
    prefill_share: float | None = None


def run_cost_usd(elapsed_s: float, num_gpus: int, usd_per_gpu_hour: float) -> float:
    return num_gpus * usd_per_gpu_hour / 3600.0 * elapsed_s


def _check(num_gpus: int, usd_per_gpu_hour: float) -> None:
    if not isinstance(num_gpus, int) or num_gpus < 1:
        raise InvalidValueError(f"--num-gpus must be a positive integer, got {num_gpus!r}")
    if not usd_per_gpu_hour > 0:
        raise InvalidValueError(f"the GPU price must be positive, got {usd_per_gpu_hour!r}")


def price_with_gamma(p: ResultPoint, *, num_gpus: int, usd_per_gpu_hour: float,
                     gamma: float) -> PricedPoint:
    """The article's method: a fixed input/output cost ratio gamma."""
    _check(num_gpus, usd_per_gpu_hour)
    if not gamma > 0:
        raise InvalidValueError(f"gamma must be positive, got {gamma!r}")
    cost = run_cost_usd(p.elapsed_s, num_gpus, usd_per_gpu_hour)
    beta = cost / (p.batch_size * (gamma * p.input_tokens + p.output_tokens))
    return _priced(p, cost, gamma * beta * 1e6, beta * 1e6, "gamma", gamma, None)


def require_split(p: ResultPoint) -> tuple[float, float]:
    """(prefill_s, decode_s) of a result, or an error saying how to price it without."""
    if p.prefill_s is None or p.decode_s is None:
        raise InvalidValueError(
            "this result has no prefill/decode time split; price it with --gamma, or give "
            "the deployment (--model, --hardware, --tp, --engine) so the performance model "
            "can attribute its time")
    return p.prefill_s, p.decode_s


def price_by_attribution(p: ResultPoint, *, num_gpus: int,
                         usd_per_gpu_hour: float) -> PricedPoint:
    """Each token type pays for the GPU time its work took (prefill vs decode)."""
    _check(num_gpus, usd_per_gpu_hour)
    prefill_s, decode_s = require_split(p)
    busy = prefill_s + decode_s
    if busy <= 0:
        raise InvalidValueError("prefill_s + decode_s must be positive")
    share = prefill_s / busy
    cost = run_cost_usd(p.elapsed_s, num_gpus, usd_per_gpu_hour)
    per_in = cost * share / (p.batch_size * p.input_tokens) if p.input_tokens else 0.0
    per_out = cost * (1 - share) / (p.batch_size * p.output_tokens)
    gamma = per_in / per_out if per_out > 0 else float("inf")
    return _priced(p, cost, per_in * 1e6, per_out * 1e6, "attribution", gamma, share)


def _priced(p: ResultPoint, cost: float, per_m_in: float, per_m_out: float, method: str,
            gamma: float, share: float | None) -> PricedPoint:
    return PricedPoint(
        batch_size=p.batch_size, input_tokens=p.input_tokens, output_tokens=p.output_tokens,
        elapsed_s=p.elapsed_s, run_cost_usd=cost, usd_per_million_input=per_m_in,
        usd_per_million_output=per_m_out, usd_per_request=cost / p.batch_size,
        total_tokens_per_s=p.total_tokens_per_s, output_tokens_per_s=p.output_tokens_per_s,
        output_tokens_per_usd=p.batch_size * p.output_tokens / cost, method=method,
        implied_gamma=gamma, prefill_share=share)
