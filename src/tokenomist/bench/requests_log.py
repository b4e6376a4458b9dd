"""One record per request, appended to a JSONL file the moment the request ends.

A crash or Ctrl-C keeps everything measured so far; the summary is computed from these
records. API keys never appear in them.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO


@dataclass
class RequestRecord:
    """What happened to one request. Times are seconds on the client's monotonic clock,
    relative to the start of its load point."""

    point: str  # the load point it belongs to, e.g. "batch=8"
    index: int
    warmup: bool
    intended_start: float  # when the schedule wanted it sent
    start: float = 0.0  # when it was actually sent
    first_token: float | None = None  # first non-empty content
    end: float | None = None
    ok: bool = False
    error: str | None = None  # why it failed: http 500, timeout, disconnected, truncated...
    finish_reason: str | None = None
    prompt_tokens: int | None = None  # as the server reports it (usage)
    completion_tokens: int | None = None
    # prompt tokens the server did not compute because it had them cached (usage
    # prompt_tokens_details.cached_tokens, or llama.cpp timings.cache_n)
    cached_tokens: int | None = None
    requested_output_tokens: int = 0
    chunk_times: list[float] = field(default_factory=list)  # arrival of each content chunk
    chunk_tokens: list[int] = field(default_factory=list)  # tokens in each chunk
    server_timings: dict[str, float] | None = None  # llama.cpp `timings`, if sent

    @property
    def ttft(self) -> float | None:
        return None if self.first_token is None else self.first_token - self.intended_start

    @property
    def e2e(self) -> float | None:
        return None if self.end is None else self.end - self.intended_start

    @property
    def send_lag(self) -> float:
        return self.start - self.intended_start

    @property
    def output_tokens(self) -> int:
        if self.completion_tokens is not None:
            return self.completion_tokens
        return sum(self.chunk_tokens)

    @property
    def tpot(self) -> float | None:
        """Mean time per output token after the first."""
        n = self.output_tokens
        if self.first_token is None or self.end is None or n < 2:
            return None
        return (self.end - self.first_token) / (n - 1)

    def itls(self) -> list[float]:
        """Inter-token latencies, one per token after the first. A chunk that carries k
        tokens arrived after a gap g: its k tokens are spaced g / k apart, so a chunk of
        several tokens is not mistaken for one slow token."""
        out: list[float] = []
        for k in range(1, len(self.chunk_times)):
            gap = self.chunk_times[k] - self.chunk_times[k - 1]
            n = max(self.chunk_tokens[k], 1)
            out.extend([gap / n] * n)
        # tokens that shared the first chunk with the first token arrived with it
        if self.chunk_tokens and self.chunk_tokens[0] > 1:
            out = [0.0] * (self.chunk_tokens[0] - 1) + out
        return out

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["ttft"] = self.ttft
        d["e2e"] = self.e2e
        d["tpot"] = self.tpot
        return d


class RecordWriter:
    """Append-only JSONL writer. Each record reaches the file (is flushed) as its request
    finishes, so a crash or Ctrl-C of the client keeps every finished one; :meth:`sync`
    (after each load point, and on close) also forces them to disk, off the timed
    window: an fsync per record would block the event loop timing the other streams."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: TextIO = path.open("a", encoding="utf-8")

    def write(self, record: RequestRecord) -> None:
        self._fh.write(json.dumps(record.to_json()) + "\n")
        self._fh.flush()

    def sync(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if not self._fh.closed:
            self.sync()
        self._fh.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_records(path: Path) -> list[RequestRecord]:
    """Records of a JSONL file (a torn last line from a crash is skipped)."""
    out = []
    names = set(RequestRecord.__dataclass_fields__)
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue
        out.append(RequestRecord(**{k: v for k, v in data.items() if k in names}))
    return out
