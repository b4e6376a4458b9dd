"""Architecture accounting pinned to independently computed values.

Each expected number is written out by hand from the model's published dimensions (the
flat formula next to it), or is the vendor's stated figure; none calls the code under test.
"""

from __future__ import annotations

import math

import pytest

from tokenomist.arch import (
    article_prefill_flops,
    decode_flops,
    kv_bytes_per_token,
    kv_cache_bytes,
    param_breakdown,
    prefill_flops,
    preset_ids,
    resolve_model,
    weight_bytes,
)

EXPECTED_PRESETS = {
    "llama-3.1-8b", "llama-3.3-70b", "llama-3.1-405b", "mixtral-8x7b", "qwen3-32b",
    "qwen3-30b-a3b", "qwen3-235b-a22b", "deepseek-v3", "deepseek-r1", "gpt-oss-20b",
    "gpt-oss-120b", "gemma-3-27b", "mistral-small-3.1-24b",
}


def test_all_presets_ship() -> None:
    assert set(preset_ids()) >= EXPECTED_PRESETS


# --- the article's own figures (Llama 3.3 70B) ---------------------------------------

def test_article_llama_70b_parameters_exact() -> None:
    # vocab*h + L*(12.75 h^2 + 2h) + h + h*vocab, h=8192, L=80, vocab=128256
    h, layers, vocab = 8192, 80, 128256
    article = vocab * h + layers * (12.75 * h * h + 2 * h) + h + h * vocab
    assert article == 70_553_706_496
    assert param_breakdown(resolve_model("llama-3.3-70b")).total == 70_553_706_496


def test_article_llama_70b_kv_cache_2048_tokens() -> None:
    # 2 (K,V) x 2 bytes x 80 layers x 128 head dim x 8 KV heads x 2048 tokens
    assert 2 * 2 * 80 * 128 * 8 * 2048 == 671_088_640
    arch = resolve_model("llama-3.3-70b")
    assert float(kv_cache_bytes(arch, 2048, "bf16")) == 671_088_640
    assert kv_bytes_per_token(arch, "bf16") == 327_680


def test_article_prefill_flops_convention() -> None:
    # the article: 80*(10Sh + 25.5 S h^2 + 4 S^2 h + 5 S^2 heads) + 2 S h vocab = 2.9579e14
    s, h = 2048, 8192
    article = 80 * (10 * s * h + 25.5 * s * h**2 + 4 * s**2 * h + 5 * s**2 * 64) \
        + 2 * s * h * 128256
    assert article == pytest.approx(2.9579e14, rel=1e-4)
    assert article_prefill_flops(resolve_model("llama-3.3-70b"), 2048) == pytest.approx(article)


def test_true_prefill_flops_llama_70b_are_causal_and_last_logit_only() -> None:
    # matrix params per layer: q 8192^2 + k,v 2*8192*1024 + o 8192^2 + mlp 3*8192*28672
    per_layer = 8192 * 8192 * 2 + 2 * 8192 * 1024 + 3 * 8192 * 28672
    s = 2048
    linear = 2 * 80 * per_layer * s + 2 * 8192 * 128256  # LM head for the last token only
    attention = 80 * 2 * 64 * (128 + 128) * s * (s + 1) / 2  # causal pairs, QK + PV
    arch = resolve_model("llama-3.3-70b")
    assert float(prefill_flops(arch, s)) == pytest.approx(linear + attention, rel=1e-12)
    # well under the article's count, which squares S and runs the LM head on every token
    assert float(prefill_flops(arch, s)) < 0.97 * article_prefill_flops(arch, s)


def test_decode_flops_llama_70b() -> None:
    per_layer = 8192 * 8192 * 2 + 2 * 8192 * 1024 + 3 * 8192 * 28672
    ctx = 2048
    expected = 2 * (80 * per_layer + 8192 * 128256) + 80 * 2 * 64 * 256 * ctx
    assert float(decode_flops(resolve_model("llama-3.3-70b"), ctx)) == pytest.approx(expected)


# --- true figures where the article simplifies ------------------------------------------

def test_llama_8b_uses_quarter_width_kv_projections() -> None:
    # h=4096, 32 layers, 32 heads, 8 KV heads of 128 -> k,v width 1024 = h/4 (not h/8)
    h, layers, inter, vocab = 4096, 32, 14336, 128256
    per_layer = h * h + 2 * h * 1024 + h * h + 3 * h * inter + 2 * h
    total = 2 * vocab * h + layers * per_layer + h
    assert total == 8_030_261_248
    assert param_breakdown(resolve_model("llama-3.1-8b")).total == total
    assert kv_bytes_per_token(resolve_model("llama-3.1-8b")) == 131_072


# --- every preset ------------------------------------------------------------------------

def _dense(h: int, layers: int, heads: int, kv: int, d: int, inter: int, vocab: int,
           tied: bool, qk_norm: bool = False, norms: int = 2) -> int:
    attn = h * heads * d + 2 * h * kv * d + heads * d * h + (2 * d if qk_norm else 0)
    per_layer = attn + 3 * h * inter + norms * h
    return vocab * h * (1 if tied else 2) + layers * per_layer + h


