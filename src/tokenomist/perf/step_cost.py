"""The one per-step cost model: how long one engine step takes, and why.

A *step* is one forward pass of the engine over a batch: some sequences decode one token,
some prompts advance by a chunk. Its cost is a sum of kernel rooflines on one GPU of a
pipeline stage (each kernel is bound by compute or by memory traffic, whichever is
slower), plus collectives and engine overhead:

- dense linear layers (attention projections, dense MLPs, shared experts, LM head):
  FLOPs = 2 x params x tokens, bytes = their weights, read once per step;
- routed experts: FLOPs for the top-k experts of each token, bytes for the experts the
  batch touches (expected number of distinct experts under uniform routing);
- attention: query-key pairs x FLOPs per pair; bytes = the KV cache the step reads;
- tensor parallelism: two all-reduces per layer; expert parallelism: a dispatch and a
  combine all-to-all per MoE layer; pipeline parallelism: a send per stage boundary;
- overhead: a fixed time per step, a time per sequence (scheduling, sampling,
  detokenizing) and, for steps run without CUDA graphs, a launch time per layer.

Small GEMMs reach a lower fraction of peak: a GEMM over M >= 2 tokens costs as much
compute as if it had ``M + gemm_half_tokens`` tokens (tile and wave quantization); a
single-token step runs matrix-vector kernels, which have no tiles to fill. Decode
attention parallelizes over (sequence, local KV head) work items; with few of them the
GPU's multiprocessors idle, so the achieved fraction of bandwidth is
``attention_bandwidth x W / (W + attention_items_half)`` for W work items.

Everything is vectorized: every field of :class:`StepLoad` may be an array, and the
closed-form estimator, the step simulator, the planner and calibration all call
:meth:`CostModel.step_time`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tokenomist.arch.accounting import (
    attention_flops_per_pair,
    linear_formats,
    matrix_params,
    other_weight_bytes,
)
from tokenomist.deploy.deployment import Deployment
from tokenomist.deploy.engine import EfficiencyPriors
from tokenomist.precision import kv_bytes, weight_format

Array = NDArray[np.float64]
# A quantity of a step: a float for one step (the simulator's scalar fast path) or an
# array for many (the closed form, calibration, the planner). The same code serves both.
Num = Any
Keys = Any  # per attention window: a tuple of floats, or an array (windows, ...)


def _num(x: Any) -> Any:
    """A float for scalars (Python arithmetic is much faster than 0-d arrays), an array
    otherwise."""
    if isinstance(x, float):
        return x
    if isinstance(x, (int, np.integer, np.floating)):
        return float(x)
    a = np.asarray(x, float)
    return float(a) if a.ndim == 0 else a


def _where(cond: Any, a: Any, b: Any) -> Any:
    if isinstance(cond, (bool, np.bool_)):
        return a if cond else b
    return np.where(cond, a, b)


def _all(cond: Any) -> bool:
    return bool(cond) if isinstance(cond, (bool, np.bool_)) else bool(np.all(cond))


def _only(cond: Any, x: Any) -> Any:
    """x where cond holds, else 0 (no mask at all where it holds everywhere, the usual case
    of steps that all run something)."""
    return x if _all(cond) else _where(cond, x, 0.0)


def _max(a: Any, b: float) -> Any:
    return max(a, b) if isinstance(a, float) else np.maximum(a, b)


def _min(a: Any, b: float) -> Any:
    return min(a, b) if isinstance(a, float) else np.minimum(a, b)


def _by_layers(layers: Array, keys: Keys, layers_t: tuple[float, ...]) -> Any:
    """Sum over attention windows of layers x keys (``layers_t``: the same as floats)."""
    if isinstance(keys, (tuple, list)):
        if len(keys) == 1:
            return layers_t[0] * keys[0]
        return sum(n * k for n, k in zip(layers_t, keys, strict=True))
    k = np.asarray(keys, float)
    if k.shape[0] == 1:  # one attention window (most models)
        return layers_t[0] * k[0]
    return np.sum(layers.reshape((-1,) + (1,) * (k.ndim - 1)) * k, axis=0)


def _scale_keys(keys: Keys, f: Any) -> Keys:
    if isinstance(keys, (tuple, list)):
        return tuple(k / f for k in keys)
    return np.asarray(keys, float) / f


@dataclass(frozen=True)
class StepLoad:
    """What one step processes, for the whole replica (arrays broadcast together).

    Attention fields have a leading axis over the model's attention windows
    (``ModelArch.windows``: full attention first); keys are already capped at the window.
    """

    tokens: Num  # new tokens: decodes + prefill chunk tokens
    seqs: Num  # sequences in the step
    decode_seqs: Num  # sequences decoding one token
    logits: Num  # sequences that sample a token this step
    decode_keys: Keys  # (windows, ...) sum over decoding sequences of keys attended
    prefill_pairs: Keys  # (windows, ...) query-key pairs of the prefill chunks
    prefill_keys: Keys  # (windows, ...) cached keys the prefill chunks read
    eager: Num  # 1.0 where the step runs without CUDA graphs


@dataclass(frozen=True)
class StepBreakdown:
    """Seconds per step by cause; ``compute`` and ``memory`` split the kernel time by which
    roofline bound each kernel."""

    compute: Num
    memory: Num
    communication: Num
    overhead: Num

    @property
    def total(self) -> Num:
        return self.compute + self.memory + self.communication + self.overhead

    def __add__(self, other: StepBreakdown) -> StepBreakdown:
        return StepBreakdown(compute=self.compute + other.compute,
                             memory=self.memory + other.memory,
                             communication=self.communication + other.communication,
                             overhead=self.overhead + other.overhead)

    def scaled(self, f: Num) -> StepBreakdown:
        """Every part times f."""
        return StepBreakdown(compute=f * self.compute, memory=f * self.memory,
                             communication=f * self.communication, overhead=f * self.overhead)


@dataclass(frozen=True)
class CostConstants:
    """Per-GPU, per-stage constants of a deployment (derived once)."""

    pp: int
    tp: int
    ep: int
    layers: float  # per stage
    layers_by_window: Array  # per stage, aligned with ModelArch.windows
    dense_flops_per_token: float
    dense_bytes: float
    lm_head_flops_per_logit: float
    lm_head_bytes: float
    moe_layers: float  # per stage
    num_experts: int
    top_k: int
    experts_per_gpu: float
    expert_flops_per_token: float  # all MoE layers of the stage, top-k experts
    expert_bytes_per_layer: float  # one expert's slice on one GPU
    linear_peak: float  # FLOP/s of the GEMM dtype
    attention_peak: float
    bandwidth: float  # bytes/s
    kv_bytes_per_token_layer: float
    attn_flops_pair_prefill: float  # per layer per GPU
    attn_flops_pair_decode: float
    kv_heads_local: float
    page_bytes: float
    hidden: int
    link_bandwidth: float  # bytes/s per direction
    activation_bytes: float  # per element on the wire


def cost_constants(d: Deployment) -> CostConstants:
    m = d.model
    mp = matrix_params(m)
    dense_b, expert_b = linear_formats(m, d.precision)
    # the GEMM dtype: W8A8/W4A4 run on low-precision units when the hardware has them
    fmt = weight_format(d.precision) if d.precision else None
    native = m.native_precision.get("dense") or m.native_precision.get("experts")
    gemm_dtype = fmt.compute_dtype if fmt else (weight_format(native).compute_dtype
                                                if native else "bf16")
    _, linear_peak = d.hardware.matrix_flops(gemm_dtype)
    _, attention_peak = d.hardware.matrix_flops("bf16")
    tp, pp = d.tp, d.pp
    dense_params = (mp.dense + d.replicated_attention_params) / tp / pp
    layers_by_window = np.array([m.layers_with_window(w) for w in m.windows], float) / pp
    return CostConstants(
        pp=pp, tp=tp, ep=d.ep,
        layers=m.num_layers / pp,
        layers_by_window=layers_by_window,
        dense_flops_per_token=2.0 * dense_params,
        dense_bytes=dense_params * dense_b,
        lm_head_flops_per_logit=2.0 * mp.lm_head / tp / pp,
        lm_head_bytes=other_weight_bytes(m, d.precision) * mp.lm_head / tp / pp,
        moe_layers=mp.moe_layers / pp,
        num_experts=mp.num_experts,
        top_k=mp.top_k,
        experts_per_gpu=mp.num_experts / d.ep if mp.moe_layers else 0.0,
        expert_flops_per_token=2.0 * mp.top_k * mp.expert * mp.moe_layers / tp / pp,
        expert_bytes_per_layer=mp.expert * expert_b / (tp / d.ep),
        linear_peak=linear_peak,
        attention_peak=attention_peak,
        bandwidth=d.hardware.bandwidth_bytes_per_s,
        kv_bytes_per_token_layer=d.kv_bytes_per_token_layer_gpu,
        attn_flops_pair_prefill=attention_flops_per_pair(m, "prefill") / tp,
        attn_flops_pair_decode=attention_flops_per_pair(m, "decode") / tp,
        kv_heads_local=d.kv_heads_per_gpu,
        page_bytes=_page_bytes(d),
        hidden=m.hidden_size,
        link_bandwidth=d.hardware.link_bytes_per_s,
        activation_bytes=2.0,
    )


def _page_bytes(d: Deployment) -> float:
    """Contiguous bytes of one KV-cache page on one GPU."""
    a = d.model.attention
    elem = kv_bytes(d.kv_dtype)
    width = (a.kv_lora_rank + a.qk_rope_head_dim) if a.kind == "mla" \
        else 2 * d.kv_heads_per_gpu * a.head_dim
    return float(d.engine.scheduler.kv_block_size * width * elem)


def _roofline(flops: Num, flop_rate: Num, nbytes: Num, byte_rate: Num) -> tuple[Num, Num]:
    """Split max(compute, memory) into (compute-bound part, memory-bound part)."""
    tc = flops / flop_rate
    tm = nbytes / byte_rate
    compute_bound = tc >= tm
    return _where(compute_bound, tc, 0.0), _where(compute_bound, 0.0, tm)


class CostModel:
    """Step times of one deployment under one set of efficiency priors."""

    def __init__(self, deployment: Deployment, efficiency: EfficiencyPriors | None = None):
        self.deployment = deployment
        self.eff = efficiency or deployment.engine.efficiency
        self.c = cost_constants(deployment)
        self.layers_t = tuple(float(x) for x in self.c.layers_by_window)
        dd = deployment.draft_deployment
        self.draft: CostModel | None = CostModel(dd, self.eff) if dd is not None else None

    def with_efficiency(self, eff: EfficiencyPriors) -> CostModel:
        out = CostModel.__new__(CostModel)
        out.deployment, out.eff, out.c = self.deployment, eff, self.c
        out.layers_t = self.layers_t
        out.draft = self.draft.with_efficiency(eff) if self.draft is not None else None
        return out

    @property
    def tokens_per_decode_step(self) -> float:
        """Tokens a decoding sequence gains per step (above 1 with speculative decoding)."""
        spec = self.deployment.speculative
        return 1.0 if spec is None else spec.tokens_per_step

    # ------------------------------------------------------------------------------------
    def stage_time(self, load: StepLoad, decode_width: float = 1.0) -> StepBreakdown:
        """Time of one stage of the pipeline processing ``load`` (one microbatch).

        ``decode_width`` > 1: every decoding sequence runs that many query positions
        against its KV cache (speculative verification; ``load.tokens`` and
        ``load.logits`` already count them)."""
        c, e = self.c, self.eff
        tokens = _num(load.tokens)
        active = tokens > 0
        half = e.gemm_half_tokens
        bw = c.bandwidth * e.bandwidth

        # dense linear layers: a GEMM over M >= 2 tokens costs (M + half) tokens of compute;
        # one token is a matrix-vector product (GEMV kernels, no tiles to fill)
        dense_flops = c.dense_flops_per_token * (tokens + _where(tokens > 1, half, 0.0))
        logits = _num(load.logits)
        lm_flops = c.lm_head_flops_per_logit * (logits + _where(logits > 1, half, 0.0))
        lin_rate = c.linear_peak * e.flops
        sampled = logits > 0
        # (no tokens: no FLOPs already; the weights are read only by a step that runs)
        comp_d, mem_d = _roofline(dense_flops, lin_rate, _only(active, c.dense_bytes), bw)
        comp_h, mem_h = _roofline(lm_flops, lin_rate, _only(sampled, c.lm_head_bytes), bw)
        compute = comp_d + comp_h
        memory = mem_d + mem_h

        # routed experts
        if c.moe_layers > 0:
            # with expert parallelism the busiest rank sets the pace: it routes
            # `imbalance` times the mean number of tokens to its experts
            hot = tokens * (self.deployment.expert_imbalance if c.ep > 1 else 1.0)
            frac_touched = 1.0 - (1.0 - c.top_k / c.num_experts) ** hot
            touched = c.experts_per_gpu * frac_touched
            per_expert_tokens = hot * c.top_k / c.num_experts
            exp_flops = _only(active, c.expert_flops_per_token * hot
                              * (per_expert_tokens + half) / _max(per_expert_tokens, 1e-12))
            exp_bytes = touched * c.expert_bytes_per_layer * c.moe_layers
            comp_e, mem_e = _roofline(exp_flops, lin_rate, exp_bytes, bw)
            compute = compute + comp_e
            memory = memory + mem_e

        # attention
        layers = c.layers_by_window
        layers_t = self.layers_t
        items = _num(load.decode_seqs) * c.kv_heads_local
        page = c.page_bytes / (c.page_bytes + e.attention_page_half_bytes)
        dec_rate = c.bandwidth * e.attention_bandwidth * page * items / _max(
            items + e.attention_items_half, 1e-12)
        kv_rate = c.bandwidth * e.attention_bandwidth
        attn_rate = c.attention_peak * e.attention_flops
        dec_pairs = _by_layers(layers, load.decode_keys, layers_t)
        dec_flops = dec_pairs * c.attn_flops_pair_decode * decode_width
        dec_bytes = dec_pairs * c.kv_bytes_per_token_layer
        pre_flops = _by_layers(layers, load.prefill_pairs, layers_t) * c.attn_flops_pair_prefill
        pre_bytes = _by_layers(layers, load.prefill_keys, layers_t) * c.kv_bytes_per_token_layer
        comp_a, mem_a = _roofline(dec_flops, attn_rate, dec_bytes, _max(dec_rate, 1e-30))
        comp_p, mem_p = _roofline(pre_flops, attn_rate, pre_bytes, kv_rate)
        compute = compute + comp_a + comp_p
        memory = memory + mem_a + mem_p

        # collectives: a latency and a time per byte, per collective; msg = bytes per token
        link = c.link_bandwidth * e.comm_bandwidth
        msg = c.hidden * c.activation_bytes
        latency, per_token = 0.0, 0.0
        if c.tp > 1:
            n_ar = 2.0 * c.layers
            latency += n_ar * e.comm_latency_s
            per_token += n_ar * 2.0 * (c.tp - 1) / c.tp * msg / link
        if c.ep > 1 and c.moe_layers > 0:
            n_a2a = 2.0 * c.moe_layers
            latency += n_a2a * e.comm_latency_s
            per_token += n_a2a * msg * c.top_k * (c.ep - 1) / c.ep \
                * self.deployment.expert_imbalance / link
        if c.pp > 1:
            latency += e.comm_latency_s
            per_token += msg / link
        comm = _only(active, latency + per_token * tokens)
        zero = 0.0 * compute
        return StepBreakdown(compute=compute, memory=memory, communication=comm, overhead=zero)

    def step_time(self, load: StepLoad) -> StepBreakdown:
        """Time for every sequence of the batch to advance by one step.

        With pipeline parallelism the batch is split into ``min(seqs, pp)`` microbatches
        that flow through the ``pp`` stages; each sequence waits ``pp`` stage times.
        """
        c, e = self.c, self.eff
        seqs = _num(load.seqs)
        spec = self.deployment.speculative
        width = 1.0
        if spec is not None:
            # the target verifies k + 1 positions per decoding sequence in one pass
            k = float(spec.num_tokens)
            dec = _num(load.decode_seqs)
            width = float(spec.verify_width)
            load = replace(load, tokens=_num(load.tokens) + k * dec,
                           logits=_num(load.logits) + k * dec)
        if c.pp > 1:
            micro = _max(_min(seqs, float(c.pp)), 1.0)
            scaled = StepLoad(
                tokens=_num(load.tokens) / micro, seqs=seqs / micro,
                decode_seqs=_num(load.decode_seqs) / micro,
                logits=_num(load.logits) / micro,
                decode_keys=_scale_keys(load.decode_keys, micro),
                prefill_pairs=_scale_keys(load.prefill_pairs, micro),
                prefill_keys=_scale_keys(load.prefill_keys, micro),
                eager=load.eager)
            stage = self.stage_time(scaled, width)
            stage = stage.scaled(float(c.pp))  # (a stage has no engine overhead)
        else:
            stage = self.stage_time(load, width)
        if spec is not None:
            stage = stage + self._draft_time(load)
        active = _num(load.tokens) > 0
        eager = _num(load.eager)
        overhead = _only(active, e.step_overhead_s + e.seq_overhead_s * seqs
                         + eager * (e.eager_layer_overhead_s * c.layers * c.pp))
        return replace(stage, overhead=stage.overhead + overhead)


    def _draft_time(self, load: StepLoad) -> StepBreakdown:
        """k proposals for every decoding sequence of the step."""
        spec = self.deployment.speculative
        assert spec is not None
        k = float(spec.num_tokens)
        dec = _num(load.decode_seqs)
        keys = load.decode_keys
        full_keys = keys[0] if isinstance(keys, (tuple, list)) else np.asarray(keys, float)[0]
        mean_ctx = full_keys / _max(dec, 1e-12)
        if self.draft is not None:
            windows = self.draft.deployment.model.windows
            d_load = decode_load(dec, mean_ctx, windows)
            bd = self.draft.stage_time(d_load)
            return bd.scaled(k)
        # multi-token prediction: the MTP layer(s) of the model and its shared LM head
        d_load = decode_load(dec, mean_ctx, self.deployment.model.windows)
        bd = self.stage_time(d_load)
        c, e = self.c, self.eff
        share = spec.mtp_layers / c.layers  # one stage holds c.layers layers
        # the MTP layer and the whole LM head run on one stage
        lm_c, lm_m = _roofline(c.lm_head_flops_per_logit * c.pp * dec,
                               c.linear_peak * e.flops,
                               _where(dec > 0, c.lm_head_bytes * c.pp, 0.0),
                               c.bandwidth * e.bandwidth)
        return StepBreakdown(compute=k * (share * bd.compute + lm_c),
                             memory=k * (share * bd.memory + lm_m),
                             communication=k * share * bd.communication,
                             overhead=0.0 * bd.compute)


def without_prefill(load: StepLoad, steps: NDArray[np.int64] | None = None) -> StepLoad:
    """The same step with its prefill work removed (only the decodes left); of a vector of
    steps, only ``steps`` if given.

    The difference in time between a step and this one is the marginal cost of its prefill
    chunks: the basis for attributing GPU time to input and output tokens.
    """
    if isinstance(load.decode_seqs, float) and isinstance(load.prefill_pairs, tuple):
        dec_f = load.decode_seqs  # one step: keep the cost model's scalar path
        none = (0.0,) * len(load.prefill_pairs)
        return StepLoad(tokens=dec_f, seqs=dec_f, decode_seqs=dec_f, logits=dec_f,
                        decode_keys=load.decode_keys, prefill_pairs=none, prefill_keys=none,
                        eager=load.eager)
    dec = np.asarray(load.decode_seqs, float)
    keys, eager = load.decode_keys, load.eager
    shape = np.shape(load.prefill_pairs)
    if steps is not None:
        dec = dec[steps]
        keys = np.asarray(keys, float)[..., steps]
        eager = np.asarray(eager, float)[steps]
        shape = shape[:-1] + dec.shape
    zeros = np.zeros(shape)
    return StepLoad(tokens=dec, seqs=dec, decode_seqs=dec, logits=dec, decode_keys=keys,
                    prefill_pairs=zeros, prefill_keys=zeros, eager=eager)


def decode_load(batch: ArrayLike, context: ArrayLike, windows: tuple[int | None, ...],
                eager: ArrayLike = 0.0) -> StepLoad:
    """A decode-only step: ``batch`` sequences each attending to ``context`` keys."""
    if isinstance(batch, float) and isinstance(context, float) and isinstance(eager, float):
        # one step (the simulator's scalar path, e.g. a drafter's proposals)
        none = (0.0,) * len(windows)
        keys_t = tuple(batch * (context if w is None else min(context, w)) for w in windows)
        return StepLoad(tokens=batch, seqs=batch, decode_seqs=batch, logits=batch,
                        decode_keys=keys_t, prefill_pairs=none, prefill_keys=none, eager=eager)
    b = np.asarray(batch, float)
    ctx = np.asarray(context, float)
    keys = np.stack([b * (ctx if w is None else np.minimum(ctx, w)) for w in windows])
    zeros = np.zeros_like(keys)
    return StepLoad(tokens=b, seqs=b, decode_seqs=b, logits=b, decode_keys=keys,
                    prefill_pairs=zeros,
                    prefill_keys=zeros, eager=np.broadcast_to(np.asarray(eager, float),
                                                              b.shape).copy())
