"""Run the benchmark client to completion from synchronous code (tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tokenomist.bench.load import BenchConfig, run_bench
from tokenomist.bench.requests_log import RecordWriter, RequestRecord


def run_bench_to(records: Path, cfg: BenchConfig,
                 on_done: Callable[[RequestRecord], None] = lambda r: None) -> dict[str, Any]:
    """Run ``cfg`` with its requests written to ``records``; the run's summary."""
    with RecordWriter(records) as writer:
        return asyncio.run(run_bench(cfg, writer, on_done=on_done))