@pytest.mark.parametrize(
    ("preset", "total", "vendor_billions"),
    [
        ("llama-3.1-405b", _dense(16384, 126, 128, 8, 128, 53248, 128256, False), 405.85),
        ("qwen3-32b", _dense(5120, 64, 64, 8, 128, 25600, 151936, False, True), 32.8),
        ("mistral-small-3.1-24b", _dense(5120, 40, 32, 8, 128, 32768, 131072, False),
         23.572403200),
        # Gemma 3: 4 norms per layer, q/k norms, tied embeddings, vocab 262208
        ("gemma-3-27b", _dense(5376, 62, 32, 16, 128, 21504, 262208, True, True, 4), 27.0),
    ],
)
def test_dense_preset_totals(preset: str, total: int, vendor_billions: float) -> None:
    got = param_breakdown(resolve_model(preset)).total
    assert got == total
    assert got / 1e9 == pytest.approx(vendor_billions, rel=0.01)


def test_mixtral_total_and_active() -> None:
    h, layers, vocab, inter = 4096, 32, 32000, 14336
    attn = h * h * 2 + 2 * h * 1024
    expert = 3 * h * inter
    per_layer = attn + 8 * expert + h * 8 + 2 * h  # router h x 8
    total = 2 * vocab * h + layers * per_layer + h
    p = param_breakdown(resolve_model("mixtral-8x7b"))
    assert p.total == total
    assert p.active == total - layers * 6 * expert
    assert p.total / 1e9 == pytest.approx(46.7, abs=0.05)  # paper: 47B total, 13B active
    assert p.active / 1e9 == pytest.approx(12.9, abs=0.05)


@pytest.mark.parametrize(
    ("preset", "h", "layers", "heads", "kv", "experts", "top_k", "moe_inter", "vocab",
     "total_b", "active_b"),
    [
        ("qwen3-30b-a3b", 2048, 48, 32, 4, 128, 8, 768, 151936, 30.5, 3.3),
        ("qwen3-235b-a22b", 4096, 94, 64, 4, 128, 8, 1536, 151936, 235.0, 22.0),
    ],
)
def test_qwen3_moe(preset: str, h: int, layers: int, heads: int, kv: int, experts: int,
                   top_k: int, moe_inter: int, vocab: int, total_b: float,
                   active_b: float) -> None:
    d = 128
    attn = h * heads * d + 2 * h * kv * d + heads * d * h + 2 * d
    expert = 3 * h * moe_inter
    per_layer = attn + experts * expert + h * experts + 2 * h
    total = 2 * vocab * h + layers * per_layer + h
    p = param_breakdown(resolve_model(preset))
    assert p.total == total
    assert p.active == total - layers * (experts - top_k) * expert
    assert p.total / 1e9 == pytest.approx(total_b, rel=0.01)
    assert p.active / 1e9 == pytest.approx(active_b, rel=0.03)
    assert kv_bytes_per_token(resolve_model(preset)) == 2 * layers * kv * d * 2


@pytest.mark.parametrize("preset", ["deepseek-v3", "deepseek-r1"])
def test_deepseek_mla_and_moe(preset: str) -> None:
    h, layers, heads, vocab = 7168, 61, 128, 129280
    q_lora, kv_lora, nope, rope, v = 1536, 512, 128, 64, 128
    attn = (h * q_lora + q_lora + q_lora * heads * (nope + rope)
            + h * (kv_lora + rope) + kv_lora + kv_lora * heads * (nope + v) + heads * v * h)
    dense_mlp = 3 * h * 18432
    expert = 3 * h * 2048
    moe = 256 * expert + expert + h * 256 + 256  # routed + 1 shared + router + bias
    total = 2 * vocab * h + layers * (attn + 2 * h) + 3 * dense_mlp + 58 * moe + h
    p = param_breakdown(resolve_model(preset))
    assert p.total == total
    assert p.total / 1e9 == pytest.approx(671.0, abs=0.1)  # vendor: 671B (+14B MTP)
    assert p.active == total - 58 * 248 * expert
    assert p.active / 1e9 == pytest.approx(37.5, abs=0.1)  # vendor: 37B
    # MLA caches the 512-d latent plus the 64-d rotary key per layer
    assert kv_bytes_per_token(resolve_model(preset)) == (512 + 64) * 61 * 2 == 70_272


@pytest.mark.parametrize(
    ("preset", "layers", "experts", "total_b", "active_b"),
    [("gpt-oss-120b", 36, 128, 116.83, 5.13), ("gpt-oss-20b", 24, 32, 20.91, 3.61)],
)
def test_gpt_oss(preset: str, layers: int, experts: int, total_b: float,
                 active_b: float) -> None:
    h, heads, kv, d, inter, vocab = 2880, 64, 8, 64, 2880, 201088
    attn = (h * heads * d + heads * d) + 2 * (h * kv * d + kv * d) + heads * d * h + h \
        + heads  # biases and sinks
    expert = 3 * h * inter + 2 * inter + h  # gate_up and down with biases
    per_layer = attn + experts * expert + h * experts + experts + 2 * h
    total = 2 * vocab * h + layers * per_layer + h
    p = param_breakdown(resolve_model(preset))
    assert p.total == total
    assert p.total / 1e9 == pytest.approx(total_b, abs=0.01)
    # OpenAI counts active parameters without the embedding table (unembedding included)
    assert (p.active - p.embedding) / 1e9 == pytest.approx(active_b, abs=0.01)


