"""Numeric formats: bytes per stored value and which matrix units can run them.

Weight formats carry their quantization scales: int4 (AWQ/GPTQ style) stores one 16-bit
scale and zero point per group of 128 weights; fp4 is MXFP4 (one 8-bit scale per 32
weights, as in the gpt-oss checkpoints). fp8 and int8 use per-channel or per-block scales
whose size is negligible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tokenomist.errors import UnknownNameError

Precision = Literal["fp32", "bf16", "fp16", "fp8", "int8", "int4", "fp4"]


@dataclass(frozen=True)
class Format:
    name: str
    bytes_per_value: float  # including quantization scales
    # The matrix-unit dtype a kernel uses for a GEMM with these weights when the hardware
    # has native support for it; otherwise the weights are dequantized and run in bf16.
    compute_dtype: str
    note: str


FORMATS: dict[str, Format] = {
    "fp32": Format("fp32", 4.0, "fp32", "32-bit float (CPU inference, e.g. an F32 GGUF); "
                                        "accelerators without an fp32 entry run it at bf16 "
                                        "rate"),
    "bf16": Format("bf16", 2.0, "bf16", "16-bit brain float"),
    "fp16": Format("fp16", 2.0, "bf16", "16-bit float (same matrix rate as bf16)"),
    "fp8": Format("fp8", 1.0, "fp8", "8-bit float (E4M3), W8A8 where the hardware has FP8"),
    "int8": Format("int8", 1.0, "int8", "8-bit integer, W8A8 (SmoothQuant style)"),
    "int4": Format("int4", 0.5 + 4.0 / 128, "bf16",
                   "4-bit integer weights, 16-bit scale + zero per group of 128 (W4A16)"),
    "fp4": Format("fp4", 0.5 + 1.0 / 32, "fp4", "4-bit float (MXFP4: 8-bit scale per 32)"),
}

WEIGHT_PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16", "fp8", "int8", "int4", "fp4")
KV_DTYPES: tuple[str, ...] = ("fp32", "bf16", "fp16", "fp8", "int8")


def weight_format(name: str) -> Format:
    key = name.lower()
    if key not in FORMATS or key not in WEIGHT_PRECISIONS:
        raise UnknownNameError("precision", name, WEIGHT_PRECISIONS)
    return FORMATS[key]


def kv_bytes(name: str) -> float:
    """Bytes per cached K or V element for a KV-cache dtype."""
    key = name.lower()
    if key not in KV_DTYPES:
        raise UnknownNameError("KV-cache dtype", name, KV_DTYPES)
    return FORMATS[key].bytes_per_value
