"""The command line: the estimate contract, tables, and errors without tracebacks."""

from __future__ import annotations

import json

import pytest

from tokenomist.testing.cli import run_cli


def test_estimate_json_contract() -> None:
    r = run_cli("estimate", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--tp", "1",
                "--input-tokens", "2035", "--output-tokens", "300", "--batch-sizes", "1,2,4",
                "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert [p["batch_size"] for p in data["points"]] == [1, 2, 4]
    for p in data["points"]:
        for key in ("batch_size", "input_tokens", "output_tokens", "elapsed_s",
                    "output_tokens_per_s", "ttft_s", "tpot_s"):
            assert key in p
        assert p["input_tokens"] == 2035 and p["output_tokens"] == 300
        assert p["output_tokens_per_s"] == pytest.approx(
            p["batch_size"] * 300 / p["elapsed_s"])
        # elapsed covers the slowest request: at least its TTFT plus 299 decode steps
        assert p["elapsed_s"] >= p["ttft_s"] + 299 * p["tpot_s"] * 0.99


def test_estimate_contract_with_all_options() -> None:
    r = run_cli("estimate", "--model", "qwen3-30b-a3b", "--hardware", "h200", "--tp", "2",
                "--pp", "1", "--ep", "2", "--precision", "fp8", "--kv-dtype", "fp8",
                "--engine", "sglang", "--input-tokens", "1000", "--output-tokens", "200",
                "--batch-sizes", "1,16", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert (data["tp"], data["ep"], data["precision"], data["kv_dtype"], data["engine"]) == (
        2, 2, "fp8", "fp8", "sglang")
    assert len(data["points"]) == 2


def test_estimate_defaults_run_the_article_experiment() -> None:
    r = run_cli("estimate")
    assert r.returncode == 0, r.stderr
    assert "llama-3.3-70b on 4 x h100-sxm" in r.stdout
    for b in ("1", "64", "512"):
        assert f"│ {b.rjust(3)} │" in r.stdout
    assert "memory" in r.stdout  # the bottleneck column


def test_model_and_hardware_tables() -> None:
    r = run_cli("model", "meta-llama/Llama-3.3-70B-Instruct")
    assert r.returncode == 0 and "70,553,706,496" in r.stdout
    r = run_cli("model", "deepseek-v3", "--json")
    assert json.loads(r.stdout)["kv_bytes_per_token"]["bf16"] == 70272
    r = run_cli("hardware")
    assert r.returncode == 0
    for hw in ("a100-80gb", "h100-sxm", "b200", "mi300x", "tpu-v6e", "gaudi3"):
        assert hw in r.stdout
    r = run_cli("hardware", "h100-sxm", "--json")
    assert json.loads(r.stdout)[0]["peak_tflops"]["fp8"] == 1978.9


@pytest.mark.parametrize(("args", "message"), [
    (["estimate", "--model", "llama-70b"], "Unknown model"),
    (["estimate", "--hardware", "h100"], "Did you mean"),
    (["estimate", "--tp", "1"], "does not fit"),
    (["estimate", "--tp", "3"], "does not divide"),
    (["estimate", "--input-tokens", "0"], "positive integer"),
    (["estimate", "--batch-sizes", "4,-1"], "positive integers"),
    (["estimate", "--batch-sizes", "a,b"], "not an integer"),
    (["estimate", "--input-tokens", "140000"], "context"),
    (["estimate", "--precision", "fp3"], "Unknown precision"),
    (["estimate", "--engine", "tgi"], "Unknown engine"),
    (["model", "no/such/config.json"], "does not exist"),
])
def test_bad_input_gives_message_not_traceback(args: list[str], message: str) -> None:
    r = run_cli(*args)
    assert r.returncode != 0
    assert message.lower() in (r.stderr + r.stdout).lower()
    assert "Traceback" not in r.stderr


def test_malformed_config_names_field(tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "config.json"
    p.write_text(json.dumps({"model_type": "llama", "hidden_size": 64,
                             "num_attention_heads": 4, "vocab_size": 10}))
    r = run_cli("estimate", "--model", str(p), "--tp", "1")
    assert r.returncode == 2
    assert "num_hidden_layers" in r.stderr and "Traceback" not in r.stderr


def test_scheduler_overrides_and_bad_values() -> None:
    """--max-num-seqs 1 serializes a burst: four requests take four times one request."""
    args = ["estimate", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--tp", "1",
            "--input-tokens", "1000", "--output-tokens", "100", "--json"]
    one = json.loads(run_cli(*args, "--batch-sizes", "1").stdout)["points"][0]
    r = run_cli(*args, "--batch-sizes", "4", "--max-num-seqs", "1")
    assert r.returncode == 0, r.stderr
    four = json.loads(r.stdout)["points"][0]
    assert four["elapsed_s"] == pytest.approx(4 * one["elapsed_s"], rel=5e-3)
    r = run_cli(*args, "--batch-sizes", "4", "--max-batched-tokens", "0")
    assert r.returncode == 2 and "max_num_batched_tokens" in r.stderr
    assert "Traceback" not in r.stderr


def test_probe_cpu_writes_a_usable_accelerator(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "cpu.json"
    r = run_cli("hardware", "--probe-cpu", str(out), "--probe-threads", "1", "--probe-id", "mine")
    assert r.returncode == 0, r.stderr
    acc = json.loads(out.read_text())
    assert acc["id"] == "mine" and acc["vendor"] == "cpu"
    assert 1e9 < acc["memory_bandwidth_tbps"] * 1e12 < 2e12  # DRAM: GB/s to a few TB/s
    assert 1e9 < acc["peak_tflops"]["fp32"] * 1e12 < 1e14
    # usable wherever an accelerator is: a small model on it, in float32
    r = run_cli("estimate", "--model", str(tmp_path / "cfg" / "config.json"), "--hardware",
                str(out))
    assert r.returncode != 0  # no such config yet: a clear error
    (tmp_path / "cfg").mkdir()
    from tokenomist.testing.gguf_model import SIZES, ModelShape, write_hf_config
    write_hf_config(tmp_path / "cfg" / "config.json", ModelShape(*SIZES["small"]))
    r = run_cli("estimate", "--model", str(tmp_path / "cfg" / "config.json"), "--hardware",
                str(out), "--tp", "1", "--engine", "llamacpp-cpu", "--precision", "fp32",
                "--input-tokens", "100", "--output-tokens", "20", "--batch-sizes", "1,2", "--json")
    assert r.returncode == 0, r.stderr
    pts = json.loads(r.stdout)["points"]
    assert pts[0]["tpot_s"] > 0 and pts[1]["output_tokens_per_s"] > pts[0]["output_tokens_per_s"]