def test_sliding_window_kv_stops_growing() -> None:
    # gpt-oss: 18 of 36 layers slide over 128 tokens; 2 x 8 x 64 x 2 bytes per layer-token
    arch = resolve_model("gpt-oss-120b")
    per_layer = 2 * 8 * 64 * 2
    assert float(kv_cache_bytes(arch, 100)) == 36 * per_layer * 100
    assert float(kv_cache_bytes(arch, 4096)) == per_layer * (18 * 4096 + 18 * 128)
    # Gemma 3 27B: 52 local layers (window 1024) and 10 global ones
    g = resolve_model("gemma-3-27b")
    assert g.layers_with_window(1024) == 52 and g.layers_with_window(None) == 10
    per = 2 * 16 * 128 * 2
    assert float(kv_cache_bytes(g, 32768)) == per * (10 * 32768 + 52 * 1024)
    # beyond the window, every extra token costs only the global layers: 81,920 B
    growth = float(kv_cache_bytes(g, 40001)) - float(kv_cache_bytes(g, 40000))
    assert growth == 81_920


def test_sliding_window_prefill_pairs() -> None:
    # gpt-oss-20b at S = 300: full layers see S(S+1)/2 pairs, window layers
    # 128*129/2 + (300-128)*128 pairs
    arch = resolve_model("gpt-oss-20b")
    s = 300
    full = s * (s + 1) / 2
    windowed = 128 * 129 / 2 + (s - 128) * 128
    per_pair = 2 * 64 * (64 + 64)
    attention = 12 * per_pair * (full + windowed)
    total = float(prefill_flops(arch, s))
    linear = total - attention
    assert float(prefill_flops(arch, s)) - float(prefill_flops(arch, s, logits_tokens=0)) \
        == pytest.approx(2 * 2880 * 201088)
    # the linear part is exactly proportional to S (plus one LM head row)
    assert float(prefill_flops(arch, 2 * s)) - 2 * linear - 12 * per_pair * (
        (2 * s) * (2 * s + 1) / 2 + 128 * 129 / 2 + (2 * s - 128) * 128) \
        == pytest.approx(-2 * 2880 * 201088, rel=1e-9)


def test_weight_bytes_by_precision() -> None:
    arch = resolve_model("llama-3.1-8b")
    p = param_breakdown(arch)
    assert weight_bytes(arch, "bf16") == 2 * p.total
    linear = p.total - p.embedding - p.lm_head - p.norms
    embeddings = p.embedding + p.lm_head + p.norms
    assert weight_bytes(arch, "fp8") == pytest.approx(linear * 1 + embeddings * 2)
    # int4 with a 16-bit scale and zero point per 128 weights: 0.53125 bytes per weight
    assert weight_bytes(arch, "int4") == pytest.approx(linear * 0.53125 + embeddings * 2)
    # gpt-oss ships its experts in MXFP4 (4.25 bits per weight), the rest in bf16
    g = resolve_model("gpt-oss-120b")
    gp = param_breakdown(g)
    assert weight_bytes(g) == pytest.approx(gp.routed_experts * 0.53125
                                            + (gp.total - gp.routed_experts) * 2)
    assert weight_bytes(g) / 1e9 == pytest.approx(65.0, abs=1.5)  # ~61 GiB on disk


def test_preset_by_hf_repo_id() -> None:
    assert resolve_model("meta-llama/Llama-3.3-70B-Instruct").name == "llama-3.3-70b"
    assert resolve_model("deepseek-ai/DeepSeek-R1").name == "deepseek-r1"


def test_chunk_keys_closed_form_matches_a_sum_over_chunks() -> None:
    """Chunk k of a prompt reads the keys up to prefix + k c (the last one up to prefix +
    length), at most the window: the closed form equals that sum chunk by chunk."""
    from tokenomist.arch import chunk_keys
    for length, chunk, prefix, window in [(4200, 512, 0, None), (4200, 512, 300, 1024),
                                          (100, 2048, 0, None), (2049, 2048, 50, 4096),
                                          (8000, 1000, 0, 128), (1000, 333.5, 10, 2000),
                                          (1000, 256, 5000, 4096)]:
        m = math.ceil(length / chunk)
        ends = [min(prefix + k * chunk, prefix + length) for k in range(1, m + 1)]
        if window is not None:
            ends = [min(e, window) for e in ends]
        assert float(chunk_keys(length, chunk, window, prefix)) == pytest.approx(sum(ends))
    # no chunking (a chunk of 0): one chunk reads the prefix and the prompt, within the window
    assert float(chunk_keys(100, 0, None, 20)) == 120.0
    assert float(chunk_keys(100, 0, 64, 20)) == 64.0
