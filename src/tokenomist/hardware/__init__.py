"""Hardware catalog: accelerators with memory, bandwidth, peak FLOPS, interconnect, prices."""

from tokenomist.hardware.catalog import (
    Accelerator,
    RentalPrice,
    ScaleUp,
    builtin_catalog,
    hardware_ids,
    load_hardware_file,
    resolve_hardware,
)

__all__ = [
    "Accelerator",
    "RentalPrice",
    "ScaleUp",
    "builtin_catalog",
    "hardware_ids",
    "load_hardware_file",
    "resolve_hardware",
]
