"""The benchmark client's own overhead, against an established client.

Run by hand: ``python benchmarks/bench_client_overhead.py`` (needs ``pip install openai``
for the comparison). A mock streaming server runs in its own process pinned to one core;
the client runs pinned to the other. It reports

1. at 256 concurrent streams, the client's measured inter-token latency against the gap the
   server actually left between tokens (the server measures what it sent);
2. how many streamed tokens per second one core of the client can absorb (the server sends
   as fast as it can; tokens/s divided by the client's CPU share);
3. the same two figures for the official ``openai`` SDK (AsyncOpenAI, streaming), timing
   every chunk as most load generators do.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tokenomist.bench.client import Endpoint
from tokenomist.bench.load import BenchConfig, LoadPoint, run_bench
from tokenomist.bench.requests_log import RecordWriter

CONCURRENCY = 256
OUTPUT_TOKENS = 64


def start_server(gap: float, core: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        ["taskset", "-c", str(core), sys.executable, "-m", "tokenomist.testing.mock_server",
         "--gap", str(gap), "--ttft", "0.01"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, f"http://127.0.0.1:{port}/v1"


def server_stats(base: str, reset: bool = False) -> dict[str, Any]:
    root = base[:-3]
    return httpx.get(root + "/stats" + ("?reset=1" if reset else "")).json()


def run_tokenomist(base: str, n: int) -> dict[str, Any]:
    ep = Endpoint(base, "mock", "chat")
    cfg = BenchConfig(ep, 32, OUTPUT_TOKENS, [LoadPoint("closed", n, concurrency=CONCURRENCY)],
                      warmup=0, timeout_s=120)
    path = Path("/tmp/bench_client_overhead.jsonl")
    path.unlink(missing_ok=True)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    with RecordWriter(path) as w:
        s = asyncio.run(run_bench(cfg, w))
    cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    p = s["points"][0]
    return {"itl_mean": p["itl_s"]["mean"], "itl_p50": p["itl_s"]["p50"],
            "tok_s": p["output_tokens_per_s"], "cpu": cpu, "failed": p["failed"]}


async def _openai_run(base: str, n: int) -> dict[str, Any]:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base, api_key="none", max_retries=0)
    gaps: list[float] = []
    tokens = 0
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one() -> None:
        nonlocal tokens
        async with sem:
            stream = await client.chat.completions.create(
                model="mock", messages=[{"role": "user", "content": "w " * 32}],
                max_tokens=OUTPUT_TOKENS, stream=True,
                extra_body={"ignore_eos": True})
            last = None
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    now = time.perf_counter()
                    if last is not None:
                        gaps.append(now - last)
                    last = now
                    tokens += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    wall = time.perf_counter() - t0
    await client.close()
    gaps.sort()
    return {"itl_mean": sum(gaps) / len(gaps), "itl_p50": gaps[len(gaps) // 2],
            "tok_s": tokens / wall}


def run_openai(base: str, n: int) -> dict[str, Any]:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    out = asyncio.run(_openai_run(base, n))
    out["cpu"] = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    return out


def main() -> None:
    os.sched_setaffinity(0, {0})  # the client gets core 0, the server core 1
    clients = {"tokenomist": run_tokenomist}
    try:
        import openai  # noqa: F401
        clients["openai SDK"] = run_openai
    except ImportError:
        print("openai not installed: skipping the comparison")
    # 1. ITL at 256 streams with a 25 ms gap between tokens
    proc, base = start_server(0.025, 1)
    try:
        for name, fn in clients.items():
            server_stats(base, reset=True)
            r = fn(base, 2 * CONCURRENCY)
            sent = server_stats(base)["mean_gap_s"]
            print(f"{name:12s} 256 streams, 25 ms gaps: measured ITL mean "
                  f"{r['itl_mean'] * 1e3:.3f} ms vs sent {sent * 1e3:.3f} ms "
                  f"(difference {abs(r['itl_mean'] - sent) * 1e3:.3f} ms), client CPU "
                  f"{r['cpu']:.0%}")
    finally:
        proc.terminate()
    # 2. absorption: the server sends as fast as it can
    proc, base = start_server(0.0, 1)
    try:
        for name, fn in clients.items():
            r = fn(base, 2 * CONCURRENCY)
            print(f"{name:12s} absorbed {r['tok_s']:,.0f} streamed tokens/s at "
                  f"{r['cpu']:.0%} of one core: {r['tok_s'] / max(r['cpu'], 1e-9):,.0f} "
                  "tokens/s per core")
    finally:
        proc.terminate()


if __name__ == "__main__":
    main()
