"""Result records of the performance model (pydantic: they are JSON outputs)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ESTIMATE_SCHEMA = "tokenomist.estimate/1"


class StepTimeBreakdown(BaseModel):
    """Seconds of a run by cause (kernel time split by the roofline that bound it)."""

    model_config = ConfigDict(frozen=True)

    compute: float
    memory: float
    communication: float
    overhead: float


class EstimatePoint(BaseModel):
    """Predicted outcome of B identical requests sent together (one burst)."""

    model_config = ConfigDict(frozen=True)

    batch_size: int
    input_tokens: int
    output_tokens: int
    elapsed_s: float = Field(description="until the last of the B requests finishes")
    output_tokens_per_s: float = Field(description="all output tokens / elapsed_s")
    input_tokens_per_s: float
    total_tokens_per_s: float
    ttft_s: float = Field(description="mean time to first token over requests")
    tpot_s: float = Field(description="mean time per output token after the first")
    e2e_s: float = Field(description="mean end-to-end latency over requests")
    request_tokens_per_s: float = Field(description="mean over requests of output tokens / "
                                                    "own latency (speed a user sees)")
    concurrency: int = Field(description="requests the engine admits at once")
    waves: int
    steps: float
    bottleneck: Literal["compute", "memory", "communication", "overhead"]
    breakdown_s: StepTimeBreakdown
    prefill_s: float = Field(description="wall time attributed to prefill: what the steps "
                                         "took beyond the decodes they carried")
    decode_s: float = Field(description="wall time the decodes alone would have taken")
    output_tokens_per_s_interval: tuple[float, float] | None = Field(
        None, description="95% prediction interval, from a calibrated profile's "
                          "cross-validated residuals")


class MemorySummary(BaseModel):
    """Per-GPU memory plan of a deployment."""

    model_config = ConfigDict(frozen=True)

    device_gb: float
    engine_gb: float
    weights_gb: float
    activations_gb: float
    kv_cache_gb: float
    kv_bytes_per_token: float = Field(description="per GPU, all layers of a stage")
    kv_tokens: int = Field(description="tokens of KV cache the replica holds")
    max_sequences: int = Field(description="requests of this shape that fit at once, "
                                           "capped by the engine's max_num_seqs")


class EstimateResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_version: str = ESTIMATE_SCHEMA
    model: str
    hardware: str
    engine: str
    tp: int
    pp: int
    ep: int
    num_gpus: int
    precision: str
    kv_dtype: str
    method: Literal["closed_form", "simulation"]
    memory: MemorySummary
    points: list[EstimatePoint]
    warnings: list[str] = Field(default_factory=list)
    calibration: dict[str, object] | None = None
