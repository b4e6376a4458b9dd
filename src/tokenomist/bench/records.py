"""Measured load points, whatever tool produced them, in one shape."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MeasuredPoint:
    """One measured burst (or load point) of identical requests.

    ``output_tokens`` is the mean number of tokens a request actually produced;
    ``max_output_tokens`` what was asked for (the longest request decides ``elapsed_s``).
    """

    batch_size: int
    input_tokens: int
    output_tokens: float
    elapsed_s: float
    output_tokens_per_s: float
    max_output_tokens: int
    ttft_s: float | None = None
    tpot_s: float | None = None
    # mean over requests of (its output tokens / its end-to-end latency)
    request_tokens_per_s: float | None = None
    load: str = "burst"  # "burst", "closed" (concurrency) or "open" (request rate)
    concurrency: int | None = None
    request_rate: float | None = None
    num_requests: int | None = None  # closed/open: requests measured (batch_size for bursts)
    source: str = ""
