"""The benchmark client against a deterministic local streaming server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tokenomist.bench.client import Endpoint, send
from tokenomist.bench.load import BenchConfig, LoadPoint
from tokenomist.bench.requests_log import RequestRecord, read_records
from tokenomist.bench.results_io import load_results
from tokenomist.testing.bench import run_bench_to
from tokenomist.testing.cli import run_cli
from tokenomist.testing.mock_server import MockConfig, MockServer


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[MockServer]:
    cfg = getattr(request, "param", MockConfig())
    with MockServer(cfg) as srv:
        yield srv


def bench(srv: MockServer, points: list[LoadPoint], tmp: Path, *, input_tokens: int = 40,
          output_tokens: int = 20, kind: str = "chat", stream: bool = True,
          api_key: str | None = None, warmup: int = 1,
          on_done: Callable[[RequestRecord], None] = lambda r: None) -> dict[str, Any]:
    ep = Endpoint(srv.base_url, "mock", kind, api_key=api_key, stream=stream)
    cfg = BenchConfig(ep, input_tokens, output_tokens, points, warmup=warmup, timeout_s=30)
    return run_bench_to(tmp / "records.jsonl", cfg, on_done)


@pytest.mark.parametrize("server", [MockConfig(ttft_s=0.08, gap_s=0.02, tokens_per_chunk=1)],
                         indirect=True)
def test_ttft_itl_tpot_match_the_server(server: MockServer, tmp_path: Path) -> None:
    s = bench(server, [LoadPoint("burst", 4, batch_size=4)], tmp_path)
    p = s["points"][0]
    assert p["completed"] == 4 and p["failed"] == 0
    # never below what the server waited; above it only by loopback and scheduling delay
    assert 0.08 <= p["ttft_s"]["mean"] < 0.08 + 0.04
    assert p["itl_s"]["p50"] == pytest.approx(0.02, abs=0.004)
    assert p["tpot_s"]["mean"] == pytest.approx(0.02, abs=0.004)
    assert p["input_tokens"] == 40 and p["output_tokens"] == 20  # exact lengths
    assert s["probe"]["forcing_exact"] and s["probe"]["tokenizer"] == "llamacpp"


@pytest.mark.parametrize("server", [MockConfig(ttft_s=0.02, gap_s=0.03, tokens_per_chunk=3)],
                         indirect=True)
def test_chunks_of_several_tokens_are_not_one_slow_token(server: MockServer,
                                                         tmp_path: Path) -> None:
    s = bench(server, [LoadPoint("burst", 2, batch_size=2)], tmp_path, output_tokens=30)
    p = s["points"][0]
    # 30 ms between chunks of 3 tokens: 10 ms per token, not 30
    assert p["itl_s"]["p50"] == pytest.approx(0.010, abs=0.002)
    assert p["tpot_s"]["mean"] == pytest.approx(0.010, abs=0.002)


@pytest.mark.parametrize("server", [MockConfig(fail_every=5, cut_every=7, no_finish_every=11)],
                         indirect=True)
def test_failures_are_reported_with_reasons_and_do_not_stop_the_run(server: MockServer,
                                                                     tmp_path: Path) -> None:
    s = bench(server, [LoadPoint("closed", 30, concurrency=3)], tmp_path, warmup=0)
    p = s["points"][0]
    assert p["completed"] + p["failed"] == 30
    reasons = p["failures"]
    assert reasons.get("http 500", 0) >= 4
    assert reasons.get("disconnected", 0) >= 2
    assert any(r.startswith("stream ended without a finish reason") for r in reasons)
    # every request is in the records file, failures included
    recs = [r for r in read_records(tmp_path / "records.jsonl") if not r.warmup]
    assert len(recs) == 30
    assert sum(not r.ok for r in recs) == p["failed"]


@pytest.mark.parametrize("server", [MockConfig(ttft_s=0.05, gap_s=0.01, slots=2)],
                         indirect=True)
def test_burst_beyond_slots_queues(server: MockServer, tmp_path: Path) -> None:
    s = bench(server, [LoadPoint("burst", 2, batch_size=2), LoadPoint("burst", 6, batch_size=6)],
              tmp_path)
    two, six = s["points"]
    assert six["elapsed_s"] > 2.5 * two["elapsed_s"]
    assert six["ttft_s"]["p99"] > 2 * two["ttft_s"]["p99"]


@pytest.mark.parametrize("server", [MockConfig(ttft_s=0.05, gap_s=0.01, slots=1)],
                         indirect=True)
def test_open_loop_latency_counts_from_intended_send_time(server: MockServer,
                                                          tmp_path: Path) -> None:
    # 1 slot, each request holds it ~0.25 s, arrivals every 0.05 s: a growing queue
    s = bench(server, [LoadPoint("open", 8, request_rate=20, arrivals="constant")], tmp_path)
    p = s["points"][0]
    recs = [r for r in read_records(tmp_path / "records.jsonl") if not r.warmup]
    intended = sorted(r.intended_start for r in recs)
    assert intended == pytest.approx([i * 0.05 for i in range(8)], abs=1e-9)
    # the last request waited for the seven before it: its TTFT counts that wait
    assert p["ttft_s"]["p99"] > 1.2
    assert p["send_lag_s"]["p99"] < 0.05  # the client itself sent on time


def test_non_streaming_and_completions_endpoint(server: MockServer, tmp_path: Path) -> None:
    s = bench(server, [LoadPoint("burst", 2, batch_size=2)], tmp_path, kind="completions",
              stream=False)
    p = s["points"][0]
    assert p["completed"] == 2 and p["ttft_s"]["mean"] is None
    assert p["e2e_s"]["mean"] > 0


def test_api_key_is_never_written(server: MockServer, tmp_path: Path) -> None:
    secret = "sk-do-not-store-1234567890"
    s = bench(server, [LoadPoint("burst", 1, batch_size=1)], tmp_path, api_key=secret)
    assert secret not in json.dumps(s)
    assert secret not in (tmp_path / "records.jsonl").read_text()


def test_records_survive_an_interrupted_run(server: MockServer, tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    bench(server, [LoadPoint("burst", 3, batch_size=3)], tmp_path)
    with path.open("a") as fh:
        fh.write('{"point": "batch=3", "index": 9, "warm')  # torn line of a crash
    recs = read_records(path)
    assert sum(not r.warmup for r in recs) == 3


def test_each_request_is_on_disk_as_soon_as_it_finishes(server: MockServer,
                                                         tmp_path: Path) -> None:
    """A crash loses no finished request: each record is flushed when it is written (the
    file is read back as each request completes: the warm-up, then 1, 2, 3)."""
    path = tmp_path / "records.jsonl"
    lines: list[int] = []
    bench(server, [LoadPoint("burst", 3, batch_size=3)], tmp_path,
          on_done=lambda r: lines.append(len(path.read_text().splitlines())))
    assert lines == [2, 3, 4]


def test_cli_contract_and_straight_to_price(server: MockServer, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    article = tmp_path / "article.json"
    r = run_cli("bench", "--base-url", server.base_url, "--model", "mock",
                "--input-tokens", "30", "--output-tokens", "10", "--batch-sizes", "1,2",
                "--output", str(out), "--article-format", str(article), timeout=120)
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    assert data["schema_version"] == "tokenomist.bench/1"
    for p in data["points"]:
        for key in ("batch_size", "completed", "failed", "elapsed_s", "output_tokens_per_s"):
            assert key in p
        for key in ("ttft_s", "itl_s", "tpot_s", "e2e_s"):
            assert set(p[key]) == {"mean", "p50", "p90", "p99"}
    # the article's format round-trips, and both files price without editing
    assert [p.batch_size for p in load_results(article).points] == [1, 2]
    for path in (out, article):
        r = run_cli("price", str(path), "--gpu-hourly-usd", "2", "--num-gpus",
                    "1", "--json", timeout=120)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["points"][0]["usd_per_million_output"] > 0


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    r = run_cli("bench", "--base-url", "http://127.0.0.1:9/v1", "--model", "x",
                "--batch-sizes", "1", "--output", str(tmp_path / "o.json"),
                "--timeout", "2", timeout=60)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "probe" in r.stderr or "reach" in r.stderr


def _send_to(reply: Callable[[httpx.Request], httpx.Response], stream: bool) -> RequestRecord:
    """One request through ``send`` to a fake server that answers with ``reply``."""
    async def go() -> RequestRecord:
        async with httpx.AsyncClient(transport=httpx.MockTransport(reply)) as client:
            rec = RequestRecord(point="p", index=0, warmup=False, intended_start=0.0,
                                requested_output_tokens=4)
            return await send(client, Endpoint("http://x/v1", "m", stream=stream), "hello",
                              rec, 0.0, 5.0)

    return asyncio.run(go())


@pytest.mark.parametrize(("choice", "ok", "error"), [
    ({"message": {"content": "hi"}, "finish_reason": "stop"}, True, None),
    ({"text": "hi", "finish_reason": "length"}, True, None),
    ({"message": {"content": "hi"}, "finish_reason": "content_filter"}, False,
     "finish reason 'content_filter'"),
    ({"message": {"content": ""}, "finish_reason": "stop"}, False, "no tokens received"),
    ({"message": {"content": "hi"}}, False, "response has no finish_reason"),
])
def test_a_whole_response_is_judged_like_a_stream(choice: dict[str, object], ok: bool,
                                                  error: str | None) -> None:
    """Without streaming, a request that did not finish normally is a failure too (a
    content filter or an abort used to count as a success)."""
    rec = _send_to(lambda _: httpx.Response(200, json={"choices": [choice]}), stream=False)
    assert rec.ok is ok
    assert rec.error == error


@pytest.mark.parametrize(("stream", "body"), [
    (False, json.dumps({"choices": ["x"]})),
    (False, json.dumps(["x"])),
    (True, "data: null\n\n"),
    (True, "data: [1]\n\n"),
    (True, 'data: {"choices": ["x"]}\n\n'),
])
def test_a_malformed_reply_fails_that_request_only(stream: bool, body: str) -> None:
    """JSON of the wrong shape is one failed request, not an exception that ends the run
    (and with it every point measured so far)."""
    rec = _send_to(lambda _: httpx.Response(200, text=body), stream=stream)
    assert not rec.ok
    assert rec.error is not None and rec.error.startswith("malformed response")
