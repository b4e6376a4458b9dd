"""The accelerator catalog: memory, bandwidth, peak FLOPS per dtype, interconnect, power, prices.

Shipped entries live in ``data/hardware/catalog.json``. Users add their own accelerators
with a JSON file holding one accelerator object, or ``{"accelerators": [...]}``, and name it
with ``--hardware path/to/file.json`` (or ``path.json:id`` to pick one of several).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, field_validator

from tokenomist._validation import read_json, validate
from tokenomist.errors import ConfigError, UnknownNameError

GIB = 1024**3


class RentalPrice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tier: Literal["on_demand", "reserved", "low_cost", "spot"]
    usd_per_hour: PositiveFloat
    provider: str
    date: str
    source: str


class ScaleUp(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    bandwidth_gbps: PositiveFloat = Field(description="vendor figure, both directions")
    domain_size: int = Field(8, ge=1)
    note: str | None = None

    @property
    def per_direction_bytes_per_s(self) -> float:
        return self.bandwidth_gbps * 1e9 / 2


class Accelerator(BaseModel):
    """One accelerator (GPU, TPU chip, Gaudi card)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    vendor: str = "unknown"
    memory_gb: PositiveFloat = Field(description="as marketed; HBM 'GB' are GiB")
    memory_type: str = ""
    memory_bandwidth_tbps: PositiveFloat
    peak_tflops: dict[str, PositiveFloat]
    scale_up: ScaleUp | None = None
    tdp_w: PositiveFloat | None = None
    purchase_usd: PositiveFloat | None = None
    rental: list[RentalPrice] = Field(default_factory=list)
    reserved_memory_gib: float = Field(
        0.75, ge=0, description="driver/runtime context the engines cannot use")
    notes: str = ""
    sources: list[str] = Field(default_factory=list)

    @field_validator("peak_tflops")
    @classmethod
    def _has_bf16(cls, v: dict[str, float]) -> dict[str, float]:
        known = {"fp32", "bf16", "fp16", "fp8", "int8", "fp4"}
        unknown = set(v) - known
        if unknown:
            raise ValueError(f"unknown dtype(s) {sorted(unknown)}; use {sorted(known)}")
        if "bf16" not in v:
            raise ValueError("must give at least the dense 'bf16' peak")
        return v

    @property
    def memory_bytes(self) -> float:
        """Device memory an engine can see (marketed GiB minus the runtime's reserve)."""
        return self.memory_gb * GIB - self.reserved_memory_gib * GIB

    @property
    def bandwidth_bytes_per_s(self) -> float:
        return self.memory_bandwidth_tbps * 1e12

    def peak_flops(self, dtype: str) -> float | None:
        """Dense peak in FLOP/s for a matrix dtype, or None where there are no such units."""
        key = "bf16" if dtype == "fp16" else dtype
        value = self.peak_tflops.get(key)
        return None if value is None else value * 1e12

    def matrix_flops(self, dtype: str) -> tuple[str, float]:
        """The dtype a GEMM actually runs in (falls back to bf16) and its peak FLOP/s."""
        peak = self.peak_flops(dtype)
        if peak is None:
            return "bf16", float(self.peak_flops("bf16") or 0.0)
        return dtype, peak

    @property
    def link_bytes_per_s(self) -> float:
        """Scale-up bandwidth per direction (PCIe 4 x16 if the entry gives none)."""
        return self.scale_up.per_direction_bytes_per_s if self.scale_up else 32e9

    def price(self, tier: str) -> RentalPrice | None:
        for p in self.rental:
            if p.tier == tier:
                return p
        return None


class _CatalogFile(BaseModel):
    model_config = ConfigDict(extra="allow")
    accelerators: list[Accelerator]


@cache
def builtin_catalog() -> dict[str, Accelerator]:
    text = (resources.files("tokenomist") / "data" / "hardware" / "catalog.json").read_text(
        encoding="utf-8")
    import json
    parsed = validate(_CatalogFile, json.loads(text), "built-in hardware catalog")
    return {a.id: a for a in parsed.accelerators}


def hardware_ids() -> list[str]:
    return list(builtin_catalog())


def load_hardware_file(path: Path) -> dict[str, Accelerator]:
    """Accelerators defined in a user's JSON file."""
    data = read_json(path)
    if isinstance(data, dict) and "accelerators" in data:
        parsed = validate(_CatalogFile, data, str(path))
        return {a.id: a for a in parsed.accelerators}
    acc = validate(Accelerator, data, str(path))
    return {acc.id: acc}


def resolve_hardware(name: str) -> Accelerator:
    """An accelerator id from the catalog, or ``file.json`` / ``file.json:id`` of the user's."""
    catalog = builtin_catalog()
    key = name.strip().lower()
    if key in catalog:
        return catalog[key]
    path_part, _, pick = name.partition(".json:")
    if pick:
        path_part += ".json"
    path = Path(path_part).expanduser()
    if path.suffix == ".json":
        if not path.exists():
            raise ConfigError(str(path), None, "file does not exist")
        found = load_hardware_file(path)
        if pick:
            if pick not in found:
                raise UnknownNameError("accelerator", pick, found)
            return found[pick]
        if len(found) != 1:
            raise ConfigError(str(path), "accelerators",
                              f"holds {len(found)} accelerators; name one as "
                              f"{path}:<id> (ids: {', '.join(found)})")
        return next(iter(found.values()))
    raise UnknownNameError("accelerator", name, catalog)
