"""Engine profiles: a serving engine's scheduler limits and efficiency priors.

A profile is data (``data/engines/<id>.json``) validated by :class:`EngineProfile`. The
scheduler part says what the engine does (how many sequences run at once, the token budget
of a step, whether prefills are chunked, how much memory goes to the KV cache, when a
request is admitted). The efficiency part says how close to the hardware's peaks it gets
(fractions of peak FLOPs and bandwidth, overheads in seconds). Every profile names its
sources, or the measurements its efficiencies were fitted on.

Users can pass a path to their own profile JSON (e.g. one written by
``tokenomist calibrate``) wherever an engine id is accepted.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tokenomist._validation import read_json, validate
from tokenomist.errors import ConfigError, UnknownNameError

_SCALARS = (int, float, np.integer, np.floating)


class SchedulerLimits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_num_seqs: int = Field(ge=1, description="sequences running at once")
    max_num_batched_tokens: int = Field(ge=1, description="token budget of one step")
    chunked_prefill: bool = Field(
        description="long prompts are split into chunks of at most the step budget; "
                    "otherwise a prompt is processed whole in one step")
    mixed_batches: bool = Field(
        True, description="prefill chunks share steps with decodes (vLLM, TensorRT-LLM, "
                          "llama.cpp); otherwise prefill steps run alone and take priority, "
                          "pausing decodes (SGLang default, vLLM V0 without chunking)")
    memory_fraction: float = Field(
        gt=0, le=1, description="share of device memory the engine uses for weights, "
                                "activations and KV cache (vLLM gpu_memory_utilization)")
    memory_mode: Literal["total", "free"] = Field(
        "total", description="'total': memory_fraction of device memory holds weights, "
                             "activations and KV cache (vLLM, SGLang); 'free': the KV cache "
                             "gets memory_fraction of what is free after weights and "
                             "activations (TensorRT-LLM kv_cache_free_gpu_mem_fraction)")
    kv_block_size: int = Field(16, ge=1, description="tokens per KV-cache page")
    admission: Literal["prompt", "full"] = Field(
        description="'prompt': admit when the prompt's blocks fit, preempt (recompute) the "
                    "newest request when memory runs out (vLLM, SGLang); 'full': admit only "
                    "when prompt + max output fit (TensorRT-LLM GUARANTEED_NO_EVICT)")
    watermark: float = Field(0.01, ge=0, lt=1,
                             description="share of KV blocks kept free at admission")
    activation_reserve_gib: float = Field(
        1.0, ge=0, description="fixed memory for CUDA graphs, NCCL buffers, allocator slack")
    cuda_graph_max_batch: int = Field(0, ge=0, description="0: no CUDA graphs")
    cuda_graph_max_context: int = Field(
        0, ge=0, description="steps with a longer context run eagerly (vLLM V0 "
                             "max_seq_len_to_capture); 0 = no limit")
    cuda_graph_mixed_steps: bool = Field(
        False, description="whether steps that contain a prefill chunk also use CUDA graphs")

    def runs_eager(self, seqs: Any, max_ctx: Any, has_prefill: Any) -> Any:
        """1.0 where a step of ``seqs`` sequences, the longest holding ``max_ctx`` tokens,
        runs without CUDA graphs (0.0 where a captured graph replays). Floats in, a float
        out (the simulator's scalar path); arrays broadcast."""
        graph, ctx = self.cuda_graph_max_batch, self.cuda_graph_max_context
        if isinstance(seqs, _SCALARS) and isinstance(max_ctx, _SCALARS) \
                and not isinstance(has_prefill, np.ndarray):
            eager = graph == 0 or seqs > graph or (ctx > 0 and max_ctx > ctx) \
                or (bool(has_prefill) and not self.cuda_graph_mixed_steps)
            return 1.0 if eager else 0.0
        if graph == 0:
            return np.ones(np.broadcast(seqs, max_ctx, has_prefill).shape)
        out = np.asarray(seqs) > graph
        if not self.cuda_graph_mixed_steps:
            out = out | np.asarray(has_prefill, bool)
        if ctx:
            out = out | (np.asarray(max_ctx) > ctx)
        return np.broadcast_to(out, np.broadcast(seqs, max_ctx, has_prefill).shape) \
            .astype(float)


class EfficiencyPriors(BaseModel):
    """Achieved fractions of peak and overheads; the interpretable knobs of calibration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    flops: float = Field(gt=0, le=1, description="fraction of peak matrix FLOPs in large GEMMs")
    gemm_half_tokens: float = Field(
        ge=0, description="tokens per GEMM at which it reaches half of `flops` (tile and wave "
                          "quantization of small GEMMs)")
    bandwidth: float = Field(gt=0, le=1, description="fraction of peak HBM bandwidth "
                                                     "when streaming weights")
    attention_flops: float = Field(gt=0, le=1, description="fraction of peak in prefill "
                                                           "attention (FlashAttention)")
    attention_bandwidth: float = Field(
        gt=0, le=1, description="fraction of peak bandwidth reading a paged KV cache when "
                                "the kernel has plenty of parallel work")
    attention_items_half: float = Field(
        ge=0, description="decode attention work items per GPU (decoding sequences x local "
                          "KV heads) at which the kernel reaches half of "
                          "`attention_bandwidth`: few items leave SMs idle")
    attention_page_half_bytes: float = Field(
        0.0, ge=0, description="contiguous bytes of one KV page (block size x local KV heads x "
                               "head dim x dtype) at which decode attention reaches half of "
                               "`attention_bandwidth`: small pages read inefficiently")
    step_overhead_s: float = Field(ge=0, description="fixed CPU/launch time per step")
    seq_overhead_s: float = Field(ge=0, description="scheduling, sampling and detokenizing "
                                                    "time per sequence per step")
    eager_layer_overhead_s: float = Field(
        ge=0, description="extra time per layer for a step run without CUDA graphs")
    comm_latency_s: float = Field(ge=0, description="latency of one collective "
                                                    "(all-reduce, all-to-all, p2p)")
    comm_bandwidth: float = Field(gt=0, le=1, description="fraction of the scale-up link "
                                                          "bandwidth a collective achieves")


class CalibrationInfo(BaseModel):
    """How a profile was calibrated, and how wrong it was on data it had and had not seen."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    hardware: str
    tp: int = 1
    pp: int = 1
    files: list[str]
    points: int
    params: dict[str, float]
    stderr: dict[str, float]
    in_sample_mape: float
    cv_mape: float | None = None
    cv_scheme: str = ""
    residual_log_sd: float = Field(
        ge=0, description="standard deviation of log(predicted / measured) throughput, "
                          "cross-validated where possible: the width of prediction intervals")
    date: str = ""


class EngineProfile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    version: str = Field(description="engine versions whose behaviour the profile describes")
    scheduler: SchedulerLimits
    efficiency: EfficiencyPriors
    sources: list[str] = Field(default_factory=list)
    fitted_on: list[str] = Field(default_factory=list,
                                 description="measurements the efficiencies were fitted on")
    notes: str = ""
    calibration: CalibrationInfo | None = None

    def with_scheduler(self, **changes: object) -> EngineProfile:
        """The profile with some scheduler limits changed (validated like a profile
        file: a zero or negative limit is an error naming it)."""
        sched = validate(SchedulerLimits, {**self.scheduler.model_dump(), **changes},
                         f"engine profile {self.id}: scheduler")
        return self.model_copy(update={"scheduler": sched})


@cache
def builtin_engines() -> dict[str, EngineProfile]:
    out: dict[str, EngineProfile] = {}
    folder = resources.files("tokenomist") / "data" / "engines"
    import json
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            prof = validate(EngineProfile, json.loads(entry.read_text(encoding="utf-8")),
                            f"built-in engine profile {entry.name}")
            out[prof.id] = prof
    return out


def engine_ids() -> list[str]:
    return list(builtin_engines())


def load_engine_file(path: Path) -> EngineProfile:
    data = read_json(path)
    if isinstance(data, dict) and "engine" in data and isinstance(data["engine"], dict):
        data = data["engine"]  # a calibration output embeds the fitted profile
    return validate(EngineProfile, data, str(path))


def resolve_engine(name: str) -> EngineProfile:
    engines = builtin_engines()
    key = name.strip().lower()
    if key in engines:
        return engines[key]
    path = Path(name).expanduser()
    if path.suffix == ".json":
        if not path.exists():
            raise ConfigError(str(path), None, "file does not exist")
        return load_engine_file(path)
    raise UnknownNameError("engine", name, engines)
