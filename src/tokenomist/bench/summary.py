"""Statistics of a load point, and the versioned summary JSON."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from tokenomist.bench.requests_log import RequestRecord

BENCH_SCHEMA = "tokenomist.bench/1"


def stats(values: Sequence[float] | np.ndarray, empty: float | None = None
          ) -> dict[str, float | None]:
    """Mean, median, p90 and p99 (``empty`` for each when there are no values)."""
    if len(values) == 0:
        return {"mean": empty, "p50": empty, "p90": empty, "p99": empty}
    a = np.asarray(values, dtype=float)
    return {"mean": float(a.mean()), "p50": float(np.percentile(a, 50)),
            "p90": float(np.percentile(a, 90)), "p99": float(np.percentile(a, 99))}


def summarize_point(point: dict[str, Any], records: list[RequestRecord]) -> dict[str, Any]:
    """One load point: counts, throughput and latency distributions of measured requests."""
    measured = [r for r in records if not r.warmup]
    ok = [r for r in measured if r.ok]
    failed = [r for r in measured if not r.ok]
    if measured:
        t_begin = min(r.intended_start for r in measured)
        t_end = max((r.end for r in measured if r.end is not None), default=t_begin)
        elapsed = max(t_end - t_begin, 1e-9)
    else:
        elapsed = 0.0
    out_tokens = sum(r.output_tokens for r in ok)
    in_tokens = sum(r.prompt_tokens or 0 for r in ok)
    itl: list[float] = []
    for r in ok:
        itl.extend(r.itls())
    achieved_in = [r.prompt_tokens for r in ok if r.prompt_tokens is not None]
    row: dict[str, Any] = dict(point)
    row.update({
        "completed": len(ok),
        "failed": len(failed),
        "failures": dict(Counter((r.error or "unknown").split(":")[0] for r in failed)),
        "elapsed_s": elapsed,
        "output_tokens_per_s": out_tokens / elapsed if elapsed else 0.0,
        "input_tokens_per_s": in_tokens / elapsed if elapsed else 0.0,
        "requests_per_s": len(ok) / elapsed if elapsed else 0.0,
        "ttft_s": stats([r.ttft for r in ok if r.ttft is not None]),
        "itl_s": stats(itl),
        "tpot_s": stats([r.tpot for r in ok if r.tpot is not None]),
        "e2e_s": stats([r.e2e for r in ok if r.e2e is not None]),
        "input_tokens": float(np.mean(achieved_in)) if achieved_in else None,
        "output_tokens": out_tokens / len(ok) if ok else None,
        "requested_output_tokens": measured[0].requested_output_tokens if measured else None,
        "send_lag_s": stats([r.send_lag for r in measured]),
    })
    cached = [(r.cached_tokens, r.prompt_tokens) for r in ok
              if r.cached_tokens is not None and r.prompt_tokens]
    if cached:
        row["cached_prompt_share"] = float(sum(c for c, _ in cached)
                                           / sum(n for _, n in cached))
    timings = [r.server_timings for r in ok if r.server_timings]
    if timings:
        row["server_timings_mean"] = {
            k: float(np.mean([t[k] for t in timings if k in t]))
            for k in ("prompt_ms", "predicted_ms", "predicted_per_token_ms")
            if any(k in t for t in timings)}
    return row
