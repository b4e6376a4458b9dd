"""Load patterns and the benchmark run.

- burst: B requests sent at the same moment; the point lasts until the last one ends;
- closed loop: C requests kept in flight until N are done;
- open loop: Poisson or constant arrivals at a rate; latency counts from the *intended*
  send time, so a slow client or server cannot hide queueing (no coordinated omission).

Warm-up requests run first and are recorded but excluded from statistics. Every finished
request is appended to the JSONL records file at once. The client watches itself: the lag
between intended and actual send times, the event loop's lag and its own CPU use; when
those say the client, not the server, limits the run, the summary warns.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from tokenomist.bench.client import Endpoint, send
from tokenomist.bench.prompts import PromptFactory, Tokenizer, find_tokenizer, words
from tokenomist.bench.requests_log import RecordWriter, RequestRecord
from tokenomist.bench.summary import BENCH_SCHEMA, summarize_point
from tokenomist.errors import InvalidValueError


@dataclass(frozen=True)
class LoadPoint:
    kind: str  # "burst", "closed", "open"
    num_requests: int
    batch_size: int | None = None
    concurrency: int | None = None
    request_rate: float | None = None
    arrivals: str = "poisson"

    @property
    def requests(self) -> int:
        """Requests this point sends: a burst's batch, otherwise ``num_requests``."""
        return (self.batch_size or 1) if self.kind == "burst" else self.num_requests

    @property
    def label(self) -> str:
        if self.kind == "burst":
            return f"batch={self.batch_size}"
        if self.kind == "closed":
            return f"concurrency={self.concurrency}"
        return f"rate={self.request_rate}/s ({self.arrivals})"

    def describe(self) -> dict[str, Any]:
        return {"load": self.kind, "batch_size": self.batch_size,
                "concurrency": self.concurrency, "request_rate": self.request_rate,
                "num_requests": self.num_requests}


@dataclass
class BenchConfig:
    endpoint: Endpoint
    input_tokens: int
    output_tokens: int
    points: list[LoadPoint]
    warmup: int = 2
    timeout_s: float = 600.0
    # a fresh seed per run: a server's prefix cache must never hold a previous run's prompts
    seed: int = field(default_factory=lambda: secrets.randbits(31))
    force_output: bool = True
    scrape_metrics: bool = False

    def check(self) -> None:
        if self.input_tokens < 1 or self.output_tokens < 1:
            raise InvalidValueError("input and output tokens must be positive integers")
        if not self.points:
            raise InvalidValueError("no load points")
        for p in self.points:
            if p.num_requests < 1:
                raise InvalidValueError("number of requests must be positive")
            if p.kind == "burst" and (p.batch_size or 0) < 1:
                raise InvalidValueError("batch sizes must be positive integers")
            if p.kind == "closed" and (p.concurrency or 0) < 1:
                raise InvalidValueError("concurrency must be a positive integer")
            if p.kind == "open" and not (p.request_rate or 0) > 0:
                raise InvalidValueError("request rate must be positive")
            if p.kind == "open" and p.arrivals not in ("poisson", "constant"):
                raise InvalidValueError("arrivals must be poisson or constant")


@dataclass
class Probe:
    tokenizer: str | None
    template_tokens: int
    tokens_per_word: float
    extras: dict[str, Any]
    forcing_exact: bool
    usage_in_stream: bool
    notes: list[str] = field(default_factory=list)


