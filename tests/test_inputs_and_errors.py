"""Bad input gets a clear message that names the problem, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tokenomist import estimate, load_deployment
from tokenomist.arch import parse_config, resolve_model
from tokenomist.errors import (
    ConfigError,
    DoesNotFitError,
    InvalidValueError,
    TokenomistError,
    UnknownNameError,
)
from tokenomist.hardware import load_hardware_file, resolve_hardware
from tokenomist.perf.burst import BurstEstimator


def test_unknown_model_names_close_matches() -> None:
    with pytest.raises(UnknownNameError) as exc:
        resolve_model("llama-3.3-7b")
    assert "llama-3.3-70b" in str(exc.value)
    assert "Did you mean" in str(exc.value)


def test_unknown_hardware_names_close_matches() -> None:
    with pytest.raises(UnknownNameError) as exc:
        resolve_hardware("h100")
    msg = str(exc.value)
    assert "h100-sxm" in msg and "h100-pcie" in msg


def test_config_missing_field_is_named(tmp_path: Path) -> None:
    cfg = json.loads(json.dumps({"model_type": "llama", "hidden_size": 4096,
                                 "num_attention_heads": 32, "vocab_size": 1000,
                                 "intermediate_size": 11008}))
    with pytest.raises(ConfigError) as exc:
        parse_config(cfg, name="x", source="cfg.json")
    assert "num_hidden_layers" in str(exc.value)


def test_config_bad_type_is_named() -> None:
    cfg = {"model_type": "qwen3", "hidden_size": "big", "num_hidden_layers": 2,
           "num_attention_heads": 4, "vocab_size": 10, "intermediate_size": 8}
    with pytest.raises(ConfigError) as exc:
        parse_config(cfg, name="x", source="cfg.json")
    assert "'hidden_size'" in str(exc.value) and "integer" in str(exc.value)


def test_unsupported_model_type_lists_supported() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"model_type": "mamba"}, name="x", source="cfg.json")
    assert "model_type" in str(exc.value) and "llama" in str(exc.value)


def test_malformed_json_config(tmp_path: Path) -> None:
    p = tmp_path / "config.json"
    p.write_text("{ not json")
    with pytest.raises(ConfigError) as exc:
        resolve_model(str(p))
    assert "not valid JSON" in str(exc.value)


def test_config_from_path_and_folder(tmp_path: Path) -> None:
    cfg = {"model_type": "mistral", "hidden_size": 256, "num_hidden_layers": 2,
           "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000,
           "intermediate_size": 512, "max_position_embeddings": 4096}
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(cfg))
    a = resolve_model(str(folder / "config.json"))
    b = resolve_model(str(folder))
    assert a.num_layers == b.num_layers == 2
    assert a.attention.head_dim == 64


def test_tp_must_divide_heads() -> None:
    with pytest.raises(InvalidValueError) as exc:
        load_deployment("llama-3.3-70b", "h100-sxm", tp=3)
    assert "does not divide the 64 attention heads" in str(exc.value)


def test_ep_needs_moe() -> None:
    with pytest.raises(InvalidValueError, match="mixture-of-experts"):
        load_deployment("llama-3.1-8b", "h100-sxm", tp=2, ep=2)


def test_model_that_does_not_fit_says_how_much() -> None:
    with pytest.raises(DoesNotFitError) as exc:
        estimate("llama-3.3-70b", "h100-sxm", tp=1, batch_sizes=[1])
    msg = str(exc.value)
    assert "needs 14" in msg and "GB" in msg and "76.6 GB" in msg


def test_non_positive_lengths_and_batches() -> None:
    with pytest.raises(InvalidValueError, match="input tokens"):
        estimate(input_tokens=0, batch_sizes=[1])
    with pytest.raises(InvalidValueError, match="output tokens"):
        estimate(output_tokens=-3, batch_sizes=[1])
    with pytest.raises(InvalidValueError, match="batch sizes"):
        estimate(batch_sizes=[0])
    with pytest.raises(InvalidValueError, match="at least one batch size"):
        estimate(batch_sizes=[])
    d = load_deployment("llama-3.1-8b", "h100-sxm")
    with pytest.raises(InvalidValueError, match="at least one batch size"):
        BurstEstimator(d).estimate([], 100, 10)


def test_context_longer_than_model_supports() -> None:
    with pytest.raises(InvalidValueError, match="131072-token context"):
        estimate(input_tokens=130000, output_tokens=2000, batch_sizes=[1])


def test_request_larger_than_kv_cache() -> None:
    # Qwen3-32B in bf16 on one H100 keeps ~12 GB for KV (~45k tokens); 40k fits the
    # model's context, 2 x 40k does not fit memory at the same time but one does
    r = estimate("qwen3-32b", "h100-sxm", tp=1, input_tokens=30000, output_tokens=1000,
                 batch_sizes=[1, 4])
    assert r.memory.max_sequences >= 1
    assert r.points[1].waves >= 2


def test_user_hardware_file(tmp_path: Path) -> None:
    spec = {"id": "my-gpu", "name": "My GPU", "memory_gb": 48, "memory_bandwidth_tbps": 1.0,
            "peak_tflops": {"bf16": 200}}
    p = tmp_path / "gpu.json"
    p.write_text(json.dumps(spec))
    acc = resolve_hardware(str(p))
    assert acc.id == "my-gpu" and acc.peak_flops("fp8") is None
    r = estimate("llama-3.1-8b", str(p), tp=1, batch_sizes=[1])
    # decode is bandwidth bound: 300 tokens need at least 300 x 16 GB / 1 TB/s = 4.8 s
    assert r.points[0].elapsed_s > 4.8


def test_bad_hardware_file_names_field(tmp_path: Path) -> None:
    p = tmp_path / "gpu.json"
    p.write_text(json.dumps({"id": "x", "name": "x", "memory_gb": -1,
                             "memory_bandwidth_tbps": 1, "peak_tflops": {"bf16": 1}}))
    with pytest.raises(ConfigError) as exc:
        load_hardware_file(p)
    assert "memory_gb" in str(exc.value)
    p.write_text(json.dumps({"id": "x", "name": "x", "memory_gb": 1,
                             "memory_bandwidth_tbps": 1, "peak_tflops": {"fp8": 1}}))
    with pytest.raises(ConfigError, match="peak_tflops"):
        load_hardware_file(p)


def test_all_user_errors_share_a_base_class() -> None:
    for cls in (UnknownNameError, ConfigError, DoesNotFitError, InvalidValueError):
        assert issubclass(cls, TokenomistError)


@pytest.mark.parametrize("value", [True, "8", 4.0, 0])
def test_api_scheduler_overrides_must_be_positive_integers(value: object) -> None:
    """The profile's own validation would coerce True to 1 and "8" to 8."""
    with pytest.raises(InvalidValueError, match="max_num_seqs must be a positive integer"):
        load_deployment("llama-3.1-8b", "h100-sxm", max_num_seqs=value)  # type: ignore[arg-type]
