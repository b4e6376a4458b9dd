"""Errors a user can cause, each with a message that says what to do.

Every error raised for bad input derives from :class:`TokenomistError`; the CLI prints
its message and exits non-zero instead of showing a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TokenomistError(Exception):
    """Base class of all errors caused by user input (bad names, files, values)."""


class UnknownNameError(TokenomistError, KeyError):
    """A model, accelerator, engine or precision name that is not in a catalog."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known_list = sorted(set(known))
        close = difflib.get_close_matches(name.lower(), [k.lower() for k in known_list], n=3,
                                          cutoff=0.5)
        lookup = {k.lower(): k for k in known_list}
        hint = ""
        if close:
            hint = " Did you mean " + ", ".join(repr(lookup[c]) for c in close) + "?"
        msg = f"Unknown {kind} {name!r}.{hint} Known {kind}s: {', '.join(known_list)}."
        super().__init__(msg)
        self.kind = kind
        self.name = name
        self.known = known_list

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


class ConfigError(TokenomistError, ValueError):
    """A malformed or unsupported model config, hardware file, profile or results file."""

    def __init__(self, source: str, field: str | None, problem: str) -> None:
        where = f"{source}: field {field!r}" if field else source
        super().__init__(f"{where}: {problem}")
        self.source = source
        self.field = field
        self.problem = problem


class DoesNotFitError(TokenomistError):
    """The model weights (plus minimum KV cache) do not fit the deployment's memory."""

    def __init__(self, needed_gb: float, available_gb: float, detail: str) -> None:
        super().__init__(
            f"Model does not fit: needs {needed_gb:.1f} GB per GPU but only "
            f"{available_gb:.1f} GB is available. {detail}"
        )
        self.needed_gb = needed_gb
        self.available_gb = available_gb


class InvalidValueError(TokenomistError, ValueError):
    """A numeric or structural parameter outside its allowed range."""
