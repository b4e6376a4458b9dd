"""A deployment: model x accelerator x parallel layout x precision x engine, and its memory plan.

Layout conventions (as in vLLM and SGLang):

- ``tp`` GPUs split every layer (attention heads, MLP columns, vocabulary); ``pp`` pipeline
  stages split the layers; a replica uses ``tp x pp`` GPUs.
- ``ep`` > 1 (MoE only) places whole experts on ``ep`` of the ``tp`` GPUs of a stage
  (each expert is then split ``tp / ep`` ways); attention stays tensor-parallel.
- When a model has fewer KV heads than ``tp``, each GPU keeps a copy of one KV head (the
  KV cache and K/V projections are replicated ``tp / kv_heads`` times). MLA's latent cache
  is replicated on every TP rank.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tokenomist.arch.accounting import (
    kv_bytes_per_token_layer,
    linear_formats,
    other_weight_bytes,
    param_breakdown,
)
from tokenomist.arch.spec import DenseMLP, ModelArch, MoEMLP
from tokenomist.deploy.engine import EngineProfile
from tokenomist.deploy.speculative import Speculation
from tokenomist.errors import DoesNotFitError, InvalidValueError
from tokenomist.hardware.catalog import GIB, Accelerator
from tokenomist.precision import kv_bytes, weight_format

GB = 1e9


@dataclass(frozen=True)
class Deployment:
    """Everything that fixes the cost of a step; validated on construction."""

    model: ModelArch
    hardware: Accelerator
    engine: EngineProfile
    tp: int = 1
    pp: int = 1
    ep: int = 1
    precision: str | None = None  # weights of linear layers; None = checkpoint's own
    kv_dtype: str = "bf16"
    speculative: Speculation | None = None
    # MoE with expert parallelism: tokens on the busiest expert rank / the mean (>= 1)
    expert_imbalance: float = 1.0

    def __post_init__(self) -> None:
        m, a = self.model, self.model.attention
        for name in ("tp", "pp", "ep"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InvalidValueError(f"--{name} must be a positive integer, got {value!r}")
        if a.num_heads % self.tp:
            raise InvalidValueError(
                f"--tp {self.tp} does not divide the {a.num_heads} attention heads of "
                f"{m.name}; use one of {_divisors(a.num_heads)}")
        if a.kind == "gqa":
            kv = a.num_kv_heads
            if (kv >= self.tp and kv % self.tp) or (kv < self.tp and self.tp % kv):
                raise InvalidValueError(
                    f"--tp {self.tp} is incompatible with the {kv} KV heads of {m.name}: "
                    "it must divide them or be a multiple of them")
        if self.pp > m.num_layers:
            raise InvalidValueError(f"--pp {self.pp} exceeds the {m.num_layers} layers of "
                                    f"{m.name}")
        if self.ep > 1:
            moe = self.moe
            if moe is None:
                raise InvalidValueError(f"--ep {self.ep} needs a mixture-of-experts model; "
                                        f"{m.name} is dense")
            if self.tp % self.ep:
                raise InvalidValueError(f"--ep {self.ep} must divide --tp {self.tp} (experts "
                                        "are spread over the GPUs of a stage)")
            if moe.num_experts % self.ep:
                raise InvalidValueError(f"--ep {self.ep} does not divide the "
                                        f"{moe.num_experts} experts of {m.name}")
        domain = self.hardware.scale_up.domain_size if self.hardware.scale_up else 8
        if self.tp > domain:
            raise InvalidValueError(
                f"--tp {self.tp} exceeds the scale-up domain of {self.hardware.id} "
                f"({domain} accelerators); tensor parallelism across nodes is not modelled, "
                "use --pp for more nodes")
        if self.precision is not None:
            weight_format(self.precision)  # raises on unknown names
        kv_bytes(self.kv_dtype)
        if not 1.0 <= self.expert_imbalance < math.inf:
            raise InvalidValueError(f"expert imbalance is the busiest rank's load over the "
                                    f"mean, at least 1; got {self.expert_imbalance}")
        if self.ep > 1 and self.expert_imbalance > self.ep:
            raise InvalidValueError(f"expert imbalance {self.expert_imbalance} is impossible "
                                    f"with --ep {self.ep}: the busiest of {self.ep} ranks "
                                    f"carries at most {self.ep}x the mean")
        if self.speculative is not None and self.speculative.draft_model is not None:
            draft = self.speculative.draft_model
            if param_breakdown(draft).total >= param_breakdown(m).total:
                raise InvalidValueError(f"the draft model {draft.name} is not smaller than "
                                        f"{m.name}: speculation needs a cheap drafter")
            self.draft_deployment  # validates the draft's layout  # noqa: B018

    @cached_property
    def draft_deployment(self) -> Deployment | None:
        """The draft model of speculative decoding, on the same GPUs (the largest TP degree
        up to this one that its heads allow; replicated over the rest)."""
        spec = self.speculative
        if spec is None or spec.draft_model is None:
            return None
        draft = spec.draft_model
        for tp in range(self.tp, 0, -1):
            if self.tp % tp:
                continue
            try:
                return Deployment(draft, self.hardware, self.engine, tp=tp,
                                  precision=self.precision, kv_dtype=self.kv_dtype)
            except InvalidValueError:
                continue
        raise InvalidValueError(f"draft model {draft.name} cannot be laid out on "
                                f"{self.tp} GPUs")  # pragma: no cover - tp=1 always works

    # ------------------------------------------------------------------ layout helpers
    @property
    def num_gpus(self) -> int:
        return self.tp * self.pp

    @property
    def moe(self):  # type: ignore[no-untyped-def]
        from tokenomist.arch.accounting import moe_spec
        return moe_spec(self.model)

    @property
    def kv_heads_per_gpu(self) -> float:
        a = self.model.attention
        if a.kind == "mla":
            return 1.0
        return max(a.num_kv_heads / self.tp, 1.0)

    @property
    def kv_replication(self) -> float:
        """How many copies of each KV head the TP group holds (1 = none)."""
        a = self.model.attention
        if a.kind == "mla":
            return float(self.tp)
        return self.tp * self.kv_heads_per_gpu / a.num_kv_heads

    @cached_property
    def kv_bytes_per_token_layer_gpu(self) -> float:
        """KV bytes one GPU stores per token and layer."""
        total = kv_bytes_per_token_layer(self.model, self.kv_dtype)
        return total * self.kv_replication / self.tp

    @cached_property
    def replicated_attention_params(self) -> float:
        """Attention parameters held by every TP rank on top of its share (counted once
        per extra copy): K/V projections when there are fewer KV heads than ranks, MLA's
        down-projections."""
        m = self.model
        a = m.attention
        if a.kind == "gqa" and self.kv_replication > 1:
            kv_proj = 2 * m.hidden_size * a.num_kv_heads * a.head_dim
            return float(kv_proj * (self.kv_replication - 1) * m.num_layers)
        if a.kind == "mla":
            down = m.hidden_size * ((a.q_lora_rank or 0) + a.kv_lora_rank + a.qk_rope_head_dim)
            return float(down * (self.tp - 1) * m.num_layers)
        return 0.0

    @cached_property
    def weight_bytes_per_gpu(self) -> float:
        """Weight bytes on one GPU (replicated parts included), assuming even PP stages."""
        m = self.model
        p = param_breakdown(m)
        dense_b, expert_b = linear_formats(m, self.precision)
        replicated = self.replicated_attention_params
        linear_dense = p.attention + p.dense_mlp + p.shared_experts
        other_b = other_weight_bytes(m, self.precision)
        per_stage = ((linear_dense + replicated) * dense_b + p.routed_experts * expert_b
                     + other_b * (p.embedding + p.lm_head + p.router)) / self.tp
        per_stage += other_b * p.norms  # norms are replicated
        return per_stage / self.pp

    # ------------------------------------------------------------------ memory plan
    @cached_property
    def speculative_overheads(self) -> tuple[float, float]:
        """(weight bytes, KV bytes per token) one GPU adds for the drafter."""
        spec = self.speculative
        if spec is None:
            return 0.0, 0.0
        dd = self.draft_deployment
        if dd is not None:
            return (dd.weight_bytes_per_gpu,
                    dd.kv_bytes_per_token_layer_gpu * dd.model.num_layers)
        share = spec.mtp_layers / self.model.num_layers  # MTP layers: like target layers
        return (self.weight_bytes_per_gpu * share * self.pp,
                self.kv_bytes_per_token_layer_gpu * spec.mtp_layers)

    @cached_property
    def memory(self) -> MemoryPlan:
        return plan_memory(self)

    def check_fits(self) -> MemoryPlan:
        plan = self.memory
        if not plan.fits:
            draft_w, _ = self.speculative_overheads
            drafter = (f" (of which {draft_w / GB:.1f} GB for the speculative drafter)"
                       if draft_w else "")
            raise DoesNotFitError(
                plan.needed_min_bytes / GB, plan.engine_bytes / GB,
                f"{self.model.name} weights{drafter} take {plan.weight_bytes / GB:.1f} GB per "
                f"GPU at "
                f"{self.precision or 'checkpoint'} precision on {self.num_gpus} x "
                f"{self.hardware.id} (TP {self.tp}, PP {self.pp}); the engine uses "
                f"{self.engine.scheduler.memory_fraction:.0%} of {self.hardware.memory_gb:g} GB "
                "and needs room for activations and one full-length request's KV cache. "
                "Use more GPUs (--tp/--pp), a smaller --precision or --kv-dtype fp8.")
        return plan

    def context_limit(self) -> int:
        return self.model.max_context


@dataclass(frozen=True)
class MemoryPlan:
    """Per-GPU memory budget of a deployment."""

    device_bytes: float
    engine_bytes: float  # device memory the engine may use
    weight_bytes: float
    activation_bytes: float
    kv_bytes: float  # left for the KV cache (may be negative)
    kv_bytes_per_token_layer: float  # per GPU
    layers_per_stage: float
    block_size: int
    # (window or None, share of layers): sliding-window layers stop growing at the window
    window_shares: tuple[tuple[int | None, float], ...] = ((None, 1.0),)

    @property
    def kv_bytes_per_token(self) -> float:
        """KV bytes per token per GPU for all layers of a stage (all layers kept)."""
        return self.kv_bytes_per_token_layer * self.layers_per_stage

    @property
    def kv_blocks(self) -> int:
        per_block = self.kv_bytes_per_token * self.block_size
        return max(int(self.kv_bytes // per_block), 0) if per_block > 0 else 0

    @property
    def kv_tokens(self) -> int:
        """Tokens of KV cache (in full-attention layers) the replica can hold."""
        return self.kv_blocks * self.block_size

    @property
    def needed_min_bytes(self) -> float:
        return self.weight_bytes + self.activation_bytes + self.kv_bytes_per_token * 16

    @property
    def fits(self) -> bool:
        return self.kv_blocks > 0

    def kv_token_cost(self, context: ArrayLike) -> NDArray[np.float64]:
        """Full-layer token equivalents a sequence of ``context`` tokens occupies.

        Equal to ``context`` for models without sliding-window layers; window layers only
        keep their last ``window`` tokens (engines free the pages that fall out).
        """
        c = np.asarray(context, dtype=np.float64)
        out = np.zeros_like(c)
        for window, share in self.window_shares:
            out = out + share * (c if window is None else np.minimum(c, window))
        return out

    def blocks(self, context: ArrayLike) -> NDArray[np.float64]:
        """KV pages a sequence of ``context`` tokens holds (its last page partly filled;
        a cost within rounding of a page boundary fills whole pages)."""
        return np.ceil(self.kv_token_cost(context) / self.block_size - 1e-9)

    def watermark_blocks(self, watermark: float) -> int:
        """KV pages the engine keeps free (the ``watermark`` share)."""
        return int(watermark * self.kv_blocks)

    def usable_blocks(self, watermark: float) -> int:
        """KV pages open to admission: all but the watermark's."""
        return self.kv_blocks - self.watermark_blocks(watermark)

    def max_sequences(self, tokens_per_sequence: int, max_num_seqs: int) -> int:
        """Sequences of ``tokens_per_sequence`` that fit at once (capped by the engine)."""
        blocks_each = int(self.blocks(tokens_per_sequence))
        return min(self.kv_blocks // max(blocks_each, 1), max_num_seqs)


def plan_memory(d: Deployment) -> MemoryPlan:
    s = d.engine.scheduler
    device = d.hardware.memory_bytes
    engine_bytes = device * s.memory_fraction
    draft_weights, draft_kv = d.speculative_overheads
    weights = d.weight_bytes_per_gpu + draft_weights
    m = d.model
    # peak activations of the profiling forward pass: max_num_batched_tokens tokens through
    # the widest layer (gate+up output and its product) plus fp32 logits of max_num_seqs rows
    widest = max(_mlp_width(layer.mlp) for layer in m.layers)
    act_tokens = min(s.max_num_batched_tokens, 65536)
    activations = (act_tokens * (3 * widest / d.tp + 6 * m.hidden_size) * 2
                   + s.max_num_seqs * m.vocab_size / d.tp * 4
                   + s.activation_reserve_gib * GIB)
    if s.memory_mode == "free":
        engine_bytes = device
        kv = (device - weights - activations) * s.memory_fraction
    else:
        kv = engine_bytes - weights - activations
    return MemoryPlan(device_bytes=device, engine_bytes=engine_bytes, weight_bytes=weights,
                      activation_bytes=activations, kv_bytes=kv,
                      kv_bytes_per_token_layer=d.kv_bytes_per_token_layer_gpu
                      + draft_kv / (m.num_layers / d.pp),
                      layers_per_stage=m.num_layers / d.pp, block_size=s.kv_block_size,
                      window_shares=tuple((w, m.layers_with_window(w) / m.num_layers)
                                          for w in m.windows))


def _mlp_width(mlp: DenseMLP | MoEMLP) -> int:
    """Intermediate activations per token of a feed-forward block."""
    if isinstance(mlp, DenseMLP):
        return mlp.intermediate_size
    return (mlp.top_k * mlp.expert_intermediate_size
            + mlp.num_shared_experts * mlp.shared_intermediate_size)


def _divisors(n: int) -> list[int]:
    return [k for k in range(1, min(n, 64) + 1) if n % k == 0]
