"""Replay a request trace: arrival times and lengths from a CSV file.

Columns (header names, case-insensitive; the first match wins):

- arrival: ``arrival_s`` (seconds), or ``timestamp`` (seconds, or an ISO date-time as in
  the Azure LLM inference traces);
- input tokens: ``input_tokens``, ``contexttokens``, ``prompt_tokens``;
- output tokens: ``output_tokens``, ``generatedtokens``, ``completion_tokens``.

Arrivals are shifted to start at 0 and divided by ``speedup`` (2 = twice the rate).
"""

from __future__ import annotations

import csv
import datetime as _dt
from pathlib import Path

import numpy as np

from tokenomist.errors import ConfigError, InvalidValueError
from tokenomist.perf.simulator import Requests

ARRIVAL = ("arrival_s", "timestamp")
INPUT = ("input_tokens", "contexttokens", "prompt_tokens")
OUTPUT = ("output_tokens", "generatedtokens", "completion_tokens")


def _column(header: list[str], names: tuple[str, ...], source: str) -> int:
    lower = [h.strip().lower() for h in header]
    for n in names:
        if n in lower:
            return lower.index(n)
    raise ConfigError(source, names[0], f"no column named any of {', '.join(names)} "
                                        f"(the header has: {', '.join(header)})")


def _time(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    t = text.strip().replace("T", " ")
    if "." in t:  # Python parses at most 6 fractional digits
        head, frac = t.split(".", 1)
        digits = "".join(ch for ch in frac if ch.isdigit())
        rest = frac[len(digits):]
        t = f"{head}.{digits[:6]}{rest}"
    return _dt.datetime.fromisoformat(t).timestamp()


def load_trace(path: Path, *, speedup: float = 1.0, limit: int | None = None) -> Requests:
    if not speedup > 0:
        raise InvalidValueError(f"trace speedup must be positive, got {speedup}")
    if limit is not None and limit < 1:
        raise InvalidValueError(f"trace limit must be at least 1, got {limit}")
    source = str(path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except OSError as err:
        raise InvalidValueError(f"cannot read trace {path}: {err}") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]  # blank lines
    if len(rows) < 2:
        raise ConfigError(source, None, "a trace needs a header row and at least one request")
    header, body = rows[0], rows[1:]
    ia, ii, io = (_column(header, names, source) for names in (ARRIVAL, INPUT, OUTPUT))
    if limit is not None:
        body = body[:limit]
    arr, inp, out = [], [], []
    for k, row in enumerate(body, start=2):
        try:
            arr.append(_time(row[ia]))
            inp.append(int(float(row[ii])))
            out.append(int(float(row[io])))
        except (ValueError, IndexError):
            raise ConfigError(source, f"line {k}", f"cannot read {row!r}") from None
    a = np.asarray(arr, float)
    a = (a - np.min(a)) / speedup
    return Requests.of(a, np.maximum(np.asarray(inp), 1), np.maximum(np.asarray(out), 1))
