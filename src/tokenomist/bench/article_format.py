"""The result format of "Tokenomics from first principles" (tugot17/tokenomics).

A JSON object with ``metadata`` (``max_tokens``, ``batch_sizes``, ...) and ``results`` keyed
by batch size, each with ``avg_input_tokens``, ``avg_output_tokens``, ``elapsed_time``
(wall time of the burst), ``tokens_per_second_in_batch`` (completion tokens / elapsed) and
``avg_tokens_per_second`` (mean per-request completion tokens / latency).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tokenomist._validation import positive_number, positive_or_none, read_json
from tokenomist.bench.records import MeasuredPoint
from tokenomist.errors import ConfigError

REQUIRED = ("avg_input_tokens", "avg_output_tokens", "elapsed_time",
            "tokens_per_second_in_batch")


def is_article_format(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("results"), dict) \
        and isinstance(data.get("metadata"), dict)


def parse_article_results(data: Any, source: str) -> list[MeasuredPoint]:
    if not is_article_format(data):
        raise ConfigError(source, "results", "expected an object with 'metadata' and "
                                             "'results' (the article's result format)")
    meta = data["metadata"]
    max_tokens = meta.get("max_tokens")
    points: list[MeasuredPoint] = []
    for key, row in data["results"].items():
        where = f"results.{key}"
        try:
            batch = int(key)
        except ValueError:
            raise ConfigError(source, where, "keys of 'results' must be batch sizes") from None
        if not isinstance(row, dict):
            raise ConfigError(source, where, "expected an object")
        v = {name: positive_number(row, name, source, f"{where}.") for name in REQUIRED}
        out_mean = v["avg_output_tokens"]
        mx = int(max_tokens) if isinstance(max_tokens, int) and max_tokens > 0 \
            else math.ceil(out_mean)
        points.append(MeasuredPoint(
            batch_size=batch, input_tokens=round(v["avg_input_tokens"]),
            output_tokens=out_mean, elapsed_s=v["elapsed_time"],
            output_tokens_per_s=v["tokens_per_second_in_batch"],
            max_output_tokens=mx, source=source,
            request_tokens_per_s=positive_or_none(row.get("avg_tokens_per_second"))))
    if not points:
        raise ConfigError(source, "results", "holds no batch sizes")
    return sorted(points, key=lambda p: p.batch_size)


def load_article_results(path: Path) -> list[MeasuredPoint]:
    return parse_article_results(read_json(path), str(path))
