"""Turn pydantic validation errors into :class:`ConfigError` that names the field."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from tokenomist.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def validate(model: type[M], data: Any, source: str) -> M:
    """Validate ``data`` as ``model``; the first problem is reported by field name."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = field_path(tuple(err["loc"])) or None
        more = len(exc.errors()) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise ConfigError(source, field, f"{err['msg']}{suffix}") from None


def read_json(path: Path) -> Any:
    """Read a JSON file, with errors that name the file and the position."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, None, f"cannot read file: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(source, None, f"not valid JSON (line {exc.lineno}, column "
                                        f"{exc.colno}: {exc.msg})") from None


def number(d: dict[str, Any], key: str, source: str, where: str = "") -> float:
    """A finite number at ``key`` of a JSON object, or a ConfigError naming the field
    (``where``: the path of the object, ending with a dot)."""
    v = d.get(key)
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
        raise ConfigError(source, f"{where}{key}", "missing or not a number")
    return float(v)


def positive_number(d: dict[str, Any], key: str, source: str, where: str = "") -> float:
    """:func:`number`, which must also be above zero."""
    v = number(d, key, source, where)
    if v <= 0:
        raise ConfigError(source, f"{where}{key}", f"must be positive, got {v}")
    return v


def non_negative_number(d: dict[str, Any], key: str, source: str, where: str = "") -> float:
    """:func:`number`, which must not be below zero."""
    v = number(d, key, source, where)
    if v < 0:
        raise ConfigError(source, f"{where}{key}", f"must not be negative, got {v}")
    return v


def positive_or_none(value: Any) -> float | None:
    """An optional statistic: the value if it is a positive, finite number, else None
    (absent, null, zero or not a number: not a measurement)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value) and value > 0:
        return float(value)
    return None
