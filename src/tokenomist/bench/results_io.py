"""Read any results file into one shape: tokenomist estimate JSON, the article's format
(and, once issue 3 lands, tokenomist bench summaries)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokenomist._validation import non_negative_number, read_json
from tokenomist.bench.article_format import is_article_format, parse_article_results
from tokenomist.errors import ConfigError


@dataclass(frozen=True)
class ResultPoint:
    """One burst or load point: what pricing needs."""

    batch_size: int
    input_tokens: float  # per request (mean)
    output_tokens: float  # per request (mean achieved)
    elapsed_s: float
    prefill_s: float | None = None  # time attributed to prefill, when a model provided it
    decode_s: float | None = None
    breakdown_s: dict[str, float] | None = None

    @property
    def total_tokens_per_s(self) -> float:
        return self.batch_size * (self.input_tokens + self.output_tokens) / self.elapsed_s

    @property
    def output_tokens_per_s(self) -> float:
        return self.batch_size * self.output_tokens / self.elapsed_s


@dataclass(frozen=True)
class ResultSet:
    source: str
    kind: str  # "estimate" | "article"
    points: list[ResultPoint]
    num_gpus: int | None = None
    hardware: str | None = None
    model: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def parse_estimate(data: dict[str, Any], source: str) -> ResultSet:
    pts = data.get("points")
    if not isinstance(pts, list) or not pts:
        raise ConfigError(source, "points", "missing or empty")
    out = []
    for k, row in enumerate(pts):
        where = f"points[{k}]"
        if not isinstance(row, dict):
            raise ConfigError(source, where, "expected an object")
        if row.get("batch_size") is None and "completed" in row:
            row = {**row, "batch_size": row["completed"]}  # closed/open-loop bench points
        batch, elapsed, in_tok, out_tok = (
            non_negative_number(row, key, source, f"{where}.")
            for key in ("batch_size", "elapsed_s", "input_tokens", "output_tokens"))
        if batch < 1 or elapsed <= 0:
            raise ConfigError(source, where, "batch_size and elapsed_s must be positive")
        bd = row.get("breakdown_s") if isinstance(row.get("breakdown_s"), dict) else None
        out.append(ResultPoint(
            batch_size=int(batch), input_tokens=in_tok, output_tokens=out_tok, elapsed_s=elapsed,
            prefill_s=row.get("prefill_s"), decode_s=row.get("decode_s"), breakdown_s=bd))
    return ResultSet(source=source, kind=str(data.get("schema_version", "estimate")), points=out,
                     num_gpus=data.get("num_gpus"), hardware=data.get("hardware"),
                     model=data.get("model"), meta={k: v for k, v in data.items()
                                                    if k != "points"})


def load_results(path: Path) -> ResultSet:
    """Read a results file, recognising its format from its content."""
    data = read_json(path)
    source = str(path)
    if is_article_format(data):
        pts = parse_article_results(data, source)
        return ResultSet(source=source, kind="article", points=[
            ResultPoint(batch_size=p.batch_size, input_tokens=p.input_tokens,
                        output_tokens=p.output_tokens, elapsed_s=p.elapsed_s) for p in pts],
            model=str(data["metadata"].get("model")) if data["metadata"].get("model") else None,
            meta=dict(data["metadata"]))
    if isinstance(data, dict) and "points" in data:
        return parse_estimate(data, source)
    raise ConfigError(source, None, "not a results file: expected tokenomist estimate/bench "
                                    "JSON (with 'points') or the article's format (with "
                                    "'metadata' and 'results')")
