"""Economics: cost per token, energy, total cost of ownership, market prices, mixes."""

from tokenomist.economics.energy import EnergyReport, run_energy
from tokenomist.economics.prices import (
    ApiPrice,
    GpuPrice,
    api_prices_for,
    builtin_api_prices,
    gpu_price,
    load_api_prices,
    market_summary,
)
from tokenomist.economics.tco import (
    BreakEven,
    Ownership,
    Workload,
    api_usd_per_request,
    owned_usd_per_request,
    owning_break_even,
    rented_usd_per_request,
    renting_break_even,
)
from tokenomist.economics.token_cost import (
    PricedPoint,
    price_by_attribution,
    price_with_gamma,
    require_split,
    run_cost_usd,
)

__all__ = [
    "ApiPrice",
    "BreakEven",
    "EnergyReport",
    "GpuPrice",
    "Ownership",
    "PricedPoint",
    "Workload",
    "api_prices_for",
    "api_usd_per_request",
    "builtin_api_prices",
    "gpu_price",
    "load_api_prices",
    "market_summary",
    "owned_usd_per_request",
    "owning_break_even",
    "price_by_attribution",
    "price_with_gamma",
    "rented_usd_per_request",
    "renting_break_even",
    "require_split",
    "run_cost_usd",
    "run_energy",
]
