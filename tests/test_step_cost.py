"""The per-step cost model against hand-computed rooflines, and its physics."""

from __future__ import annotations

import numpy as np
import pytest

from tokenomist import load_deployment
from tokenomist.deploy import EfficiencyPriors
from tokenomist.perf import CostModel, StepLoad, decode_load

# round-number efficiencies so that expected times can be computed by hand
HALF = EfficiencyPriors(flops=0.5, gemm_half_tokens=0.0, bandwidth=0.5, attention_flops=0.5,
                        attention_bandwidth=0.5, attention_items_half=0.0,
                        attention_page_half_bytes=0.0, step_overhead_s=0.0,
                        seq_overhead_s=0.0, eager_layer_overhead_s=0.0, comm_latency_s=0.0,
                        comm_bandwidth=0.5)

H100_BW = 3.35e12
H100_BF16 = 989.4e12
# Llama 3.1 8B matrix parameters: 32 x (2 x 4096^2 + 2 x 4096 x 1024 + 3 x 4096 x 14336)
L8_MATRIX = 32 * (2 * 4096**2 + 2 * 4096 * 1024 + 3 * 4096 * 14336)
LM_HEAD_8B = 4096 * 128256


def prefill_load(tokens: int, windows: tuple[int | None, ...] = (None,)) -> StepLoad:
    t = np.array(float(tokens))
    pairs = np.array([tokens * (tokens + 1) / 2.0 for _ in windows])
    return StepLoad(tokens=t, seqs=np.array(1.0), decode_seqs=np.array(0.0),
                    logits=np.array(1.0), decode_keys=np.zeros(len(windows)),
                    prefill_pairs=pairs, prefill_keys=np.array([float(tokens)] * len(windows)),
                    eager=np.array(0.0))


def test_decode_step_is_weights_plus_kv_over_bandwidth() -> None:
    d = load_deployment("llama-3.1-8b", "h100-sxm", tp=1)
    cost = CostModel(d, HALF)
    ctx = 4096
    bd = cost.step_time(decode_load(1, ctx, d.model.windows))
    weights = 2 * (L8_MATRIX + LM_HEAD_8B)
    kv = 131072 * ctx  # 32 layers x 2 x 8 heads x 128 x 2 bytes per token
    expected = (weights + kv) / (H100_BW * 0.5)
    assert float(bd.total) == pytest.approx(expected, rel=1e-9)
    assert float(bd.compute) == 0.0  # memory bound


def test_prefill_is_compute_bound_with_causal_attention() -> None:
    d = load_deployment("llama-3.1-8b", "h100-sxm", tp=1)
    cost = CostModel(d, HALF)
    s = 4096
    bd = cost.step_time(prefill_load(s))
    linear = 2 * L8_MATRIX * s / (H100_BF16 * 0.5)
    lm_head = max(2 * LM_HEAD_8B / (H100_BF16 * 0.5), 2 * LM_HEAD_8B / (H100_BW * 0.5))
    attention = 32 * 2 * 32 * (128 + 128) * s * (s + 1) / 2 / (H100_BF16 * 0.5)
    kv_read = 32 * 4096.0 * s / (H100_BW * 0.5)  # 4 KB per token and layer
    expected = linear + lm_head + max(attention, kv_read)
    assert float(bd.total) == pytest.approx(expected, rel=1e-9)
    assert float(bd.compute) > 0.95 * float(bd.total)


def test_batching_amortizes_weight_reads() -> None:
    d = load_deployment("llama-3.3-70b", "h100-sxm", tp=4)
    cost = CostModel(d)
    one = float(cost.step_time(decode_load(1, 2048, d.model.windows)).total)
    many = float(cost.step_time(decode_load(32, 2048, d.model.windows)).total)
    assert many < 1.6 * one  # 32x the tokens for well under 2x the time
    # tokens per second grow almost linearly in the memory-bound regime
    assert (32 / many) / (1 / one) > 20


def test_kv_reads_grow_with_batch_and_context() -> None:
    d = load_deployment("llama-3.1-8b", "h100-sxm", tp=1)
    cost = CostModel(d, HALF)
    t = [float(cost.step_time(decode_load(b, c, d.model.windows)).total)
         for b, c in ((8, 1000), (8, 2000), (16, 2000))]
    per_token_kv = 131072 / (H100_BW * 0.5)
    assert t[1] - t[0] == pytest.approx(8 * 1000 * per_token_kv, rel=1e-6)
    assert t[2] - t[1] == pytest.approx(8 * 2000 * per_token_kv, rel=1e-6)


def test_tensor_parallel_adds_two_all_reduces_per_layer() -> None:
    eff = HALF.model_copy(update={"comm_latency_s": 10e-6})
    d = load_deployment("llama-3.3-70b", "h100-sxm", tp=4)
    bd = CostModel(d, eff).step_time(decode_load(1, 100, d.model.windows))
    msg = 8192 * 2.0  # one token's hidden state in bf16
    per_ar = 10e-6 + 2 * 3 / 4 * msg / (450e9 * 0.5)  # ring all-reduce over NVLink
    assert float(bd.communication) == pytest.approx(160 * per_ar, rel=1e-9)


