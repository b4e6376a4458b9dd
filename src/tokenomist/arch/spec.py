"""The architecture of a decoder-only transformer, as the cost model needs it.

A :class:`ModelArch` is built from a Hugging Face ``config.json`` (see ``hf_config``) and is
pure data: every count and byte figure is derived from it by the functions in
``accounting``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class AttentionSpec:
    """Self-attention of one layer.

    ``kind="gqa"`` covers multi-head, grouped-query and multi-query attention;
    ``kind="mla"`` is DeepSeek's multi-head latent attention, whose KV cache holds one
    compressed latent (``kv_lora_rank``) plus a shared rotary key (``qk_rope_head_dim``)
    per token and layer, independent of the number of heads.
    """

    kind: Literal["gqa", "mla"]
    num_heads: int
    num_kv_heads: int
    head_dim: int  # query/key head dimension (MLA: qk_nope + qk_rope)
    v_head_dim: int
    qkv_bias: bool = False
    o_bias: bool = False
    qk_norm: bool = False
    sinks: bool = False  # gpt-oss learned attention sinks: one scalar per head
    # MLA only
    q_lora_rank: int | None = None
    kv_lora_rank: int = 0
    qk_nope_head_dim: int = 0
    qk_rope_head_dim: int = 0


@dataclass(frozen=True)
class DenseMLP:
    """A gated (SwiGLU / GeGLU) feed-forward block: gate, up and down projections."""

    intermediate_size: int
    bias: bool = False


@dataclass(frozen=True)
class MoEMLP:
    """A mixture-of-experts block: a router, routed experts and optional shared experts."""

    num_experts: int
    top_k: int
    expert_intermediate_size: int
    num_shared_experts: int = 0
    shared_intermediate_size: int = 0  # per shared expert
    expert_bias: bool = False  # gpt-oss: biases on gate_up and down projections
    router_bias: bool = False  # gpt-oss router bias; DeepSeek e_score_correction_bias
    shared_expert_gate: bool = False  # Qwen2-MoE: sigmoid gate on the shared expert


@dataclass(frozen=True)
class LayerSpec:
    """One transformer block: attention window (None = full causal) and feed-forward."""

    window: int | None
    mlp: DenseMLP | MoEMLP


@dataclass(frozen=True)
class ModelArch:
    """A decoder-only transformer (text tower only for multimodal checkpoints)."""

    name: str
    model_type: str
    hidden_size: int
    vocab_size: int
    tie_word_embeddings: bool
    attention: AttentionSpec
    layers: tuple[LayerSpec, ...]
    max_context: int
    norms_per_layer: int = 2  # RMSNorm weight vectors of size hidden per block
    # Precision of the published checkpoint, per weight group (see deploy.precision).
    native_precision: dict[str, str] = field(default_factory=dict)
    hf_repo: str | None = None
    extra_params: int = 0  # parameters outside the text decoder (e.g. vision tower), not served
    notes: tuple[str, ...] = ()

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def is_moe(self) -> bool:
        return any(isinstance(layer.mlp, MoEMLP) for layer in self.layers)

    @property
    def windows(self) -> tuple[int | None, ...]:
        """Distinct attention windows, full attention (None) first."""
        seen = {layer.window for layer in self.layers}
        return tuple(sorted(seen, key=lambda w: -1 if w is None else w))

    def layers_with_window(self, window: int | None) -> int:
        return sum(1 for layer in self.layers if layer.window == window)
