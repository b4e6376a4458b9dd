"""Prices: GPU rental rates from the hardware catalog (or the user) and a dated snapshot of
API prices per million tokens (updatable from a file)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from statistics import median

from pydantic import BaseModel, ConfigDict, Field

from tokenomist._validation import read_json, validate
from tokenomist.errors import InvalidValueError, UnknownNameError
from tokenomist.hardware.catalog import Accelerator

TIERS = ("on_demand", "reserved", "low_cost", "spot")


@dataclass(frozen=True)
class GpuPrice:
    usd_per_gpu_hour: float
    label: str


def gpu_price(hardware: Accelerator | None, usd_per_gpu_hour: float | None,
              tier: str = "low_cost") -> GpuPrice:
    """The user's price if given, else the catalog's price of ``tier`` for the hardware."""
    if usd_per_gpu_hour is not None:
        if not (usd_per_gpu_hour > 0 and math.isfinite(usd_per_gpu_hour)):
            raise InvalidValueError("--gpu-hourly-usd must be a positive, finite number, got "
                                    f"{usd_per_gpu_hour}")
        return GpuPrice(float(usd_per_gpu_hour), "given by the user")
    if tier not in TIERS:
        raise UnknownNameError("price tier", tier, TIERS)
    if hardware is None:
        raise InvalidValueError("give --gpu-hourly-usd, or --hardware to use the catalog's "
                                "rental prices")
    p = hardware.price(tier)
    if p is None:
        tiers = [r.tier for r in hardware.rental]
        raise InvalidValueError(
            f"the catalog has no {tier} price for {hardware.id} (it has: "
            f"{', '.join(tiers) or 'none'}); give --gpu-hourly-usd")
    return GpuPrice(p.usd_per_hour, f"{hardware.id} {tier}: {p.provider}, {p.date} "
                                    f"({p.source})")


class ApiPrice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    provider: str
    input: float = Field(ge=0, description="USD per million input tokens")
    output: float = Field(ge=0, description="USD per million output tokens")
    cached_input: float | None = Field(None, ge=0)
    note: str = ""
    date: str = ""


class ApiPriceFile(BaseModel):
    model_config = ConfigDict(extra="allow")

    snapshot_date: str = ""
    source: str = ""
    prices: list[ApiPrice]


@cache
def builtin_api_prices() -> ApiPriceFile:
    text = (resources.files("tokenomist") / "data" / "prices" / "api_prices.json").read_text(
        encoding="utf-8")
    return validate(ApiPriceFile, json.loads(text), "built-in API prices")


def load_api_prices(path: Path | None) -> ApiPriceFile:
    if path is None:
        return builtin_api_prices()
    return validate(ApiPriceFile, read_json(path), str(path))


def api_prices_for(model: str, prices: ApiPriceFile) -> list[ApiPrice]:
    rows = [p for p in prices.prices if p.model == model]
    if not rows:
        raise UnknownNameError("model with API prices", model, {p.model for p in prices.prices})
    return rows


@dataclass(frozen=True)
class MarketSummary:
    model: str
    cheapest: ApiPrice
    median_input: float
    median_output: float
    providers: int


def market_summary(model: str, prices: ApiPriceFile) -> MarketSummary:
    rows = api_prices_for(model, prices)
    cheapest = min(rows, key=lambda r: r.input + 3 * r.output)
    return MarketSummary(model=model, cheapest=cheapest,
                         median_input=median(r.input for r in rows),
                         median_output=median(r.output for r in rows), providers=len(rows))

