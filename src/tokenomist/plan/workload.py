"""What the planner plans for: request lengths (fixed or distributions), prefix-cache hits,
and the service-level objectives a configuration must meet."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tokenomist.economics.mix import LengthDist
from tokenomist.errors import InvalidValueError
from tokenomist.perf.simulator import Requests

_MEAN_SAMPLES = 200_000


@dataclass(frozen=True)
class Workload:
    """Requests of ``input`` and ``output`` tokens (each a fixed length or a distribution);
    ``prefix_hit_rate`` of every prompt is served from a prefix cache."""

    input: LengthDist
    output: LengthDist
    prefix_hit_rate: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.prefix_hit_rate < 1.0:
            raise InvalidValueError(f"prefix-cache hit rate must be in [0, 1), got "
                                    f"{self.prefix_hit_rate}")

    @staticmethod
    def fixed(input_tokens: int, output_tokens: int, prefix_hit_rate: float = 0.0
              ) -> Workload:
        if input_tokens < 1 or output_tokens < 2:
            raise InvalidValueError("input tokens must be >= 1 and output tokens >= 2")
        return Workload(LengthDist("fixed", float(input_tokens)),
                        LengthDist("fixed", float(output_tokens)), prefix_hit_rate)

    def _mean(self, dist: LengthDist) -> float:
        if dist.kind == "fixed":
            return float(np.clip(round(dist.a), dist.low, dist.high))
        return float(np.mean(dist.sample(np.random.default_rng(0), _MEAN_SAMPLES)))

    @cached_property
    def mean_input(self) -> float:
        return self._mean(self.input)

    @cached_property
    def _output_mean(self) -> float:
        return self._mean(self.output)

    @property
    def mean_output(self) -> float:
        """Mean output length for the models (at least 2: one decode step after the first
        token)."""
        return max(self._output_mean, 2.0)

    def requests(self, rate: float, n: int, seed: int = 0) -> Requests:
        """``n`` requests arriving as a Poisson process of ``rate`` per second."""
        rng = np.random.default_rng(seed + 1)
        inp = self.input.sample(rng, n)
        out = np.maximum(self.output.sample(rng, n), 1)
        reqs = Requests.poisson(rate, n, inp, out, seed=seed)
        return reqs.with_cached_prefix(self.prefix_hit_rate) if self.prefix_hit_rate else reqs

    def describe(self) -> str:
        def one(d: LengthDist, mean: float) -> str:
            if d.kind == "fixed":
                return f"{d.a:.0f}"
            return f"{d.kind}({d.a:g}, {d.b:g}) ~ {mean:.0f}"
        # (the cached means: sampling them again took about 10 ms a call)
        text = f"{one(self.input, self.mean_input)} in / {one(self.output, self._output_mean)} out"
        if self.prefix_hit_rate:
            text += f", {self.prefix_hit_rate:.0%} prefix-cache hits"
        return text


@dataclass(frozen=True)
class SLO:
    """Service-level objectives; ``None`` leaves a dimension free."""

    ttft_p99_s: float | None = None
    tpot_p99_s: float | None = None
    min_tokens_per_user: float | None = None  # decode speed one user sees (1 / TPOT)

    def __post_init__(self) -> None:
        for name in ("ttft_p99_s", "tpot_p99_s", "min_tokens_per_user"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise InvalidValueError(f"SLO {name} must be positive, got {v}")

    @property
    def tpot_limit_s(self) -> float | None:
        """The tighter of the TPOT objective and the per-user speed objective."""
        limits = [x for x in (self.tpot_p99_s,
                              None if self.min_tokens_per_user is None
                              else 1.0 / self.min_tokens_per_user) if x is not None]
        return min(limits) if limits else None

    def meets(self, ttft_p99: ArrayLike, tpot: ArrayLike) -> NDArray[np.bool_]:
        """Where a TTFT (p99) and a TPOT meet the objectives (a request with one output
        token has no TPOT, NaN: it passes)."""
        ok = np.ones(np.broadcast(ttft_p99, tpot).shape, bool)
        if self.ttft_p99_s is not None:
            ok &= np.asarray(ttft_p99) <= self.ttft_p99_s
        limit = self.tpot_limit_s
        if limit is not None:
            ok &= ~(np.asarray(tpot) > limit)
        return ok

    @property
    def empty(self) -> bool:
        return self.ttft_p99_s is None and self.tpot_limit_s is None

    def describe(self) -> str:
        parts = []
        if self.ttft_p99_s is not None:
            parts.append(f"p99 TTFT <= {self.ttft_p99_s:g} s")
        if self.tpot_p99_s is not None:
            parts.append(f"p99 TPOT <= {self.tpot_p99_s * 1e3:g} ms")
        if self.min_tokens_per_user is not None:
            parts.append(f">= {self.min_tokens_per_user:g} tokens/s per user")
        return ", ".join(parts) or "no SLO"
