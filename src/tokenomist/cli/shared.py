"""Output consoles, JSON printing and list parsing shared by every command module."""

from __future__ import annotations

import json
import sys
from typing import Any, TypeVar

from rich.console import Console

from tokenomist.errors import InvalidValueError

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
T = TypeVar("T", int, float)


def split_csv(text: str) -> list[str]:
    """The non-blank items of a comma-separated list."""
    return [t.strip() for t in text.split(",") if t.strip()]


def _parse_list(text: str, what: str, kind: type[T], noun: str) -> list[T]:
    items = split_csv(text)
    if not items:
        raise InvalidValueError(f"give {what} as a comma-separated list, e.g. 1,2,4")
    return [_parse_one(t, what, kind, noun) for t in items]


def _parse_one(text: str, what: str, kind: type[T], noun: str) -> T:
    try:
        return kind(text)
    except ValueError:
        raise InvalidValueError(f"{what}: {text!r} is not {noun}") from None


def parse_float(text: str, what: str) -> float:
    return _parse_one(text, what, float, "a number")


def parse_int_list(text: str, what: str = "batch sizes") -> list[int]:
    return _parse_list(text, what, int, "an integer")


def parse_float_list(text: str, what: str) -> list[float]:
    return _parse_list(text, what, float, "a number")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
