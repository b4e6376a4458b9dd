"""Price a workload whose lengths vary, and a routed mix of a small and a large model.

Monte Carlo, as the article suggests: draw (input, output) lengths from their
distributions, price a burst of each drawn shape with the performance model (all draws in
one vectorized call of the closed-form estimator), and report the mean price with a
bootstrap confidence interval of the mean and the spread (5th-95th percentiles) across
draws. Prices per million tokens are weighted by tokens, as a bill would be.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tokenomist.deploy.deployment import Deployment
from tokenomist.errors import InvalidValueError
from tokenomist.perf.burst import BurstEstimator

Array = NDArray[np.float64]


@dataclass(frozen=True)
class LengthDist:
    """A distribution of token counts: fixed, uniform, normal, lognormal (median, sigma)."""

    kind: str
    a: float
    b: float = 0.0
    low: int = 1
    high: int = 1_000_000

    def sample(self, rng: np.random.Generator, n: int) -> NDArray[np.int64]:
        if self.kind == "fixed":
            x = np.full(n, self.a)
        elif self.kind == "uniform":
            x = rng.uniform(self.a, self.b, n)
        elif self.kind == "normal":
            x = rng.normal(self.a, self.b, n)
        else:  # lognormal with median a and log-sd b
            x = rng.lognormal(np.log(self.a), self.b, n)
        return np.clip(np.round(x), self.low, self.high).astype(np.int64)


_SPEC = re.compile(r"^(fixed|uniform|normal|lognormal):([0-9.eE+-]+)(?:,([0-9.eE+-]+))?$")


def parse_length_dist(spec: str, what: str = "length") -> LengthDist:
    """``2000``, ``fixed:2000``, ``uniform:100,4000``, ``normal:2000,300`` or
    ``lognormal:2000,0.6`` (median and log standard deviation)."""
    text = spec.strip().lower()
    if re.fullmatch(r"[0-9]+", text):
        text = f"fixed:{text}"
    m = _SPEC.match(text)
    if not m:
        raise InvalidValueError(
            f"{what} distribution {spec!r} not understood: use N, uniform:LOW,HIGH, "
            "normal:MEAN,SD or lognormal:MEDIAN,SIGMA")
    kind, a_txt, b_txt = m.group(1), m.group(2), m.group(3)
    a = float(a_txt)
    b = float(b_txt) if b_txt else 0.0
    if kind != "fixed" and b_txt is None:
        raise InvalidValueError(f"{what} distribution {spec!r} needs two numbers")
    if a <= 0 or (kind == "uniform" and b < a) or (kind in ("normal", "lognormal") and b < 0):
        raise InvalidValueError(f"{what} distribution {spec!r} has impossible parameters")
    return LengthDist(kind, a, b)


@dataclass(frozen=True)
class MixPrice:
    samples: int
    usd_per_million_input: float
    usd_per_million_output: float
    usd_per_request: float
    ci95_usd_per_million_output: tuple[float, float]
    ci95_usd_per_million_input: tuple[float, float]
    p05_p95_usd_per_million_output: tuple[float, float]
    mean_input_tokens: float
    mean_output_tokens: float
    output_tokens_per_s: float  # throughput of the sampled bursts, token-weighted


def price_mix(d: Deployment, input_dist: LengthDist, output_dist: LengthDist, *,
              batch_size: int, usd_per_gpu_hour: float, samples: int = 500,
              seed: int = 0, bootstrap: int = 1000) -> MixPrice:
    """Monte Carlo price of a workload served in bursts of ``batch_size``, each draw's cost
    split between input and output by the performance model (attribution)."""
    if samples < 2:
        raise InvalidValueError("give at least 2 samples")
    if batch_size < 1:
        raise InvalidValueError("batch size must be a positive integer")
    if not usd_per_gpu_hour > 0:
        raise InvalidValueError("the GPU price must be positive")
    rng = np.random.default_rng(seed)
    limit = d.context_limit()
    i_tok = input_dist.sample(rng, samples)
    o_tok = output_dist.sample(rng, samples)
    too_long = i_tok + o_tok > limit
    if np.any(too_long):
        # lengths beyond the model's context cannot be served: clip the outputs
        o_tok = np.where(too_long, np.maximum(limit - i_tok, 1), o_tok)
        i_tok = np.minimum(i_tok, limit - 1)
    grid = BurstEstimator(d).estimate_grid(i_tok, o_tok, np.full(samples, batch_size))
    cost = d.num_gpus * usd_per_gpu_hour / 3600.0 * grid.elapsed_s
    busy = np.maximum(grid.prefill_s + grid.decode_s, 1e-12)
    in_cost = cost * grid.prefill_s / busy
    out_cost = cost - in_cost
    n_in = batch_size * i_tok.astype(float)
    n_out = batch_size * o_tok.astype(float)

    def weighted(c: Array, n: Array, idx: NDArray[np.int64] | slice = slice(None)) -> float:
        return float(np.sum(c[idx]) / np.sum(n[idx]) * 1e6)

    boot = rng.integers(0, samples, (bootstrap, samples))
    b_out = np.sum(out_cost[boot], axis=1) / np.sum(n_out[boot], axis=1) * 1e6
    b_in = np.sum(in_cost[boot], axis=1) / np.sum(n_in[boot], axis=1) * 1e6
    per_draw_out = out_cost / n_out * 1e6
    return MixPrice(
        samples=samples, usd_per_million_input=weighted(in_cost, n_in),
        usd_per_million_output=weighted(out_cost, n_out),
        usd_per_request=float(np.sum(cost) / (samples * batch_size)),
        ci95_usd_per_million_output=(float(np.percentile(b_out, 2.5)),
                                     float(np.percentile(b_out, 97.5))),
        ci95_usd_per_million_input=(float(np.percentile(b_in, 2.5)),
                                    float(np.percentile(b_in, 97.5))),
        p05_p95_usd_per_million_output=(float(np.percentile(per_draw_out, 5)),
                                        float(np.percentile(per_draw_out, 95))),
        mean_input_tokens=float(np.mean(i_tok)), mean_output_tokens=float(np.mean(o_tok)),
        output_tokens_per_s=float(np.sum(n_out) / np.sum(grid.elapsed_s)))


@dataclass(frozen=True)
class RoutedPrice:
    fraction_small: float
    usd_per_request: float
    usd_per_million_input: float
    usd_per_million_output: float
    small: MixPrice
    large: MixPrice


def price_routed(small: MixPrice, large: MixPrice, fraction_small: float) -> RoutedPrice:
    """Blend: a fraction of the requests goes to the small model, the rest to the large."""
    if not 0.0 <= fraction_small <= 1.0:
        raise InvalidValueError(f"the routed fraction must be in [0, 1], got {fraction_small}")
    f = fraction_small
    in_s, in_l = small.mean_input_tokens, large.mean_input_tokens
    out_s, out_l = small.mean_output_tokens, large.mean_output_tokens
    usd_in = (f * in_s * small.usd_per_million_input + (1 - f) * in_l
              * large.usd_per_million_input) / (f * in_s + (1 - f) * in_l)
    usd_out = (f * out_s * small.usd_per_million_output + (1 - f) * out_l
               * large.usd_per_million_output) / (f * out_s + (1 - f) * out_l)
    return RoutedPrice(fraction_small=f,
                       usd_per_request=f * small.usd_per_request + (1 - f)
                       * large.usd_per_request,
                       usd_per_million_input=usd_in, usd_per_million_output=usd_out,
                       small=small, large=large)
