"""Architecture accounting: from a Hugging Face ``config.json`` to parameters, bytes, FLOPs."""

from tokenomist.arch.accounting import (
    MatrixParams,
    ParamBreakdown,
    article_prefill_flops,
    causal_pairs,
    chunk_keys,
    decode_flops,
    kv_bytes_per_token,
    kv_bytes_per_token_layer,
    kv_cache_bytes,
    matrix_params,
    param_breakdown,
    prefill_flops,
    weight_bytes,
)
from tokenomist.arch.hf_config import SUPPORTED_MODEL_TYPES, parse_config
from tokenomist.arch.presets import load_config_file, preset_ids, resolve_model
from tokenomist.arch.spec import AttentionSpec, DenseMLP, LayerSpec, ModelArch, MoEMLP

__all__ = [
    "SUPPORTED_MODEL_TYPES",
    "AttentionSpec",
    "DenseMLP",
    "LayerSpec",
    "MatrixParams",
    "MoEMLP",
    "ModelArch",
    "ParamBreakdown",
    "article_prefill_flops",
    "causal_pairs",
    "chunk_keys",
    "decode_flops",
    "kv_bytes_per_token",
    "kv_bytes_per_token_layer",
    "kv_cache_bytes",
    "load_config_file",
    "matrix_params",
    "param_breakdown",
    "parse_config",
    "prefill_flops",
    "preset_ids",
    "resolve_model",
    "weight_bytes",
]