class LoopMonitor:
    """Samples the event loop's lag (how late a 10 ms sleep wakes) and the process CPU."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None
        self._cpu0 = self._wall0 = 0.0

    async def _run(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            self.lags.append(time.perf_counter() - t - 0.01)

    def start(self) -> None:
        self._cpu0, self._wall0 = time.process_time(), time.perf_counter()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> dict[str, float]:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        wall = max(time.perf_counter() - self._wall0, 1e-9)
        lags = sorted(self.lags) or [0.0]
        return {"cpu_share": (time.process_time() - self._cpu0) / wall,
                "loop_lag_p99_s": lags[int(0.99 * (len(lags) - 1))],
                "loop_lag_max_s": lags[-1]}


async def probe_server(client: httpx.AsyncClient, cfg: BenchConfig
                       ) -> tuple[Probe, Tokenizer | None]:
    """What the server supports: tokenize, usage in streams, forcing the output length;
    and its tokenizer, if it has one."""
    ep = cfg.endpoint
    notes: list[str] = []
    tok = await find_tokenizer(client, ep)
    rng = random.Random(cfg.seed)
    # calibrate template overhead and words-to-tokens from usage.prompt_tokens
    sizes = (20, 120)
    usage_tokens = []
    probe_ep = replace(ep, stream=True, extra_body={})
    for n in sizes:
        text = " ".join(words(rng, n))
        rec = RequestRecord(point="probe", index=0, warmup=True, intended_start=0.0,
                            requested_output_tokens=1)
        await send(client, probe_ep, text, rec, time.monotonic(), cfg.timeout_s)
        if not rec.ok and rec.error:
            raise InvalidValueError(f"a probe request to {ep.url} failed: {rec.error}")
        content = await tok.count(client, text) if tok else None
        usage_tokens.append((n, rec.prompt_tokens, content))
    usage_in_stream = all(u[1] is not None for u in usage_tokens)
    if tok and usage_in_stream:
        template = int(usage_tokens[1][1] or 0) - int(usage_tokens[1][2] or 0)
        per_word = (usage_tokens[1][2] or 1) / sizes[1]
    elif usage_in_stream:
        (n1, u1, _), (n2, u2, _) = usage_tokens
        per_word = (int(u2 or 0) - int(u1 or 0)) / (n2 - n1)
        template = round(int(u1 or 0) - per_word * n1)
        notes.append("no tokenize endpoint: prompt lengths calibrated from usage.prompt_tokens")
    else:
        per_word, template = 1.3, 0
        notes.append("no tokenize endpoint and no usage in streams: prompt lengths approximate")
    # which output-forcing fields does the server accept, and do they work?
    extras: dict[str, Any] = {}
    exact = False
    if cfg.force_output:
        for candidate in ({"ignore_eos": True, "min_tokens": 24},
                          {"ignore_eos": True}, {"min_tokens": 24}, {}):
            test_ep = replace(ep, stream=True, extra_body=candidate)
            rec = RequestRecord(point="probe", index=1, warmup=True, intended_start=0.0,
                                requested_output_tokens=24)
            await send(client, test_ep, "hello", rec, time.monotonic(), cfg.timeout_s)
            if rec.error and rec.error.startswith("http 4"):
                continue  # the server rejects these fields
            extras = {k: (cfg.output_tokens if k == "min_tokens" else v)
                      for k, v in candidate.items()}
            exact = rec.ok and rec.output_tokens == 24
            if exact:
                break
        if not exact:
            notes.append("the server does not honour ignore_eos/min_tokens: outputs may end "
                         "early (requested vs achieved lengths are reported)")
    return Probe(tokenizer=tok.style if tok else None, template_tokens=template,
                 tokens_per_word=per_word, extras=extras, forcing_exact=exact,
                 usage_in_stream=usage_in_stream, notes=notes), tok


async def _scrape(client: httpx.AsyncClient, ep: Endpoint) -> str | None:
    try:
        r = await client.get(ep.root + "/metrics", timeout=10)
        return r.text if r.status_code == 200 else None
    except httpx.HTTPError:
        return None


async def preconnect(client: httpx.AsyncClient, ep: Endpoint, n: int) -> None:
    """Open ``n`` keep-alive connections before a load point (``n`` concurrent GETs of the
    model list), so that the requests of a burst reach the server together instead of
    one TCP (and TLS) handshake apart: a server that starts a long step as soon as the
    first request arrives would otherwise make the others wait for it."""
    async def one() -> None:
        with contextlib.suppress(httpx.HTTPError):
            await client.get(ep.base_url.rstrip("/") + "/models", headers=ep.headers())

    await asyncio.gather(*(one() for _ in range(n)))


async def run_point(client: httpx.AsyncClient, ep: Endpoint, point: LoadPoint,
                    prompts: list[str], cfg: BenchConfig, writer: RecordWriter,
                    on_done: Callable[[RequestRecord], None]) -> list[RequestRecord]:
    """Run one load point; returns its records (also written as they complete)."""
    records: list[RequestRecord] = []
    clock0 = time.monotonic()

    async def one(index: int, intended: float) -> None:
        delay = intended - (time.monotonic() - clock0)
        if delay > 0:
            await asyncio.sleep(delay)
        rec = RequestRecord(point=point.label, index=index, warmup=False,
                            intended_start=intended, requested_output_tokens=cfg.output_tokens)
        await send(client, ep, prompts[index], rec, clock0, cfg.timeout_s)
        records.append(rec)
        writer.write(rec)
        on_done(rec)

    if point.kind == "burst":
        await asyncio.gather(*(one(i, 0.0) for i in range(point.requests)))
    elif point.kind == "closed":
        counter = iter(range(point.requests))

        async def worker() -> None:
            for i in counter:
                await one(i, time.monotonic() - clock0)

        await asyncio.gather(*(worker() for _ in range(point.concurrency or 1)))
    else:
        rng = random.Random(cfg.seed)
        rate = point.request_rate or 1.0
        t = 0.0
        times = []
        for _ in range(point.requests):
            times.append(t)
            t += rng.expovariate(rate) if point.arrivals == "poisson" else 1.0 / rate
        await asyncio.gather(*(one(i, ti) for i, ti in enumerate(times)))
    return sorted(records, key=lambda r: r.index)


async def run_bench(cfg: BenchConfig, writer: RecordWriter,
                    on_done: Callable[[RequestRecord], None] = lambda r: None,
                    on_point: Callable[[LoadPoint], None] = lambda p: None
                    ) -> dict[str, Any]:
    """Probe, warm up, run every load point; returns the summary (schema BENCH_SCHEMA)."""
    cfg.check()
    ep = cfg.endpoint
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(limits=limits, timeout=cfg.timeout_s) as client:
        probe, tokenizer = await probe_server(client, cfg)
        ep = replace(ep, extra_body={**probe.extras, **ep.extra_body})
        factory = PromptFactory(tokenizer, probe.template_tokens, probe.tokens_per_word, cfg.seed,
                                chat=ep.kind == "chat", root=ep.root)
        # every request gets its own prompt, never sent before in this run, so that no
        # server can answer from its prefix cache (the prompts of a point are made before
        # the point starts, outside its timing)
        next_index = 0

        async def fresh(n: int) -> list[str]:
            nonlocal next_index
            out = [await factory.make(client, cfg.input_tokens, next_index + i)
                   for i in range(n)]
            next_index += n
            return out

        warm = await fresh(cfg.warmup)
        # warm-up: recorded, excluded from statistics
        clock0 = time.monotonic()
        for i in range(cfg.warmup):
            rec = RequestRecord(point="warmup", index=i, warmup=True, intended_start=0.0,
                                requested_output_tokens=cfg.output_tokens)
            await send(client, ep, warm[i], rec, clock0, cfg.timeout_s)
            writer.write(rec)
        writer.sync()
        metrics_before = await _scrape(client, ep) if cfg.scrape_metrics else None
        points = []
        for point in cfg.points:
            prompts = await fresh(point.requests)
            await preconnect(client, ep, point.batch_size or point.concurrency or 1)
            on_point(point)
            monitor = LoopMonitor()
            monitor.start()
            recs = await run_point(client, ep, point, prompts, cfg, writer, on_done)
            client_stats = await monitor.stop()
            writer.sync()
            row = summarize_point(point.describe(), recs)
            row["client"] = client_stats
            row["warnings"] = _client_warnings(row, client_stats, point)
            points.append(row)
        metrics_after = await _scrape(client, ep) if cfg.scrape_metrics else None
    summary: dict[str, Any] = {
        "schema_version": BENCH_SCHEMA, "base_url": ep.base_url, "model": ep.model,
        "endpoint": ep.kind, "stream": ep.stream, "input_tokens": cfg.input_tokens,
        "output_tokens": cfg.output_tokens, "warmup": cfg.warmup, "seed": cfg.seed,
        "probe": probe.__dict__, "points": points, "records": str(writer.path)}
    if cfg.scrape_metrics:
        summary["server_metrics"] = {"before": metrics_before, "after": metrics_after}
    return summary


def _client_warnings(row: dict[str, Any], client: dict[str, float],
                     point: LoadPoint) -> list[str]:
    out = []
    cached = row.get("cached_prompt_share")
    if cached is not None and cached > 0.1:
        out.append(f"the server answered {cached:.0%} of prompt tokens from its prefix cache: "
                   "this is not the throughput of fresh prompts")
    lag = row["send_lag_s"]["p99"] or 0.0
    if point.kind != "closed" and lag > 0.05:
        out.append(f"requests left the client up to {lag * 1e3:.0f} ms late (p99): the client "
                   "may be the bottleneck")
    if client["loop_lag_p99_s"] > 0.02:
        out.append(f"the client's event loop lagged {client['loop_lag_p99_s'] * 1e3:.0f} ms "
                   "(p99): token timestamps are blurred by that much")
    if client["cpu_share"] > 0.9:
        out.append(f"the client used {client['cpu_share']:.0%} of a core: it may be the "
                   "bottleneck, not the server")
    return out
