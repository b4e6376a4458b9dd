"""Measured runs of any supported format, as points the cost model can be fitted to.

Formats: tokenomist bench summaries (``tokenomist.bench/1``), the article's result files,
and ``vllm bench serve`` result JSON (``--save-result``: ``duration``, ``completed``,
``total_input_tokens``, ``total_output_tokens``, ``max_concurrency``, ``request_rate``,
``mean_ttft_ms``...).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tokenomist._validation import number, positive_number, positive_or_none, read_json
from tokenomist.bench.article_format import is_article_format, parse_article_results
from tokenomist.bench.records import MeasuredPoint
from tokenomist.errors import ConfigError


def _count(d: dict[str, Any], key: str, source: str, where: str) -> int | None:
    """An optional positive whole number (a count of requests or tokens)."""
    return None if d.get(key) is None else round(positive_number(d, key, source, where))


def _mean_of(p: dict[str, Any], key: str, source: str, where: str) -> float | None:
    """The mean of a statistics object (``{"mean": ..., "p50": ...}``), if any."""
    stats = p.get(key)
    if stats is None:
        return None
    if not isinstance(stats, dict):
        raise ConfigError(source, f"{where}{key}", "must be an object of statistics")
    # (a mean time of zero or below is not a measurement)
    mean = stats.get("mean")
    return None if mean is None else positive_number(stats, "mean", source, f"{where}{key}.")


def _bench_points(data: dict[str, Any], source: str) -> list[MeasuredPoint]:
    points = data.get("points")
    if not isinstance(points, list):
        raise ConfigError(source, "points", "must be a list of load points")
    out = []
    for k, p in enumerate(points):
        where = f"points[{k}]."
        if not isinstance(p, dict):
            raise ConfigError(source, f"points[{k}]", "must be an object")
        if not p.get("completed"):
            continue
        n = int(positive_number(p, "completed", source, where))
        elapsed = positive_number(p, "elapsed_s", source, where)
        mean_e2e = _mean_of(p, "e2e_s", source, where)
        out_tokens = positive_number(p, "output_tokens", source, where)
        load = p.get("load", "burst")
        rate = p.get("request_rate")
        out.append(MeasuredPoint(
            batch_size=_count(p, "batch_size", source, where) or n,
            input_tokens=round(positive_number(p, "input_tokens", source, where)),
            output_tokens=out_tokens, elapsed_s=elapsed,
            output_tokens_per_s=positive_number(p, "output_tokens_per_s", source, where),
            max_output_tokens=_count(p, "requested_output_tokens", source, where)
            or round(out_tokens),
            ttft_s=_mean_of(p, "ttft_s", source, where),
            tpot_s=_mean_of(p, "tpot_s", source, where),
            request_tokens_per_s=out_tokens / mean_e2e if mean_e2e else None, source=source,
            load=load, concurrency=_count(p, "concurrency", source, where),
            request_rate=None if rate is None
            else positive_number(p, "request_rate", source, where), num_requests=n))
    if not out:
        raise ConfigError(source, "points", "no completed load points")
    return out


def _vllm_points(data: dict[str, Any], source: str) -> list[MeasuredPoint]:
    n = int(number(data, "completed", source))
    if n < 1:
        raise ConfigError(source, "completed", "no completed requests")
    duration = positive_number(data, "duration", source)
    out_total = positive_number(data, "total_output_tokens", source)
    in_total = positive_number(data, "total_input_tokens", source)
    rate = data.get("request_rate")
    conc = data.get("max_concurrency")
    rate_f = None  # absent, or 'inf' (all requests at once)
    if isinstance(rate, str) and rate.lower() not in ("inf", "infinity"):
        try:
            rate = float(rate)
        except ValueError:
            raise ConfigError(source, "request_rate", f"{rate!r} is not a number or "
                                                      "'inf'") from None
    if isinstance(rate, (int, float)) and not isinstance(rate, bool) and math.isfinite(rate):
        if rate <= 0:
            raise ConfigError(source, "request_rate", f"must be positive, got {rate}")
        rate_f = float(rate)
    if rate_f is not None:
        load = "open"
    elif isinstance(conc, int) and conc > 0:
        load = "closed"
    else:
        load, conc = "burst", None
    # (optional means in ms; zero or not a number: not measured, e.g. TPOT of one token)
    ttft, tpot, e2e = (positive_or_none(data.get(k))
                       for k in ("mean_ttft_ms", "mean_tpot_ms", "mean_e2el_ms"))
    return [MeasuredPoint(
        batch_size=n, input_tokens=round(in_total / n), output_tokens=out_total / n,
        elapsed_s=duration, output_tokens_per_s=out_total / duration,
        max_output_tokens=round(out_total / n),
        ttft_s=ttft / 1e3 if ttft else None, tpot_s=tpot / 1e3 if tpot else None,
        request_tokens_per_s=(out_total / n) / (e2e / 1e3) if e2e else None, source=source,
        load=load,
        concurrency=conc if load == "closed" else None, request_rate=rate_f, num_requests=n)]


def load_measured(path: Path) -> list[MeasuredPoint]:
    """Measured points of a results file, whichever supported tool wrote it."""
    data = read_json(path)
    source = str(path)
    if is_article_format(data):
        return parse_article_results(data, source)
    if isinstance(data, dict) and str(data.get("schema_version", "")).startswith(
            "tokenomist.bench"):
        return _bench_points(data, source)
    if isinstance(data, dict) and "duration" in data and "completed" in data:
        return _vllm_points(data, source)
    raise ConfigError(source, None, "not a measured run: expected a tokenomist bench summary, "
                                    "the article's format or vllm bench serve JSON")
