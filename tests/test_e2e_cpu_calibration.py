"""The whole loop on this machine: a real llama.cpp server, measured, calibrated, predicted.

A random-weight Llama model of 202 M parameters (F32, 0.8 GB, so that decoding streams the
weights from DRAM as a GPU streams them from HBM) is served by llama.cpp's `llama-server`
on one CPU thread (the other core runs the HTTP side and the benchmark client). The CPU is
described by `tokenomist hardware --probe-cpu` (measured bandwidth and FLOP/s), the model
by the config.json written with it, the engine by the `llamacpp-cpu` priors. A batch sweep
(1, 2, 4, 8) is measured at two shapes, 128 in / 64 out (decode-heavy) and 512 in / 32 out
(prefill-heavy); calibrating on either shape must predict the other within 20% MAPE.
Measured on this shared 2-core VM, run to run: 9.8-16.7% (a one-request burst alone moves
by 20-30%); the shipped priors alone are 14-32% off on the same files.

Each burst runs on a freshly started server with as many slots as requests: llama-server
keeps one KV stream per slot, and a batch whose busy slots are not contiguous is split into
several forward passes (each reading all the weights again), so the slot history of
earlier bursts would otherwise leak into later ones. Takes about two minutes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tokenomist import load_deployment
from tokenomist.arch import resolve_model
from tokenomist.arch.accounting import param_breakdown, weight_bytes
from tokenomist.bench.client import Endpoint
from tokenomist.bench.load import BenchConfig, LoadPoint
from tokenomist.calibrate import Observation, calibrate, predict_throughput
from tokenomist.calibrate.observations import load_measured
from tokenomist.testing.bench import run_bench_to
from tokenomist.testing.cli import run_cli
from tokenomist.testing.gguf_model import SIZES, ModelShape, write_hf_config, write_model
from tokenomist.testing.llama_server import find_llama_server, start_llama_server
from tokenomist.testing.require import need

BATCHES = (1, 2, 4, 8)
SHAPES = {"decode-heavy": (128, 64), "prefill-heavy": (512, 32)}
COMMON = ["--precision", "fp32", "--kv-dtype", "fp16", "--tp", "1", "--max-num-seqs", "8"]


def _bench(base_url: str, alias: str, shape: tuple[int, int], batch: int, warmup: int,
           records: Path) -> dict[str, Any]:
    cfg = BenchConfig(Endpoint(base_url, alias, "chat"), shape[0], shape[1],
                      [LoadPoint("burst", batch, batch_size=batch)], warmup=warmup,
                      timeout_s=300)
    return run_bench_to(records, cfg)


@pytest.fixture(scope="module")
def cpu_loop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    need(find_llama_server() is not None, "llama-server")
    d = tmp_path_factory.mktemp("cpu-loop")
    shape = ModelShape(*SIZES["medium"])
    gguf = write_model(d / "model.gguf", shape, dtype="f32")
    (d / "random-202m").mkdir()
    config = write_hf_config(d / "random-202m" / "config.json", shape, dtype="f32")
    hardware = d / "this-cpu.json"
    r = run_cli("hardware", "--probe-cpu", str(hardware), "--probe-threads", "1", timeout=600)
    assert r.returncode == 0, r.stderr
    summaries: dict[str, dict[str, Any]] = {}
    for b in BATCHES:
        with start_llama_server(gguf, parallel=b, ctx=640 * b, threads=1, alias="random-202m",
                                log_dir=d, extra_args=["--no-kv-unified"]) as srv:
            for k, (name, sh) in enumerate(SHAPES.items()):
                s = _bench(srv.base_url, srv.alias, sh, b, warmup=1 if k == 0 else 0,
                           records=d / f"{name}-{b}.requests.jsonl")
                if name in summaries:
                    summaries[name]["points"] += s["points"]
                else:
                    summaries[name] = s
    files = {}
    for name, s in summaries.items():
        files[name] = d / f"{name}.json"
        files[name].write_text(json.dumps(s, indent=1))
    return {"dir": d, "config": config, "hardware": hardware, "files": files}


def test_measurements_are_clean(cpu_loop: dict[str, Any]) -> None:
    for name, f in cpu_loop["files"].items():
        points = json.loads(f.read_text())["points"]
        assert [p["batch_size"] for p in points] == list(BATCHES)
        i_tok, o_tok = SHAPES[name]
        for p in points:
            assert p["failed"] == 0 and p["warnings"] == []
            assert p["input_tokens"] == i_tok and p["output_tokens"] == o_tok
            # every prompt computed afresh but for the chat template's first tokens
            assert p["cached_prompt_share"] < 0.1
        tps = [p["output_tokens_per_s"] for p in points]
        assert tps[-1] > tps[0]  # batching pays


def test_accounting_matches_the_served_file(cpu_loop: dict[str, Any]) -> None:
    """Our parameter count and weight bytes of the config equal the GGUF's tensors."""
    import gguf

    reader = gguf.GGUFReader(str(cpu_loop["dir"] / "model.gguf"))
    elements = sum(int(t.n_elements) for t in reader.tensors)
    arch = resolve_model(str(cpu_loop["config"]))
    assert param_breakdown(arch).total == elements == 202_142_720
    assert weight_bytes(arch, "fp32") == pytest.approx(
        sum(int(t.n_bytes) for t in reader.tensors), rel=1e-9)


