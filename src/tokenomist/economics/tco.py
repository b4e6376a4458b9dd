"""Total cost of ownership: owning vs renting vs buying tokens from an API.

One replica (``num_gpus`` accelerators) serves requests of ``input_tokens`` +
``output_tokens`` at ``requests_per_s`` when busy. Over a year it is busy a fraction
``utilization`` of the time and idle the rest. Per request:

- owning: (capital amortised per hour + hosting and operations per hour + electricity
  at busy/idle power x PUE) / requests served per hour;
- renting: GPU-hours paid around the clock / requests served per hour;
- API: input and output tokens at the market's price per million.

Owning costs ``(F + E_idle + u (E_busy - E_idle)) / (u R)`` per request at utilization u,
which falls with u; it equals the API's price A at ``u* = (F + E_idle) / (A R - E_busy +
E_idle)`` (F fixed $/h, E power cost $/h, R requests/h at full load). Below u* the API is
cheaper; the smallest steady demand at which owning wins is u* R.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tokenomist.errors import InvalidValueError

HOURS_PER_YEAR = 8760.0


@dataclass(frozen=True)
class Ownership:
    purchase_usd_per_gpu: float
    amortization_years: float = 3.0
    hosting_usd_per_gpu_year: float = 0.0  # colocation, networking, operations staff
    busy_power_w: float = 700.0  # per accelerator, while serving
    idle_power_w: float = 100.0
    pue: float = 1.3
    usd_per_kwh: float = 0.10

    def check(self) -> None:
        if not self.purchase_usd_per_gpu > 0:
            raise InvalidValueError("purchase price must be positive")
        if not self.amortization_years > 0:
            raise InvalidValueError("amortization years must be positive")
        if self.hosting_usd_per_gpu_year < 0 or self.usd_per_kwh < 0:
            raise InvalidValueError("hosting and electricity prices must not be negative")
        if self.pue < 1.0:
            raise InvalidValueError(f"PUE must be at least 1.0, got {self.pue}")
        if self.busy_power_w < 0 or self.idle_power_w < 0:
            raise InvalidValueError("power must not be negative")

    def fixed_usd_per_gpu_hour(self) -> float:
        return (self.purchase_usd_per_gpu / self.amortization_years
                + self.hosting_usd_per_gpu_year) / HOURS_PER_YEAR

    def power_usd_per_gpu_hour(self, watts: float) -> float:
        return watts / 1000.0 * self.pue * self.usd_per_kwh


@dataclass(frozen=True)
class Workload:
    input_tokens: float
    output_tokens: float
    requests_per_s: float  # one replica at full load
    num_gpus: int

    def check(self) -> None:
        if self.input_tokens < 0 or not self.output_tokens > 0:
            raise InvalidValueError("token counts must be positive")
        if not self.requests_per_s > 0:
            raise InvalidValueError("throughput must be positive")
        if self.num_gpus < 1:
            raise InvalidValueError("a replica needs at least one accelerator")


def _check_u(u: float) -> None:
    if not (0.0 < u <= 1.0):
        raise InvalidValueError(f"utilization must be in (0, 1], got {u}")


def owned_usd_per_request(w: Workload, own: Ownership, utilization: float) -> float:
    _check_u(utilization)
    w.check()
    own.check()
    per_hour = w.num_gpus * (own.fixed_usd_per_gpu_hour()
                             + utilization * own.power_usd_per_gpu_hour(own.busy_power_w)
                             + (1 - utilization) * own.power_usd_per_gpu_hour(own.idle_power_w))
    return per_hour / (utilization * w.requests_per_s * 3600.0)


def rented_usd_per_request(w: Workload, usd_per_gpu_hour: float, utilization: float) -> float:
    _check_u(utilization)
    w.check()
    if not usd_per_gpu_hour > 0:
        raise InvalidValueError("GPU price must be positive")
    return w.num_gpus * usd_per_gpu_hour / (utilization * w.requests_per_s * 3600.0)


def api_usd_per_request(w: Workload, usd_per_m_input: float, usd_per_m_output: float) -> float:
    if usd_per_m_input < 0 or usd_per_m_output < 0:
        raise InvalidValueError("API prices must not be negative")
    return (w.input_tokens * usd_per_m_input + w.output_tokens * usd_per_m_output) / 1e6


@dataclass(frozen=True)
class BreakEven:
    utilization: float | None  # None: owning never beats the API, even at full load
    requests_per_s: float | None
    tokens_per_day: float | None


def owning_break_even(w: Workload, own: Ownership, api_usd_per_req: float) -> BreakEven:
    """Utilization (and steady demand) above which owning is cheaper than the API."""
    w.check()
    own.check()
    r_hour = w.requests_per_s * 3600.0
    fixed = w.num_gpus * own.fixed_usd_per_gpu_hour()
    e_busy = w.num_gpus * own.power_usd_per_gpu_hour(own.busy_power_w)
    e_idle = w.num_gpus * own.power_usd_per_gpu_hour(own.idle_power_w)
    denom = api_usd_per_req * r_hour - e_busy + e_idle
    if denom <= 0:
        return BreakEven(None, None, None)
    u = (fixed + e_idle) / denom
    if u > 1.0 or not math.isfinite(u):
        return BreakEven(None, None, None)
    rps = u * w.requests_per_s
    return BreakEven(u, rps, rps * 86400.0 * (w.input_tokens + w.output_tokens))


def renting_break_even(w: Workload, usd_per_gpu_hour: float, api_usd_per_req: float
                       ) -> BreakEven:
    """Utilization above which renting around the clock beats the API."""
    w.check()
    u = w.num_gpus * usd_per_gpu_hour / (api_usd_per_req * w.requests_per_s * 3600.0)
    if u > 1.0:
        return BreakEven(None, None, None)
    rps = u * w.requests_per_s
    return BreakEven(u, rps, rps * 86400.0 * (w.input_tokens + w.output_tokens))