def test_fp8_weights_halve_traffic_and_use_fp8_units_only_where_they_exist() -> None:
    for hw, fp8_units in (("h100-sxm", True), ("a100-80gb", False)):
        bf16 = load_deployment("llama-3.1-8b", hw, tp=1)
        fp8 = load_deployment("llama-3.1-8b", hw, tp=1, precision="fp8")
        c16, c8 = CostModel(bf16, HALF), CostModel(fp8, HALF)
        assert c8.c.dense_bytes == pytest.approx(c16.c.dense_bytes / 2)
        dec16 = float(c16.step_time(decode_load(1, 512, bf16.model.windows)).total)
        dec8 = float(c8.step_time(decode_load(1, 512, fp8.model.windows)).total)
        assert dec8 < 0.6 * dec16  # memory-bound decode speeds up everywhere
        pre16 = float(c16.step_time(prefill_load(8192)).total)
        pre8 = float(c8.step_time(prefill_load(8192)).total)
        if fp8_units:
            assert pre8 < 0.7 * pre16
        else:  # A100 dequantizes to bf16: compute-bound prefill gains nothing
            assert pre8 == pytest.approx(pre16, rel=0.02)


def test_pipeline_parallel_does_not_speed_up_one_sequence() -> None:
    tp4 = load_deployment("llama-3.3-70b", "h100-sxm", tp=4)
    pp2 = load_deployment("llama-3.3-70b", "h100-sxm", tp=4, pp=2)
    one_tp = float(CostModel(tp4, HALF).step_time(decode_load(1, 100, (None,))).total)
    one_pp = float(CostModel(pp2, HALF).step_time(decode_load(1, 100, (None,))).total)
    # each stage holds half the layers, but the token crosses both stages in turn
    assert one_pp == pytest.approx(one_tp, rel=0.02)
    # with enough sequences both stages work at once on different microbatches
    many_tp = float(CostModel(tp4, HALF).step_time(decode_load(64, 100, (None,))).total)
    many_pp = float(CostModel(pp2, HALF).step_time(decode_load(64, 100, (None,))).total)
    assert many_pp == pytest.approx(many_tp, rel=0.05)


def test_moe_reads_only_touched_experts() -> None:
    d = load_deployment("qwen3-30b-a3b", "h100-sxm", tp=1)
    c = CostModel(d, HALF)
    one = float(c.step_time(decode_load(1, 100, d.model.windows)).total)
    many = float(c.step_time(decode_load(256, 100, d.model.windows)).total)
    expert_bytes = 48 * 128 * 3 * 2048 * 768 * 2  # all experts of all layers
    # one token reads 8 of 128 experts per layer; 256 tokens touch nearly all of them
    touched_one = 8 / 128 * expert_bytes
    touched_many = (1 - (1 - 8 / 128) ** 256) * expert_bytes
    assert many - one == pytest.approx((touched_many - touched_one) / (H100_BW * 0.5), rel=0.05)


def test_breakdown_sums_to_total_and_is_vectorized() -> None:
    d = load_deployment("llama-3.1-8b", "h100-sxm", tp=1)
    bd = CostModel(d).step_time(decode_load(np.array([1.0, 8, 64, 512]), 1000, (None,)))
    assert bd.total.shape == (4,)
    assert np.allclose(bd.compute + bd.memory + bd.communication + bd.overhead, bd.total)
    assert np.all(np.diff(bd.total) > 0)



def test_without_prefill_keeps_the_attention_windows_of_any_load() -> None:
    """A step's decodes alone, for one step given as floats with per-window arrays, or for
    a subset of a vector of steps: the window axis stays, the prefill work is gone."""
    from tokenomist.perf.step_cost import without_prefill
    d = load_deployment("gemma-3-27b", "h200")
    cost = CostModel(d)
    n_w = len(d.model.windows)
    one = StepLoad(tokens=130.0, seqs=3.0, decode_seqs=2.0, logits=3.0,
                   decode_keys=np.full(n_w, 4000.0), prefill_pairs=np.full(n_w, 8000.0),
                   prefill_keys=np.full(n_w, 128.0), eager=1.0)
    alone = without_prefill(one)
    assert np.asarray(alone.prefill_pairs).shape == (n_w,)
    dec = StepLoad(tokens=2.0, seqs=2.0, decode_seqs=2.0, logits=2.0,
                   decode_keys=np.full(n_w, 4000.0), prefill_pairs=np.zeros(n_w),
                   prefill_keys=np.zeros(n_w), eager=1.0)
    assert float(cost.step_time(alone).total) == pytest.approx(float(cost.step_time(dec).total))
    many = StepLoad(tokens=np.array([130.0, 2.0, 50.0]), seqs=np.array([3.0, 2.0, 2.0]),
                    decode_seqs=np.array([2.0, 2.0, 1.0]), logits=np.array([3.0, 2.0, 2.0]),
                    decode_keys=np.full((n_w, 3), 4000.0),
                    prefill_pairs=np.full((n_w, 3), 8000.0),
                    prefill_keys=np.full((n_w, 3), 128.0), eager=np.ones(3))
    part = without_prefill(many, np.array([0, 2]))
    assert np.asarray(part.prefill_pairs).shape == (n_w, 2)
    assert np.all(np.asarray(part.prefill_pairs) == 0.0)
    assert np.asarray(part.tokens).tolist() == [2.0, 1.0]
    assert np.asarray(part.decode_keys).shape == (n_w, 2)