def test_calibrate_on_one_shape_predicts_the_other(cpu_loop: dict[str, Any]) -> None:
    files, cfg, hw = cpu_loop["files"], str(cpu_loop["config"]), str(cpu_loop["hardware"])
    report = []
    # through the CLI, as a user would: decode-heavy -> prefill-heavy
    profile = cpu_loop["dir"] / "profile.json"
    r = run_cli("calibrate", str(files["decode-heavy"]), "--model", cfg,
                "--hardware", hw, "--engine", "llamacpp-cpu", *COMMON,
                "--output", str(profile), "--json", timeout=600)
    assert r.returncode == 0, r.stderr
    fitted = json.loads(r.stdout)["calibration"]
    r = run_cli("compare", str(files["prefill-heavy"]), "--model", cfg,
                "--hardware", hw, "--profile", str(profile), *COMMON, "--json", timeout=600)
    assert r.returncode == 0, r.stderr
    cmp = json.loads(r.stdout)
    report.append(("decode-heavy -> prefill-heavy", fitted, cmp["mape"],
                   [p["error"] for p in cmp["points"]]))
    # through the API: prefill-heavy -> decode-heavy
    d = load_deployment(cfg, hw, precision="fp32", kv_dtype="fp16", engine="llamacpp-cpu",
                        max_num_seqs=8)
    train = [Observation(d, p) for p in load_measured(files["prefill-heavy"])]
    test = [Observation(d, p) for p in load_measured(files["decode-heavy"])]
    cal = calibrate(train)
    # fitting must improve on the shipped priors on the file it was fitted to
    train_meas = np.array([ob.point.output_tokens_per_s for ob in train])
    fitted_mape, prior_mape = (
        float(np.mean(np.abs(predict_throughput(train, eff) / train_meas - 1)))
        for eff in (cal.profile.efficiency, d.engine.efficiency))
    assert fitted_mape < prior_mape
    pred = predict_throughput(test, cal.profile.efficiency)
    meas = np.array([ob.point.output_tokens_per_s for ob in test])
    errors = pred / meas - 1
    report.append(("prefill-heavy -> decode-heavy", cal.profile.calibration.model_dump()
                   if cal.profile.calibration else {}, float(np.mean(np.abs(errors))),
                   errors.tolist()))
    print()
    for what, fit, mape, errs in report:
        print(f"{what}: fitted {fit.get('params')}, in-sample {fit.get('in_sample_mape'):.1%}; "
              f"predicted MAPE {mape:.1%} ({' '.join(f'{e:+.1%}' for e in errs)})")
    for _, _, mape, _ in report:
        assert mape <= 0.20
