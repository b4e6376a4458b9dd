"""Parse a Hugging Face ``config.json`` into a :class:`ModelArch`.

Supported ``model_type`` values: llama, mistral, qwen2, qwen3, qwen2_moe, qwen3_moe, mixtral,
deepseek_v3 (and deepseek_v2), gpt_oss, gemma3 / gemma3_text, mistral3 (text tower).
Every missing or malformed field is reported by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tokenomist.arch.spec import AttentionSpec, DenseMLP, LayerSpec, ModelArch, MoEMLP
from tokenomist.errors import ConfigError

_MISSING = object()


class _Fields:
    """Typed access to a config mapping; errors name the field and the file."""

    def __init__(self, data: Mapping[str, Any], source: str, prefix: str = "") -> None:
        self.data = data
        self.source = source
        self.prefix = prefix

    def _name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def get_int(self, key: str, default: Any = _MISSING, minimum: int = 1) -> int:
        value = self.data.get(key, _MISSING)
        if value is _MISSING or value is None:
            if default is _MISSING:
                raise ConfigError(self.source, self._name(key), "required field is missing")
            return int(default)
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ConfigError(self.source, self._name(key),
                                  f"expected an integer, got {value!r}")
        if value < minimum:
            raise ConfigError(self.source, self._name(key),
                              f"must be >= {minimum}, got {value}")
        return int(value)

    def opt_int(self, key: str, minimum: int = 1) -> int | None:
        if self.data.get(key) is None:
            return None
        return self.get_int(key, minimum=minimum)

    def get_bool(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ConfigError(self.source, self._name(key), f"expected true/false, got {value!r}")
        return value

    def get_list(self, key: str) -> list[Any] | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            raise ConfigError(self.source, self._name(key), f"expected a list, got {value!r}")
        return value

    def sub(self, key: str) -> _Fields:
        value = self.data.get(key)
        if not isinstance(value, Mapping):
            raise ConfigError(self.source, self._name(key), "expected an object")
        return _Fields(value, self.source, prefix=f"{self.prefix}{key}.")


def _gqa_attention(f: _Fields, *, qkv_bias: bool = False, o_bias: bool = False,
                   qk_norm: bool = False, sinks: bool = False) -> AttentionSpec:
    hidden = f.get_int("hidden_size")
    heads = f.get_int("num_attention_heads")
    kv_heads = f.get_int("num_key_value_heads", default=heads)
    if heads % kv_heads:
        raise ConfigError(f.source, f._name("num_key_value_heads"),
                          f"{kv_heads} does not divide num_attention_heads={heads}")
    if f.has("head_dim"):
        head_dim = f.get_int("head_dim")
    else:
        if hidden % heads:
            raise ConfigError(f.source, f._name("head_dim"),
                              "missing, and hidden_size is not a multiple of num_attention_heads")
        head_dim = hidden // heads
    return AttentionSpec(kind="gqa", num_heads=heads, num_kv_heads=kv_heads, head_dim=head_dim,
                         v_head_dim=head_dim, qkv_bias=qkv_bias, o_bias=o_bias, qk_norm=qk_norm,
                         sinks=sinks)


def _window_pattern(f: _Fields, num_layers: int, window: int | None,
                    default_pattern: int | None = None) -> list[int | None]:
    """Per-layer windows from ``layer_types`` or ``sliding_window_pattern``."""
    layer_types = f.get_list("layer_types")
    if layer_types is not None:
        if len(layer_types) != num_layers:
            raise ConfigError(f.source, f._name("layer_types"),
                              f"has {len(layer_types)} entries for {num_layers} layers")
        out: list[int | None] = []
        for i, kind in enumerate(layer_types):
            if kind == "sliding_attention":
                if window is None:
                    raise ConfigError(f.source, f._name("sliding_window"),
                                      "layer_types has sliding layers but no sliding_window")
                out.append(window)
            elif kind == "full_attention":
                out.append(None)
            else:
                raise ConfigError(f.source, f._name(f"layer_types[{i}]"),
                                  f"unsupported layer type {kind!r}")
        return out
    pattern = f.get_int("sliding_window_pattern", default=default_pattern or 0, minimum=0) \
        if (f.has("sliding_window_pattern") or default_pattern) else 0
    if pattern and window is not None:
        # every pattern-th layer is global, the others local (Gemma 2/3 convention)
        return [None if (i + 1) % pattern == 0 else window for i in range(num_layers)]
    return [window] * num_layers


def _max_context(f: _Fields) -> int:
    return f.get_int("max_position_embeddings", default=4096)


def _arch(f: _Fields, name: str, model_type: str, attention: AttentionSpec,
          layers: list[LayerSpec], tied: bool = False, **extra: Any) -> ModelArch:
    """The fields every family shares, read the same way."""
    return ModelArch(
        name=name, model_type=model_type, hidden_size=f.get_int("hidden_size"),
        vocab_size=f.get_int("vocab_size"),
        tie_word_embeddings=f.get_bool("tie_word_embeddings", tied), attention=attention,
        layers=tuple(layers), max_context=_max_context(f), **extra)


def _dense_family(f: _Fields, model_type: str, name: str) -> ModelArch:
    """llama, mistral, qwen2, qwen3: dense gated MLP with GQA."""
    num_layers = f.get_int("num_hidden_layers")
    if model_type == "qwen2":
        attn = _gqa_attention(f, qkv_bias=True)
    elif model_type == "qwen3":
        attn = _gqa_attention(f, qkv_bias=f.get_bool("attention_bias", False),
                              o_bias=f.get_bool("attention_bias", False), qk_norm=True)
    else:
        bias = f.get_bool("attention_bias", False)
        attn = _gqa_attention(f, qkv_bias=bias, o_bias=bias)
    window = f.opt_int("sliding_window")
    if model_type in ("qwen2", "qwen3") and not f.get_bool("use_sliding_window", False):
        window = None
    windows = _window_pattern(f, num_layers, window)
    if model_type in ("qwen2", "qwen3") and window is not None:
        # Qwen applies the window to layers at or above max_window_layers
        max_window_layers = f.get_int("max_window_layers", default=num_layers, minimum=0)
        windows = [None if i < max_window_layers else window for i in range(num_layers)]
    mlp = DenseMLP(f.get_int("intermediate_size"), bias=f.get_bool("mlp_bias", False))
    return _arch(f, name, model_type, attn,
                 [LayerSpec(w, mlp) for w in windows])


def _mixtral(f: _Fields, model_type: str, name: str) -> ModelArch:
    num_layers = f.get_int("num_hidden_layers")
    attn = _gqa_attention(f)
    moe = MoEMLP(num_experts=f.get_int("num_local_experts"), top_k=f.get_int("num_experts_per_tok"),
                 expert_intermediate_size=f.get_int("intermediate_size"))
    _check_top_k(f, moe, "num_experts_per_tok")
    window = f.opt_int("sliding_window")
    return _arch(f, name, model_type, attn,
                 [LayerSpec(window, moe) for _ in range(num_layers)])


def _check_top_k(f: _Fields, moe: MoEMLP, key: str) -> None:
    if moe.top_k > moe.num_experts:
        raise ConfigError(f.source, f._name(key),
                          f"top-k {moe.top_k} exceeds the number of experts {moe.num_experts}")


def _qwen_moe(f: _Fields, model_type: str, name: str) -> ModelArch:
    num_layers = f.get_int("num_hidden_layers")
    if model_type == "qwen3_moe":
        attn = _gqa_attention(f, qkv_bias=f.get_bool("attention_bias", False),
                              o_bias=f.get_bool("attention_bias", False), qk_norm=True)
        shared = 0
        shared_size = 0
    else:
        attn = _gqa_attention(f, qkv_bias=True)
        shared_size = f.get_int("shared_expert_intermediate_size", default=0, minimum=0)
        shared = 1 if shared_size else 0
    moe = MoEMLP(num_experts=f.get_int("num_experts"), top_k=f.get_int("num_experts_per_tok"),
                 expert_intermediate_size=f.get_int("moe_intermediate_size"),
                 num_shared_experts=shared, shared_intermediate_size=shared_size,
                 shared_expert_gate=bool(shared))
    _check_top_k(f, moe, "num_experts_per_tok")
    dense = DenseMLP(f.get_int("intermediate_size"))
    step = f.get_int("decoder_sparse_step", default=1)
    mlp_only = set(f.get_list("mlp_only_layers") or [])
    layers = []
    for i in range(num_layers):
        is_moe = i not in mlp_only and (i + 1) % step == 0
        layers.append(LayerSpec(None, moe if is_moe else dense))
    return _arch(f, name, model_type, attn,
                 layers)


def _deepseek(f: _Fields, model_type: str, name: str) -> ModelArch:
    num_layers = f.get_int("num_hidden_layers")
    heads = f.get_int("num_attention_heads")
    nope = f.get_int("qk_nope_head_dim")
    rope = f.get_int("qk_rope_head_dim")
    attn = AttentionSpec(
        kind="mla", num_heads=heads, num_kv_heads=1, head_dim=nope + rope,
        v_head_dim=f.get_int("v_head_dim"), q_lora_rank=f.opt_int("q_lora_rank"),
        kv_lora_rank=f.get_int("kv_lora_rank"), qk_nope_head_dim=nope, qk_rope_head_dim=rope,
    )
    n_shared = f.get_int("n_shared_experts", default=0, minimum=0)
    moe_size = f.get_int("moe_intermediate_size")
    moe = MoEMLP(num_experts=f.get_int("n_routed_experts"), top_k=f.get_int("num_experts_per_tok"),
                 expert_intermediate_size=moe_size, num_shared_experts=n_shared,
                 shared_intermediate_size=moe_size if n_shared else 0,
                 router_bias=model_type == "deepseek_v3")
    _check_top_k(f, moe, "num_experts_per_tok")
    dense = DenseMLP(f.get_int("intermediate_size"))
    first_dense = f.get_int("first_k_dense_replace", default=0, minimum=0)
    freq = f.get_int("moe_layer_freq", default=1)
    layers = [LayerSpec(None, moe if (i >= first_dense and i % freq == 0) else dense)
              for i in range(num_layers)]
    notes: list[str] = []
    mtp = f.get_int("num_nextn_predict_layers", default=0, minimum=0)
    if mtp:
        notes.append(f"{mtp} multi-token-prediction layer(s) ship with the checkpoint but are "
                     "not counted: they are only used for speculative decoding")
    return _arch(f, name, model_type, attn,
                 layers, notes=tuple(notes))


def _gpt_oss(f: _Fields, model_type: str, name: str) -> ModelArch:
    num_layers = f.get_int("num_hidden_layers")
    attn = _gqa_attention(f, qkv_bias=f.get_bool("attention_bias", True),
                          o_bias=f.get_bool("attention_bias", True), sinks=True)
    experts_key = "num_local_experts" if f.has("num_local_experts") else "num_experts"
    experts = f.get_int(experts_key)
    top_k_key = "num_experts_per_tok" if f.has("num_experts_per_tok") else "experts_per_token"
    moe = MoEMLP(num_experts=experts, top_k=f.get_int(top_k_key),
                 expert_intermediate_size=f.get_int("intermediate_size"), expert_bias=True,
                 router_bias=True)
    _check_top_k(f, moe, top_k_key)
    window = f.opt_int("sliding_window")
    windows = _window_pattern(f, num_layers, window)
    if f.get_list("layer_types") is None and window is not None:
        # gpt-oss reference: even layers sliding, odd layers full attention
        windows = [window if i % 2 == 0 else None for i in range(num_layers)]
    return _arch(f, name, model_type, attn,
                 [LayerSpec(w, moe) for w in windows])


# Defaults of transformers' Gemma3TextConfig, used by the published checkpoints, whose
# text_config omits them.
_GEMMA3_TEXT_DEFAULTS: dict[str, Any] = {
    "vocab_size": 262208, "hidden_size": 2304, "intermediate_size": 9216,
    "num_hidden_layers": 26, "num_attention_heads": 8, "num_key_value_heads": 4,
    "head_dim": 256, "max_position_embeddings": 131072, "sliding_window": 4096,
    "sliding_window_pattern": 6, "tie_word_embeddings": True,
}


def _gemma3(f: _Fields, model_type: str, name: str) -> ModelArch:
    if model_type == "gemma3":
        text = f.sub("text_config")
        data = {**_GEMMA3_TEXT_DEFAULTS, **dict(text.data)}
        if "tie_word_embeddings" in f.data:
            data["tie_word_embeddings"] = f.data["tie_word_embeddings"]
        f = _Fields(data, f.source, prefix="text_config.")
    else:
        f = _Fields({**_GEMMA3_TEXT_DEFAULTS, **dict(f.data)}, f.source)
    num_layers = f.get_int("num_hidden_layers")
    attn = _gqa_attention(f, qkv_bias=f.get_bool("attention_bias", False), qk_norm=True)
    window = f.opt_int("sliding_window")
    windows = _window_pattern(f, num_layers, window, default_pattern=6)
    mlp = DenseMLP(f.get_int("intermediate_size"))
    return _arch(f, name, "gemma3_text", attn,
                 [LayerSpec(w, mlp) for w in windows], tied=True, norms_per_layer=4,
        notes=("text tower only: the SigLIP vision encoder is not modelled",)
        if model_type == "gemma3" else ())


def _mistral3(f: _Fields, model_type: str, name: str) -> ModelArch:
    text = f.sub("text_config")
    arch = _dense_family(_Fields(text.data, f.source, prefix="text_config."),
                         str(text.data.get("model_type", "mistral")), name)
    if f.has("max_position_embeddings") and not text.has("max_position_embeddings"):
        arch = _replace_context(arch, f.get_int("max_position_embeddings"))
    return _with_note(arch, "text tower only: the Pixtral vision encoder is not modelled")


def _replace_context(arch: ModelArch, ctx: int) -> ModelArch:
    from dataclasses import replace
    return replace(arch, max_context=ctx)


def _with_note(arch: ModelArch, note: str) -> ModelArch:
    from dataclasses import replace
    return replace(arch, notes=(*arch.notes, note))


_PARSERS: dict[str, Callable[[_Fields, str, str], ModelArch]] = {
    "llama": _dense_family,
    "mistral": _dense_family,
    "qwen2": _dense_family,
    "qwen3": _dense_family,
    "mixtral": _mixtral,
    "qwen2_moe": _qwen_moe,
    "qwen3_moe": _qwen_moe,
    "deepseek_v2": _deepseek,
    "deepseek_v3": _deepseek,
    "gpt_oss": _gpt_oss,
    "gemma3": _gemma3,
    "gemma3_text": _gemma3,
    "mistral3": _mistral3,
}

SUPPORTED_MODEL_TYPES = tuple(sorted(_PARSERS))


def _native_precision(f: _Fields, model_type: str) -> dict[str, str]:
    """Weight precision of the published checkpoint, from ``quantization_config`` (or a
    ``torch_dtype`` / ``dtype`` of float32; 16-bit checkpoints are the default)."""
    q = f.data.get("quantization_config")
    if not isinstance(q, Mapping):
        dtype = f.data.get("torch_dtype", f.data.get("dtype"))
        if dtype == "float32":
            return {"experts": "fp32", "dense": "fp32"}
        return {}
    method = str(q.get("quant_method", "")).lower()
    if method == "mxfp4":
        return {"experts": "fp4"}  # gpt-oss: MoE weights in MXFP4, the rest in bf16
    if method == "fp8":
        return {"experts": "fp8", "dense": "fp8"}
    return {}


def parse_config(data: Mapping[str, Any], *, name: str, source: str,
                 hf_repo: str | None = None) -> ModelArch:
    """Build a :class:`ModelArch` from a parsed ``config.json`` mapping."""
    if not isinstance(data, Mapping):
        raise ConfigError(source, None, "expected a JSON object")
    f = _Fields(data, source)
    model_type = data.get("model_type")
    if not isinstance(model_type, str):
        raise ConfigError(source, "model_type", "required field is missing")
    parser = _PARSERS.get(model_type)
    if parser is None:
        raise ConfigError(source, "model_type",
                          f"unsupported model_type {model_type!r}; supported: "
                          f"{', '.join(SUPPORTED_MODEL_TYPES)}")
    arch = parser(f, model_type, name)
    from dataclasses import replace
    return replace(arch, hf_repo=hf_repo, native_precision=_native_precision(f, model_type))
