"""Parameter, memory and FLOP accounting of a :class:`ModelArch`.

Conventions (each stated where it matters):

- Parameters are counted exactly from the shapes, biases and norm weights included.
- *Active* parameters are those a token touches: everything but the routed experts it is
  not sent to (so embeddings count once, as in the total).
- FLOPs count a multiply-add as 2. Linear layers cost 2 x (matrix parameters) per token;
  attention costs 2 x heads x (key dim + value dim) per query-key pair. Causal prefill of
  S tokens has S(S+1)/2 pairs per full-attention layer (each token attends to itself and
  the tokens before it); sliding-window layers stop at the window.
- Serving engines compute logits only for the last position of a prompt, so prefill
  counts the LM head once per sequence (``logits_tokens`` changes that).
- MLA (DeepSeek) prefill runs attention on the decompressed heads (qk 192, v 128); decode
  runs in the latent space ("weight absorption"), 576 x 512 per head and key, which is
  what vLLM and SGLang do. The linear FLOPs are the same either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tokenomist.arch.spec import AttentionSpec, DenseMLP, ModelArch, MoEMLP
from tokenomist.precision import kv_bytes as kv_dtype_bytes
from tokenomist.precision import weight_format


@dataclass(frozen=True)
class ParamBreakdown:
    """Parameter counts by component (whole model, all layers)."""

    embedding: int
    lm_head: int  # 0 when tied to the embedding
    attention: int  # projections, biases, q/k norms, sinks
    dense_mlp: int
    routed_experts: int  # all routed experts of all MoE layers
    routed_experts_active: int  # the top-k of them a token uses
    shared_experts: int
    router: int
    norms: int  # per-layer and final RMSNorm weights

    @property
    def total(self) -> int:
        return (self.embedding + self.lm_head + self.attention + self.dense_mlp
                + self.routed_experts + self.shared_experts + self.router + self.norms)

    @property
    def active(self) -> int:
        return self.total - self.routed_experts + self.routed_experts_active

    @property
    def non_embedding(self) -> int:
        return self.total - self.embedding - self.lm_head


def _attention_params(a: AttentionSpec, h: int) -> int:
    if a.kind == "mla":
        qk = a.qk_nope_head_dim + a.qk_rope_head_dim
        if a.q_lora_rank:
            q = h * a.q_lora_rank + a.q_lora_rank + a.q_lora_rank * a.num_heads * qk
        else:
            q = h * a.num_heads * qk
        kv_a = h * (a.kv_lora_rank + a.qk_rope_head_dim) + a.kv_lora_rank
        kv_b = a.kv_lora_rank * a.num_heads * (a.qk_nope_head_dim + a.v_head_dim)
        o = a.num_heads * a.v_head_dim * h
        return q + kv_a + kv_b + o
    q_out = a.num_heads * a.head_dim
    kv_out = a.num_kv_heads * a.head_dim
    params = h * q_out + 2 * h * kv_out + a.num_heads * a.v_head_dim * h
    if a.qkv_bias:
        params += q_out + 2 * kv_out
    if a.o_bias:
        params += h
    if a.qk_norm:
        params += 2 * a.head_dim
    if a.sinks:
        params += a.num_heads
    return params


def _gated_mlp_params(h: int, inter: int, bias: bool) -> int:
    return 3 * h * inter + ((2 * inter + h) if bias else 0)


def param_breakdown(arch: ModelArch) -> ParamBreakdown:
    h = arch.hidden_size
    attention = arch.num_layers * _attention_params(arch.attention, h)
    dense = routed = routed_active = shared = router = 0
    for layer in arch.layers:
        mlp = layer.mlp
        if isinstance(mlp, DenseMLP):
            dense += _gated_mlp_params(h, mlp.intermediate_size, mlp.bias)
        else:
            per_expert = _gated_mlp_params(h, mlp.expert_intermediate_size, mlp.expert_bias)
            routed += mlp.num_experts * per_expert
            routed_active += mlp.top_k * per_expert
            shared += mlp.num_shared_experts * _gated_mlp_params(h, mlp.shared_intermediate_size,
                                                                  False)
            if mlp.shared_expert_gate:
                shared += h
            router += h * mlp.num_experts + (mlp.num_experts if mlp.router_bias else 0)
    embedding = arch.vocab_size * h
    lm_head = 0 if arch.tie_word_embeddings else arch.vocab_size * h
    norms = arch.num_layers * arch.norms_per_layer * h + h
    return ParamBreakdown(embedding=embedding, lm_head=lm_head, attention=attention,
                          dense_mlp=dense, routed_experts=routed,
                          routed_experts_active=routed_active, shared_experts=shared,
                          router=router, norms=norms)


# ---------------------------------------------------------------------------------------
# Matrix parameters: what the GEMMs read and multiply (no biases or norm vectors).


@dataclass(frozen=True)
class MatrixParams:
    """Matrix-multiply parameters per component, for FLOPs and weight traffic."""

    dense: int  # attention projections + dense MLPs + shared experts + routers
    expert: int  # one routed expert of one layer (all MoE layers identical)
    moe_layers: int
    num_experts: int
    top_k: int
    lm_head: int  # vocab x hidden, read even when tied to the embedding

    @property
    def per_token_active(self) -> int:
        """Matrix parameters one token multiplies through (LM head excluded)."""
        return self.dense + self.moe_layers * self.top_k * self.expert


def matrix_params(arch: ModelArch) -> MatrixParams:
    h = arch.hidden_size
    a = arch.attention
    if a.kind == "mla":
        qk = a.qk_nope_head_dim + a.qk_rope_head_dim
        q = (h * a.q_lora_rank + a.q_lora_rank * a.num_heads * qk) if a.q_lora_rank \
            else h * a.num_heads * qk
        attn = (q + h * (a.kv_lora_rank + a.qk_rope_head_dim)
                + a.kv_lora_rank * a.num_heads * (a.qk_nope_head_dim + a.v_head_dim)
                + a.num_heads * a.v_head_dim * h)
    else:
        attn = h * a.head_dim * (a.num_heads + 2 * a.num_kv_heads) + a.num_heads * a.v_head_dim * h
    dense = arch.num_layers * attn
    expert = moe_layers = num_experts = top_k = 0
    for layer in arch.layers:
        mlp = layer.mlp
        if isinstance(mlp, DenseMLP):
            dense += 3 * h * mlp.intermediate_size
        else:
            moe_layers += 1
            expert = 3 * h * mlp.expert_intermediate_size
            num_experts, top_k = mlp.num_experts, mlp.top_k
            dense += mlp.num_shared_experts * 3 * h * mlp.shared_intermediate_size
            dense += h * mlp.num_experts
    return MatrixParams(dense=dense, expert=expert, moe_layers=moe_layers,
                        num_experts=num_experts, top_k=top_k, lm_head=arch.vocab_size * h)


def moe_spec(arch: ModelArch) -> MoEMLP | None:
    for layer in arch.layers:
        if isinstance(layer.mlp, MoEMLP):
            return layer.mlp
    return None


# ---------------------------------------------------------------------------------------
# Weight bytes


def weight_bytes(arch: ModelArch, precision: str | None = None) -> float:
    """Bytes of all weights when linear layers are stored at ``precision``.

    ``None`` means the checkpoint's own precision (bf16 unless its ``quantization_config``
    says otherwise). Embeddings, the LM head, norms, biases and routers stay in bf16, as in
    the FP8/INT4/FP4 checkpoints engines serve.
    """
    p = param_breakdown(arch)
    dense_fmt, expert_fmt = linear_formats(arch, precision)
    linear_dense = p.attention + p.dense_mlp + p.shared_experts
    return (linear_dense * dense_fmt + p.routed_experts * expert_fmt
            + other_weight_bytes(arch, precision)
            * (p.embedding + p.lm_head + p.router + p.norms))


def other_weight_bytes(arch: ModelArch, precision: str | None) -> float:
    """Bytes per parameter of embeddings, LM head, norms and routers: 16-bit, as in the
    quantized checkpoints, unless the whole model is kept in float32."""
    dense_fmt, _ = linear_formats(arch, precision)
    return 4.0 if dense_fmt >= 4.0 else 2.0


def linear_formats(arch: ModelArch, precision: str | None) -> tuple[float, float]:
    """Bytes per parameter of (dense linear layers, routed experts)."""
    if precision is not None:
        b = weight_format(precision).bytes_per_value
        return b, b
    dense = weight_format(arch.native_precision.get("dense", "bf16")).bytes_per_value
    expert = weight_format(arch.native_precision.get("experts", "bf16")).bytes_per_value
    return dense, expert


# ---------------------------------------------------------------------------------------
# KV cache


def kv_bytes_per_token_layer(arch: ModelArch, kv_dtype: str = "bf16") -> float:
    """Cached bytes per token in one layer (K and V, or the MLA latent)."""
    a = arch.attention
    elem = kv_dtype_bytes(kv_dtype)
    if a.kind == "mla":
        return (a.kv_lora_rank + a.qk_rope_head_dim) * elem
    return 2 * a.num_kv_heads * a.head_dim * elem


def kv_bytes_per_token(arch: ModelArch, kv_dtype: str = "bf16") -> float:
    """Cached bytes per token over all layers, as if every layer kept every token."""
    return arch.num_layers * kv_bytes_per_token_layer(arch, kv_dtype)


def kv_cache_bytes(arch: ModelArch, context: ArrayLike, kv_dtype: str = "bf16") -> NDArray[
        np.float64]:
    """KV-cache bytes of one sequence holding ``context`` tokens (sliding layers capped)."""
    ctx = np.asarray(context, dtype=np.float64)
    per_layer = kv_bytes_per_token_layer(arch, kv_dtype)
    total = np.zeros_like(ctx)
    for window in arch.windows:
        n = arch.layers_with_window(window)
        kept = ctx if window is None else np.minimum(ctx, window)
        total = total + n * per_layer * kept
    return total


# ---------------------------------------------------------------------------------------
# FLOPs


def attention_flops_per_pair(arch: ModelArch, phase: str) -> float:
    """FLOPs of one query-key pair in one layer (QK^T and PV together), all heads."""
    a = arch.attention
    if a.kind == "mla" and phase == "decode":
        return 2.0 * a.num_heads * ((a.kv_lora_rank + a.qk_rope_head_dim) + a.kv_lora_rank)
    return 2.0 * a.num_heads * (a.head_dim + a.v_head_dim)


def causal_pairs(length: ArrayLike, window: int | None = None,
                 prefix: ArrayLike = 0) -> NDArray[np.float64]:
    """Query-key pairs when ``length`` new tokens follow ``prefix`` cached ones.

    Token i (0-based among the new ones) attends to prefix + i + 1 keys, or to the last
    ``window`` of them.
    """
    n = np.asarray(length, dtype=np.float64)
    q = np.asarray(prefix, dtype=np.float64)
    if window is None:
        return n * q + n * (n + 1) / 2
    w = float(window)
    # keys of token i: min(q + i + 1, w); sum over i in [0, n)
    # split at i* where q + i + 1 = w  ->  i* = w - q - 1
    first = np.clip(w - q, 0, n)  # tokens with q+i+1 <= w  (i < w - q)
    grow = first * q + first * (first + 1) / 2
    return grow + (n - first) * w


def chunk_keys(length: ArrayLike, chunk: ArrayLike, window: int | None = None,
               prefix: ArrayLike = 0) -> NDArray[np.float64]:
    """Cached keys the chunks of one prompt read in total: ``length`` new tokens after
    ``prefix`` cached ones, in chunks of ``chunk`` tokens. Chunk k (1-based, of
    m = ceil(length / chunk)) reads the keys up to prefix + k chunk (the last one up to
    prefix + length), or at most the last ``window`` of them. A chunk of zero or less (no
    chunking) is the whole prompt."""
    n = np.asarray(length, dtype=np.float64)
    c = np.asarray(chunk, dtype=np.float64)
    c = np.where(c > 0.0, c, np.maximum(n, 1.0))
    q = np.asarray(prefix, dtype=np.float64)
    m = np.ceil(n / c)  # chunks; all but the last end at q + k c < q + n
    if window is None:
        return np.asarray((m - 1.0) * q + c * m * (m - 1.0) / 2.0 + q + n, dtype=np.float64)
    w = float(window)
    j = np.clip(np.floor((w - q) / c), 0.0, m - 1.0)  # earlier chunks that end within w
    return np.asarray(j * q + c * j * (j + 1.0) / 2.0 + (m - 1.0 - j) * w
                      + np.minimum(q + n, w), dtype=np.float64)


def prefill_flops(arch: ModelArch, tokens: ArrayLike, *, prefix: ArrayLike = 0,
                  logits_tokens: ArrayLike = 1) -> NDArray[np.float64]:
    """FLOPs to prefill ``tokens`` prompt tokens (after ``prefix`` cached ones)."""
    s = np.asarray(tokens, dtype=np.float64)
    m = matrix_params(arch)
    linear = 2.0 * m.per_token_active * s + 2.0 * m.lm_head * np.asarray(logits_tokens, float)
    per_pair = attention_flops_per_pair(arch, "prefill")
    attn = np.zeros_like(s)
    for window in arch.windows:
        attn = attn + arch.layers_with_window(window) * per_pair * causal_pairs(s, window, prefix)
    return np.asarray(linear + attn, dtype=np.float64)


def decode_flops(arch: ModelArch, context: ArrayLike) -> NDArray[np.float64]:
    """FLOPs to generate one token attending to ``context`` keys (itself included)."""
    c = np.asarray(context, dtype=np.float64)
    m = matrix_params(arch)
    linear = 2.0 * (m.per_token_active + m.lm_head)
    per_pair = attention_flops_per_pair(arch, "decode")
    attn = np.zeros_like(c)
    for window in arch.windows:
        kept = c if window is None else np.minimum(c, window)
        attn = attn + arch.layers_with_window(window) * per_pair * kept
    return np.asarray(linear + attn, dtype=np.float64)


def article_prefill_flops(arch: ModelArch, tokens: int) -> float:
    """Prefill FLOPs in the convention of "Tokenomics from first principles".

    The article counts non-causal S x S attention, a softmax of 5 FLOPs per score, RMSNorm
    (4 per element) and RoPE (6 per element) and the LM head for all S positions. Only
    meaningful for dense GQA models; kept so the article's 296 TFLOPs can be reproduced.
    """
    h = arch.hidden_size
    a = arch.attention
    s = float(tokens)
    q_dim = a.num_heads * a.head_dim
    kv_dim = a.num_kv_heads * a.head_dim
    per_layer = (10 * s * h  # two RMSNorms and RoPE
                 + 2 * s * h * q_dim + 2 * 2 * s * h * kv_dim + 2 * s * q_dim * h  # q,k,v,o
                 + 4 * s * s * q_dim + 5 * s * s * a.num_heads)  # QK, PV, softmax
    mlp = 0.0
    for layer in arch.layers:
        if isinstance(layer.mlp, DenseMLP):
            mlp += 3 * 2 * s * h * layer.mlp.intermediate_size
    return arch.num_layers * per_layer + mlp + 2 * s * h * arch.vocab_size
