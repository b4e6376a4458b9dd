"""``tokenomist bench``: measure an OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from tokenomist.cli.shared import out, parse_float_list, parse_int_list
from tokenomist.errors import InvalidValueError

if TYPE_CHECKING:  # the client, its load generator and httpx load only when bench runs
    from tokenomist.bench.load import LoadPoint
    from tokenomist.bench.requests_log import RequestRecord


def _points(batch_sizes: str | None, concurrency: str | None, request_rate: str | None,
            num_requests: int | None, arrivals: str) -> list[LoadPoint]:
    from tokenomist.bench.load import LoadPoint

    modes = sum(x is not None for x in (batch_sizes, concurrency, request_rate))
    if modes != 1:
        raise InvalidValueError("choose one load pattern: --batch-sizes, or --concurrency with "
                                "--num-requests, or --request-rate with --num-requests")
    if batch_sizes is not None:
        return [LoadPoint("burst", b, batch_size=b) for b in parse_int_list(batch_sizes)]
    if num_requests is None or num_requests < 1:
        raise InvalidValueError("--num-requests must be a positive integer")
    if concurrency is not None:
        return [LoadPoint("closed", num_requests, concurrency=c)
                for c in parse_int_list(concurrency, "concurrency")]
    return [LoadPoint("open", num_requests, request_rate=r, arrivals=arrivals)
            for r in parse_float_list(request_rate or "", "request rates")]


def write_article_format(summary: dict[str, Any], path: Path) -> None:
    """The burst points in the article's result format (tugot17/tokenomics)."""
    results = {}
    for p in summary["points"]:
        if p.get("load") != "burst" or not p["completed"]:
            continue
        e2e = p["e2e_s"]["mean"] or 1.0
        results[str(p["batch_size"])] = {
            "avg_input_tokens": p["input_tokens"], "avg_output_tokens": p["output_tokens"],
            "elapsed_time": p["elapsed_s"], "tokens_per_second_in_batch":
            p["output_tokens_per_s"], "avg_tokens_per_second": (p["output_tokens"] or 0) / e2e}
    data = {"metadata": {"model": summary["model"], "api_base": summary["base_url"],
                         "batch_sizes": [int(k) for k in results],
                         "max_tokens": summary["output_tokens"], "num_runs": 1,
                         "description": "written by tokenomist bench"},
            "results": results}
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def bench_cmd(
    base_url: Annotated[str, typer.Option(help="server base URL, e.g. http://127.0.0.1:8000/v1")],
    model: Annotated[str, typer.Option(help="model name the server expects")],
    output: Annotated[Path, typer.Option(help="summary JSON to write")],
    input_tokens: Annotated[int, typer.Option(help="prompt tokens per request")] = 2035,
    output_tokens: Annotated[int, typer.Option(help="output tokens per request")] = 300,
    batch_sizes: Annotated[str | None, typer.Option(help="bursts: comma-separated sizes")]
    = None,
    concurrency: Annotated[str | None, typer.Option(
        help="closed loop: requests in flight (comma-separated for a sweep)")] = None,
    request_rate: Annotated[str | None, typer.Option(
        help="open loop: requests per second (comma-separated for a sweep)")] = None,
    num_requests: Annotated[int | None, typer.Option(help="requests per closed/open point")]
    = None,
    arrivals: Annotated[str, typer.Option(help="open loop: poisson or constant")] = "poisson",
    endpoint: Annotated[str, typer.Option(help="chat or completions")] = "chat",
    stream: Annotated[bool, typer.Option(help="stream responses (TTFT, ITL)")] = True,
    warmup: Annotated[int, typer.Option(help="warm-up requests, excluded")] = 2,
    timeout: Annotated[float, typer.Option(help="seconds before a request fails")] = 600.0,
    records: Annotated[Path | None, typer.Option(
        help="JSONL of every request (default: OUTPUT with .requests.jsonl)")] = None,
    api_key_env: Annotated[str, typer.Option(help="environment variable holding the API "
                                                  "key")] = "OPENAI_API_KEY",
    api_key: Annotated[str | None, typer.Option(help="API key (prefer --api-key-env)")] = None,
    scrape_metrics: Annotated[bool, typer.Option(help="scrape /metrics before and after")]
    = False,
    article_format: Annotated[Path | None, typer.Option(
        help="also write burst points in the article's result format")] = None,
    seed: Annotated[int | None, typer.Option(
        help="seed of the prompts and arrival times (default: a fresh one per run, so that "
             "a server's prefix cache never holds a previous run's prompts; the summary "
             "records it)")] = None,
) -> None:
    """Measure an OpenAI-compatible server: bursts, closed or open loop."""
    if endpoint not in ("chat", "completions"):
        raise InvalidValueError("--endpoint must be chat or completions")
    points = _points(batch_sizes, concurrency, request_rate, num_requests, arrivals)
    key = api_key or os.environ.get(api_key_env) or None
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from tokenomist.bench.client import Endpoint
    from tokenomist.bench.load import BenchConfig, run_bench
    from tokenomist.bench.requests_log import RecordWriter

    ep = Endpoint(base_url=base_url, model=model, kind=endpoint, api_key=key, stream=stream)
    cfg = BenchConfig(endpoint=ep, input_tokens=input_tokens, output_tokens=output_tokens,
                      points=points, warmup=warmup, timeout_s=timeout,
                      scrape_metrics=scrape_metrics)
    if seed is not None:
        cfg.seed = seed
    cfg.check()
    rec_path = records or output.with_suffix(".requests.jsonl")
    total = sum(p.requests for p in points)
    with RecordWriter(rec_path) as writer, Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("failed {task.fields[failed]}"), TimeElapsedColumn(),
            console=out) as progress:
        task = progress.add_task("probing server", total=total, failed=0)
        failed = [0]

        def done(rec: RequestRecord) -> None:
            if not rec.ok:
                failed[0] += 1
            progress.update(task, advance=1, failed=failed[0])

        def point(p: LoadPoint) -> None:
            progress.update(task, description=p.label)

        try:
            summary = asyncio.run(run_bench(cfg, writer, done, point))
        except KeyboardInterrupt:
            out.print(f"interrupted: the requests measured so far are in {rec_path}")
            raise typer.Exit(130) from None
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if article_format:
        write_article_format(summary, article_format)
    t = Table(title=f"{model} at {base_url} ({input_tokens} in / {output_tokens} out)")
    for c in ("point", "ok", "failed", "elapsed s", "out tok/s", "req/s", "TTFT p50",
              "TTFT p99", "ITL p50 ms", "TPOT p50 ms", "E2E p99"):
        t.add_column(c, justify="right")
    for p in summary["points"]:
        label = (f"B={p['batch_size']}" if p["load"] == "burst" else
                 f"C={p['concurrency']}" if p["load"] == "closed" else f"{p['request_rate']}/s")

        def f(x: float | None, scale: float = 1.0, digits: int = 3) -> str:
            return "-" if x is None else f"{x * scale:.{digits}f}"
        t.add_row(label, str(p["completed"]), str(p["failed"]), f(p["elapsed_s"], digits=2),
                  f(p["output_tokens_per_s"], digits=1), f(p["requests_per_s"], digits=2),
                  f(p["ttft_s"]["p50"]), f(p["ttft_s"]["p99"]), f(p["itl_s"]["p50"], 1e3, 2),
                  f(p["tpot_s"]["p50"], 1e3, 2), f(p["e2e_s"]["p99"]))
    out.print(t)
    for note in summary["probe"]["notes"]:
        out.print(f"[yellow]note:[/yellow] {note}")
    for p in summary["points"]:
        for w in p["warnings"]:
            out.print(f"[yellow]warning ({p['load']}):[/yellow] {w}")
        for reason, n in p["failures"].items():
            out.print(f"[red]{n} failed:[/red] {reason}")
    out.print(f"summary: {output}; every request: {rec_path}")


def register(app: typer.Typer) -> None:
    app.command("bench")(bench_cmd)
